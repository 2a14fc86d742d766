// sgemm driver (cache blocking, threading, edge tiles) and the generic kernels,
// all compiled for baseline x86-64; the AVX2+FMA kernels live in gemm_avx2.cpp,
// the AVX-512 ones in gemm_avx512.cpp, and each is only called after the CPU
// was checked at run time.
#include "gemm.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include "thread_pool.hpp"

namespace bp {

namespace {

using gemm_detail::Kernels;

// ---------------------------------------------------------------------------
// Generic kernels: plain C++ the compiler vectorises with SSE2. 4x8 keeps the
// 8 accumulator vectors plus operands inside the 16 xmm registers.
// ---------------------------------------------------------------------------
constexpr int kGenMR = 4;
constexpr int kGenNR = 8;

void microGeneric(int kc, const float* a, const float* b, float* c, std::ptrdiff_t ldc,
                  float alpha, float beta) {
  float acc[kGenMR][kGenNR] = {};
  for (int k = 0; k < kc; ++k, a += kGenMR, b += kGenNR)
    for (int i = 0; i < kGenMR; ++i)
      for (int j = 0; j < kGenNR; ++j) acc[i][j] += a[i] * b[j];
  for (int i = 0; i < kGenMR; ++i) {
    float* ci = c + i * ldc;
    if (beta == 0.0f) {
      for (int j = 0; j < kGenNR; ++j) ci[j] = alpha * acc[i][j];
    } else {
      for (int j = 0; j < kGenNR; ++j) ci[j] = beta * ci[j] + alpha * acc[i][j];
    }
  }
}

using gemm_detail::storedRow;

void packAGeneric(bool trans, const float* A, std::ptrdiff_t lda, const uint32_t* index, int i0, int k0,
                  int mc, int kc, float* dst) {
  for (int p = 0; p < mc; p += kGenMR) {
    const int rows = std::min(kGenMR, mc - p);
    for (int k = 0; k < kc; ++k, dst += kGenMR) {
      for (int r = 0; r < kGenMR; ++r) {
        const std::ptrdiff_t i = i0 + p + r, kk = k0 + k;
        dst[r] = r < rows ? (trans ? storedRow(A, lda, index, kk)[i] : storedRow(A, lda, index, i)[kk]) : 0.0f;
      }
    }
  }
}

void packBGeneric(bool trans, const float* B, std::ptrdiff_t ldb, const uint32_t* index, int k0, int j0,
                  int kc, int nc, float* dst) {
  for (int p = 0; p < nc; p += kGenNR) {
    const int cols = std::min(kGenNR, nc - p);
    for (int k = 0; k < kc; ++k, dst += kGenNR) {
      for (int q = 0; q < kGenNR; ++q) {
        const std::ptrdiff_t j = j0 + p + q, kk = k0 + k;
        dst[q] = q < cols ? (trans ? storedRow(B, ldb, index, j)[kk] : storedRow(B, ldb, index, kk)[j]) : 0.0f;
      }
    }
  }
}

const Kernels kGenericKernels = {kGenMR, kGenNR, 256, 128, 4096,
                                 packAGeneric, packBGeneric, microGeneric};

// ---------------------------------------------------------------------------
// Dispatch
// ---------------------------------------------------------------------------
// The widest family the caller allows (tests compare families; BACKPROP_GEMM_KERNEL lets a user
// pin one, e.g. for bit-identical results across a fleet of mixed CPUs).
std::atomic<int> g_cap{-1};  // -1: not read from the environment yet

bool cpuHasAvx2Fma() {
#if defined(__x86_64__) && defined(BP_HAVE_AVX2_KERNELS)
  // libgcc also checks that the OS saves the ymm state (OSXSAVE/XGETBV) before reporting AVX2.
  static const bool ok = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return ok;
#else
  return false;
#endif
}

bool cpuHasAvx512() {
#if defined(__x86_64__) && defined(BP_HAVE_AVX512_KERNELS)
  // As for AVX2, libgcc reports AVX-512 only when the OS saves the zmm and mask state.
  static const bool ok = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && cpuHasAvx2Fma();
  }();
  return ok;
#else
  return false;
#endif
}

GemmKernelCap capFromEnvironment() {
  const char* v = std::getenv("BACKPROP_GEMM_KERNEL");
  if (v == nullptr) return GemmKernelCap::Best;
  if (std::strcmp(v, "generic") == 0) return GemmKernelCap::Generic;
  if (std::strcmp(v, "avx2") == 0 || std::strcmp(v, "avx2-fma") == 0) return GemmKernelCap::Avx2;
  return GemmKernelCap::Best;  // "avx512", "auto" or anything else: the best the CPU has
}

GemmKernelCap currentCap() {
  int cap = g_cap.load(std::memory_order_relaxed);
  if (cap < 0) {
    int expected = -1;
    g_cap.compare_exchange_strong(expected, static_cast<int>(capFromEnvironment()));
    cap = g_cap.load(std::memory_order_relaxed);
  }
  return static_cast<GemmKernelCap>(cap);
}

const Kernels& activeKernels() {
  const GemmKernelCap cap = currentCap();
#if defined(__x86_64__) && defined(BP_HAVE_AVX512_KERNELS)
  if (cap == GemmKernelCap::Best && cpuHasAvx512()) return gemm_detail::avx512Kernels();
#endif
#if defined(__x86_64__) && defined(BP_HAVE_AVX2_KERNELS)
  if (cap != GemmKernelCap::Generic && cpuHasAvx2Fma()) return gemm_detail::avx2Kernels();
#endif
  (void)cap;
  return kGenericKernels;
}

// ---------------------------------------------------------------------------
// Driver
// ---------------------------------------------------------------------------

// Packed panels are reused call after call; they only grow. Per thread, so pool workers and the
// caller never share one, and a bigger model pays the allocation once.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer() { release(); }

  float* get(size_t floats) {
    if (floats > cap_) {
      release();
      p_ = static_cast<float*>(::operator new(floats * sizeof(float), std::align_val_t(kAlign)));
      cap_ = floats;
    }
    return p_;
  }

 private:
  static constexpr size_t kAlign = 64;
  void release() {
    if (p_) ::operator delete(p_, std::align_val_t(kAlign));
    p_ = nullptr;
    cap_ = 0;
  }
  float* p_ = nullptr;
  size_t cap_ = 0;
};

struct Scratch {
  AlignedBuffer a, b;
};

Scratch& threadScratch() {
  thread_local Scratch s;
  return s;
}

// Packing routines may store a few floats past a micro-panel (vector tails).
constexpr size_t kPackSlack = 64;
constexpr int kMaxTile = 8 * 32;  // floats; >= mr * nr of every kernel family

struct Problem {
  bool ta, tb;
  int M, N, K, kc;
  float alpha, beta;
  const float* A;
  std::ptrdiff_t lda;
  const float* B;
  std::ptrdiff_t ldb;
  const uint32_t* aRows;  // GemmRowIndex, or nullptr
  const uint32_t* bRows;
  float* C;
  std::ptrdiff_t ldc;
  const GemmEpilogue* epilogue;
};

inline int ceilDiv(int a, int b) { return (a + b - 1) / b; }
inline int roundUp(int a, int b) { return ceilDiv(a, b) * b; }

// Computes the block C[m0..m1) x [n0..n1) with the whole K. Every element goes through the same
// micro-kernel code (edge tiles too, via a staging tile) and the same k-block sequence, so the
// result does not depend on how C was cut into blocks.
void runBlock(const Kernels& kern, const Problem& pr, int m0, int m1, int n0, int n1) {
  const int MR = kern.mr, NR = kern.nr;
  Scratch& scratch = threadScratch();
  const int ncCap = std::min(kern.ncMax, roundUp(n1 - n0, NR));
  const int mcCap = std::min(kern.mcMax, roundUp(m1 - m0, MR));
  float* bufB = scratch.b.get(static_cast<size_t>(pr.kc) * ncCap + kPackSlack);
  float* bufA = scratch.a.get(static_cast<size_t>(pr.kc) * mcCap + kPackSlack);
  alignas(64) float tile[kMaxTile];

  for (int jc = n0; jc < n1; jc += kern.ncMax) {
    const int nc = std::min(kern.ncMax, n1 - jc);
    for (int pc = 0; pc < pr.K; pc += pr.kc) {
      const int kc = std::min(pr.kc, pr.K - pc);
      kern.packB(pr.tb, pr.B, pr.ldb, pr.bRows, pc, jc, kc, nc, bufB);
      // Later k-blocks accumulate onto what the first one wrote.
      const float beta = pc == 0 ? pr.beta : 1.0f;
      for (int ic = m0; ic < m1; ic += kern.mcMax) {
        const int mc = std::min(kern.mcMax, m1 - ic);
        kern.packA(pr.ta, pr.A, pr.lda, pr.aRows, ic, pc, mc, kc, bufA);
        for (int jr = 0; jr < nc; jr += NR) {
          const int nr = std::min(NR, nc - jr);
          // A panel with at most half its columns real runs the half kernel (same bits).
          const bool half = kern.microHalf != nullptr && nr <= NR / 2;
          const auto micro = half ? kern.microHalf : kern.micro;
          const int width = half ? NR / 2 : NR;
          const float* bp = bufB + static_cast<std::ptrdiff_t>(jr / NR) * kc * NR;
          for (int ir = 0; ir < mc; ir += MR) {
            const int mr = std::min(MR, mc - ir);
            const float* ap = bufA + static_cast<std::ptrdiff_t>(ir / MR) * kc * MR;
            float* cp = pr.C + static_cast<std::ptrdiff_t>(ic + ir) * pr.ldc + jc + jr;
            if (mr == MR && nr == width) {
              micro(kc, ap, bp, cp, pr.ldc, pr.alpha, beta);
              continue;
            }
            // Edge tile: run the kernel on a staging tile so the arithmetic is identical.
            if (beta != 0.0f) {
              for (int i = 0; i < MR; ++i)
                for (int j = 0; j < width; ++j)
                  tile[i * NR + j] = (i < mr && j < nr) ? cp[i * pr.ldc + j] : 0.0f;
            }
            micro(kc, ap, bp, tile, NR, pr.alpha, beta);
            for (int i = 0; i < mr; ++i)
              for (int j = 0; j < nr; ++j) cp[i * pr.ldc + j] = tile[i * NR + j];
          }
        }
        // The last k-block made this mc x nc block final; it is still in L2.
        if (pr.epilogue && pc + kc == pr.K) pr.epilogue->fn(pr.epilogue->ctx, ic, ic + mc, jc, jc + nc);
      }
    }
  }
}

// Below this many multiply-adds per thread the wake-up and join cost more than they save.
constexpr double kMinFmaPerThread = 1 << 18;
// Packing one element costs about this many micro-kernel multiply-adds (loads, shuffles, stores);
// twice that through a row index, whose rows are scattered over the dataset (cache misses the
// prefetcher cannot hide). Measured at batch 1024: the weight gradient dZ^T * X (X indexed) is
// about 1.5 % faster split by columns than by rows, which only the higher weight predicts.
constexpr double kPackCostFma = 6.0;
constexpr double kPackCostIndexedFma = 12.0;

struct Grid {
  int pm = 1, pn = 1;
};

// Columns the widest of pn column blocks costs in multiply-adds: its tiles times nr, less half a
// tile where its last panel runs the half-width kernel (see Kernels::microHalf).
double widestColumns(const Kernels& kern, int N, int pn) {
  const int nTiles = ceilDiv(N, kern.nr);
  const bool halfLast = kern.microHalf != nullptr && N % kern.nr != 0 && N % kern.nr <= kern.nr / 2;
  double widest = 0;
  for (int bj = 0; bj < pn; ++bj) {
    const int t0 = static_cast<int>(static_cast<int64_t>(nTiles) * bj / pn);
    const int t1 = static_cast<int>(static_cast<int64_t>(nTiles) * (bj + 1) / pn);
    double cols = static_cast<double>(t1 - t0) * kern.nr;
    if (halfLast && t1 == nTiles && t1 > t0) cols -= kern.nr / 2;
    widest = std::max(widest, cols);
  }
  return widest;
}

// Splits C into pm x pn blocks (tile-aligned) for at most `threads` tasks, minimising the largest
// task's cost: its multiply-adds on padded tiles plus what it must pack (every task packs its own
// panels, so splitting N repacks A and splitting M repacks B).
Grid chooseGrid(const Kernels& kern, int M, int N, int K, int threads, bool aIndexed, bool bIndexed) {
  const double fmas = static_cast<double>(M) * N * K;
  threads = static_cast<int>(std::min<double>(threads, std::max(1.0, fmas / kMinFmaPerThread)));
  const int mTiles = ceilDiv(M, kern.mr), nTiles = ceilDiv(N, kern.nr);
  const double packA = aIndexed ? kPackCostIndexedFma : kPackCostFma;
  const double packB = bIndexed ? kPackCostIndexedFma : kPackCostFma;
  Grid best;
  double bestCost = -1;
  for (int pm = 1; pm <= std::min(threads, mTiles); ++pm) {
    const int pn = std::min(threads / pm, nTiles);
    const double rows = static_cast<double>(ceilDiv(mTiles, pm)) * kern.mr;
    const double cols = static_cast<double>(ceilDiv(nTiles, pn)) * kern.nr;
    const double jBlocks = std::ceil(cols / kern.ncMax);
    const double cost = rows * widestColumns(kern, N, pn) * K + K * (packA * rows * jBlocks + packB * cols);
    if (bestCost < 0 || cost < bestCost * 0.999) {
      bestCost = cost;
      best.pm = pm;
      best.pn = pn;
    }
  }
  return best;
}

void scaleC(int M, int N, float beta, float* C, std::ptrdiff_t ldc) {
  if (beta == 1.0f) return;
  for (int i = 0; i < M; ++i) {
    float* ci = C + i * ldc;
    if (beta == 0.0f) {
      std::fill(ci, ci + N, 0.0f);  // not beta * C: C may hold NaN
    } else {
      for (int j = 0; j < N; ++j) ci[j] *= beta;
    }
  }
}

}  // namespace

void sgemm(Trans ta, Trans tb, int M, int N, int K, float alpha, const float* A, int lda,
           const float* B, int ldb, float beta, float* C, int ldc, ThreadPool* pool,
           const GemmEpilogue* epilogue, const GemmRowIndex* rows) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) {
    scaleC(M, N, beta, C, ldc);
    if (epilogue) epilogue->fn(epilogue->ctx, 0, M, 0, N);
    return;
  }
  const Kernels& kern = activeKernels();

  Problem pr;
  pr.ta = ta == Trans::Yes;
  pr.tb = tb == Trans::Yes;
  pr.M = M;
  pr.N = N;
  pr.K = K;
  // Equal k-blocks (784 -> 4 x 196 rather than 3 x 256 + 16). Depends on K only, never on the
  // thread count: the k-block sequence fixes the rounding of every C element.
  const int kBlocks = ceilDiv(K, kern.kcMax);
  pr.kc = ceilDiv(K, kBlocks);
  pr.alpha = alpha;
  pr.beta = beta;
  pr.A = A;
  pr.lda = lda;
  pr.B = B;
  pr.ldb = ldb;
  pr.aRows = rows ? rows->a : nullptr;
  pr.bRows = rows ? rows->b : nullptr;
  pr.C = C;
  pr.ldc = ldc;
  pr.epilogue = epilogue;

  const int threads = pool ? pool->size() : 1;
  const Grid grid = chooseGrid(kern, M, N, K, threads, pr.aRows != nullptr, pr.bRows != nullptr);
  const int tasks = grid.pm * grid.pn;
  if (tasks <= 1) {
    runBlock(kern, pr, 0, M, 0, N);
    return;
  }
  const int mTiles = ceilDiv(M, kern.mr), nTiles = ceilDiv(N, kern.nr);
  pool->parallelFor(tasks, [&](int t) {
    const int bi = t / grid.pn, bj = t % grid.pn;
    const int m0 = static_cast<int>(static_cast<int64_t>(mTiles) * bi / grid.pm) * kern.mr;
    const int m1 = std::min(M, static_cast<int>(static_cast<int64_t>(mTiles) * (bi + 1) / grid.pm) * kern.mr);
    const int n0 = static_cast<int>(static_cast<int64_t>(nTiles) * bj / grid.pn) * kern.nr;
    const int n1 = std::min(N, static_cast<int>(static_cast<int64_t>(nTiles) * (bj + 1) / grid.pn) * kern.nr);
    if (m0 < m1 && n0 < n1) runBlock(kern, pr, m0, m1, n0, n1);
  });
}

const char* gemmKernelName() {
  const Kernels& k = activeKernels();
  if (&k == &kGenericKernels) return "generic";
  return k.nr == 32 ? "avx512" : "avx2-fma";
}

GemmKernelCap gemmCapKernel(GemmKernelCap cap) {
  const GemmKernelCap previous = currentCap();
  g_cap.store(static_cast<int>(cap), std::memory_order_relaxed);
  return previous;
}

bool gemmForceGeneric(bool force) {
  return gemmCapKernel(force ? GemmKernelCap::Generic : GemmKernelCap::Best) == GemmKernelCap::Generic;
}

}  // namespace bp
