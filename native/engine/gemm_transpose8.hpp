// The 8x8 float transpose the AVX2 and AVX-512 packing routines share, and the
// transposed-B panel packing built on it (the same for both but for the width).
// Included only by files compiled with AVX enabled (gemm_avx2.cpp,
// gemm_avx512.cpp). Internal linkage on purpose: each includer gets its own
// copy built with its own flags, so the linker can never hand the AVX-512
// file's copy to code that runs on an AVX2-only CPU.
#pragma once
#include <immintrin.h>

#include "gemm.hpp"

namespace bp {
namespace gemm_detail {
namespace {

// Transposes rows r[0..7] in place: afterwards r[k] holds column k.
inline void transpose8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]);
  const __m256 t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]);
  const __m256 t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]);
  const __m256 t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]);
  const __m256 t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44);
  const __m256 s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44);
  const __m256 s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44);
  const __m256 s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44);
  const __m256 s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
  r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
  r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
  r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
  r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
  r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
  r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
  r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// Packs one micro-panel of op(B) when B is stored transposed (element (k, j) at B[j*ldb + k]):
// columns j .. j+cols (cols <= Width) for k0 .. k0+kc, k-major, Width floats per k, the columns
// past cols zero. dst must be 32-byte aligned. B's stored rows (the columns j) go through the row
// index when there is one.
template <int Width>
inline void packTransposedPanel(const float* B, std::ptrdiff_t ldb, const uint32_t* index, int j, int k0, int kc,
                                int cols, float* dst) {
  const float* src[Width];
  for (int q = 0; q < Width; ++q) src[q] = storedRow(B, ldb, index, j + (q < cols ? q : 0)) + k0;
  int k = 0;
  if (cols == Width) {
    for (; k + 8 <= kc; k += 8) {
      for (int h = 0; h < Width / 8; ++h) {
        __m256 r[8];
        for (int q = 0; q < 8; ++q) r[q] = _mm256_loadu_ps(src[8 * h + q] + k);
        transpose8(r);
        for (int q = 0; q < 8; ++q) _mm256_store_ps(dst + (k + q) * Width + 8 * h, r[q]);
      }
    }
  }
  for (; k < kc; ++k)
    for (int q = 0; q < Width; ++q) dst[k * Width + q] = q < cols ? src[q][k] : 0.0f;
}

}  // namespace
}  // namespace gemm_detail
}  // namespace bp
