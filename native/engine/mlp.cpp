#include "mlp.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "gemm.hpp"
#include "thread_pool.hpp"

namespace bp {

const char* activationName(Activation a) {
  switch (a) {
    case Activation::Relu: return "relu";
    case Activation::Tanh: return "tanh";
    case Activation::Gelu: return "gelu";
  }
  return "relu";
}

const char* taskName(Task t) { return t == Task::Classification ? "classification" : "regression"; }

std::vector<LayerLayout> layoutOf(const ModelSpec& spec) {
  std::vector<LayerLayout> layers;
  int in = spec.inputSize;
  size_t offset = 0;
  auto add = [&](int out) {
    LayerLayout l;
    l.in = in;
    l.out = out;
    l.weightOffset = offset;
    offset += static_cast<size_t>(in) * out;
    l.biasOffset = offset;
    offset += out;
    layers.push_back(l);
    in = out;
  };
  for (int h : spec.hidden) add(h);
  add(spec.outputSize);
  return layers;
}

size_t parameterCountOf(const ModelSpec& spec) {
  auto layers = layoutOf(spec);
  return layers.back().biasOffset + layers.back().out;
}

void initParameters(const ModelSpec& spec, float* params, Rng& rng) {
  for (const auto& l : layoutOf(spec)) {
    const float bound = 1.0f / std::sqrt(static_cast<float>(l.in));
    const size_t nw = static_cast<size_t>(l.in) * l.out;
    for (size_t i = 0; i < nw; ++i) params[l.weightOffset + i] = (2.0f * rng.uniform() - 1.0f) * bound;
    for (int i = 0; i < l.out; ++i) params[l.biasOffset + i] = (2.0f * rng.uniform() - 1.0f) * bound;
  }
}

namespace {

constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;

void applyActivation(Activation a, const float* z, float* out, size_t n) {
  switch (a) {
    case Activation::Relu:
      for (size_t i = 0; i < n; ++i) out[i] = z[i] > 0.0f ? z[i] : 0.0f;
      break;
    case Activation::Tanh:
      for (size_t i = 0; i < n; ++i) out[i] = std::tanh(z[i]);
      break;
    case Activation::Gelu:  // exact (erf) form, as torch.nn.GELU() by default
      for (size_t i = 0; i < n; ++i) out[i] = 0.5f * z[i] * (1.0f + std::erf(z[i] * kInvSqrt2));
      break;
  }
}

// dZ = dA * act'(Z), with `a` the activation output where that is cheaper.
void activationBackward(Activation act, const float* z, const float* a, const float* dA, float* dZ, size_t n) {
  switch (act) {
    case Activation::Relu:
      // z may be the activation itself (relu(z) > 0 exactly where z > 0, NaN included).
      // Both operands are loaded unconditionally so this compiles to a vector select: with
      // `z > 0 ? dA[i] : 0` the load is conditional, the loop stays scalar and every sign change
      // of z costs a branch misprediction (a third of the step's non-GEMM time at batch 128).
      for (size_t i = 0; i < n; ++i) {
        const float d = dA[i];
        dZ[i] = z[i] > 0.0f ? d : 0.0f;
      }
      break;
    case Activation::Tanh:
      for (size_t i = 0; i < n; ++i) dZ[i] = dA[i] * (1.0f - a[i] * a[i]);
      break;
    case Activation::Gelu:
      for (size_t i = 0; i < n; ++i) {
        const float cdf = 0.5f * (1.0f + std::erf(z[i] * kInvSqrt2));
        const float pdf = kInvSqrt2Pi * std::exp(-0.5f * z[i] * z[i]);
        dZ[i] = dA[i] * (cdf + z[i] * pdf);
      }
      break;
  }
}

// Bias and activation as the forward GEMM's epilogue: each block right after the GEMM finished it,
// on the thread that computed it and while it is in that core's cache, instead of two serial passes
// over the whole batch afterwards. Element-wise, so the split cannot change a value.
struct ForwardEpilogue {
  Activation activation;
  bool output;  // the last layer: no activation (z is the output)
  const float* bias;
  float* z;
  float* a;
  int ld;

  static void run(void* ctx, int m0, int m1, int n0, int n1) {
    const auto& e = *static_cast<const ForwardEpilogue*>(ctx);
    const size_t w = static_cast<size_t>(n1 - n0);
    const float* bias = e.bias + n0;
    for (int r = m0; r < m1; ++r) {
      const size_t off = static_cast<size_t>(r) * e.ld + n0;
      float* z = e.z + off;
      for (size_t c = 0; c < w; ++c) z[c] += bias[c];
      // z and a are one buffer (the activation computed in place) unless the backward pass needs
      // the pre-activation (see Mlp::keepsPreActivation).
      if (!e.output) applyActivation(e.activation, z, e.a + off, w);
    }
  }
};

// The activation's derivative as the epilogue of the input-gradient GEMM dA = dZ * W: turns each
// finished block of dA into the previous layer's dZ in place.
struct BackwardEpilogue {
  Activation activation;
  const float* z;  // pre-activation of the layer below
  const float* a;  // its activation
  float* d;        // dA in, dZ out
  int ld;

  static void run(void* ctx, int m0, int m1, int n0, int n1) {
    const auto& e = *static_cast<const BackwardEpilogue*>(ctx);
    const size_t w = static_cast<size_t>(n1 - n0);
    for (int r = m0; r < m1; ++r) {
      const size_t off = static_cast<size_t>(r) * e.ld + n0;
      activationBackward(e.activation, e.z + off, e.a + off, e.d + off, e.d + off, w);
    }
  }
};

// The bias gradient: column sums of dZ (rows x cols). Threads take column ranges, so every column is
// still summed over the rows in order, whatever the thread count.
void columnSums(const float* m, int rows, int cols, float* out, ThreadPool* pool) {
  const int groups = cols / 8;
  int chunks = 1;
  if (pool && static_cast<size_t>(rows) * cols >= (1u << 15)) chunks = std::min(pool->size(), groups / 4);
  auto part = [&](int t) {
    const int c0 = chunks == 1 ? 0 : groups * t / chunks * 8;
    const int c1 = chunks == 1 || t == chunks - 1 ? cols : groups * (t + 1) / chunks * 8;
    // 32 columns at a time summed in registers: accumulating into `out` itself made every row a
    // load-add-store through memory (4x slower). Each column still adds its rows in order.
    constexpr int kBlock = 32;
    int c = c0;
    for (; c + kBlock <= c1; c += kBlock) {
      float acc[kBlock] = {};
      for (int r = 0; r < rows; ++r) {
        const float* row = m + static_cast<size_t>(r) * cols + c;
        for (int j = 0; j < kBlock; ++j) acc[j] += row[j];
      }
      std::copy(acc, acc + kBlock, out + c);
    }
    if (c < c1) {
      std::fill(out + c, out + c1, 0.0f);
      for (int r = 0; r < rows; ++r) {
        const float* row = m + static_cast<size_t>(r) * cols;
        for (int j = c; j < c1; ++j) out[j] += row[j];
      }
    }
  };
  if (chunks <= 1) {
    part(0);
  } else {
    pool->parallelFor(chunks, part);
  }
}

// Rows per task of the loss: enough arithmetic (10 exponentials per row for 10 classes) that a task
// outweighs its hand-off, few enough that 2-8 threads share a batch of 1024 evenly.
constexpr int kLossChunkRows = 128;
// Up to this many classes the softmax keeps each exp(z - max) from the sum for the gradient
// instead of computing it a second time (the loss's main cost); wider outputs recompute it.
constexpr int kKeptExps = 64;

}  // namespace

Mlp::Mlp(ModelSpec spec) : spec_(std::move(spec)), layers_(layoutOf(spec_)) {
  paramCount_ = layers_.back().biasOffset + layers_.back().out;
  pre_.resize(layers_.size());
  act_.resize(layers_.size());
}

// Only GELU's derivative needs the pre-activation: ReLU's follows from the sign of its output and
// tanh's from its output, so for them the activation is computed in place and the step writes,
// and later reads back, one batch x width buffer per layer instead of two (about 3 MB less memory
// traffic per step at batch 1024 for 784-256-128-10). The output layer has no activation.
bool Mlp::keepsPreActivation(size_t layer) const {
  return spec_.activation == Activation::Gelu && layer + 1 < layers_.size();
}

float* Mlp::preActivation(size_t layer) { return keepsPreActivation(layer) ? pre_[layer].data() : act_[layer].data(); }

void Mlp::ensureCapacity(int batch) {
  if (batch <= capacity_) return;
  size_t widest = static_cast<size_t>(spec_.inputSize);
  for (size_t l = 0; l < layers_.size(); ++l) {
    if (keepsPreActivation(l)) pre_[l].assign(static_cast<size_t>(batch) * layers_[l].out, 0.0f);
    act_[l].assign(static_cast<size_t>(batch) * layers_[l].out, 0.0f);
    widest = std::max(widest, static_cast<size_t>(layers_[l].out));
  }
  dA_.assign(static_cast<size_t>(batch) * widest, 0.0f);
  dZ_.assign(static_cast<size_t>(batch) * widest, 0.0f);
  rowLoss_.assign(static_cast<size_t>(batch), 0.0);
  chunkCorrect_.assign(static_cast<size_t>((batch + kLossChunkRows - 1) / kLossChunkRows), 0);
  capacity_ = batch;
}

void Mlp::forward(const float* params, const float* x, const uint32_t* rows, int batch, ThreadPool* pool) {
  ensureCapacity(batch);
  const float* input = x;
  const size_t last = layers_.size() - 1;
  for (size_t l = 0; l < layers_.size(); ++l) {
    const auto& L = layers_[l];
    float* z = preActivation(l);
    // Z = input * W^T  (batch x out), W stored [out x in] as nn.Linear; then bias and activation.
    // The first layer reads the batch's rows of x where they are (A's stored rows are the batch).
    ForwardEpilogue e{spec_.activation, l == last, params + L.biasOffset, z, act_[l].data(), L.out};
    const GemmEpilogue epilogue{&ForwardEpilogue::run, &e};
    const GemmRowIndex index{l == 0 ? rows : nullptr, nullptr};
    sgemm(Trans::No, Trans::Yes, batch, L.out, L.in, 1.0f, input, L.in, params + L.weightOffset, L.in, 0.0f, z,
          L.out, pool, &epilogue, &index);
    input = act_[l].data();
  }
}

size_t Mlp::lossRows(const int32_t* labels, const float* targets, const uint32_t* rows, int r0, int r1, int batch,
                     float* dOut) {
  const int out = spec_.outputSize;
  const float* y = act_.back().data();
  size_t correct = 0;
  if (spec_.task == Task::Classification) {
    const float invB = 1.0f / static_cast<float>(batch);
    // Each row: log-sum-exp around its largest logit, so no exponential overflows.
    double kept[kKeptExps];
    const bool keep = out <= kKeptExps;
    for (int r = r0; r < r1; ++r) {
      const float* row = y + static_cast<size_t>(r) * out;
      float maxv = row[0];
      int argmax = 0;
      for (int c = 1; c < out; ++c)
        if (row[c] > maxv) {
          maxv = row[c];
          argmax = c;
        }
      double sum = 0;
      for (int c = 0; c < out; ++c) {
        const double e = std::exp(static_cast<double>(row[c] - maxv));
        if (keep) kept[c] = e;
        sum += e;
      }
      const int label = labels[rows ? rows[r] : r];
      rowLoss_[static_cast<size_t>(r)] = std::log(sum) - static_cast<double>(row[label] - maxv);
      if (argmax == label) ++correct;
      if (dOut) {
        float* d = dOut + static_cast<size_t>(r) * out;
        const double inv = 1.0 / sum;
        for (int c = 0; c < out; ++c) {
          const double e = keep ? kept[c] : std::exp(static_cast<double>(row[c] - maxv));
          const float p = static_cast<float>(e * inv);
          d[c] = (p - (c == label ? 1.0f : 0.0f)) * invB;
        }
      }
    }
    return correct;
  }
  const float scale = 2.0f / static_cast<float>(static_cast<size_t>(batch) * out);
  for (int r = r0; r < r1; ++r) {
    const float* t = targets + static_cast<size_t>(rows ? rows[r] : r) * out;
    const size_t at = static_cast<size_t>(r) * out;
    double total = 0;
    for (int c = 0; c < out; ++c) {
      const float diff = y[at + c] - t[c];
      total += static_cast<double>(diff) * diff;
      if (dOut) dOut[at + c] = diff * scale;
    }
    rowLoss_[static_cast<size_t>(r)] = total;
  }
  return 0;
}

double Mlp::lossAndGrad(const int32_t* labels, const float* targets, const uint32_t* rows, int batch, float* dOut,
                        size_t* correct, ThreadPool* pool) {
  const int chunks = (batch + kLossChunkRows - 1) / kLossChunkRows;
  auto part = [&](int t) {
    const int r0 = t * kLossChunkRows, r1 = std::min(batch, r0 + kLossChunkRows);
    chunkCorrect_[static_cast<size_t>(t)] = lossRows(labels, targets, rows, r0, r1, batch, dOut);
  };
  if (pool && chunks > 1) {
    pool->parallelFor(chunks, part);
  } else {
    for (int t = 0; t < chunks; ++t) part(t);
  }
  double total = 0;
  for (int r = 0; r < batch; ++r) total += rowLoss_[static_cast<size_t>(r)];
  if (correct)
    for (int t = 0; t < chunks; ++t) *correct += chunkCorrect_[static_cast<size_t>(t)];
  if (spec_.task == Task::Classification) return total / batch;
  return total / (static_cast<double>(batch) * spec_.outputSize);
}

float Mlp::forwardBackward(const float* params, float* grad, const float* x, const uint32_t* rows,
                           const int32_t* labels, const float* targets, int batch, ThreadPool* pool) {
  forward(params, x, rows, batch, pool);
  // dZ_ and dA_ take turns: each layer's input gradient is written (and turned into the layer
  // below's dZ by the GEMM's epilogue) into the buffer the layer's own dZ is not in, because other
  // threads may still be reading dZ while a finished block is rewritten.
  float* dZ = dZ_.data();
  float* next = dA_.data();
  const double loss = lossAndGrad(labels, targets, rows, batch, dZ, nullptr, pool);
  for (size_t li = layers_.size(); li-- > 0;) {
    const auto& L = layers_[li];
    const float* input = li == 0 ? x : act_[li - 1].data();
    // dW = dZ^T * input (out x in); db = column sums of dZ. For the first layer B's stored rows
    // (the k of this product) are the batch's rows of x.
    const GemmRowIndex index{nullptr, li == 0 ? rows : nullptr};
    sgemm(Trans::Yes, Trans::No, L.out, L.in, batch, 1.0f, dZ, L.out, input, L.in, 0.0f, grad + L.weightOffset,
          L.in, pool, nullptr, &index);
    columnSums(dZ, batch, L.out, grad + L.biasOffset, pool);
    if (li == 0) break;
    // dA_prev = dZ * W (batch x in), then through the previous activation.
    BackwardEpilogue e{spec_.activation, preActivation(li - 1), act_[li - 1].data(), next, L.in};
    const GemmEpilogue epilogue{&BackwardEpilogue::run, &e};
    sgemm(Trans::No, Trans::No, batch, L.in, L.out, 1.0f, dZ, L.out, params + L.weightOffset, L.in, 0.0f, next,
          L.in, pool, &epilogue);
    std::swap(dZ, next);
  }
  return static_cast<float>(loss);
}

void Mlp::predict(const float* params, const float* x, int batch, float* out, ThreadPool* pool) {
  forward(params, x, nullptr, batch, pool);
  const int width = spec_.outputSize;
  const float* y = act_.back().data();
  if (spec_.task == Task::Regression) {
    std::memcpy(out, y, static_cast<size_t>(batch) * width * sizeof(float));
    return;
  }
  for (int r = 0; r < batch; ++r) {
    const float* row = y + static_cast<size_t>(r) * width;
    float* o = out + static_cast<size_t>(r) * width;
    const float maxv = *std::max_element(row, row + width);
    double sum = 0;
    for (int c = 0; c < width; ++c) sum += std::exp(static_cast<double>(row[c] - maxv));
    for (int c = 0; c < width; ++c) o[c] = static_cast<float>(std::exp(static_cast<double>(row[c] - maxv)) / sum);
  }
}

EvalResult Mlp::evaluate(const float* params, const float* x, const int32_t* labels, const float* targets,
                         const uint32_t* rows, size_t n, ThreadPool* pool) {
  EvalResult result;
  result.rows = n;
  if (n == 0) {
    result.loss = std::numeric_limits<double>::quiet_NaN();
    result.accuracy = std::numeric_limits<double>::quiet_NaN();
    return result;
  }
  // In chunks, so the workspace stays bounded for any row count; each chunk's rows are read in
  // place (through the row index when there is one), never copied.
  const int chunk = 256;
  double lossSum = 0;
  size_t correct = 0;
  for (size_t start = 0; start < n; start += chunk) {
    const int b = static_cast<int>(std::min<size_t>(chunk, n - start));
    const uint32_t* chunkRows = rows ? rows + start : nullptr;
    const size_t first = rows ? 0 : start;  // without an index, the chunk is rows start.. of the data
    const float* xs = x + first * static_cast<size_t>(spec_.inputSize);
    const int32_t* ls = labels ? labels + first : nullptr;
    const float* ts = targets ? targets + first * static_cast<size_t>(spec_.outputSize) : nullptr;
    forward(params, xs, chunkRows, b, pool);
    lossSum += lossAndGrad(ls, ts, chunkRows, b, nullptr, &correct, pool) * b;
  }
  result.loss = lossSum / static_cast<double>(n);
  result.accuracy = spec_.task == Task::Classification ? static_cast<double>(correct) / static_cast<double>(n)
                                                       : std::numeric_limits<double>::quiet_NaN();
  return result;
}

}  // namespace bp
