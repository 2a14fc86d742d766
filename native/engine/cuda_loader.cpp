#include "cuda_loader.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <limits>
#include <mutex>

#include "cuda_abi.h"
#include "errors.hpp"

namespace bp {

namespace {

// Directory of the shared object (or executable) this code was linked into.
std::string moduleDirectory() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&moduleDirectory), &info) == 0 || info.dli_fname == nullptr) return ".";
  // The main executable is reported as it was invoked (possibly relative or
  // a bare name): make the path absolute, asking the kernel as a last resort.
  std::string path;
  if (char* resolved = realpath(info.dli_fname, nullptr)) {
    path = resolved;
    std::free(resolved);
  } else {
    char buf[4096];
    const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return ".";
    path.assign(buf, static_cast<size_t>(n));
  }
  return path.substr(0, path.rfind('/'));
}

struct Loaded {
  CudaAvailability availability;
  const bp_cuda_api* api = nullptr;
};

Loaded load() {
  Loaded out;
  CudaAvailability& a = out.availability;
  const char* env = std::getenv(kCudaLibraryEnvVar);
  a.libraryPath = env && *env ? std::string(env) : moduleDirectory() + "/" + kCudaLibraryName;
  if (access(a.libraryPath.c_str(), F_OK) != 0) {
    a.reason = "CUDA library not found at " + a.libraryPath +
               (env && *env ? std::string(" (from ") + kCudaLibraryEnvVar + ")"
                            : std::string(" (this installation has no CUDA backend: it was built without nvcc, or the library was removed)"));
    return out;
  }
  // Never dlclosed: the library carries a static CUDA runtime whose exit-time
  // teardown must find its code still mapped.
  void* handle = dlopen(a.libraryPath.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* why = dlerror();
    a.reason = "could not load the CUDA library " + a.libraryPath + ": " + (why ? why : "unknown dlopen error");
    return out;
  }
  auto getApi = reinterpret_cast<bp_cuda_get_api_fn>(dlsym(handle, BP_CUDA_ENTRY_POINT));
  const bp_cuda_api* api = getApi ? getApi(BP_CUDA_ABI_VERSION) : nullptr;
  if (!api || api->abiVersion != BP_CUDA_ABI_VERSION || api->structSize < sizeof(bp_cuda_api)) {
    a.reason = "the CUDA library " + a.libraryPath + " does not match this build (ABI version " +
               std::to_string(BP_CUDA_ABI_VERSION) + " expected). Rebuild or reinstall backpropagate.";
    return out;
  }
  out.api = api;
  a.libraryLoaded = true;
  a.buildInfo = api->buildInfo();
  bp_cuda_versions versions{};
  bp_cuda_error err{};
  if (api->versions(&versions, &err) == BP_CUDA_OK) {
    a.driverVersion = versions.driverVersion;
    a.runtimeVersion = versions.runtimeVersion;
  }
  int count = 0;
  if (api->deviceCount(&count, &err) != BP_CUDA_OK) {
    a.reason = std::string("the CUDA driver reports: ") + err.message;
    return out;
  }
  if (count == 0) {
    a.reason = "the CUDA driver reports no CUDA device";
    return out;
  }
  for (int i = 0; i < count; ++i) {
    bp_cuda_device_info info{};
    if (api->deviceInfo(i, &info, &err) != BP_CUDA_OK) continue;
    CudaDeviceInfo d;
    d.index = info.index;
    d.name = info.name;
    d.totalMemoryBytes = info.totalMemoryBytes;
    d.ccMajor = info.ccMajor;
    d.ccMinor = info.ccMinor;
    d.multiprocessors = info.multiprocessors;
    a.devices.push_back(std::move(d));
  }
  a.usable = !a.devices.empty();
  if (!a.usable) a.reason = std::string("no CUDA device could be queried: ") + err.message;
  return out;
}

const Loaded& loaded() {
  static const Loaded instance = load();  // thread-safe initialisation (C++11 statics)
  return instance;
}

[[noreturn]] void throwFor(const bp_cuda_error& err, const std::string& device, const char* during) {
  switch (err.status) {
    case BP_CUDA_OUT_OF_MEMORY:
      throw EngineError("RUNTIME_GPU_OOM",
                        "the GPU " + device + " ran out of memory " + during + ": " + std::to_string(err.bytesRequested) +
                            " bytes requested (" + err.message +
                            "). Use a smaller batchSize or model, free GPU memory held by other processes, or train on "
                            "device 'cpu'.");
    case BP_CUDA_UNAVAILABLE:
      throw EngineError("DEVICE_UNAVAILABLE", "CUDA device " + device + " is not usable: " + err.message +
                                                  ". Use device 'cpu', or 'auto' to fall back to the CPU.");
    default:
      throw EngineError("RUNTIME_FAILED", "the CUDA backend failed " + std::string(during) + " on " + device + ": " +
                                              err.message);
  }
}

class CudaBackend final : public ComputeBackend {
 public:
  CudaBackend(const bp_cuda_api* api, bp_cuda_context* ctx, std::string name, bool classification)
      : api_(api), ctx_(ctx), name_(std::move(name)), description_(api->describe(ctx)), classification_(classification) {}
  ~CudaBackend() override { api_->destroy(ctx_); }
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  std::string description() const override { return description_; }
  bool isAccelerator() const override { return true; }

  void upload(const float* params, const float* m, const float* v, size_t n) override {
    bp_cuda_error err{};
    if (api_->upload(ctx_, params, m, v, n, &err) != BP_CUDA_OK) throwFor(err, name_, "uploading parameters");
  }
  void download(float* params, float* m, float* v, size_t n) override {
    bp_cuda_error err{};
    if (api_->download(ctx_, params, m, v, n, &err) != BP_CUDA_OK) throwFor(err, name_, "downloading parameters");
  }
  void uploadDataset(const float* x, const int32_t* labels, const float* targets, size_t rows) override {
    bp_cuda_error err{};
    if (api_->uploadDataset(ctx_, x, labels, targets, rows, &err) != BP_CUDA_OK)
      throwFor(err, name_, "uploading the training data");
  }
  void releaseDataset() noexcept override { api_->releaseDataset(ctx_); }
  void reserve(int batch) override {
    bp_cuda_error err{};
    if (api_->reserve(ctx_, batch, &err) != BP_CUDA_OK) throwFor(err, name_, "allocating the minibatch workspace");
  }
  float trainStep(const uint32_t* rows, int batch, const StepScalars& s) override {
    bp_cuda_step_scalars scalars{s.lr, s.adamStepSize, s.adamBc2Sqrt, s.decay, s.sgdFirstStep ? 1 : 0};
    bp_cuda_error err{};
    float loss = 0;
    if (api_->trainStep(ctx_, rows, batch, &scalars, &loss, &err) != BP_CUDA_OK)
      throwFor(err, name_, "during a training step");
    return loss;
  }
  float gradients(const float* x, const int32_t* labels, const float* targets, int batch, float* grad,
                  size_t n) override {
    bp_cuda_error err{};
    float loss = 0;
    if (api_->gradients(ctx_, x, labels, targets, batch, grad, n, &loss, &err) != BP_CUDA_OK)
      throwFor(err, name_, "computing gradients");
    return loss;
  }
  void predict(const float* x, size_t rows, float* out) override {
    bp_cuda_error err{};
    if (api_->predict(ctx_, x, rows, out, &err) != BP_CUDA_OK) throwFor(err, name_, "in predict()");
  }
  EvalResult evaluate(const float* x, const int32_t* labels, const float* targets, size_t rows) override {
    double lossSum = 0;
    unsigned long long correct = 0;
    bp_cuda_error err{};
    if (api_->evaluate(ctx_, x, labels, targets, rows, &lossSum, &correct, &err) != BP_CUDA_OK)
      throwFor(err, name_, "in evaluate()");
    return result(lossSum, correct, rows, labels != nullptr);
  }
  EvalResult evaluateRows(const uint32_t* rows, size_t n) override {
    double lossSum = 0;
    unsigned long long correct = 0;
    bp_cuda_error err{};
    if (api_->evaluateRows(ctx_, rows, n, &lossSum, &correct, &err) != BP_CUDA_OK)
      throwFor(err, name_, "during validation");
    return result(lossSum, correct, n, classification_);
  }

 private:
  static EvalResult result(double lossSum, unsigned long long correct, size_t rows, bool classification) {
    EvalResult r;
    r.rows = rows;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    r.loss = rows ? lossSum / static_cast<double>(rows) : nan;
    r.accuracy = classification && rows ? static_cast<double>(correct) / static_cast<double>(rows) : nan;
    return r;
  }

  const bp_cuda_api* api_;
  bp_cuda_context* ctx_;
  std::string name_;
  std::string description_;
  bool classification_;
};

}  // namespace

const CudaAvailability& cudaAvailability() { return loaded().availability; }

std::unique_ptr<ComputeBackend> createCudaBackend(const ModelSpec& model, const OptimizerConfig& optimizer,
                                                 const DeviceRequest& request) {
  const Loaded& l = loaded();
  const std::string name = "cuda:" + std::to_string(request.index);
  if (!l.availability.usable) {
    throw EngineError("DEVICE_UNAVAILABLE", "device '" + name + "' is not available: " + l.availability.reason +
                                                ". Use device 'cpu', or 'auto' to fall back to the CPU.");
  }
  const int count = static_cast<int>(l.availability.devices.size());
  if (request.index < 0 || request.index >= count) {
    throw EngineError("DEVICE_UNAVAILABLE", "device '" + name + "' does not exist: this machine has " +
                                                std::to_string(count) + " CUDA device" + (count == 1 ? "" : "s") +
                                                " (cuda:0" + (count > 1 ? " to cuda:" + std::to_string(count - 1) : "") +
                                                "). Pick one of those, 'cpu', or 'auto'.");
  }
  const size_t layerCount = model.hidden.size() + 1;
  if (layerCount > BP_CUDA_MAX_LAYERS) {
    throw EngineError("DEVICE_UNAVAILABLE", "the CUDA backend supports up to " + std::to_string(BP_CUDA_MAX_LAYERS) +
                                                " layers; this model has " + std::to_string(layerCount) +
                                                ". Use device 'cpu' for it.");
  }
  bp_cuda_model m{};
  m.device = request.index;
  m.layerCount = static_cast<int>(layerCount);
  m.widths[0] = model.inputSize;
  for (size_t i = 0; i < model.hidden.size(); ++i) m.widths[i + 1] = model.hidden[i];
  m.widths[layerCount] = model.outputSize;
  m.activation = model.activation == Activation::Tanh ? BP_CUDA_TANH : model.activation == Activation::Gelu ? BP_CUDA_GELU : BP_CUDA_RELU;
  m.task = model.task == Task::Classification ? BP_CUDA_CLASSIFICATION : BP_CUDA_REGRESSION;
  m.optimizer = optimizer.kind == OptimizerKind::AdamW ? BP_CUDA_ADAMW : BP_CUDA_SGD;
  m.weightDecay = optimizer.weightDecay;
  m.momentum = optimizer.momentum;
  m.beta1 = optimizer.beta1;
  m.beta2 = optimizer.beta2;
  m.eps = optimizer.eps;
  m.gradientClipNorm = optimizer.gradientClipNorm;
  m.tf32 = request.tf32 ? 1 : 0;
  m.useGraphs = request.graphs ? 1 : 0;
  bp_cuda_error err{};
  bp_cuda_context* ctx = l.api->create(&m, &err);
  if (!ctx) throwFor(err, name, "allocating the model");
  return std::make_unique<CudaBackend>(l.api, ctx, name, model.task == Task::Classification);
}

}  // namespace bp
