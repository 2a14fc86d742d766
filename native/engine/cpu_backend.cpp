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

  void releaseDataset() noexcept override {
    x_ = nullptr;
    labels_ = nullptr;
    targets_ = nullptr;
    pool_.reset();  // joins the run's workers
  }

  void reserve(int batch) override {
    const size_t b = static_cast<size_t>(std::max(1, batch));
    xb_.resize(b * static_cast<size_t>(model_.inputSize));
    lb_.resize(b);
    if (model_.task == Task::Regression) tb_.resize(b * static_cast<size_t>(model_.outputSize));
  }

  float trainStep(const uint32_t* rows, int batch, const StepScalars& scalars) override {
    gatherBatch(rows, batch);
    const float loss = mlp_.forwardBackward(params_.data(), grad_.data(), xb_.data(), lb_.data(), tb_.data(), batch,
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
    return local.forwardBackward(params_.data(), grad, x, labels, targets, batch, nullptr);
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

  void gatherBatch(const uint32_t* rows, int batch) {
    if (!x_) throw EngineError("RUNTIME_FAILED", "trainStep needs a dataset (uploadDataset first).");
    if (xb_.size() < static_cast<size_t>(batch) * static_cast<size_t>(model_.inputSize)) reserve(batch);
    const size_t in = static_cast<size_t>(model_.inputSize), out = static_cast<size_t>(model_.outputSize);
    auto part = [&](int t, int tasks) {
      const int i0 = static_cast<int>(static_cast<int64_t>(batch) * t / tasks);
      const int i1 = static_cast<int>(static_cast<int64_t>(batch) * (t + 1) / tasks);
      for (int i = i0; i < i1; ++i) {
        const size_t row = rows[i];
        std::memcpy(&xb_[static_cast<size_t>(i) * in], &x_[row * in], in * sizeof(float));
        if (labels_)
          lb_[static_cast<size_t>(i)] = labels_[row];
        else
          std::memcpy(&tb_[static_cast<size_t>(i) * out], &targets_[row * out], out * sizeof(float));
      }
    };
    // The rows are scattered over the whole dataset, so copying them is bound by memory latency
    // more than by one core's bandwidth: spread over the pool once a minibatch is big enough
    // (128 KiB) to pay for the wake-up.
    const int tasks = pool_ && static_cast<size_t>(batch) * in >= (size_t{1} << 15) ? pool_->size() : 1;
    if (tasks <= 1) {
      part(0, 1);
    } else {
      auto task = [&](int t) { part(t, tasks); };
      pool_->parallelFor(tasks, task);
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
  std::vector<float> xb_, tb_;
  std::vector<int32_t> lb_;
};

}  // namespace

std::unique_ptr<ComputeBackend> createCpuBackend(const ModelSpec& model, const OptimizerConfig& optimizer,
                                                 int threads) {
  return std::make_unique<CpuBackend>(model, optimizer, threads);
}

}  // namespace bp
