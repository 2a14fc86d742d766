#include "finite_scan.hpp"

#include <cstring>

#if defined(__x86_64__)
#include <emmintrin.h>
#endif

namespace bp {

namespace {

// A float is NaN or ±Infinity exactly when all its exponent bits are set.
constexpr uint32_t kExponent = 0x7f800000u;

inline bool nonFinite(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return (bits & kExponent) == kExponent;
}

// Values per block: the block is screened without branches, and only a block that holds a
// non-finite value is searched again for the exact index.
constexpr size_t kBlock = 4096;

bool blockHasNonFinite(const float* v, size_t n) {
  size_t i = 0;
#if defined(__x86_64__)
  // SSE2 is part of x86-64: four values per compare, sixteen per iteration.
  const __m128i mask = _mm_set1_epi32(static_cast<int>(kExponent));
  __m128i any = _mm_setzero_si128();
  for (; i + 16 <= n; i += 16) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(v + i));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(v + i + 4));
    const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(v + i + 8));
    const __m128i d = _mm_loadu_si128(reinterpret_cast<const __m128i*>(v + i + 12));
    any = _mm_or_si128(any, _mm_cmpeq_epi32(_mm_and_si128(a, mask), mask));
    any = _mm_or_si128(any, _mm_cmpeq_epi32(_mm_and_si128(b, mask), mask));
    any = _mm_or_si128(any, _mm_cmpeq_epi32(_mm_and_si128(c, mask), mask));
    any = _mm_or_si128(any, _mm_cmpeq_epi32(_mm_and_si128(d, mask), mask));
  }
  if (_mm_movemask_epi8(any) != 0) return true;
#endif
  bool found = false;
  for (; i < n; ++i) found |= nonFinite(v[i]);
  return found;
}

}  // namespace

int64_t firstNonFinite(const float* v, size_t n) {
  for (size_t start = 0; start < n; start += kBlock) {
    const size_t len = n - start < kBlock ? n - start : kBlock;
    if (!blockHasNonFinite(v + start, len)) continue;
    for (size_t i = start; i < start + len; ++i)
      if (nonFinite(v[i])) return static_cast<int64_t>(i);
  }
  return -1;
}

}  // namespace bp
