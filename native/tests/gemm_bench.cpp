// sgemm throughput: a 2048^3 square product and the GEMMs of one training step
// of an MLP 784-256-128-10 (forward X.W^T, weight gradient dZ^T.X, input
// gradient dZ.W) at batch 128 and 1024, each with 1 and 2 threads.
// Prints the median GFLOP/s of several repetitions; `--json` prints one JSON
// object instead (for scripts/bench), `--generic` forces the generic kernel,
// `--quick` uses fewer repetitions and a 1024^3 square.
// `--step BATCH THREADS STEPS [ROWS]` instead runs whole training steps of that MLP
// (Mlp::forwardBackward on the minibatch's rows, AdamW) as Trainer does on the CPU,
// and prints the median step time: the loop to profile (perf, callgrind).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gemm.hpp"
#include "mlp.hpp"
#include "optimizer.hpp"
#include "rng.hpp"
#include "thread_pool.hpp"

namespace {

struct Shape {
  const char* op;  // fwd, wgrad, igrad
  int layer;
  bp::Trans ta, tb;
  int M, N, K;
};

struct Operands {
  std::vector<float> A, B, C;
  int lda, ldb, ldc;
};

Operands makeOperands(const Shape& s) {
  Operands o;
  bp::Rng rng(42, 7);
  const int aRows = s.ta == bp::Trans::Yes ? s.K : s.M, aCols = s.ta == bp::Trans::Yes ? s.M : s.K;
  const int bRows = s.tb == bp::Trans::Yes ? s.N : s.K, bCols = s.tb == bp::Trans::Yes ? s.K : s.N;
  o.A.resize(static_cast<size_t>(aRows) * aCols);
  o.B.resize(static_cast<size_t>(bRows) * bCols);
  o.C.assign(static_cast<size_t>(s.M) * s.N, 0.0f);
  for (auto& v : o.A) v = rng.uniform() - 0.5f;
  for (auto& v : o.B) v = rng.uniform() - 0.5f;
  o.lda = aCols;
  o.ldb = bCols;
  o.ldc = s.N;
  return o;
}

double nowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Median seconds per call. Small shapes are timed in batches of calls so each sample spans a
// couple of milliseconds, well above the clock's resolution and scheduler noise.
double medianSeconds(const Shape& s, Operands& o, bp::ThreadPool* pool, int reps) {
  auto call = [&] {
    bp::sgemm(s.ta, s.tb, s.M, s.N, s.K, 1.0f, o.A.data(), o.lda, o.B.data(), o.ldb, 0.0f,
              o.C.data(), o.ldc, pool);
  };
  call();  // warm-up: page faults, packing buffers, worker wake-up
  const double t0 = nowSeconds();
  call();
  const double once = std::max(nowSeconds() - t0, 1e-7);
  const int batch = std::max(1, static_cast<int>(2e-3 / once));
  std::vector<double> samples;
  for (int r = 0; r < reps; ++r) {
    const double start = nowSeconds();
    for (int i = 0; i < batch; ++i) call();
    samples.push_back((nowSeconds() - start) / batch);
  }
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

double gflops(const Shape& s, double seconds) {
  return 2.0 * s.M * s.N * s.K / seconds * 1e-9;
}

const char* transName(bp::Trans a, bp::Trans b) {
  if (a == bp::Trans::No) return b == bp::Trans::No ? "NN" : "NT";
  return b == bp::Trans::No ? "TN" : "TT";
}

// Whole training steps of the 784-256-128-10 classifier on ROWS random rows (8192 unless given;
// 60000, Fashion-MNIST's size, is 188 MB, far past the L3 cache), in the order the CPU trainer
// runs them: forward + backward on the shuffled minibatch's rows (read in place), AdamW.
int stepBench(int batch, int threads, int steps, size_t rows) {
  bp::ModelSpec spec;
  spec.inputSize = 784;
  spec.hidden = {256, 128};
  spec.outputSize = 10;
  bp::Mlp mlp(spec);
  const size_t n = mlp.parameterCount();
  std::vector<float> params(n), grad(n);
  bp::Rng rng(1, 1);
  bp::initParameters(spec, params.data(), rng);
  bp::Optimizer opt(bp::OptimizerConfig{}, n);
  const size_t in = 784;
  std::vector<float> x(rows * in);
  std::vector<int32_t> y(rows);
  for (auto& v : x) v = rng.uniform() * 2 - 1;
  for (auto& v : y) v = static_cast<int32_t>(rng.next() % 10);
  std::vector<uint32_t> perm(rows);
  for (size_t i = 0; i < rows; ++i) perm[i] = static_cast<uint32_t>((i * 2654435761u) % rows);
  std::unique_ptr<bp::ThreadPool> pool = threads > 1 ? std::make_unique<bp::ThreadPool>(threads) : nullptr;
  size_t cursor = 0;
  auto step = [&] {
    if (cursor + batch > rows) cursor = 0;
    // The minibatch is read in place through the row index, as the CPU backend does.
    mlp.forwardBackward(params.data(), grad.data(), x.data(), perm.data() + cursor, y.data(), nullptr, batch,
                        pool.get());
    cursor += batch;
    opt.step(params.data(), grad.data(), 1e-3f, pool.get());
  };
  for (int i = 0; i < 5; ++i) step();  // warm-up: buffers, page faults
  std::vector<double> samples;
  for (int i = 0; i < steps; ++i) {
    const double t0 = nowSeconds();
    step();
    samples.push_back(nowSeconds() - t0);
  }
  std::sort(samples.begin(), samples.end());
  const double med = samples[samples.size() / 2];
  std::printf("step batch %d, %d thread%s: median %.1f us, %.0f samples/s, %.1f GFLOP/s (6 x %zu per sample)\n",
              batch, threads, threads > 1 ? "s" : "", med * 1e6, batch / med, 6.0 * n * batch / med * 1e-9, n);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bool json = false, quick = false;
  if ((argc == 5 || argc == 6) && !std::strcmp(argv[1], "--step"))
    return stepBench(std::atoi(argv[2]), std::atoi(argv[3]), std::atoi(argv[4]),
                     argc == 6 ? static_cast<size_t>(std::atoll(argv[5])) : 8192);
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--json")) json = true;
    else if (!std::strcmp(argv[i], "--generic")) bp::gemmForceGeneric(true);
    else if (!std::strcmp(argv[i], "--quick")) quick = true;
    else {
      std::fprintf(stderr, "usage: bp_gemm_bench [--json] [--generic] [--quick] | --step BATCH THREADS STEPS [ROWS]\n");
      return 2;
    }
  }
  const int squareN = quick ? 1024 : 2048;
  const int squareReps = quick ? 3 : 5;
  const int smallReps = quick ? 5 : 11;
  const int threadCounts[] = {1, 2};
  std::vector<std::unique_ptr<bp::ThreadPool>> pools;
  for (int t : threadCounts) pools.push_back(t > 1 ? std::make_unique<bp::ThreadPool>(t) : nullptr);

  std::string out;
  char buf[512];
  auto emit = [&](const char* fmt, auto... args) {
    std::snprintf(buf, sizeof buf, fmt, args...);
    out += buf;
  };

  if (json) {
    emit("{\"kernel\":\"%s\",\"hardware_threads\":%d,", bp::gemmKernelName(), bp::hardwareThreads());
  } else {
    std::printf("sgemm kernel: %s, hardware threads: %d (median GFLOP/s)\n", bp::gemmKernelName(),
                bp::hardwareThreads());
  }

  {
    const Shape sq{"square", 0, bp::Trans::No, bp::Trans::No, squareN, squareN, squareN};
    Operands o = makeOperands(sq);
    double g[2];
    for (int t = 0; t < 2; ++t) g[t] = gflops(sq, medianSeconds(sq, o, pools[t].get(), squareReps));
    if (json) {
      emit("\"square\":{\"n\":%d,\"gflops_1t\":%.2f,\"gflops_2t\":%.2f},", squareN, g[0], g[1]);
    } else {
      std::printf("\n%dx%dx%d NN: 1 thread %.1f, 2 threads %.1f\n", squareN, squareN, squareN, g[0],
                  g[1]);
    }
  }

  const int layers[4] = {784, 256, 128, 10};
  if (json) emit("\"mlp\":[");
  bool firstBatch = true;
  for (int batch : {128, 1024}) {
    std::vector<Shape> shapes;
    for (int l = 0; l < 3; ++l) {  // forward: Z = X . W^T, W stored out x in
      shapes.push_back({"fwd", l + 1, bp::Trans::No, bp::Trans::Yes, batch, layers[l + 1], layers[l]});
    }
    for (int l = 0; l < 3; ++l) {  // weight gradient: dW = dZ^T . X
      shapes.push_back({"wgrad", l + 1, bp::Trans::Yes, bp::Trans::No, layers[l + 1], layers[l], batch});
    }
    for (int l = 1; l < 3; ++l) {  // input gradient: dX = dZ . W (not needed for the first layer)
      shapes.push_back({"igrad", l + 1, bp::Trans::No, bp::Trans::No, batch, layers[l], layers[l + 1]});
    }
    double stepSeconds[2] = {0, 0}, stepFlops = 0;
    if (json) {
      emit("%s{\"batch\":%d,\"shapes\":[", firstBatch ? "" : ",", batch);
    } else {
      std::printf("\nMLP 784-256-128-10, batch %d\n  %-6s %5s %-2s %5s %5s %5s %9s %9s\n", batch, "op",
                  "layer", "tr", "M", "N", "K", "1 thread", "2 threads");
    }
    firstBatch = false;
    for (size_t i = 0; i < shapes.size(); ++i) {
      const Shape& s = shapes[i];
      Operands o = makeOperands(s);
      double g[2];
      for (int t = 0; t < 2; ++t) {
        const double sec = medianSeconds(s, o, pools[t].get(), smallReps);
        stepSeconds[t] += sec;
        g[t] = gflops(s, sec);
      }
      stepFlops += 2.0 * s.M * s.N * s.K;
      if (json) {
        emit("%s{\"op\":\"%s\",\"layer\":%d,\"trans\":\"%s\",\"M\":%d,\"N\":%d,\"K\":%d,"
             "\"gflops_1t\":%.2f,\"gflops_2t\":%.2f}",
             i ? "," : "", s.op, s.layer, transName(s.ta, s.tb), s.M, s.N, s.K, g[0], g[1]);
      } else {
        std::printf("  %-6s %5d %-2s %5d %5d %5d %9.1f %9.1f\n", s.op, s.layer, transName(s.ta, s.tb),
                    s.M, s.N, s.K, g[0], g[1]);
      }
    }
    // The same GEMMs once each, in order, as a training step issues them: includes the switches
    // between shapes and the workers' wake-ups after the small single-threaded products.
    double seqSeconds[2];
    {
      std::vector<Operands> ops;
      for (const Shape& s : shapes) ops.push_back(makeOperands(s));
      for (int t = 0; t < 2; ++t) {
        auto step = [&] {
          for (size_t i = 0; i < shapes.size(); ++i) {
            const Shape& s = shapes[i];
            Operands& o = ops[i];
            bp::sgemm(s.ta, s.tb, s.M, s.N, s.K, 1.0f, o.A.data(), o.lda, o.B.data(), o.ldb, 0.0f,
                      o.C.data(), o.ldc, pools[t].get());
          }
        };
        step();
        std::vector<double> samples;
        for (int r = 0; r < smallReps * 4; ++r) {
          const double start = nowSeconds();
          step();
          samples.push_back(nowSeconds() - start);
        }
        std::sort(samples.begin(), samples.end());
        seqSeconds[t] = samples[samples.size() / 2];
      }
    }
    const double step1 = stepFlops / stepSeconds[0] * 1e-9, step2 = stepFlops / stepSeconds[1] * 1e-9;
    if (json) {
      emit("],\"step_us_1t\":%.1f,\"step_us_2t\":%.1f,\"step_gflops_1t\":%.2f,\"step_gflops_2t\":%.2f,"
           "\"sequence_us_1t\":%.1f,\"sequence_us_2t\":%.1f}",
           stepSeconds[0] * 1e6, stepSeconds[1] * 1e6, step1, step2, seqSeconds[0] * 1e6,
           seqSeconds[1] * 1e6);
    } else {
      std::printf("  sum of the medians above: 1 thread %.1f us (%.1f GFLOP/s), 2 threads %.1f us (%.1f)\n",
                  stepSeconds[0] * 1e6, step1, stepSeconds[1] * 1e6, step2);
      std::printf("  the GEMMs issued in sequence: 1 thread %.1f us (%.1f GFLOP/s), 2 threads %.1f us (%.1f)\n",
                  seqSeconds[0] * 1e6, stepFlops / seqSeconds[0] * 1e-9, seqSeconds[1] * 1e6,
                  stepFlops / seqSeconds[1] * 1e-9);
    }
  }
  if (json) {
    emit("]}");
    std::printf("%s\n", out.c_str());
  }
  return 0;
}
