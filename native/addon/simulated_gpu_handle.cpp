#include "simulated_gpu_handle.hpp"

#include "args.hpp"
#include "gpu_values.hpp"
#include "napi_util.hpp"

namespace bpaddon {

Napi::Function SimulatedGpuHandle::Define(Napi::Env env) {
  return DefineClass(env, "SimulatedGpuHandle", {InstanceMethod<&SimulatedGpuHandle::Set>("set")});
}

SimulatedGpuHandle::SimulatedGpuHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SimulatedGpuHandle>(info) {
  const bp::GpuReading initial = parseGpuReading(Args(info, "new SimulatedGpuHandle(reading)").object(0, "reading"));
  gpu_ = guarded(info.Env(), [&] { return std::make_shared<bp::SimulatedGpu>(initial); });
  info.This().As<Napi::Object>().TypeTag(&kSimulatedGpuTag);  // the receiver of a constructor is always an object
}

Napi::Value SimulatedGpuHandle::OnCalledAsFunction(const Napi::CallbackInfo& info) {
  throw codedTypeError(info.Env(), "SimulatedGpuHandle is a class: call it as new SimulatedGpuHandle(reading)");
}

Napi::Value SimulatedGpuHandle::Set(const Napi::CallbackInfo& info) {
  bp::GpuReading reading = parseGpuReading(Args(info, "SimulatedGpuHandle.set(reading)").object(0, "reading"));
  gpu_->set(std::move(reading));
  return info.Env().Undefined();
}

}  // namespace bpaddon
