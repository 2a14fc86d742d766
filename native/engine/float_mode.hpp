// Flush-to-zero / denormals-are-zero for the engine's own arithmetic.
//
// Why: once training has run a while, some weights, gradients and Adam
// moments decay below FLT_MIN (1.2e-38). Every SIMD operation that reads or
// writes such a denormal takes a microcode assist, and a 784-256-128-10 run
// on random data slowed to half speed after about ten epochs (bench/README.md).
// Values that small carry no information for training, so the engine's
// threads treat them as zero, as TensorFlow's CPU kernels do. The JavaScript
// thread's floating-point mode is never changed for longer than one engine
// call: the guard restores it (V8's doubles use the same SSE control word).
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace bp {

class FlushDenormals {
 public:
#if defined(__x86_64__) || defined(__i386__)
  FlushDenormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | kFlushToZero | kDenormalsAreZero); }
  ~FlushDenormals() { _mm_setcsr(saved_); }
#else
  FlushDenormals() = default;  // elsewhere: the platform's default mode
#endif
  FlushDenormals(const FlushDenormals&) = delete;
  FlushDenormals& operator=(const FlushDenormals&) = delete;

 private:
#if defined(__x86_64__) || defined(__i386__)
  static constexpr unsigned kFlushToZero = 0x8000;     // MXCSR.FZ: denormal results become 0
  static constexpr unsigned kDenormalsAreZero = 0x40;  // MXCSR.DAZ: denormal inputs read as 0
  unsigned saved_;
#endif
};

}  // namespace bp
