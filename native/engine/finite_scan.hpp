// Finding NaN and ±Infinity in training data before it reaches the engine.
#pragma once
#include <cstddef>
#include <cstdint>

namespace bp {

// Index of the first NaN or ±Infinity in v[0, n), or -1 when every value is finite. Reads at
// memory speed (a 60,000 x 784 dataset, 188 MB, in about 10 ms): this check runs on the caller's
// thread before every train(), predict() and evaluate().
int64_t firstNonFinite(const float* v, size_t n);

}  // namespace bp
