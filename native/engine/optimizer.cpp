#include "optimizer.hpp"

#include <algorithm>
#include <cmath>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "thread_pool.hpp"

namespace bp {

namespace {

// The update runs in fixed chunks: the pool takes them in any order, and the gradient norm is the
// in-order sum of per-chunk partial sums, so every result is the same for every thread count.
// 8192 floats x 4 arrays (params, grad, m, v) = 128 KiB per chunk, well inside L2.
constexpr size_t kChunk = 8192;

struct AdamScalars {
  float b1, b2, oneMinusB1, oneMinusB2, stepSize, bc2Sqrt, decay, eps;
};

// One element, in torch.optim.AdamW's order of operations. The vector paths below perform the same
// IEEE operations (mul, add, sqrt, div; never a fused multiply-add) in the same order, so every
// path gives the same bits.
inline void adamElement(const AdamScalars& s, float& param, float g, float& m, float& v) {
  float p = param * s.decay;
  m = s.b1 * m + s.oneMinusB1 * g;
  v = s.b2 * v + s.oneMinusB2 * g * g;
  const float denom = std::sqrt(v) / s.bc2Sqrt + s.eps;
  p -= s.stepSize * (m / denom);
  param = p;
}

// Squares of g summed into four double lanes (element i into lane i % 4), then (l0 + l1) + (l2 + l3):
// the same order in the SSE and the AVX code, and then the tail in sequence.
struct Lanes {
  double l[4] = {0, 0, 0, 0};
  double total() const { return (l[0] + l[1]) + (l[2] + l[3]); }
};

#if defined(__x86_64__)
// SSE2 is part of x86-64: always available.
size_t adamSse(const AdamScalars& s, float* p, const float* g, float* m, float* v, size_t n, bool sumSquares,
               Lanes& lanes) {
  const __m128 b1 = _mm_set1_ps(s.b1), b2 = _mm_set1_ps(s.b2), c1 = _mm_set1_ps(s.oneMinusB1),
               c2 = _mm_set1_ps(s.oneMinusB2), step = _mm_set1_ps(s.stepSize), bc2 = _mm_set1_ps(s.bc2Sqrt),
               decay = _mm_set1_ps(s.decay), eps = _mm_set1_ps(s.eps);
  __m128d lo = _mm_loadu_pd(lanes.l), hi = _mm_loadu_pd(lanes.l + 2);
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const __m128 gi = _mm_loadu_ps(g + i);
    if (sumSquares) {
      const __m128d glo = _mm_cvtps_pd(gi), ghi = _mm_cvtps_pd(_mm_movehl_ps(gi, gi));
      lo = _mm_add_pd(lo, _mm_mul_pd(glo, glo));
      hi = _mm_add_pd(hi, _mm_mul_pd(ghi, ghi));
    }
    __m128 pi = _mm_mul_ps(_mm_loadu_ps(p + i), decay);
    const __m128 mi = _mm_add_ps(_mm_mul_ps(b1, _mm_loadu_ps(m + i)), _mm_mul_ps(c1, gi));
    const __m128 vi = _mm_add_ps(_mm_mul_ps(b2, _mm_loadu_ps(v + i)), _mm_mul_ps(_mm_mul_ps(c2, gi), gi));
    const __m128 denom = _mm_add_ps(_mm_div_ps(_mm_sqrt_ps(vi), bc2), eps);
    pi = _mm_sub_ps(pi, _mm_mul_ps(step, _mm_div_ps(mi, denom)));
    _mm_storeu_ps(m + i, mi);
    _mm_storeu_ps(v + i, vi);
    _mm_storeu_ps(p + i, pi);
  }
  _mm_storeu_pd(lanes.l, lo);
  _mm_storeu_pd(lanes.l + 2, hi);
  return i;
}

// AVX without FMA: the target attribute enables exactly the 256-bit forms of the SSE operations
// above, so the compiler cannot contract a multiply and an add into an FMA (a different rounding).
__attribute__((target("avx"))) size_t adamAvx(const AdamScalars& s, float* p, const float* g, float* m, float* v,
                                              size_t n, bool sumSquares, Lanes& lanes) {
  const __m256 b1 = _mm256_set1_ps(s.b1), b2 = _mm256_set1_ps(s.b2), c1 = _mm256_set1_ps(s.oneMinusB1),
               c2 = _mm256_set1_ps(s.oneMinusB2), step = _mm256_set1_ps(s.stepSize),
               bc2 = _mm256_set1_ps(s.bc2Sqrt), decay = _mm256_set1_ps(s.decay), eps = _mm256_set1_ps(s.eps);
  __m256d acc = _mm256_loadu_pd(lanes.l);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 gi = _mm256_loadu_ps(g + i);
    if (sumSquares) {
      const __m256d g0 = _mm256_cvtps_pd(_mm256_castps256_ps128(gi));
      const __m256d g1 = _mm256_cvtps_pd(_mm256_extractf128_ps(gi, 1));
      acc = _mm256_add_pd(acc, _mm256_mul_pd(g0, g0));
      acc = _mm256_add_pd(acc, _mm256_mul_pd(g1, g1));
    }
    __m256 pi = _mm256_mul_ps(_mm256_loadu_ps(p + i), decay);
    const __m256 mi = _mm256_add_ps(_mm256_mul_ps(b1, _mm256_loadu_ps(m + i)), _mm256_mul_ps(c1, gi));
    const __m256 vi =
        _mm256_add_ps(_mm256_mul_ps(b2, _mm256_loadu_ps(v + i)), _mm256_mul_ps(_mm256_mul_ps(c2, gi), gi));
    const __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vi), bc2), eps);
    pi = _mm256_sub_ps(pi, _mm256_mul_ps(step, _mm256_div_ps(mi, denom)));
    _mm256_storeu_ps(m + i, mi);
    _mm256_storeu_ps(v + i, vi);
    _mm256_storeu_ps(p + i, pi);
  }
  _mm256_storeu_pd(lanes.l, acc);
  return i;
}

bool cpuHasAvx() {
  static const bool ok = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx") != 0;
  }();
  return ok;
}
#endif

// AdamW over one chunk; returns the sum of squares of g when asked (else 0).
double adamChunk(const AdamScalars& s, float* p, const float* g, float* m, float* v, size_t n, bool sumSquares) {
  Lanes lanes;
  size_t i = 0;
#if defined(__x86_64__)
  i = cpuHasAvx() ? adamAvx(s, p, g, m, v, n, sumSquares, lanes) : adamSse(s, p, g, m, v, n, sumSquares, lanes);
  // An AVX pass leaves up to 7 elements; SSE takes groups of 4 of them with the same lane order.
  if (n - i >= 4) i += adamSse(s, p + i, g + i, m + i, v + i, n - i, sumSquares, lanes);
#endif
  double sq = lanes.total();
  for (; i < n; ++i) {
    if (sumSquares) sq += static_cast<double>(g[i]) * g[i];
    adamElement(s, p[i], g[i], m[i], v[i]);
  }
  return sq;
}

double sumSquaresChunk(const float* g, size_t n) {
  Lanes lanes;
  size_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int j = 0; j < 4; ++j) lanes.l[j] += static_cast<double>(g[i + j]) * g[i + j];
  double sq = lanes.total();
  for (; i < n; ++i) sq += static_cast<double>(g[i]) * g[i];
  return sq;
}

}  // namespace

Optimizer::Optimizer(OptimizerConfig config, size_t parameterCount) : config_(config) {
  m_.assign(parameterCount, 0.0f);
  if (config_.kind == OptimizerKind::AdamW) v_.assign(parameterCount, 0.0f);
  partial_.assign((parameterCount + kChunk - 1) / kChunk, 0.0);
}

void Optimizer::reset() {
  std::fill(m_.begin(), m_.end(), 0.0f);
  std::fill(v_.begin(), v_.end(), 0.0f);
  t_ = 0;
}

template <class Fn>
void Optimizer::forEachChunk(ThreadPool* pool, Fn&& fn) {
  const size_t n = m_.size();
  // m() hands out the vector itself; a caller that resized it gets a matching table here (the only
  // allocation, and never on the step path of a trainer).
  if (partial_.size() != (n + kChunk - 1) / kChunk) partial_.assign((n + kChunk - 1) / kChunk, 0.0);
  const int chunks = static_cast<int>(partial_.size());
  auto body = [&](int c) {
    const size_t begin = static_cast<size_t>(c) * kChunk;
    partial_[static_cast<size_t>(c)] = fn(begin, std::min(kChunk, n - begin));
  };
  if (pool && chunks > 1) {
    pool->parallelFor(chunks, body);
  } else {
    for (int c = 0; c < chunks; ++c) body(c);
  }
}

double Optimizer::partialTotal() const {
  double sq = 0;
  for (double p : partial_) sq += p;
  return sq;
}

double Optimizer::step(float* params, float* grad, float lr, ThreadPool* pool) {
  const bool clip = config_.gradientClipNorm > 0;
  double norm = 0;
  float scale = 1.0f;
  if (clip) {
    // Clipping needs the norm before any update: a separate pass.
    forEachChunk(pool, [&](size_t begin, size_t count) { return sumSquaresChunk(grad + begin, count); });
    norm = std::sqrt(partialTotal());
    // Same factor as torch.nn.utils.clip_grad_norm_.
    if (norm > config_.gradientClipNorm) scale = static_cast<float>(config_.gradientClipNorm / (norm + 1e-6));
  }
  ++t_;
  float* m = m_.data();
  if (config_.kind == OptimizerKind::AdamW) {
    float* v = v_.data();
    AdamScalars s;
    s.b1 = config_.beta1;
    s.b2 = config_.beta2;
    s.oneMinusB1 = 1.0f - s.b1;
    s.oneMinusB2 = 1.0f - s.b2;
    const float bc1 = 1.0f - static_cast<float>(std::pow(static_cast<double>(s.b1), static_cast<double>(t_)));
    const float bc2 = 1.0f - static_cast<float>(std::pow(static_cast<double>(s.b2), static_cast<double>(t_)));
    s.stepSize = lr / bc1;
    s.bc2Sqrt = std::sqrt(bc2);
    s.decay = 1.0f - lr * config_.weightDecay;
    s.eps = config_.eps;
    // Without clipping the norm is summed in the same pass as the update (one read of grad).
    forEachChunk(pool, [&](size_t begin, size_t count) {
      float* g = grad + begin;
      if (scale != 1.0f)
        for (size_t i = 0; i < count; ++i) g[i] *= scale;
      return adamChunk(s, params + begin, g, m + begin, v + begin, count, !clip);
    });
    return clip ? norm : std::sqrt(partialTotal());
  }
  const float mom = config_.momentum, wd = config_.weightDecay;
  const bool first = t_ == 1;
  forEachChunk(pool, [&](size_t begin, size_t count) {
    float* p = params + begin;
    float* g = grad + begin;
    float* mb = m + begin;
    if (scale != 1.0f)
      for (size_t i = 0; i < count; ++i) g[i] *= scale;
    const double sq = clip ? 0.0 : sumSquaresChunk(g, count);
    for (size_t i = 0; i < count; ++i) {
      float gi = g[i];
      if (wd != 0.0f) gi += wd * p[i];
      if (mom != 0.0f) {
        mb[i] = first ? gi : mom * mb[i] + gi;
        gi = mb[i];
      }
      p[i] -= lr * gi;
    }
    return sq;
  });
  return clip ? norm : std::sqrt(partialTotal());
}

}  // namespace bp
