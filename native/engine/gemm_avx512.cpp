// AVX-512 kernels for sgemm: an 8x32 micro-kernel and the packing routines
// that feed it. Compiled with -mavx512f (and AVX2/FMA for the shared 8x8
// transpose) and only called after the CPU and the OS were checked for
// AVX-512 at run time. Same rule as gemm_avx2.cpp: no C++ library templates,
// only intrinsics and plain loops, so no copy of a shared inline function
// built with these flags can end up running on an older CPU.
#include "gemm.hpp"

#if defined(__x86_64__) && defined(BP_HAVE_AVX512_KERNELS)
#include <immintrin.h>

#include "gemm_transpose8.hpp"

namespace bp {
namespace gemm_detail {

namespace {

constexpr int kMR = 8;
constexpr int kNR = 32;

// 16 accumulators (8 rows x 2 zmm); each k: 2 loads of B, 8 broadcasts of A, 16 FMAs. 8 rows
// rather than the 12 the registers would hold: the training shapes have M = 128 or 1024 (batch)
// and 256 or 784, all multiples of 8, so no tile is partial and A packs with one 8x8 transpose;
// measured on the MLP step's GEMMs it beat 12x32 by about 7 % at batch 128 and tied at 1024.
// As in the AVX2 kernel each accumulator sums its k terms strictly in order, so an element's
// value does not depend on its tile or thread.
void micro8x32(int kc, const float* a, const float* b, float* c, std::ptrdiff_t ldc, float alpha,
                float beta) {
#define BP_ZERO(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps();
  BP_ZERO(0) BP_ZERO(1) BP_ZERO(2) BP_ZERO(3) BP_ZERO(4) BP_ZERO(5)
  BP_ZERO(6) BP_ZERO(7)
#undef BP_ZERO

  for (int r = 0; r < kMR; ++r) {
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + 31), _MM_HINT_T0);
  }

#define BP_ROW(u, r)                                               \
  {                                                                \
    const __m512 av = _mm512_set1_ps(a[kMR * (u) + (r)]);          \
    c##r##0 = _mm512_fmadd_ps(av, b0, c##r##0);                    \
    c##r##1 = _mm512_fmadd_ps(av, b1, c##r##1);                    \
  }
#define BP_STEP(u)                                                 \
  {                                                                \
    const __m512 b0 = _mm512_load_ps(b + kNR * (u));               \
    const __m512 b1 = _mm512_load_ps(b + kNR * (u) + 16);          \
    BP_ROW(u, 0) BP_ROW(u, 1) BP_ROW(u, 2) BP_ROW(u, 3)            \
    BP_ROW(u, 4) BP_ROW(u, 5) BP_ROW(u, 6) BP_ROW(u, 7)            \
  }

  int k = 0;
  for (; k + 4 <= kc; k += 4) {
    _mm_prefetch(reinterpret_cast<const char*>(a + kMR * 16), _MM_HINT_T0);
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
#undef BP_ROW

  const __m512 va = _mm512_set1_ps(alpha);
  if (beta == 0.0f) {
#define BP_STORE0(r)                                                 \
  _mm512_storeu_ps(c + (r) * ldc, _mm512_mul_ps(va, c##r##0));       \
  _mm512_storeu_ps(c + (r) * ldc + 16, _mm512_mul_ps(va, c##r##1));
    BP_STORE0(0) BP_STORE0(1) BP_STORE0(2) BP_STORE0(3) BP_STORE0(4) BP_STORE0(5)
    BP_STORE0(6) BP_STORE0(7)
#undef BP_STORE0
  } else {
    const __m512 vb = _mm512_set1_ps(beta);
#define BP_STOREB(r)                                                                                \
  _mm512_storeu_ps(c + (r) * ldc,                                                                   \
                   _mm512_fmadd_ps(vb, _mm512_loadu_ps(c + (r) * ldc), _mm512_mul_ps(va, c##r##0))); \
  _mm512_storeu_ps(c + (r) * ldc + 16, _mm512_fmadd_ps(vb, _mm512_loadu_ps(c + (r) * ldc + 16),      \
                                                       _mm512_mul_ps(va, c##r##1)));
    BP_STOREB(0) BP_STOREB(1) BP_STOREB(2) BP_STOREB(3) BP_STOREB(4) BP_STOREB(5)
    BP_STOREB(6) BP_STOREB(7)
#undef BP_STOREB
  }
}

// The left 8 x 16 half of micro8x32: the same FMAs on its first B vector in the same k order,
// and the same stores, so each element gets the bits micro8x32 would give it.
void micro8x16(int kc, const float* a, const float* b, float* c, std::ptrdiff_t ldc, float alpha,
               float beta) {
#define BP_ZERO(r) __m512 c##r = _mm512_setzero_ps();
  BP_ZERO(0) BP_ZERO(1) BP_ZERO(2) BP_ZERO(3) BP_ZERO(4) BP_ZERO(5) BP_ZERO(6) BP_ZERO(7)
#undef BP_ZERO
  for (int r = 0; r < kMR; ++r) _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
#define BP_ROW(u, r) c##r = _mm512_fmadd_ps(_mm512_set1_ps(a[kMR * (u) + (r)]), b0, c##r);
#define BP_STEP(u)                                                                     \
  {                                                                                    \
    const __m512 b0 = _mm512_load_ps(b + kNR * (u));                                   \
    BP_ROW(u, 0) BP_ROW(u, 1) BP_ROW(u, 2) BP_ROW(u, 3) BP_ROW(u, 4) BP_ROW(u, 5)      \
    BP_ROW(u, 6) BP_ROW(u, 7)                                                          \
  }
  int k = 0;
  for (; k + 4 <= kc; k += 4) {
    _mm_prefetch(reinterpret_cast<const char*>(a + kMR * 16), _MM_HINT_T0);
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
#undef BP_ROW
  const __m512 va = _mm512_set1_ps(alpha);
  if (beta == 0.0f) {
#define BP_STORE0(r) _mm512_storeu_ps(c + (r) * ldc, _mm512_mul_ps(va, c##r));
    BP_STORE0(0) BP_STORE0(1) BP_STORE0(2) BP_STORE0(3) BP_STORE0(4) BP_STORE0(5) BP_STORE0(6) BP_STORE0(7)
#undef BP_STORE0
  } else {
    const __m512 vb = _mm512_set1_ps(beta);
#define BP_STOREB(r) \
  _mm512_storeu_ps(c + (r) * ldc, _mm512_fmadd_ps(vb, _mm512_loadu_ps(c + (r) * ldc), _mm512_mul_ps(va, c##r)));
    BP_STOREB(0) BP_STOREB(1) BP_STOREB(2) BP_STOREB(3) BP_STOREB(4) BP_STOREB(5) BP_STOREB(6) BP_STOREB(7)
#undef BP_STOREB
  }
}

// The low `n` lanes (0..16) of a 16-lane mask.
inline __mmask16 lanes(int n) { return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u); }

// Element (i, k) of op(A) lives at row k, column i of A's storage when trans, else at row i,
// column k; stored rows go through the row index when there is one (see storedRow).
void packA8(bool trans, const float* A, std::ptrdiff_t lda, const uint32_t* index, int i0, int k0, int mc,
            int kc, float* dst) {
  for (int p = 0; p < mc; p += kMR, dst += static_cast<std::ptrdiff_t>(kc) * kMR) {
    const int rows = mc - p < kMR ? mc - p : kMR;
    const int i = i0 + p;
    if (trans) {
      // 8 (or `rows`) contiguous floats per k; masked loads never touch memory past them, and
      // the missing rows are stored as zeros.
      const __mmask16 load = lanes(rows), store = lanes(kMR);
      for (int k = 0; k < kc; ++k)
        _mm512_mask_storeu_ps(dst + k * kMR, store, _mm512_maskz_loadu_ps(load, storedRow(A, lda, index, k0 + k) + i));
      continue;
    }
    const float* src[kMR];
    for (int r = 0; r < kMR; ++r) src[r] = storedRow(A, lda, index, i + (r < rows ? r : 0)) + k0;
    // Through a row index the next micro-panel's 8 rows are anywhere: fetch them one panel ahead,
    // a cache line of each row per 16 k, as this panel's rows are read.
    const float* next[kMR] = {};
    const bool ahead = index && p + 2 * kMR <= mc;
    if (ahead)
      for (int r = 0; r < kMR; ++r) next[r] = storedRow(A, lda, index, i + kMR + r) + k0;
    int k = 0;
    if (rows == kMR) {
      // One 8x8 transpose per 8 k: column k + q of the 8 rows is one aligned store.
      for (; k + 8 <= kc; k += 8) {
        if (ahead && k % 16 == 0)
          for (int q = 0; q < 8; ++q) _mm_prefetch(reinterpret_cast<const char*>(next[q] + k), _MM_HINT_T0);
        __m256 lo[8];
        for (int q = 0; q < 8; ++q) lo[q] = _mm256_loadu_ps(src[q] + k);
        transpose8(lo);
        for (int q = 0; q < 8; ++q) _mm256_store_ps(dst + (k + q) * kMR, lo[q]);
      }
    }
    for (; k < kc; ++k)
      for (int r = 0; r < kMR; ++r) dst[k * kMR + r] = r < rows ? src[r][k] : 0.0f;
  }
}

// Element (k, j) of op(B) lives at row j, column k of B's storage when trans, else at row k,
// column j; stored rows go through the row index when there is one.
void packB32(bool trans, const float* B, std::ptrdiff_t ldb, const uint32_t* index, int k0, int j0, int kc,
             int nc, float* dst) {
  for (int p = 0; p < nc; p += kNR, dst += static_cast<std::ptrdiff_t>(kc) * kNR) {
    const int cols = nc - p < kNR ? nc - p : kNR;
    const int j = j0 + p;
    if (!trans) {
      const __mmask16 m0 = lanes(cols), m1 = lanes(cols > 16 ? cols - 16 : 0);
      for (int k = 0; k < kc; ++k) {
        // Through a row index each k is a jump the prefetcher cannot follow: fetch 8 rows ahead.
        if (index && k + 8 < kc) {
          const float* ahead = storedRow(B, ldb, index, k0 + k + 8) + j;
          _mm_prefetch(reinterpret_cast<const char*>(ahead), _MM_HINT_T0);
          _mm_prefetch(reinterpret_cast<const char*>(ahead + 31), _MM_HINT_T0);
        }
        const float* src = storedRow(B, ldb, index, k0 + k) + j;
        _mm512_store_ps(dst + k * kNR, _mm512_maskz_loadu_ps(m0, src));
        _mm512_store_ps(dst + k * kNR + 16, _mm512_maskz_loadu_ps(m1, src + 16));
      }
      continue;
    }
    packTransposedPanel<kNR>(B, ldb, index, j, k0, kc, cols, dst);
  }
}

// A kc x 32 B micro-panel (kc <= 256: at most 32 KiB) stays in L1 while 8-row A micro-panels
// stream from an mc x kc block in L2. (Larger kc or mc measured the same within noise.)
const Kernels kAvx512Kernels = {kMR, kNR, 256, 192, 4096, packA8, packB32, micro8x32, micro8x16};

}  // namespace

const Kernels& avx512Kernels() { return kAvx512Kernels; }

}  // namespace gemm_detail
}  // namespace bp

#endif
