// bp_cuda_test: the CUDA backend checked against the CPU engine, then timed.
// Built from the engine alone (no Node), so a GPU machine with only a
// compiler and the CUDA toolkit can run it (scripts/device-check.sh does).
//
//   bp_cuda_test [--parity] [--bench] [--tf32] [--quick] [--nvml]
//     (default: parity then bench; --nvml: one real NVML reading per GPU and
//     the cost of one reading, as the GPU monitor takes them; --probe: only
//     report whether CUDA is usable)
//
// Where CUDA is not usable it prints "SKIP: no CUDA device (<reason>)" and
// exits 0. Parity failures exit 1. Benchmark lines start with "BENCH " and
// carry key=value pairs for scripts.
//
// Tolerances, and why:
//  - Gradients of one step from identical parameters and data: relative L2
//    error <= 1e-4. Both sides compute in float32; only the summation order
//    of the GEMMs and column sums differs, which bounds the error per element
//    by about K * 2^-24 relative to the sum of magnitudes (K <= 1024 here),
//    and in practice by about sqrt(K) * 2^-24 ~ 2e-6. A wrong index or a
//    missed tile gives errors of order 1.
//  - Loss after N training steps with the same seed: |cpu - gpu| <= 2e-3 *
//    max(1, |cpu|). Every step starts from parameters that differ by the
//    accumulated rounding of earlier steps; AdamW normalises each update, so
//    a gradient component near zero can change its update by up to lr. With
//    lr 1e-3 over 60 steps that moves the loss by well under 1e-3.
//  - Predictions from identical parameters: max absolute difference <= 1e-5
//    (probabilities in [0, 1], one forward pass of float32 rounding).
//  - Same seed, same device: bit-identical loss histories (every reduction on
//    the device has a fixed order), with and without CUDA graphs.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "compute_backend.hpp"
#include "cuda_loader.hpp"
#include "errors.hpp"
#include "mlp.hpp"
#include "nvml.hpp"
#include "rng.hpp"
#include "trainer.hpp"

using namespace bp;

namespace {

int failures = 0;

void report(bool ok, const std::string& what, const std::string& detail) {
  std::printf("%s %s: %s\n", ok ? "ok  " : "FAIL", what.c_str(), detail.c_str());
  std::fflush(stdout);
  if (!ok) ++failures;
}

std::string fmt(const char* f, double a, double b = 0, double c = 0) {
  char buf[256];
  std::snprintf(buf, sizeof buf, f, a, b, c);
  return buf;
}

struct Data {
  std::vector<float> x, targets;
  std::vector<int32_t> labels;
  size_t rows = 0;
};

// Gaussian-ish blobs: one centre per class, inputs around it; or, for
// regression, targets a fixed random linear map of the inputs plus noise.
Data makeData(const ModelSpec& m, size_t rows, uint32_t seed) {
  Data d;
  d.rows = rows;
  Rng rng(seed, 11);
  const int in = m.inputSize, out = m.outputSize;
  d.x.resize(rows * in);
  auto noise = [&] { return (rng.uniform() + rng.uniform() + rng.uniform() - 1.5f); };
  if (m.task == Task::Classification) {
    std::vector<float> centres(static_cast<size_t>(out) * in);
    for (auto& c : centres) c = 2.0f * rng.uniform() - 1.0f;
    d.labels.resize(rows);
    for (size_t r = 0; r < rows; ++r) {
      const int label = static_cast<int>(rng.below(static_cast<uint32_t>(out)));
      d.labels[r] = label;
      for (int i = 0; i < in; ++i) d.x[r * in + i] = centres[static_cast<size_t>(label) * in + i] + noise();
    }
  } else {
    std::vector<float> w(static_cast<size_t>(out) * in);
    for (auto& v : w) v = (2.0f * rng.uniform() - 1.0f) / std::sqrt(static_cast<float>(in));
    d.targets.resize(rows * out);
    for (size_t r = 0; r < rows; ++r) {
      for (int i = 0; i < in; ++i) d.x[r * in + i] = noise();
      for (int o = 0; o < out; ++o) {
        float s = 0;
        for (int i = 0; i < in; ++i) s += w[static_cast<size_t>(o) * in + i] * d.x[r * in + i];
        d.targets[r * out + o] = s + 0.1f * noise();
      }
    }
  }
  return d;
}

ModelSpec model(int in, std::vector<int> hidden, int out, Activation act = Activation::Relu,
                Task task = Task::Classification) {
  ModelSpec m;
  m.inputSize = in;
  m.hidden = std::move(hidden);
  m.outputSize = out;
  m.activation = act;
  m.task = task;
  return m;
}

std::string modelName(const ModelSpec& m) {
  std::string s = std::to_string(m.inputSize);
  for (int h : m.hidden) s += "-" + std::to_string(h);
  s += "-" + std::to_string(m.outputSize);
  s += std::string(" ") + activationName(m.activation) + " " + taskName(m.task);
  return s;
}

TrainerSpec trainerSpec(const ModelSpec& m, OptimizerKind opt, DeviceKind device, bool graphs = true,
                        float clip = 0.0f) {
  TrainerSpec s;
  s.model = m;
  s.optimizer.kind = opt;
  s.optimizer.learningRate = opt == OptimizerKind::AdamW ? 1e-3 : 1e-2;
  s.optimizer.weightDecay = opt == OptimizerKind::AdamW ? 0.01f : 0.0f;
  s.optimizer.gradientClipNorm = clip;
  s.seed = 7;
  s.device.kind = device;
  s.device.graphs = graphs;
  return s;
}

// Trains to completion (no event consumer: step events coalesce in the queue).
RunSummary train(Trainer& t, const Data& d, int batch, uint64_t steps, bool shuffle = true, double validationSplit = 0) {
  RunConfig c;
  c.epochs = 0;
  c.maxSteps = steps;
  c.batchSize = batch;
  c.shuffle = shuffle;
  c.validationSplit = validationSplit;
  t.start(d.x, d.labels, d.targets, d.rows, c, nullptr);
  t.join();
  RunSummary s = t.summary();
  EventBatch events;
  t.drainEvents(events);
  for (const auto& e : events.records)
    if (e.type == EventType::Error)
      throw std::runtime_error("training failed: " + events.strings.at(e.s1) + ": " + events.strings.at(e.s2));
  return s;
}

double relativeL2(const std::vector<float>& ref, const std::vector<float>& got) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double d = static_cast<double>(got[i]) - ref[i];
    num += d * d;
    den += static_cast<double>(ref[i]) * ref[i];
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-30);
}

void checkGradients(const ModelSpec& m, int batch) {
  const std::string name = "gradients " + modelName(m) + " batch " + std::to_string(batch);
  Data d = makeData(m, static_cast<size_t>(batch), 3);
  const size_t n = parameterCountOf(m);
  std::vector<float> params(n);
  Rng rng(5, 1);
  initParameters(m, params.data(), rng);
  Mlp cpu(m);
  std::vector<float> gCpu(n), gGpu(n);
  const float lossCpu = cpu.forwardBackward(params.data(), gCpu.data(), d.x.data(), nullptr, d.labels.data(),
                                            d.targets.data(), batch, nullptr);
  OptimizerConfig oc;
  DeviceRequest req;
  req.kind = DeviceKind::Cuda;
  auto gpu = createCudaBackend(m, oc, req);
  gpu->upload(params.data(), nullptr, nullptr, n);
  const float lossGpu = gpu->gradients(d.x.data(), d.labels.empty() ? nullptr : d.labels.data(),
                                       d.targets.empty() ? nullptr : d.targets.data(), batch, gGpu.data(), n);
  const double rel = relativeL2(gCpu, gGpu);
  const double lossErr = std::fabs(lossCpu - lossGpu) / std::max(1.0, std::fabs(static_cast<double>(lossCpu)));
  report(rel <= 1e-4 && lossErr <= 1e-5, name,
         fmt("relative L2 error %.3g (bound 1e-4), loss %.7g vs %.7g", rel, lossCpu, lossGpu));
}

void checkTraining(const ModelSpec& m, OptimizerKind opt, float clip) {
  const std::string name = std::string("training ") + modelName(m) + (opt == OptimizerKind::AdamW ? " adamw" : " sgd") +
                           (clip > 0 ? " clip" : "");
  Data d = makeData(m, 1000, 9);
  const uint64_t steps = 60;
  Trainer cpu(trainerSpec(m, opt, DeviceKind::Cpu, true, clip));
  Trainer gpu(trainerSpec(m, opt, DeviceKind::Cuda, true, clip));
  // 900 training rows at batch 64: every 15th step is a short batch (run
  // eagerly) between full ones (replayed as a graph); 100 rows held out.
  const RunSummary a = train(cpu, d, 64, steps, true, 0.1);
  const RunSummary b = train(gpu, d, 64, steps, true, 0.1);
  double worst = 0;
  for (size_t i = 0; i < a.lossHistory.size() && i < b.lossHistory.size(); ++i)
    worst = std::max(worst, std::fabs(a.lossHistory[i] - b.lossHistory[i]) / std::max(1.0, std::fabs(a.lossHistory[i])));
  const bool ok = a.lossHistory.size() == steps && b.lossHistory.size() == steps && worst <= 2e-3;
  report(ok, name, fmt("%g steps, worst relative loss difference %.3g (bound 2e-3), final %.6f", double(steps), worst,
                       b.finalLoss) + fmt(" vs cpu %.6f", a.finalLoss));
  const double valDiff = std::fabs(a.validationLoss - b.validationLoss) / std::max(1.0, std::fabs(a.validationLoss));
  const bool valAccOk = m.task != Task::Classification || std::fabs(a.validationAccuracy - b.validationAccuracy) <= 0.02;
  report(b.validationSamples == 100 && valDiff <= 2e-3 && valAccOk, name + " validation",
         fmt("validation loss %.6f vs cpu %.6f, accuracy diff %.3g", b.validationLoss, a.validationLoss,
             std::fabs(a.validationAccuracy - b.validationAccuracy)));

  // The same parameters give the same predictions and evaluation.
  gpu.setParameters(cpu.parameters());
  const size_t rows = 300;
  std::vector<float> pCpu = cpu.predict(d.x.data(), rows), pGpu = gpu.predict(d.x.data(), rows);
  double maxDiff = 0;
  for (size_t i = 0; i < pCpu.size(); ++i) maxDiff = std::max(maxDiff, static_cast<double>(std::fabs(pCpu[i] - pGpu[i])));
  const double predBound = m.task == Task::Classification ? 1e-5 : 1e-4;
  report(maxDiff <= predBound, name + " predict", fmt("max abs difference %.3g (bound %g)", maxDiff, predBound));
  const EvalResult ea = cpu.evaluate(d.x.data(), d.labels.empty() ? nullptr : d.labels.data(),
                                     d.targets.empty() ? nullptr : d.targets.data(), d.rows);
  const EvalResult eb = gpu.evaluate(d.x.data(), d.labels.empty() ? nullptr : d.labels.data(),
                                     d.targets.empty() ? nullptr : d.targets.data(), d.rows);
  const bool accOk = m.task != Task::Classification || std::fabs(ea.accuracy - eb.accuracy) <= 2.0 / d.rows;
  report(std::fabs(ea.loss - eb.loss) <= 1e-5 * std::max(1.0, ea.loss) && accOk, name + " evaluate",
         fmt("loss %.7g vs %.7g, accuracy diff %.3g", ea.loss, eb.loss, std::fabs(ea.accuracy - eb.accuracy)));
}

void checkDeterminism() {
  const ModelSpec m = model(20, {64, 32}, 5);
  Data d = makeData(m, 700, 4);
  Trainer a(trainerSpec(m, OptimizerKind::AdamW, DeviceKind::Cuda, true));
  Trainer b(trainerSpec(m, OptimizerKind::AdamW, DeviceKind::Cuda, true));
  Trainer c(trainerSpec(m, OptimizerKind::AdamW, DeviceKind::Cuda, false));
  const RunSummary ra = train(a, d, 32, 50), rb = train(b, d, 32, 50), rc = train(c, d, 32, 50);
  report(ra.lossHistory == rb.lossHistory, "same seed on the GPU gives bit-identical losses", "50 steps, two trainers");
  report(ra.lossHistory == rc.lossHistory, "CUDA graph replay equals eager launches", "50 steps, graphs on and off");
  report(a.parameters() == c.parameters(), "parameters after graph and eager runs are identical", "");
}

void checkStateRoundTrip() {
  // Parameters and optimizer state come back from the device in the host
  // layout (the checkpoint layout), and a second run continues from them.
  const ModelSpec m = model(12, {16}, 3);
  Data d = makeData(m, 200, 8);
  Trainer gpu(trainerSpec(m, OptimizerKind::AdamW, DeviceKind::Cuda));
  Trainer cpu(trainerSpec(m, OptimizerKind::AdamW, DeviceKind::Cpu));
  train(gpu, d, 16, 20);
  std::vector<float> gm, gv;
  uint64_t gstep = 0;
  gpu.optimizerState(gm, gv, gstep);
  cpu.setParameters(gpu.parameters());
  cpu.setOptimizerState(gm, gv, gstep);
  // Unshuffled: a trainer's second run shuffles differently from a fresh trainer's first.
  const RunSummary rc = train(cpu, d, 16, 10, false);
  const RunSummary rg = train(gpu, d, 16, 10, false);
  double worst = 0;
  for (size_t i = 0; i < rc.lossHistory.size(); ++i)
    worst = std::max(worst, std::fabs(rc.lossHistory[i] - rg.lossHistory[i]));
  report(gstep == 20 && worst <= 1e-3, "GPU state continues on the CPU",
         fmt("optimizer step %g, worst loss difference over 10 more steps %.3g", double(gstep), worst));
}

void checkOutOfMemory() {
  const ModelSpec m = model(784, {256}, 10);
  OptimizerConfig oc;
  DeviceRequest req;
  req.kind = DeviceKind::Cuda;
  auto gpu = createCudaBackend(m, oc, req);
  std::string code, message;
  try {
    gpu->reserve(1 << 30);  // 1G rows x 784 floats: terabytes
  } catch (const EngineError& e) {
    code = e.code();
    message = e.what();
  }
  report(code == "RUNTIME_GPU_OOM" && message.find("bytes requested") != std::string::npos,
         "an impossible allocation is RUNTIME_GPU_OOM with the bytes asked for", code + ": " + message);
  // The backend stays usable after the failure.
  Data d = makeData(m, 64, 2);
  std::vector<float> grad(parameterCountOf(m));
  const float loss = gpu->gradients(d.x.data(), d.labels.data(), nullptr, 64, grad.data(), grad.size());
  report(std::isfinite(loss), "the backend works after an out-of-memory error", fmt("loss %.6f", loss));
}

// ------------------------------------------------------------------ benchmark

void bench(const ModelSpec& m, int batch, bool tf32) {
  const size_t rows = static_cast<size_t>(std::max(batch, 8192));
  Data d = makeData(m, rows, 1);
  const size_t n = parameterCountOf(m);
  std::vector<float> params(n);
  Rng rng(1, 1);
  initParameters(m, params.data(), rng);
  OptimizerConfig oc;
  DeviceRequest req;
  req.kind = DeviceKind::Cuda;
  req.tf32 = tf32;
  auto gpu = createCudaBackend(m, oc, req);
  gpu->upload(params.data(), nullptr, nullptr, n);
  gpu->uploadDataset(d.x.data(), d.labels.data(), nullptr, rows);
  gpu->reserve(batch);
  std::vector<uint32_t> order(rows);
  for (size_t i = 0; i < rows; ++i) order[i] = static_cast<uint32_t>(i);
  Rng shuffle(3, 2);
  shuffleInPlace(order.data(), order.size(), shuffle);
  uint64_t t = 0;
  size_t cursor = 0;
  auto step = [&] {
    if (cursor + batch > rows) cursor = 0;
    ++t;
    gpu->trainStep(order.data() + cursor, batch, stepScalars(oc, t, 1e-4f));
    cursor += static_cast<size_t>(batch);
  };
  for (int i = 0; i < 5; ++i) step();  // warm-up, includes graph capture
  const auto t0 = std::chrono::steady_clock::now();
  int steps = 0;
  double elapsed = 0;
  while (steps < 10 || elapsed < 0.5) {
    step();
    ++steps;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (elapsed > 4.0) break;
  }
  const double samples = static_cast<double>(steps) * batch / elapsed;
  const double tflops = 6.0 * static_cast<double>(n) * samples / 1e12;
  std::string arch;
  for (int h : m.hidden) arch += std::to_string(h) + "-";
  std::printf("BENCH model=%d-%s%d batch=%d precision=%s steps=%d samples_per_s=%.0f tflops=%.2f ms_per_step=%.3f\n",
              m.inputSize, arch.c_str(), m.outputSize, batch, tf32 ? "tf32" : "fp32", steps, samples, tflops,
              1e3 * elapsed / steps);
  std::fflush(stdout);
}

void nvmlReport() {
  const NvmlAvailability n = nvmlEnsureInit();
  if (!n.available) {
    std::printf("NVML: not available (%s)\n", n.reason.c_str());
    return;
  }
  const int count = nvmlDeviceCount();
  for (int i = 0; i < count; ++i) {
    const GpuReading r = nvmlReadDevice(i);
    if (!r.ok) {
      std::printf("NVML cuda:%d: read failed (%s)\n", i, r.error.c_str());
      continue;
    }
    auto num = [](const Opt<double>& v, const char* unit) {
      return v ? fmt("%.1f", *v) + unit : std::string("n/a");
    };
    std::string throttle = "n/a";
    if (r.throttleReasons) {
      throttle.clear();
      for (const auto& t : *r.throttleReasons) throttle += (throttle.empty() ? "" : ",") + t;
      if (throttle.empty()) throttle = "none";
    }
    std::printf("NVML cuda:%d %s: temp %s (slowdown %s, shutdown %s), VRAM %s used of %s, power %s of %s, util %s, "
                "SM clock %s, throttle %s, processes %zu\n",
                i, r.name ? r.name->c_str() : "?", num(r.temperatureC, " C").c_str(),
                num(r.temperatureSlowdownC, " C").c_str(), num(r.temperatureMaxC, " C").c_str(),
                num(r.vramUsedGb, " GiB").c_str(), num(r.vramTotalGb, " GiB").c_str(), num(r.powerDrawW, " W").c_str(),
                num(r.powerLimitW, " W").c_str(), num(r.gpuUtilization, " %").c_str(),
                num(r.smClockMhz, " MHz").c_str(), throttle.c_str(), r.processes ? r.processes->size() : size_t{0});
  }
  if (count > 0) {
    std::vector<double> us;
    for (int i = 0; i < 200; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      nvmlReadDevice(0);
      us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(us.begin(), us.end());
    std::printf("NVML sample cost (one full device read, cuda:0): median %.1f us, p90 %.1f us over 200 reads\n",
                us[us.size() / 2], us[us.size() * 9 / 10]);
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool parity = false, benchmark = false, tf32 = false, quick = false, nvml = false, probe = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--parity") parity = true;
    else if (a == "--bench") benchmark = true;
    else if (a == "--tf32") tf32 = true;
    else if (a == "--quick") quick = true;
    else if (a == "--nvml") nvml = true;
    else if (a == "--probe") probe = true;
    else {
      std::fprintf(stderr, "usage: bp_cuda_test [--parity] [--bench] [--tf32] [--quick] [--nvml] [--probe]\n");
      return 2;
    }
  }
  const bool onlyNvml = nvml && !parity && !benchmark;
  if (!parity && !benchmark) parity = benchmark = true;

  const CudaAvailability& a = cudaAvailability();
  std::printf("CUDA library: %s (%s)\n", a.libraryPath.c_str(), a.libraryLoaded ? a.buildInfo.c_str() : "not loaded");
  if (!a.usable) {
    std::printf("SKIP: no CUDA device (%s)\n", a.reason.c_str());
    return 0;
  }
  std::printf("driver %d, runtime %d\n", a.driverVersion, a.runtimeVersion);
  for (const auto& d : a.devices)
    std::printf("cuda:%d %s, %.1f GiB, compute capability %d.%d, %d SMs\n", d.index, d.name.c_str(),
                static_cast<double>(d.totalMemoryBytes) / (1ull << 30), d.ccMajor, d.ccMinor, d.multiprocessors);
  if (probe) return 0;
  if (nvml) nvmlReport();
  if (onlyNvml) return 0;

  try {
    if (parity) {
      checkGradients(model(784, {256, 128}, 10), 256);
      checkGradients(model(784, {256, 128}, 10), 77);  // ragged tiles everywhere
      checkGradients(model(33, {65, 17}, 7, Activation::Tanh), 130);
      checkGradients(model(20, {48}, 3, Activation::Gelu, Task::Regression), 50);
      checkGradients(model(1000, {1024}, 10), 2048);  // large K: split-K weight gradients
      checkTraining(model(2, {64, 64}, 3), OptimizerKind::AdamW, 0.0f);
      checkTraining(model(784, {256, 128}, 10), OptimizerKind::AdamW, 0.0f);
      checkTraining(model(30, {40}, 4, Activation::Tanh), OptimizerKind::Sgd, 0.0f);
      checkTraining(model(30, {40}, 4, Activation::Gelu), OptimizerKind::AdamW, 0.5f);
      checkTraining(model(10, {32}, 2, Activation::Relu, Task::Regression), OptimizerKind::Sgd, 1.0f);
      checkDeterminism();
      checkStateRoundTrip();
      checkOutOfMemory();
      std::printf("parity: %d failure%s\n", failures, failures == 1 ? "" : "s");
    }
    if (benchmark) {
      const std::vector<int> batches = quick ? std::vector<int>{128, 1024} : std::vector<int>{128, 1024, 8192};
      for (int b : batches) bench(model(784, {256, 128}, 10), b, false);
      for (int b : batches) bench(model(4096, {4096, 4096}, 10), b, false);
      if (tf32)
        for (int b : batches) bench(model(4096, {4096, 4096}, 10), b, true);
    }
  } catch (const EngineError& e) {
    std::printf("FAIL %s: %s\n", e.code().c_str(), e.what());
    return 1;
  } catch (const std::exception& e) {
    std::printf("FAIL %s\n", e.what());
    return 1;
  }
  return failures == 0 ? 0 : 1;
}
