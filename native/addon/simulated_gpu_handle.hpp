// SimulatedGpuHandle: the JS-facing owner of one live simulated GPU
// (bp::SimulatedGpu). set(reading) replaces the reading that every monitor
// built on it (GpuMonitorHandle with source 'simulated') sees at its next
// sample. The slot is shared: a monitor keeps reading it after this object
// is collected.
#pragma once
#include <napi.h>

#include <memory>

#include "simulated_gpu.hpp"

namespace bpaddon {

class SimulatedGpuHandle : public Napi::ObjectWrap<SimulatedGpuHandle> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit SimulatedGpuHandle(const Napi::CallbackInfo& info);
  static Napi::Value OnCalledAsFunction(const Napi::CallbackInfo& info);
  std::shared_ptr<bp::SimulatedGpu> gpu() const { return gpu_; }

 private:
  Napi::Value Set(const Napi::CallbackInfo& info);

  std::shared_ptr<bp::SimulatedGpu> gpu_;
};

}  // namespace bpaddon
