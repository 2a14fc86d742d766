// Module entry: one BackpropAddon instance per Node environment (main thread
// or worker), so nothing JS-related is shared between environments.
#include <napi.h>

#include <algorithm>
#include <chrono>

#include "dispatch_benchmark.hpp"
#include "event_batch.hpp"
#include "gpu_monitor_handle.hpp"
#include "checkpoint_reader.hpp"
#include "cuda_loader.hpp"
#include "finite_scan.hpp"
#include "gemm.hpp"
#include "mlp.hpp"
#include "args.hpp"
#include "napi_util.hpp"
#include "sha256.hpp"
#include "simulated_gpu_handle.hpp"
#include "thread_pool.hpp"
#include "training_session.hpp"

namespace bpaddon {
namespace {

std::vector<std::string> simdFeatures() {
  std::vector<std::string> out;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("sse4.2")) out.push_back("sse4.2");
  if (__builtin_cpu_supports("avx")) out.push_back("avx");
  if (__builtin_cpu_supports("avx2")) out.push_back("avx2");
  if (__builtin_cpu_supports("fma")) out.push_back("fma");
  if (__builtin_cpu_supports("avx512f")) out.push_back("avx512f");
#endif
  return out;
}

Napi::Value cpuInfoToJs(Napi::Env env);
Napi::Value layoutToJs(Napi::Env env, const bp::ModelSpec& spec);

Napi::Value CpuInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value { return cpuInfoToJs(env); });
}

Napi::Value cpuInfoToJs(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("gemmKernel", bp::gemmKernelName());
  o.Set("threads", bp::hardwareThreads());
  Napi::Array simd = Napi::Array::New(env);
  uint32_t i = 0;
  for (const auto& f : simdFeatures()) simd.Set(i++, f);
  o.Set("simd", simd);
  return o;
}

// The record layout of the event batches (event_batch.hpp), exported so the
// JS decoder (ts/native-events.ts) reads the stride and type codes from the
// one definition here instead of repeating them.
Napi::Object eventLayoutToJs(Napi::Env env) {
  Napi::Object types = Napi::Object::New(env);
  auto code = [](bp::EventType t) { return static_cast<uint32_t>(t); };
  types.Set("step", code(bp::EventType::Step));
  types.Set("epoch", code(bp::EventType::Epoch));
  types.Set("save", code(bp::EventType::Save));
  types.Set("complete", code(bp::EventType::Complete));
  types.Set("error", code(bp::EventType::Error));
  types.Set("aborted", code(bp::EventType::Aborted));
  types.Set("stateChange", code(bp::EventType::StateChange));
  types.Freeze();
  Napi::Object o = Napi::Object::New(env);
  o.Set("stride", static_cast<uint32_t>(kRecordStride));
  o.Set("types", types);
  o.Freeze();
  return o;
}

Napi::Value ParameterLayout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Napi::Object m = Args(info, "parameterLayout(model)").object(0, "model");
  bp::ModelSpec spec;
  spec.inputSize = int32Key(m, "inputSize", 1);
  spec.outputSize = int32Key(m, "outputSize", 1);
  Napi::Array hidden = arrayKey(m, "hiddenLayers");
  for (uint32_t i = 0; i < hidden.Length(); ++i)
    spec.hidden.push_back(expectInt32(hidden.Get(i), elementName("hiddenLayers", i), 1));
  return guarded(env, [&]() -> Napi::Value { return layoutToJs(env, spec); });
}

Napi::Value layoutToJs(Napi::Env env, const bp::ModelSpec& spec) {
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  const auto layers = bp::layoutOf(spec);
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& l = layers[i];
    const std::string base = "layers." + std::to_string(i);
    Napi::Array w = Napi::Array::New(env, 4);
    w.Set(0u, base + ".weight");
    w.Set(1u, l.out);
    w.Set(2u, l.in);
    w.Set(3u, static_cast<double>(l.weightOffset));
    out.Set(n++, w);
    Napi::Array b = Napi::Array::New(env, 4);
    b.Set(0u, base + ".bias");
    b.Set(1u, l.out);
    b.Set(2u, 1);
    b.Set(3u, static_cast<double>(l.biasOffset));
    out.Set(n++, b);
  }
  return out;
}

Napi::Value Sha256Hex(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto a = Args(info, "sha256Hex(data)").typedArray<uint8_t>(0, napi_uint8_array, "data");
  return guarded(env, [&]() -> Napi::Value { return Napi::String::New(env, bp::sha256Hex(a.Data(), a.ByteLength())); });
}

// firstNonFinite(values): index of the first NaN or ±Infinity in a Float32Array, or -1; the data
// check of train(), predict() and evaluate() (ts/data.ts builds the error message).
Napi::Value FirstNonFinite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto a = Args(info, "firstNonFinite(values)").typedArray<float>(0, napi_float32_array, "values");
  return Napi::Number::New(env, static_cast<double>(bp::firstNonFinite(a.Data(), a.ElementLength())));
}

// sgemmBenchmark(m, n, k, threads, reps): median GFLOP/s of the engine's
// SGEMM (C = A * B^T, the forward-pass shape), for `npm run bench`. Runs on
// the calling thread by design: it is a measurement tool, not an API.
Napi::Value SgemmBenchmark(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Args args(info, "sgemmBenchmark(m, n, k, threads, reps)");
  // Sizes up to 2^15: the three matrices then stay below 4 GiB each.
  const int m = args.int32(0, "m", 1, 32768);
  const int n = args.int32(1, "n", 1, 32768);
  const int k = args.int32(2, "k", 1, 32768);
  const int threads = args.int32(3, "threads", 1, 4096);
  const int reps = args.int32(4, "reps", 1, 1000000);
  return guarded(env, [&]() -> Napi::Value {
    std::vector<float> a(static_cast<size_t>(m) * k), b(static_cast<size_t>(n) * k), c(static_cast<size_t>(m) * n);
    for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>((i * 7919) % 1000) / 1000.0f - 0.5f;
    for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>((i * 104729) % 1000) / 1000.0f - 0.5f;
    bp::ThreadPool pool(threads);
    std::vector<double> rates;
    bp::sgemm(bp::Trans::No, bp::Trans::Yes, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, c.data(), n, &pool);  // warm-up
    for (int r = 0; r < reps; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      bp::sgemm(bp::Trans::No, bp::Trans::Yes, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, c.data(), n, &pool);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      rates.push_back(2.0 * m * n * static_cast<double>(k) / s / 1e9);
    }
    std::sort(rates.begin(), rates.end());
    return Napi::Number::New(env, rates[rates.size() / 2]);
  });
}

Napi::Value ParseSafetensors(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto bytes = Args(info, "parseSafetensors(bytes)").typedArray<uint8_t>(0, napi_uint8_array, "bytes");
  return guarded(env, [&]() -> Napi::Value {
    bp::SafetensorsLayout layout = bp::parseSafetensors(bytes.Data(), bytes.ByteLength());
    Napi::Object o = Napi::Object::New(env);
    o.Set("dataStart", static_cast<double>(layout.dataStart));
    Napi::Array tensors = Napi::Array::New(env, layout.tensors.size());
    for (size_t i = 0; i < layout.tensors.size(); ++i) {
      const auto& t = layout.tensors[i];
      Napi::Object e = Napi::Object::New(env);
      e.Set("name", t.name);
      Napi::Array shape = Napi::Array::New(env, t.shape.size());
      for (size_t k = 0; k < t.shape.size(); ++k) shape.Set(static_cast<uint32_t>(k), static_cast<double>(t.shape[k]));
      e.Set("shape", shape);
      e.Set("begin", static_cast<double>(t.begin));
      e.Set("end", static_cast<double>(t.end));
      tensors.Set(static_cast<uint32_t>(i), e);
    }
    o.Set("tensors", tensors);
    return o;
  });
}

Napi::Value VerifyTrainerState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string text = Args(info, "verifyTrainerState(text)").string(0, "text");
  return guarded(env, [&]() -> Napi::Value {
    bp::verifyTrainerState(text.data(), text.size());
    return env.Undefined();
  });
}

// cudaStatus(): whether the CUDA backend can run here, and on what. Loads the
// CUDA library on first use (never at addon load, so CPU-only use never maps it).
Napi::Value CudaStatus(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const bp::CudaAvailability& a = bp::cudaAvailability();
    Napi::Object o = Napi::Object::New(env);
#ifdef BP_CUDA_BUILT
    o.Set("built", true);
#else
    o.Set("built", false);
#endif
    o.Set("libraryLoaded", a.libraryLoaded);
    o.Set("usable", a.usable);
    o.Set("reason", a.reason);
    o.Set("libraryPath", a.libraryPath);
    o.Set("buildInfo", a.buildInfo);
    o.Set("driverVersion", a.driverVersion);
    o.Set("runtimeVersion", a.runtimeVersion);
    Napi::Array devices = Napi::Array::New(env, a.devices.size());
    for (size_t i = 0; i < a.devices.size(); ++i) {
      const auto& d = a.devices[i];
      Napi::Object e = Napi::Object::New(env);
      e.Set("index", d.index);
      e.Set("name", d.name);
      e.Set("memoryTotalBytes", static_cast<double>(d.totalMemoryBytes));
      e.Set("computeCapability", std::to_string(d.ccMajor) + "." + std::to_string(d.ccMinor));
      e.Set("multiprocessors", d.multiprocessors);
      devices.Set(static_cast<uint32_t>(i), e);
    }
    o.Set("devices", devices);
    return o;
  });
}

}  // namespace

class BackpropAddon : public Napi::Addon<BackpropAddon> {
 public:
  BackpropAddon(Napi::Env env, Napi::Object exports) {
    DefineAddon(exports, {
                             InstanceValue("TrainingSession", TrainingSession::Define(env), napi_enumerable),
                             InstanceMethod<&BackpropAddon::CpuInfoMethod>("cpuInfo"),
                             InstanceValue("eventLayout", eventLayoutToJs(env), napi_enumerable),
                             InstanceMethod<&BackpropAddon::ParameterLayoutMethod>("parameterLayout"),
                             InstanceMethod<&BackpropAddon::Sha256Method>("sha256Hex"),
                             InstanceMethod<&BackpropAddon::FirstNonFiniteMethod>("firstNonFinite"),
                             InstanceMethod<&BackpropAddon::ParseSafetensorsMethod>("parseSafetensors"),
                             InstanceMethod<&BackpropAddon::VerifyTrainerStateMethod>("verifyTrainerState"),
                             InstanceMethod<&BackpropAddon::DispatchBenchmarkMethod>("dispatchBenchmark"),
                             InstanceMethod<&BackpropAddon::SgemmBenchmarkMethod>("sgemmBenchmark"),
                             InstanceValue("GpuMonitorHandle", GpuMonitorHandle::Define(env), napi_enumerable),
                             InstanceValue("SimulatedGpuHandle", SimulatedGpuHandle::Define(env), napi_enumerable),
                             InstanceMethod<&BackpropAddon::NvmlStatusMethod>("nvmlStatus"),
                             InstanceMethod<&BackpropAddon::ReadGpuMethod>("readGpu"),
                             InstanceMethod<&BackpropAddon::EvaluateGpuReadingMethod>("evaluateGpuReading"),
                             InstanceMethod<&BackpropAddon::ResetNvmlStateMethod>("resetNvmlState"),
                             InstanceMethod<&BackpropAddon::NvmlSampleCostMethod>("nvmlSampleCost"),
                             InstanceMethod<&BackpropAddon::CudaStatusMethod>("cudaStatus"),
                         });
  }

 private:
  Napi::Value CpuInfoMethod(const Napi::CallbackInfo& info) { return CpuInfo(info); }
  Napi::Value ParameterLayoutMethod(const Napi::CallbackInfo& info) { return ParameterLayout(info); }
  Napi::Value Sha256Method(const Napi::CallbackInfo& info) { return Sha256Hex(info); }
  Napi::Value FirstNonFiniteMethod(const Napi::CallbackInfo& info) { return FirstNonFinite(info); }
  Napi::Value ParseSafetensorsMethod(const Napi::CallbackInfo& info) { return ParseSafetensors(info); }
  Napi::Value VerifyTrainerStateMethod(const Napi::CallbackInfo& info) { return VerifyTrainerState(info); }
  Napi::Value DispatchBenchmarkMethod(const Napi::CallbackInfo& info) { return DispatchBenchmark(info); }
  Napi::Value SgemmBenchmarkMethod(const Napi::CallbackInfo& info) { return SgemmBenchmark(info); }
  Napi::Value NvmlStatusMethod(const Napi::CallbackInfo& info) { return NvmlStatus(info); }
  Napi::Value ReadGpuMethod(const Napi::CallbackInfo& info) { return ReadGpu(info); }
  Napi::Value EvaluateGpuReadingMethod(const Napi::CallbackInfo& info) { return EvaluateGpuReading(info); }
  Napi::Value ResetNvmlStateMethod(const Napi::CallbackInfo& info) { return ResetNvmlState(info); }
  Napi::Value NvmlSampleCostMethod(const Napi::CallbackInfo& info) { return NvmlSampleCost(info); }
  Napi::Value CudaStatusMethod(const Napi::CallbackInfo& info) { return CudaStatus(info); }
};

}  // namespace bpaddon

using bpaddon::BackpropAddon;
NODE_API_ADDON(BackpropAddon)
