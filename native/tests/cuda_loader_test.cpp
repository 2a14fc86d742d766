// The engine's side of the CUDA backend that needs no GPU: the optimizer
// scalars handed to the device, and how an unusable CUDA setup is reported.
// (bp_cuda_test checks the GPU itself, against the CPU engine.)
#include <string>
#include <vector>

#include "compute_backend.hpp"
#include "cuda_loader.hpp"
#include "errors.hpp"
#include "optimizer.hpp"
#include "testing.hpp"
#include "trainer.hpp"

using namespace bp;

namespace {

// Applies one AdamW/SGD update to `p` with the device's formulas (as written
// in native/cuda/kernels.cuh), driven by stepScalars().
void deviceStyleUpdate(const OptimizerConfig& c, const StepScalars& s, std::vector<float>& p, const std::vector<float>& g,
                       std::vector<float>& m, std::vector<float>& v) {
  for (size_t i = 0; i < p.size(); ++i) {
    if (c.kind == OptimizerKind::AdamW) {
      float pi = p[i] * s.decay;
      m[i] = c.beta1 * m[i] + (1.0f - c.beta1) * g[i];
      v[i] = c.beta2 * v[i] + (1.0f - c.beta2) * g[i] * g[i];
      const float denom = std::sqrt(v[i]) / s.adamBc2Sqrt + c.eps;
      p[i] = pi - s.adamStepSize * (m[i] / denom);
    } else {
      float gi = g[i];
      if (c.weightDecay != 0.0f) gi += c.weightDecay * p[i];
      m[i] = s.sgdFirstStep ? gi : c.momentum * m[i] + gi;
      p[i] -= s.lr * m[i];
    }
  }
}

void checkScalarsMatchOptimizer(OptimizerKind kind) {
  OptimizerConfig c;
  c.kind = kind;
  c.weightDecay = kind == OptimizerKind::AdamW ? 0.01f : 0.003f;
  Optimizer cpu(c, 5);
  std::vector<float> pCpu = {0.5f, -1.25f, 3.0f, 1e-3f, -7.0f}, pDev = pCpu;
  std::vector<float> m(5, 0.0f), v(5, 0.0f);
  for (uint64_t t = 1; t <= 40; ++t) {
    std::vector<float> g(5);
    for (size_t i = 0; i < g.size(); ++i) g[i] = std::sin(static_cast<float>(t * 7 + i)) * (i == 3 ? 1e-6f : 1.0f);
    std::vector<float> gCpu = g;
    const float lr = 1e-2f / static_cast<float>(t);
    cpu.step(pCpu.data(), gCpu.data(), lr);
    deviceStyleUpdate(c, stepScalars(c, t, lr), pDev, g, m, v);
    for (size_t i = 0; i < pCpu.size(); ++i) CHECK(pCpu[i] == pDev[i]);  // bit for bit
  }
}

}  // namespace

TEST(cuda_step_scalars_reproduce_adamw_bit_for_bit) { checkScalarsMatchOptimizer(OptimizerKind::AdamW); }

TEST(cuda_step_scalars_reproduce_sgd_momentum_bit_for_bit) { checkScalarsMatchOptimizer(OptimizerKind::Sgd); }

TEST(cuda_availability_is_consistent_and_explains_itself) {
  const CudaAvailability& a = cudaAvailability();
  CHECK(!a.libraryPath.empty());
  if (a.usable) {
    CHECK(a.libraryLoaded);
    CHECK(!a.devices.empty());
    for (const auto& d : a.devices) {
      CHECK(!d.name.empty());
      CHECK(d.totalMemoryBytes > 0);
      CHECK(d.ccMajor >= 7);
    }
    return;
  }
  CHECK(!a.reason.empty());
  CHECK(a.devices.empty());
  if (!a.libraryLoaded) CHECK(a.reason.find(a.libraryPath) != std::string::npos);
}

TEST(cuda_trainer_without_usable_gpu_is_device_unavailable_with_reason) {
  const CudaAvailability& a = cudaAvailability();
  if (a.usable) return;  // covered by bp_cuda_test on GPU machines
  TrainerSpec spec;
  spec.model.inputSize = 4;
  spec.model.hidden = {8};
  spec.model.outputSize = 2;
  spec.device.kind = DeviceKind::Cuda;
  std::string code, message;
  try {
    Trainer t(spec);
  } catch (const EngineError& e) {
    code = e.code();
    message = e.what();
  }
  CHECK(code == "DEVICE_UNAVAILABLE");
  CHECK(message.find(a.reason) != std::string::npos);
  CHECK(message.find("'cpu'") != std::string::npos);  // says what to do
}

TEST(cuda_request_for_missing_device_index_names_the_devices) {
  const CudaAvailability& a = cudaAvailability();
  ModelSpec m;
  m.inputSize = 3;
  m.outputSize = 2;
  DeviceRequest r;
  r.kind = DeviceKind::Cuda;
  r.index = static_cast<int>(a.devices.size()) + 3;
  std::string code, message;
  try {
    createCudaBackend(m, OptimizerConfig{}, r);
  } catch (const EngineError& e) {
    code = e.code();
    message = e.what();
  }
  CHECK(code == "DEVICE_UNAVAILABLE");
  CHECK(message.find("cuda:" + std::to_string(r.index)) != std::string::npos);
}
