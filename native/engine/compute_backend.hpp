// Where a trainer's steps run. A ComputeBackend holds its own copy of the
// model (parameters and optimizer moments) and runs whole training steps, so
// the trainer only exchanges row indices, scalars and the loss with it, plus
// full parameter copies when the host needs them (checkpoints,
// getParameters) or changed them (setParameters, resume). Two backends: the
// CPU engine (cpu_backend.hpp, the default) and CUDA (cuda_loader.hpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mlp.hpp"
#include "optimizer.hpp"

namespace bp {

enum class DeviceKind { Cpu, Cuda };

struct DeviceRequest {
  DeviceKind kind = DeviceKind::Cpu;
  int index = 0;
  // TF32 tensor-core GEMMs (sm_80+): faster, about 1e-3 relative error. Off
  // by default so a GPU run computes in float32 like the CPU.
  bool tf32 = false;
  // Replay full-size steps as CUDA graphs (on by default; off for debugging).
  bool graphs = true;
};

// The optimizer's per-step scalars, computed exactly as Optimizer::step does.
struct StepScalars {
  float lr = 0;
  float adamStepSize = 0;
  float adamBc2Sqrt = 0;
  float decay = 0;
  bool sgdFirstStep = false;
  uint64_t step = 0;  // 1-based number of the update these scalars are for
};
StepScalars stepScalars(const OptimizerConfig& config, uint64_t step, float lr);

class ComputeBackend {
 public:
  virtual ~ComputeBackend() = default;
  // e.g. "NVIDIA H100 80GB HBM3 (cuda:0, sm_90, fp32)".
  virtual std::string description() const = 0;
  // False for the CPU engine (reported to JS as "no device").
  virtual bool isAccelerator() const = 0;
  // m, v may be null (v is for AdamW only). Throws EngineError.
  virtual void upload(const float* params, const float* m, const float* v, size_t n) = 0;
  virtual void download(float* params, float* m, float* v, size_t n) = 0;
  // uploadDataset() and releaseDataset() bracket a run: between them the
  // backend may hold run resources (the CPU engine reads the rows in place, so
  // they must stay alive until releaseDataset; its worker threads outlive the
  // run and exit on their own once idle, see cpu_backend.cpp).
  // labels for classification, targets (rows x outputSize) for regression.
  virtual void uploadDataset(const float* x, const int32_t* labels, const float* targets, size_t rows) = 0;
  virtual void releaseDataset() noexcept = 0;
  // Sizes the minibatch workspace for batches of up to `batch` rows.
  virtual void reserve(int batch) = 0;
  // One full optimisation step on dataset rows; returns the minibatch mean
  // loss. A non-finite loss leaves parameters and optimizer state unchanged.
  virtual float trainStep(const uint32_t* rows, int batch, const StepScalars& scalars) = 0;
  // Forward + backward on host rows without an update (parity checks).
  virtual float gradients(const float* x, const int32_t* labels, const float* targets, int batch, float* grad,
                          size_t n) = 0;
  virtual void predict(const float* x, size_t rows, float* out) = 0;
  virtual EvalResult evaluate(const float* x, const int32_t* labels, const float* targets, size_t rows) = 0;
  virtual EvalResult evaluateRows(const uint32_t* rows, size_t n) = 0;
};

}  // namespace bp
