#include "optimizer.hpp"

#include <cmath>

namespace bp {

Optimizer::Optimizer(OptimizerConfig config, size_t parameterCount) : config_(config) {
  m_.assign(parameterCount, 0.0f);
  if (config_.kind == OptimizerKind::AdamW) v_.assign(parameterCount, 0.0f);
}

void Optimizer::reset() {
  std::fill(m_.begin(), m_.end(), 0.0f);
  std::fill(v_.begin(), v_.end(), 0.0f);
  t_ = 0;
}

double Optimizer::step(float* params, float* grad, float lr) {
  const size_t n = m_.size();
  double sq = 0;
  for (size_t i = 0; i < n; ++i) sq += static_cast<double>(grad[i]) * grad[i];
  const double norm = std::sqrt(sq);
  if (config_.gradientClipNorm > 0 && norm > config_.gradientClipNorm) {
    // Same factor as torch.nn.utils.clip_grad_norm_.
    const float scale = static_cast<float>(config_.gradientClipNorm / (norm + 1e-6));
    for (size_t i = 0; i < n; ++i) grad[i] *= scale;
  }
  ++t_;
  float* m = m_.data();
  if (config_.kind == OptimizerKind::AdamW) {
    float* v = v_.data();
    const float b1 = config_.beta1, b2 = config_.beta2;
    const float bc1 = 1.0f - static_cast<float>(std::pow(static_cast<double>(b1), static_cast<double>(t_)));
    const float bc2 = 1.0f - static_cast<float>(std::pow(static_cast<double>(b2), static_cast<double>(t_)));
    const float stepSize = lr / bc1;
    const float bc2Sqrt = std::sqrt(bc2);
    const float decay = 1.0f - lr * config_.weightDecay;
    const float eps = config_.eps;
    for (size_t i = 0; i < n; ++i) {
      const float g = grad[i];
      float p = params[i] * decay;
      m[i] = b1 * m[i] + (1.0f - b1) * g;
      v[i] = b2 * v[i] + (1.0f - b2) * g * g;
      const float denom = std::sqrt(v[i]) / bc2Sqrt + eps;
      p -= stepSize * (m[i] / denom);
      params[i] = p;
    }
    return norm;
  }
  const float mom = config_.momentum, wd = config_.weightDecay;
  const bool first = t_ == 1;
  for (size_t i = 0; i < n; ++i) {
    float g = grad[i];
    if (wd != 0.0f) g += wd * params[i];
    if (mom != 0.0f) {
      m[i] = first ? g : mom * m[i] + g;
      g = m[i];
    }
    params[i] -= lr * g;
  }
  return norm;
}

}  // namespace bp
