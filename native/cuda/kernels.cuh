// Device kernels of the CUDA backend. Each mirrors one piece of the CPU
// engine (native/engine/mlp.cpp, optimizer.cpp) so that both devices compute
// the same function; where the arithmetic order necessarily differs (GEMM
// sums) the differences stay at float32 rounding level.
//
// Every reduction here has a fixed order (no floating-point atomics), so a
// run on one GPU is bit-for-bit repeatable, as the CPU engine is.
#pragma once
#include <cuda_runtime.h>
#include <mma.h>

#include <cstdint>

namespace bpcuda {

constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;

enum Act { kRelu = 0, kTanh = 1, kGelu = 2 };

__device__ __forceinline__ float activate(int act, float z) {
  switch (act) {
    case kTanh: return tanhf(z);
    case kGelu: return 0.5f * z * (1.0f + erff(z * kInvSqrt2));
    default: return z > 0.0f ? z : 0.0f;
  }
}

// d(act)/dz times dA, with `a` the activation output (tanh uses it, as the CPU does).
__device__ __forceinline__ float activateBackward(int act, float z, float a, float dA) {
  switch (act) {
    case kTanh: return dA * (1.0f - a * a);
    case kGelu: {
      const float cdf = 0.5f * (1.0f + erff(z * kInvSqrt2));
      const float pdf = kInvSqrt2Pi * expf(-0.5f * z * z);
      return dA * (cdf + z * pdf);
    }
    default: return z > 0.0f ? dA : 0.0f;
  }
}

// What a GEMM does with each finished element of C.
struct Epilogue {
  enum Mode { kStore = 0, kBiasActivation = 1, kActivationBackward = 2 };
  int mode = kStore;
  float* c = nullptr;  // output (row-major, ldc); for split-K: slice base
  int ldc = 0;
  size_t sliceStride = 0;        // split-K: elements between the slices of blockIdx.z
  const float* bias = nullptr;   // kBiasActivation
  float* activated = nullptr;    // kBiasActivation: also write act(z) here (null: output layer)
  const float* pre = nullptr;    // kActivationBackward: the layer's pre-activation
  const float* post = nullptr;   // kActivationBackward: the layer's activation output
  int activation = kRelu;

  __device__ __forceinline__ void apply(int m, int n, float acc) const {
    const size_t at = static_cast<size_t>(m) * ldc + n;
    if (mode == kBiasActivation) {
      const float z = acc + bias[n];
      c[at] = z;
      if (activated) activated[at] = activate(activation, z);
    } else if (mode == kActivationBackward) {
      c[at] = activateBackward(activation, pre[at], post[at], acc);
    } else {
      c[at + sliceStride * blockIdx.z] = acc;
    }
  }
};

// ---------------------------------------------------------------------------
// SGEMM: C[M x N] = op(A)[M x K] * op(B)[K x N], all row-major.
//   TA = false: A(m,k) = A[m*lda + k]    TA = true: A(m,k) = A[k*lda + m]
//   TB = false: B(k,n) = B[k*ldb + n]    TB = true: B(k,n) = B[n*ldb + k]
// Block tile BM x BN, K in steps of BK staged through shared memory (double
// buffered: the next tile is fetched into registers while this one is used),
// each thread accumulating a TM x TN micro-tile in registers. Loads outside
// the matrices read as zero, so any M, N, K and any leading dimension work
// (no alignment assumptions on global memory). gridDim.z > 1 splits K into
// slices written to separate outputs (reduced in a fixed order afterwards).
// ---------------------------------------------------------------------------
// No minimum-blocks hint: capping the 128x128 kernel at 128 registers (two
// blocks per SM) makes ptxas spill the 8x8 micro-tile's neighbours.
template <int BM, int BN, int BK, int TM, int TN, bool TA, bool TB>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
    sgemmKernel(int M, int N, int K, int kSlice, const float* __restrict__ A, int lda, const float* __restrict__ B,
                int ldb, Epilogue ep) {
  constexpr int kThreads = (BM / TM) * (BN / TN);
  constexpr int kPad = 4;  // keeps rows 16-byte aligned and staggers banks
  constexpr int kALoads = BM * BK / kThreads;
  constexpr int kBLoads = BN * BK / kThreads;
  static_assert(BM * BK % kThreads == 0 && BN * BK % kThreads == 0, "tile loads must divide evenly");
  static_assert(TM % 4 == 0 && TN % 4 == 0, "micro-tiles are read as float4");
  __shared__ __align__(16) float As[2][BK][BM + kPad];
  __shared__ __align__(16) float Bs[2][BK][BN + kPad];

  const int tid = threadIdx.x;
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int kBegin = blockIdx.z * kSlice;
  const int kEnd = min(K, kBegin + kSlice);
  const int tRow = tid / (BN / TN), tCol = tid % (BN / TN);

  float regA[kALoads], regB[kBLoads];
  auto fetch = [&](int k0) {
#pragma unroll
    for (int i = 0; i < kALoads; ++i) {
      const int e = tid + i * kThreads;
      const int mm = TA ? e % BM : e / BK;
      const int kk = TA ? e / BM : e % BK;
      const int m = m0 + mm, k = k0 + kk;
      regA[i] = (m < M && k < kEnd) ? (TA ? A[static_cast<size_t>(k) * lda + m] : A[static_cast<size_t>(m) * lda + k]) : 0.0f;
    }
#pragma unroll
    for (int i = 0; i < kBLoads; ++i) {
      const int e = tid + i * kThreads;
      const int nn = TB ? e / BK : e % BN;
      const int kk = TB ? e % BK : e / BN;
      const int n = n0 + nn, k = k0 + kk;
      regB[i] = (n < N && k < kEnd) ? (TB ? B[static_cast<size_t>(n) * ldb + k] : B[static_cast<size_t>(k) * ldb + n]) : 0.0f;
    }
  };
  auto stash = [&](int buf) {
#pragma unroll
    for (int i = 0; i < kALoads; ++i) {
      const int e = tid + i * kThreads;
      As[buf][TA ? e / BM : e % BK][TA ? e % BM : e / BK] = regA[i];
    }
#pragma unroll
    for (int i = 0; i < kBLoads; ++i) {
      const int e = tid + i * kThreads;
      Bs[buf][TB ? e % BK : e / BN][TB ? e / BK : e % BN] = regB[i];
    }
  };

  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;

  if (kBegin < kEnd) {
    fetch(kBegin);
    stash(0);
    __syncthreads();
    int buf = 0;
    for (int k0 = kBegin; k0 < kEnd; k0 += BK) {
      const bool more = k0 + BK < kEnd;
      if (more) fetch(k0 + BK);
#pragma unroll
      for (int kk = 0; kk < BK; ++kk) {
        float a[TM], b[TN];
#pragma unroll
        for (int i = 0; i < TM; i += 4) {
          const float4 v = *reinterpret_cast<const float4*>(&As[buf][kk][tRow * TM + i]);
          a[i] = v.x, a[i + 1] = v.y, a[i + 2] = v.z, a[i + 3] = v.w;
        }
#pragma unroll
        for (int j = 0; j < TN; j += 4) {
          const float4 v = *reinterpret_cast<const float4*>(&Bs[buf][kk][tCol * TN + j]);
          b[j] = v.x, b[j + 1] = v.y, b[j + 2] = v.z, b[j + 3] = v.w;
        }
#pragma unroll
        for (int i = 0; i < TM; ++i)
#pragma unroll
          for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
      }
      // The other buffer was last read before the previous barrier: safe to fill.
      if (more) stash(buf ^ 1);
      __syncthreads();
      buf ^= 1;
    }
  }

#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int m = m0 + tRow * TM + i;
    if (m >= M) continue;
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const int n = n0 + tCol * TN + j;
      if (n < N) ep.apply(m, n, acc[i][j]);
    }
  }
}

// ---------------------------------------------------------------------------
// TF32 tensor-core GEMM (sm_80+), same contract as sgemmKernel. Opt-in only:
// TF32 keeps 10 mantissa bits of each operand, so results differ from the
// float32 path by about 1e-3 relative. 4 warps, each owning a 32x32 block of
// a 64x64 tile; K advances 16 at a time through shared memory (zero-filled at
// the edges), and the accumulators go back through shared memory so the
// epilogue sees plain (m, n) elements with bounds checks.
// ---------------------------------------------------------------------------
template <bool TA, bool TB>
__global__ void __launch_bounds__(128)
    tf32GemmKernel(int M, int N, int K, int kSlice, const float* __restrict__ A, int lda, const float* __restrict__ B,
                   int ldb, Epilogue ep) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  using namespace nvcuda;
  constexpr int BM = 64, BN = 64, BK = 16, kLd = BK + 8, kCLd = BN + 4;
  // As: [BM][BK] row-major (m, k); Bs: [BN][BK], i.e. B^T, read as a col-major K x N fragment.
  __shared__ __align__(32) float As[BM * kLd];
  __shared__ __align__(32) float Bs[BN * kLd];
  __shared__ __align__(32) float Cs[BM * kCLd];
  const int tid = threadIdx.x, warp = tid / 32;
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int kBegin = blockIdx.z * kSlice;
  const int kEnd = min(K, kBegin + kSlice);
  const int wm = (warp / 2) * 32, wn = (warp % 2) * 32;
  wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[2][2];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

  for (int k0 = kBegin; k0 < kEnd; k0 += BK) {
    for (int e = tid; e < BM * BK; e += 128) {
      const int mm = TA ? e % BM : e / BK, kk = TA ? e / BM : e % BK;
      const int m = m0 + mm, k = k0 + kk;
      const float v = (m < M && k < kEnd) ? (TA ? A[static_cast<size_t>(k) * lda + m] : A[static_cast<size_t>(m) * lda + k]) : 0.0f;
      As[mm * kLd + kk] = wmma::__float_to_tf32(v);
    }
    for (int e = tid; e < BN * BK; e += 128) {
      const int nn = TB ? e / BK : e % BN, kk = TB ? e % BK : e / BN;
      const int n = n0 + nn, k = k0 + kk;
      const float v = (n < N && k < kEnd) ? (TB ? B[static_cast<size_t>(n) * ldb + k] : B[static_cast<size_t>(k) * ldb + n]) : 0.0f;
      Bs[nn * kLd + kk] = wmma::__float_to_tf32(v);
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < BK; kk += 8) {
      wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fa[2];
      wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::col_major> fb[2];
#pragma unroll
      for (int i = 0; i < 2; ++i) wmma::load_matrix_sync(fa[i], &As[(wm + i * 16) * kLd + kk], kLd);
#pragma unroll
      for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(fb[j], &Bs[(wn + j * 16) * kLd + kk], kLd);
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j)
      wmma::store_matrix_sync(&Cs[(wm + i * 16) * kCLd + wn + j * 16], acc[i][j], kCLd, wmma::mem_row_major);
  __syncthreads();
  for (int e = tid; e < BM * BN; e += 128) {
    const int mm = e / BN, nn = e % BN;
    const int m = m0 + mm, n = n0 + nn;
    if (m < M && n < N) ep.apply(m, n, Cs[mm * kCLd + nn]);
  }
#else
  // Never launched below sm_80: the host checks the compute capability.
  (void)M, (void)N, (void)K, (void)kSlice, (void)A, (void)lda, (void)B, (void)ldb, (void)ep;
#endif
}

// Sums split-K slices in slice order (deterministic): out[i] = sum_s in[s*stride + i].
__global__ void sumSlicesKernel(const float* __restrict__ in, int slices, size_t stride, float* __restrict__ out) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < stride;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    float s = in[i];
    for (int z = 1; z < slices; ++z) s += in[z * stride + i];
    out[i] = s;
  }
}

// Copies the minibatch rows rows[0..batch) of the device dataset.
__global__ void gatherRowsKernel(const float* __restrict__ x, int width, const uint32_t* __restrict__ rows, int batch,
                                 float* __restrict__ out) {
  const size_t total = static_cast<size_t>(batch) * width;
  for (size_t e = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const size_t r = e / width, c = e % width;
    out[e] = x[static_cast<size_t>(rows[r]) * width + c];
  }
}

__global__ void gatherLabelsKernel(const int32_t* __restrict__ labels, const uint32_t* __restrict__ rows, int batch,
                                   int32_t* __restrict__ out) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < batch) out[i] = labels[rows[i]];
}

__device__ __forceinline__ double warpSum(double v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Softmax cross-entropy, one warp per row: per-row loss (double, as the CPU
// engine sums in double), argmax hit, and optionally d(mean loss)/d(logits).
__global__ void softmaxCrossEntropyKernel(const float* __restrict__ logits, const int32_t* __restrict__ labels,
                                          int batch, int width, float* __restrict__ dLogits,
                                          double* __restrict__ rowLoss, int* __restrict__ rowCorrect) {
  const int lane = threadIdx.x % 32;
  const int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  if (r >= batch) return;  // whole warp leaves together
  const float* row = logits + static_cast<size_t>(r) * width;
  float maxv = -INFINITY;
  int argmax = width;
  for (int c = lane; c < width; c += 32)
    if (row[c] > maxv) maxv = row[c], argmax = c;
  // First index of the maximum, as the CPU's strict '>' scan picks.
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float om = __shfl_xor_sync(0xffffffffu, maxv, o);
    const int oa = __shfl_xor_sync(0xffffffffu, argmax, o);
    if (om > maxv || (om == maxv && oa < argmax)) maxv = om, argmax = oa;
  }
  double sum = 0;
  for (int c = lane; c < width; c += 32) sum += exp(static_cast<double>(row[c] - maxv));
  sum = warpSum(sum);
  const double logSum = log(sum);
  const int label = labels[r];
  if (lane == 0) {
    rowLoss[r] = logSum - static_cast<double>(row[label] - maxv);
    if (rowCorrect) rowCorrect[r] = argmax == label ? 1 : 0;
  }
  if (dLogits) {
    const float invB = 1.0f / static_cast<float>(batch);
    float* d = dLogits + static_cast<size_t>(r) * width;
    for (int c = lane; c < width; c += 32) {
      const float p = static_cast<float>(exp(static_cast<double>(row[c] - maxv) - logSum));
      d[c] = (p - (c == label ? 1.0f : 0.0f)) * invB;
    }
  }
}

// Softmax probabilities for predict(), one warp per row.
__global__ void softmaxKernel(const float* __restrict__ logits, int batch, int width, float* __restrict__ out) {
  const int lane = threadIdx.x % 32;
  const int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  if (r >= batch) return;
  const float* row = logits + static_cast<size_t>(r) * width;
  float maxv = -INFINITY;
  for (int c = lane; c < width; c += 32) maxv = fmaxf(maxv, row[c]);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) maxv = fmaxf(maxv, __shfl_xor_sync(0xffffffffu, maxv, o));
  double sum = 0;
  for (int c = lane; c < width; c += 32) sum += exp(static_cast<double>(row[c] - maxv));
  sum = warpSum(sum);
  for (int c = lane; c < width; c += 32)
    out[static_cast<size_t>(r) * width + c] = static_cast<float>(exp(static_cast<double>(row[c] - maxv)) / sum);
}

// Mean squared error, one thread per row: per-row sum of squares and
// optionally d(mean loss)/d(outputs) = 2 (y - t) / (batch * width).
__global__ void mseKernel(const float* __restrict__ y, const float* __restrict__ targets, int batch, int width,
                          float* __restrict__ dOut, double* __restrict__ rowLoss) {
  const int r = blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= batch) return;
  const float scale = 2.0f / static_cast<float>(static_cast<size_t>(batch) * width);
  double total = 0;
  for (int c = 0; c < width; ++c) {
    const size_t i = static_cast<size_t>(r) * width + c;
    const float diff = y[i] - targets[i];
    total += static_cast<double>(diff) * diff;
    if (dOut) dOut[i] = diff * scale;
  }
  rowLoss[r] = total;
}

// Sums per-row losses (and hits) in one block, in a fixed order.
__global__ void __launch_bounds__(256) reduceLossKernel(const double* __restrict__ rowLoss, const int* __restrict__ rowCorrect,
                                                        int batch, double* __restrict__ total,
                                                        unsigned long long* __restrict__ correct) {
  __shared__ double s[256];
  __shared__ unsigned long long c[256];
  double acc = 0;
  unsigned long long hits = 0;
  for (int i = threadIdx.x; i < batch; i += 256) {
    acc += rowLoss[i];
    if (rowCorrect) hits += static_cast<unsigned long long>(rowCorrect[i]);
  }
  s[threadIdx.x] = acc;
  c[threadIdx.x] = hits;
  __syncthreads();
  for (int w = 128; w > 0; w >>= 1) {
    if (threadIdx.x < w) {
      s[threadIdx.x] += s[threadIdx.x + w];
      c[threadIdx.x] += c[threadIdx.x + w];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    *total = s[0];
    if (correct) *correct = c[0];
  }
}

// Bias gradient: column sums of dZ (batch x width). Block (32, 32): 32
// columns, 32 row groups summed in a fixed order.
__global__ void columnSumsKernel(const float* __restrict__ dz, int batch, int width, float* __restrict__ out) {
  __shared__ float part[32][33];
  const int c = blockIdx.x * 32 + threadIdx.x;
  float s = 0.0f;
  if (c < width)
    for (int r = threadIdx.y; r < batch; r += 32) s += dz[static_cast<size_t>(r) * width + c];
  part[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && c < width) {
    float total = 0.0f;
    for (int g = 0; g < 32; ++g) total += part[g][threadIdx.x];
    out[c] = total;
  }
}

// Global gradient norm for clipping: per-block sums of squares (double) ...
constexpr int kNormBlocks = 256;
__global__ void __launch_bounds__(256) sumSquaresKernel(const float* __restrict__ g, size_t n, double* __restrict__ partial) {
  __shared__ double s[256];
  double acc = 0;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    acc += static_cast<double>(g[i]) * g[i];
  s[threadIdx.x] = acc;
  __syncthreads();
  for (int w = 128; w > 0; w >>= 1) {
    if (threadIdx.x < w) s[threadIdx.x] += s[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = s[0];
}

// ... then one block turns them into the clip factor (torch.nn.utils.clip_grad_norm_'s).
__global__ void __launch_bounds__(256) clipScaleKernel(const double* __restrict__ partial, int blocks, float maxNorm,
                                                       float* __restrict__ scale) {
  __shared__ double s[256];
  double acc = 0;
  for (int i = threadIdx.x; i < blocks; i += 256) acc += partial[i];
  s[threadIdx.x] = acc;
  __syncthreads();
  for (int w = 128; w > 0; w >>= 1) {
    if (threadIdx.x < w) s[threadIdx.x] += s[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    const double norm = sqrt(s[0]);
    *scale = norm > maxNorm ? static_cast<float>(maxNorm / (norm + 1e-6)) : 1.0f;
  }
}

struct StepScalars {
  float lr, adamStepSize, adamBc2Sqrt, decay;
  int sgdFirstStep;
};

struct OptimizerParams {
  float beta1, beta2, eps, weightDecay, momentum;
  int clip;  // 1: multiply gradients by *clipScale first
};

// AdamW, element for element the CPU's Optimizer::step. The _rn intrinsics
// stop the compiler from fusing multiply-adds, so given the same gradient
// both devices produce the same bits. A non-finite loss skips the update, as
// the CPU engine stops before updating.
__global__ void adamwKernel(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m,
                            float* __restrict__ v, size_t n, const StepScalars* __restrict__ s, OptimizerParams o,
                            const float* __restrict__ clipScale, const double* __restrict__ lossTotal) {
  if (lossTotal && !isfinite(*lossTotal)) return;
  const float scale = o.clip ? *clipScale : 1.0f;
  const float stepSize = s->adamStepSize, bc2Sqrt = s->adamBc2Sqrt, decay = s->decay;
  const float b1 = o.beta1, b2 = o.beta2;
  const float c1 = __fsub_rn(1.0f, b1), c2 = __fsub_rn(1.0f, b2);
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const float gi = o.clip ? __fmul_rn(g[i], scale) : g[i];
    float pi = __fmul_rn(p[i], decay);
    const float mi = __fadd_rn(__fmul_rn(b1, m[i]), __fmul_rn(c1, gi));
    const float vi = __fadd_rn(__fmul_rn(b2, v[i]), __fmul_rn(__fmul_rn(c2, gi), gi));
    m[i] = mi;
    v[i] = vi;
    const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), bc2Sqrt), o.eps);
    pi = __fsub_rn(pi, __fmul_rn(stepSize, __fdiv_rn(mi, denom)));
    p[i] = pi;
  }
}

// SGD with momentum (dampening 0, no Nesterov), as the CPU's Optimizer::step.
__global__ void sgdKernel(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m, size_t n,
                          const StepScalars* __restrict__ s, OptimizerParams o, const float* __restrict__ clipScale,
                          const double* __restrict__ lossTotal) {
  if (lossTotal && !isfinite(*lossTotal)) return;
  const float scale = o.clip ? *clipScale : 1.0f;
  const float lr = s->lr;
  const bool first = s->sgdFirstStep != 0;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    float gi = o.clip ? __fmul_rn(g[i], scale) : g[i];
    if (o.weightDecay != 0.0f) gi = __fadd_rn(gi, __fmul_rn(o.weightDecay, p[i]));
    if (o.momentum != 0.0f) {
      const float mi = first ? gi : __fadd_rn(__fmul_rn(o.momentum, m[i]), gi);
      m[i] = mi;
      gi = mi;
    }
    p[i] = __fsub_rn(p[i], __fmul_rn(lr, gi));
  }
}

}  // namespace bpcuda
