// AdamW and SGD with momentum over the flat parameter vector, with the exact
// update rules of torch.optim.AdamW and torch.optim.SGD (dampening 0,
// nesterov off), so results can be compared with PyTorch step by step.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace bp {

class ThreadPool;

enum class OptimizerKind { AdamW, Sgd };

struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::AdamW;
  double learningRate = 1e-3;  // kept in double so the value reported back is the one given
  float weightDecay = 0.01f;
  float momentum = 0.9f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float gradientClipNorm = 0.0f;  // 0 = off
};

class Optimizer {
 public:
  Optimizer(OptimizerConfig config, size_t parameterCount);

  // Clips (if configured) and applies one update with learning rate lr, spread over pool's threads
  // when given (the result is the same bits for every thread count). Returns the gradient's global
  // L2 norm before clipping. Allocates nothing.
  double step(float* params, float* grad, float lr, ThreadPool* pool = nullptr);

  const OptimizerConfig& config() const { return config_; }
  // AdamW: exp_avg, exp_avg_sq. SGD: momentum buffer in m, v empty.
  std::vector<float>& m() { return m_; }
  std::vector<float>& v() { return v_; }
  const std::vector<float>& m() const { return m_; }
  const std::vector<float>& v() const { return v_; }
  uint64_t stepCount() const { return t_; }
  void setStepCount(uint64_t t) { t_ = t; }
  void reset();

 private:
  // Runs fn(begin, count) -> partial sum of squares over fixed chunks, into partial_.
  template <class Fn>
  void forEachChunk(ThreadPool* pool, Fn&& fn);
  double partialTotal() const;

  OptimizerConfig config_;
  std::vector<float> m_, v_;
  std::vector<double> partial_;  // per-chunk sums of squared gradients
  uint64_t t_ = 0;
};

}  // namespace bp
