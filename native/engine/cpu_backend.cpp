#include "cpu_backend.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "errors.hpp"
#include "thread_pool.hpp"

namespace bp {

namespace {

class CpuBackend final : public ComputeBackend {
 public:
  CpuBackend(const ModelSpec& model, const OptimizerConfig& optimizer, int threads)
      : model_(model),
        mlp_(model),
        params_(mlp_.parameterCount()),
        grad_(mlp_.parameterCount()),
        optimizer_(optimizer, mlp_.parameterCount()),
        threads_(threads > 0 ? threads : hardwareThreads()) {}

  std::string description() const override { return "cpu (" + std::to_string(threads_) + " threads)"; }
  bool isAccelerator() const override { return false; }

  void upload(const float* params, const float* m, const float* v, size_t n) override {
    checkCount(n);
    if (params) std::copy(params, params + n, params_.begin());
    if (m) std::copy(m, m + n, optimizer_.m().begin());
    if (v && !optimizer_.v().empty()) std::copy(v, v + n, optimizer_.v().begin());
  }

  void download(float* params, float* m, float* v, size_t n) override {
    checkCount(n);
    if (params) std::copy(params_.begin(), params_.end(), params);
    if (m) std::copy(optimizer_.m().begin(), optimizer_.m().end(), m);
    if (v && !optimizer_.v().empty()) std::copy(optimizer_.v().begin(), optimizer_.v().end(), v);
  }

  // The rows stay where they are (the trainer owns them for the whole run).
  void uploadDataset(const float* x, const int32_t* labels, const float* targets, size_t rows) override {
    x_ = x;
    labels_ = labels;
    targets_ = targets;
    (void)rows;
    if (!pool_) pool_ = std::make_unique<ThreadPool>(threads_);
  }

  // The pool outlives the run: a run that follows within ThreadPool::kIdleExit finds its workers
  // running and their packing buffers in place. A pool created per run made the first step of
  // every run up to 1.5x slower (a new worker, fresh buffers to fault in, the scheduler still
  // placing it), about 3 ms of an 8-step epoch at batch 1024. Idle workers exit on their own, so
  // a trainer nobody uses holds no thread.
  void releaseDataset() noexcept override {
    x_ = nullptr;
    labels_ = nullptr;
    targets_ = nullptr;
  }

  // The minibatch is never copied: the first layer's GEMMs read its rows out of the dataset
  // through a row index, so the only workspace is the MLP's activations and gradients. (Copying a
  // 1024 x 784 minibatch first took 4-6 % of a step; reading the scattered rows while packing
  // gives part of that back, net 1-2.5 % at batch 1024.)
  void reserve(int batch) override { mlp_.reserve(std::max(1, batch)); }

  float trainStep(const uint32_t* rows, int batch, const StepScalars& scalars) override {
    if (!x_) throw EngineError("RUNTIME_FAILED", "trainStep needs a dataset (uploadDataset first).");
    const float loss = mlp_.forwardBackward(params_.data(), grad_.data(), x_, rows, labels_, targets_, batch,
                                            pool_.get());
    if (!std::isfinite(loss)) return loss;  // the update is skipped, as on the GPU
    // Optimizer::step derives the bias corrections from its own count; the
    // trainer owns the count, so set it to the step before this one.
    optimizer_.setStepCount(scalars.step - 1);
    optimizer_.step(params_.data(), grad_.data(), scalars.lr, pool_.get());
    return loss;
  }

  float gradients(const float* x, const int32_t* labels, const float* targets, int batch, float* grad,
                  size_t n) override {
    checkCount(n);
    Mlp local(model_);
    return local.forwardBackward(params_.data(), grad, x, nullptr, labels, targets, batch, nullptr);
  }

  // Own workspace per call, in chunks: bounded memory for any row count.
  void predict(const float* x, size_t rows, float* out) override {
    Mlp local(model_);
    const size_t chunk = 1024;
    const size_t in = static_cast<size_t>(model_.inputSize), width = static_cast<size_t>(model_.outputSize);
    for (size_t start = 0; start < rows; start += chunk) {
      const int b = static_cast<int>(std::min(chunk, rows - start));
      local.predict(params_.data(), x + start * in, b, out + start * width, nullptr);
    }
  }

  EvalResult evaluate(const float* x, const int32_t* labels, const float* targets, size_t rows) override {
    Mlp local(model_);
    return local.evaluate(params_.data(), x, labels, targets, nullptr, rows, nullptr);
  }

  // Validation during a run: on the run's workspace and threads.
  EvalResult evaluateRows(const uint32_t* rows, size_t n) override {
    if (!x_) throw EngineError("RUNTIME_FAILED", "evaluateRows needs a dataset (uploadDataset first).");
    return mlp_.evaluate(params_.data(), x_, labels_, targets_, rows, n, pool_.get());
  }

 private:
  void checkCount(size_t n) const {
    if (n != params_.size()) {
      throw EngineError("CHECKPOINT_INCOMPATIBLE", "expected " + std::to_string(params_.size()) +
                                                       " parameters, got " + std::to_string(n) + ".");
    }
  }

  ModelSpec model_;
  Mlp mlp_;  // the run's workspace
  std::vector<float> params_, grad_;
  Optimizer optimizer_;
  int threads_;
  std::unique_ptr<ThreadPool> pool_;
  const float* x_ = nullptr;
  const int32_t* labels_ = nullptr;
  const float* targets_ = nullptr;
};

}  // namespace

std::unique_ptr<ComputeBackend> createCpuBackend(const ModelSpec& model, const OptimizerConfig& optimizer,
                                                 int threads) {
  return std::make_unique<CpuBackend>(model, optimizer, threads);
}

}  // namespace bp
