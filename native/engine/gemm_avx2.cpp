// AVX2+FMA kernels for sgemm: a 6x16 micro-kernel and the packing routines
// that feed it. This file is compiled with -mavx2 -mfma, so it deliberately
// uses no C++ library templates: an inline function instantiated here could be
// the copy the linker keeps for the whole program, and then run (and fault) on
// a CPU without AVX2. Only intrinsics and plain loops below.
#include "gemm.hpp"

#if defined(__x86_64__) && defined(BP_HAVE_AVX2_KERNELS)
#include <immintrin.h>

#include "gemm_transpose8.hpp"

namespace bp {
namespace gemm_detail {

namespace {

constexpr int kMR = 6;
constexpr int kNR = 16;

// The k-loop is the hot loop of the whole engine: 12 accumulators (6 rows x 2 ymm) stay in
// registers, each k does 2 loads of B, 6 broadcasts of A and 12 FMAs, enough independent chains to
// hide the FMA latency on both FMA pipes. Each accumulator sums its k terms strictly in order, so
// a C element's value does not depend on which tile or thread computed it.
void micro6x16(int kc, const float* a, const float* b, float* c, std::ptrdiff_t ldc, float alpha,
               float beta) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();

  // C is touched only after the k-loop; start pulling its lines in now so the update does not stall.
  for (int r = 0; r < kMR; ++r) {
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + 15), _MM_HINT_T0);
  }

#define BP_STEP(u)                                            \
  {                                                           \
    const __m256 b0 = _mm256_load_ps(b + 16 * (u));           \
    const __m256 b1 = _mm256_load_ps(b + 16 * (u) + 8);       \
    __m256 av = _mm256_broadcast_ss(a + 6 * (u) + 0);         \
    c00 = _mm256_fmadd_ps(av, b0, c00);                       \
    c01 = _mm256_fmadd_ps(av, b1, c01);                       \
    av = _mm256_broadcast_ss(a + 6 * (u) + 1);                \
    c10 = _mm256_fmadd_ps(av, b0, c10);                       \
    c11 = _mm256_fmadd_ps(av, b1, c11);                       \
    av = _mm256_broadcast_ss(a + 6 * (u) + 2);                \
    c20 = _mm256_fmadd_ps(av, b0, c20);                       \
    c21 = _mm256_fmadd_ps(av, b1, c21);                       \
    av = _mm256_broadcast_ss(a + 6 * (u) + 3);                \
    c30 = _mm256_fmadd_ps(av, b0, c30);                       \
    c31 = _mm256_fmadd_ps(av, b1, c31);                       \
    av = _mm256_broadcast_ss(a + 6 * (u) + 4);                \
    c40 = _mm256_fmadd_ps(av, b0, c40);                       \
    c41 = _mm256_fmadd_ps(av, b1, c41);                       \
    av = _mm256_broadcast_ss(a + 6 * (u) + 5);                \
    c50 = _mm256_fmadd_ps(av, b0, c50);                       \
    c51 = _mm256_fmadd_ps(av, b1, c51);                       \
  }

  int k = 0;
  for (; k + 4 <= kc; k += 4) {
    _mm_prefetch(reinterpret_cast<const char*>(a + 6 * 16), _MM_HINT_T0);
    BP_STEP(0)
    BP_STEP(1)
    BP_STEP(2)
    BP_STEP(3)
    a += 4 * kMR;
    b += 4 * kNR;
  }
  for (; k < kc; ++k) {
    BP_STEP(0)
    a += kMR;
    b += kNR;
  }
#undef BP_STEP

  const __m256 va = _mm256_set1_ps(alpha);
  if (beta == 0.0f) {
#define BP_STORE0(r)                                                 \
  _mm256_storeu_ps(c + (r) * ldc, _mm256_mul_ps(va, c##r##0));       \
  _mm256_storeu_ps(c + (r) * ldc + 8, _mm256_mul_ps(va, c##r##1));
    BP_STORE0(0) BP_STORE0(1) BP_STORE0(2) BP_STORE0(3) BP_STORE0(4) BP_STORE0(5)
#undef BP_STORE0
  } else {
    const __m256 vb = _mm256_set1_ps(beta);
#define BP_STOREB(r)                                                                             \
  _mm256_storeu_ps(c + (r) * ldc,                                                                \
                   _mm256_fmadd_ps(vb, _mm256_loadu_ps(c + (r) * ldc), _mm256_mul_ps(va, c##r##0))); \
  _mm256_storeu_ps(c + (r) * ldc + 8, _mm256_fmadd_ps(vb, _mm256_loadu_ps(c + (r) * ldc + 8),     \
                                                      _mm256_mul_ps(va, c##r##1)));
    BP_STOREB(0) BP_STOREB(1) BP_STOREB(2) BP_STOREB(3) BP_STOREB(4) BP_STOREB(5)
#undef BP_STOREB
  }
}

// Element (i, k) of op(A) lives at row k, column i of A's storage when trans, else at row i,
// column k; stored rows go through the row index when there is one (see storedRow).
void packA6(bool trans, const float* A, std::ptrdiff_t lda, const uint32_t* index, int i0, int k0, int mc,
            int kc, float* dst) {
  for (int p = 0; p < mc; p += kMR, dst += static_cast<std::ptrdiff_t>(kc) * kMR) {
    const int rows = mc - p < kMR ? mc - p : kMR;
    const int i = i0 + p;
    if (trans) {
      if (rows == kMR) {
        // The masked load never touches memory past the 6 floats (the end of A may follow); the
        // 8-float store spills 2 lanes that the next k overwrites (the buffer has slack).
        const __m256i six = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, 0, 0);
        for (int k = 0; k < kc; ++k)
          _mm256_storeu_ps(dst + k * kMR, _mm256_maskload_ps(storedRow(A, lda, index, k0 + k) + i, six));
      } else {
        for (int k = 0; k < kc; ++k) {
          const float* src = storedRow(A, lda, index, k0 + k) + i;
          for (int r = 0; r < kMR; ++r) dst[k * kMR + r] = r < rows ? src[r] : 0.0f;
        }
      }
    } else {
      const float* src[kMR];
      for (int r = 0; r < kMR; ++r) src[r] = storedRow(A, lda, index, i + (r < rows ? r : 0)) + k0;
      // Through a row index the next micro-panel's rows are anywhere: fetch them one panel ahead.
      const float* next[kMR] = {};
      const bool ahead = index && p + 2 * kMR <= mc;
      if (ahead)
        for (int r = 0; r < kMR; ++r) next[r] = storedRow(A, lda, index, i + kMR + r) + k0;
      int k = 0;
      if (rows == kMR) {
        // Transpose 6x8 blocks (two zero rows complete the 8x8). Each column is stored as 8 floats
        // at a 6-float pitch, in increasing k, so the 2 padding lanes are overwritten by the next
        // column; the buffer has slack for the last one.
        for (; k + 8 <= kc; k += 8) {
          if (ahead && k % 16 == 0)
            for (int q = 0; q < kMR; ++q) _mm_prefetch(reinterpret_cast<const char*>(next[q] + k), _MM_HINT_T0);
          __m256 r[8];
          for (int q = 0; q < kMR; ++q) r[q] = _mm256_loadu_ps(src[q] + k);
          r[6] = r[7] = _mm256_setzero_ps();
          transpose8(r);
          for (int q = 0; q < 8; ++q) _mm256_storeu_ps(dst + (k + q) * kMR, r[q]);
        }
      }
      for (; k < kc; ++k)
        for (int r = 0; r < kMR; ++r) dst[k * kMR + r] = r < rows ? src[r][k] : 0.0f;
    }
  }
}

// Element (k, j) of op(B) lives at row j, column k of B's storage when trans, else at row k,
// column j; stored rows go through the row index when there is one.
void packB16(bool trans, const float* B, std::ptrdiff_t ldb, const uint32_t* index, int k0, int j0, int kc,
             int nc, float* dst) {
  for (int p = 0; p < nc; p += kNR, dst += static_cast<std::ptrdiff_t>(kc) * kNR) {
    const int cols = nc - p < kNR ? nc - p : kNR;
    const int j = j0 + p;
    if (!trans) {
      if (cols == kNR) {
        for (int k = 0; k < kc; ++k) {
          // Through a row index each k is a jump the prefetcher cannot follow: fetch 8 rows ahead.
          if (index && k + 8 < kc)
            _mm_prefetch(reinterpret_cast<const char*>(storedRow(B, ldb, index, k0 + k + 8) + j), _MM_HINT_T0);
          const float* src = storedRow(B, ldb, index, k0 + k) + j;
          _mm256_store_ps(dst + k * kNR, _mm256_loadu_ps(src));
          _mm256_store_ps(dst + k * kNR + 8, _mm256_loadu_ps(src + 8));
        }
      } else {
        for (int k = 0; k < kc; ++k) {
          const float* src = storedRow(B, ldb, index, k0 + k) + j;
          for (int q = 0; q < kNR; ++q) dst[k * kNR + q] = q < cols ? src[q] : 0.0f;
        }
      }
    } else {
      packTransposedPanel<kNR>(B, ldb, index, j, k0, kc, cols, dst);
    }
  }
}

// Cache blocking for Zen/Skylake-class cores: a kc x 16 B micro-panel (16 KiB) stays in L1 while
// A micro-panels stream from an mc x kc block that fits comfortably in L2.
const Kernels kAvx2Kernels = {kMR, kNR, 256, 144, 4080, packA6, packB16, micro6x16};

}  // namespace

const Kernels& avx2Kernels() { return kAvx2Kernels; }

}  // namespace gemm_detail
}  // namespace bp

#endif
