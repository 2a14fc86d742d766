// firstNonFinite: the exact index of the first NaN or ±Infinity wherever it falls (inside a vector
// group, in a block's scalar tail, in the last partial block), and -1 for finite data of every
// kind (denormals, the largest float, negative zero).
#include <cmath>
#include <limits>
#include <vector>

#include "finite_scan.hpp"
#include "testing.hpp"

TEST(first_non_finite_finds_the_first_nan_or_infinity_anywhere) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  for (size_t n : {size_t{0}, size_t{1}, size_t{15}, size_t{16}, size_t{4095}, size_t{4096}, size_t{4097}, size_t{10000}}) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = static_cast<float>(i % 13) - 6.0f;
    if (n > 3) {
      v[1] = std::numeric_limits<float>::max();
      v[2] = std::numeric_limits<float>::denorm_min();
      v[3] = -0.0f;
    }
    CHECK(bp::firstNonFinite(v.data(), n) == -1);
    for (size_t at : {size_t{0}, n / 2, n - 1}) {
      if (n == 0) break;
      for (float bad : {nan, inf, -inf, -nan}) {
        std::vector<float> w = v;
        w[at] = bad;
        CHECK(bp::firstNonFinite(w.data(), n) == static_cast<int64_t>(at));
        // A later one does not hide the first.
        if (at + 1 < n) {
          w[n - 1] = nan;
          CHECK(bp::firstNonFinite(w.data(), n) == static_cast<int64_t>(at));
        }
      }
    }
  }
}
