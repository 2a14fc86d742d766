#include "compute_backend.hpp"

#include <cmath>

namespace bp {

// The same expressions, in the same order and precision, as Optimizer::step
// in optimizer.cpp, so a device applies the update the CPU would.
StepScalars stepScalars(const OptimizerConfig& config, uint64_t step, float lr) {
  StepScalars s;
  s.lr = lr;
  const float bc1 = 1.0f - static_cast<float>(std::pow(static_cast<double>(config.beta1), static_cast<double>(step)));
  const float bc2 = 1.0f - static_cast<float>(std::pow(static_cast<double>(config.beta2), static_cast<double>(step)));
  s.adamStepSize = lr / bc1;
  s.adamBc2Sqrt = std::sqrt(bc2);
  s.decay = 1.0f - lr * config.weightDecay;
  s.sgdFirstStep = step == 1;
  s.step = step;
  return s;
}

}  // namespace bp
