// The engine's threads treat denormal floats as zero (float_mode.hpp), and the
// caller's floating-point mode is restored after every pool call: the caller
// may be the JS thread, whose doubles use the same control word.
#include <atomic>
#include <vector>

#include "float_mode.hpp"
#include "testing.hpp"
#include "thread_pool.hpp"

namespace {

// A product that is a denormal under IEEE rules and 0 when denormals are flushed. volatile keeps
// the compiler from folding it at compile time, under the compiler's mode instead of the thread's.
bool denormalsFlushed() {
  volatile float tiny = 1e-39f;  // below FLT_MIN (1.18e-38): a denormal
  volatile float one = 1.0f;
  const float product = tiny * one;
  return product == 0.0f;
}

}  // namespace

TEST(float_mode_guard_flushes_and_restores) {
  CHECK(!denormalsFlushed());  // the test thread starts in IEEE mode
  {
    const bp::FlushDenormals outer;
    CHECK(denormalsFlushed());
    {
      const bp::FlushDenormals inner;
      CHECK(denormalsFlushed());
    }
    CHECK(denormalsFlushed());  // the inner guard restored the outer mode, not IEEE
  }
  CHECK(!denormalsFlushed());
}

TEST(float_mode_pool_tasks_flush_on_every_thread_and_the_caller_gets_its_mode_back) {
  bp::ThreadPool pool(3);
  for (int round = 0; round < 20; ++round) {
    std::vector<std::atomic<int>> flushed(64);
    pool.parallelFor(64, [&](int i) { flushed[static_cast<size_t>(i)] = denormalsFlushed() ? 1 : 0; });
    for (auto& f : flushed) CHECK(f.load() == 1);  // workers and the participating caller alike
    CHECK(!denormalsFlushed());                    // restored on return
  }
  // The serial path (one task) too.
  int one = 0;
  pool.parallelFor(1, [&](int) { one = denormalsFlushed() ? 1 : 0; });
  CHECK(one == 1);
  CHECK(!denormalsFlushed());
}
