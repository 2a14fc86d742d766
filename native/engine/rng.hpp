// Seeded, serialisable random numbers for weight init, shuffling and splits.
// xoshiro128** keeps its whole state in four uint32 words, so a checkpoint can
// store it exactly (JSON numbers hold 32-bit integers losslessly) and a resumed
// run continues the same sequence.
#pragma once
#include <array>
#include <cmath>
#include <cstdint>

namespace bp {

class Rng {
 public:
  using State = std::array<uint32_t, 4>;

  Rng() : Rng(0, 0) {}
  // `stream` separates independent uses of one seed (init, shuffle, split).
  Rng(uint32_t seed, uint32_t stream) {
    uint64_t x = (static_cast<uint64_t>(stream) << 32) ^ seed ^ 0x9E3779B97F4A7C15ull;
    for (auto& w : s_) w = static_cast<uint32_t>(splitmix64(x) >> 16);
    if ((s_[0] | s_[1] | s_[2] | s_[3]) == 0) s_[0] = 1;  // all-zero is a fixed point
  }

  const State& state() const { return s_; }
  void setState(const State& s) { s_ = s; }

  uint32_t next() {
    const uint32_t result = rotl(s_[1] * 5, 7) * 9;
    const uint32_t t = s_[1] << 9;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 11);
    return result;
  }

  // Uniform in [0, 1) with 24 bits, exactly representable as float.
  float uniform() { return static_cast<float>(next() >> 8) * (1.0f / 16777216.0f); }

  // Unbiased integer in [0, n) (Lemire's method with rejection).
  uint32_t below(uint32_t n) {
    uint64_t m = static_cast<uint64_t>(next()) * n;
    uint32_t low = static_cast<uint32_t>(m);
    if (low < n) {
      const uint32_t threshold = static_cast<uint32_t>(-n) % n;
      while (low < threshold) {
        m = static_cast<uint64_t>(next()) * n;
        low = static_cast<uint32_t>(m);
      }
    }
    return static_cast<uint32_t>(m >> 32);
  }

 private:
  static uint32_t rotl(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }
  static uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  State s_{};
};

// Fisher-Yates with the generator above: the same state gives the same order
// on every platform (no std::shuffle, whose algorithm is library-defined).
template <class T>
void shuffleInPlace(T* data, size_t n, Rng& rng) {
  for (size_t i = n; i > 1; --i) {
    const size_t j = rng.below(static_cast<uint32_t>(i));
    T tmp = data[i - 1];
    data[i - 1] = data[j];
    data[j] = tmp;
  }
}

}  // namespace bp
