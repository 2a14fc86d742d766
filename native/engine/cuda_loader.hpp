// Finds, loads and checks libbackpropagate_cuda.so at run time (dlopen), so
// the engine never links CUDA: a machine without the library, the driver or
// a GPU simply reports CUDA as unavailable, with the reason.
//
// Where the library is looked for: $BACKPROP_CUDA_LIBRARY when set, else the
// directory of the module that contains the engine (the addon's .node file,
// or the test executable), where the build and the prebuild put it.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "compute_backend.hpp"

namespace bp {

constexpr const char* kCudaLibraryName = "libbackpropagate_cuda.so";
constexpr const char* kCudaLibraryEnvVar = "BACKPROP_CUDA_LIBRARY";

struct CudaDeviceInfo {
  int index = 0;
  std::string name;
  unsigned long long totalMemoryBytes = 0;
  int ccMajor = 0, ccMinor = 0;
  int multiprocessors = 0;
};

struct CudaAvailability {
  bool libraryLoaded = false;  // the library was found, loaded and speaks our ABI
  bool usable = false;         // ... and the driver reports at least one device
  std::string reason;          // why not usable; empty when usable
  std::string libraryPath;     // where the library was looked for
  std::string buildInfo;       // the library's own description (CUDA version, GPU targets)
  int driverVersion = 0, runtimeVersion = 0;
  std::vector<CudaDeviceInfo> devices;
};

// Loads the library and asks the driver once per process (thread-safe); later
// calls return the cached answer.
const CudaAvailability& cudaAvailability();

// A backend on CUDA device `request.index` for this model. Throws
// EngineError DEVICE_UNAVAILABLE (with the reason) when CUDA is not usable or
// the index does not exist, RUNTIME_GPU_OOM when the parameters do not fit.
std::unique_ptr<ComputeBackend> createCudaBackend(const ModelSpec& model, const OptimizerConfig& optimizer,
                                                 const DeviceRequest& request);

}  // namespace bp
