// sgemm and ThreadPool: results against a double-precision reference, the
// kernel dispatch, bit-identical results for any thread count, and the pool's
// contract (every index once, exceptions, no leaked threads).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "gemm.hpp"
#include "rng.hpp"
#include "gemm_test_support.hpp"
#include "testing.hpp"
#include "thread_pool.hpp"

namespace {

using bp::Trans;
using bptest::CapKernel;
using bptest::familiesHere;
using bptest::ForceGeneric;
using bptest::taskCount;

struct Case {
  Trans ta, tb;
  int M, N, K;
  float alpha, beta;
  int padA = 0, padB = 0, padC = 0;  // extra row stride, to catch ld mix-ups
};

struct Mats {
  std::vector<float> A, B, C;
  int lda, ldb, ldc;
};

Mats makeMats(const Case& c, uint32_t seed) {
  bp::Rng rng(seed, 11);
  Mats m;
  const int aRows = c.ta == Trans::Yes ? c.K : c.M, aCols = c.ta == Trans::Yes ? c.M : c.K;
  const int bRows = c.tb == Trans::Yes ? c.N : c.K, bCols = c.tb == Trans::Yes ? c.K : c.N;
  m.lda = aCols + c.padA;
  m.ldb = bCols + c.padB;
  m.ldc = c.N + c.padC;
  // +1 so a zero-sized operand still has a valid pointer.
  m.A.resize(static_cast<size_t>(aRows) * m.lda + 1);
  m.B.resize(static_cast<size_t>(bRows) * m.ldb + 1);
  m.C.resize(static_cast<size_t>(c.M) * m.ldc + 1);
  for (auto& v : m.A) v = 2.0f * rng.uniform() - 1.0f;
  for (auto& v : m.B) v = 2.0f * rng.uniform() - 1.0f;
  for (auto& v : m.C) v = 2.0f * rng.uniform() - 1.0f;
  return m;
}

float opA(const Case& c, const Mats& m, int i, int k) {
  return c.ta == Trans::Yes ? m.A[static_cast<size_t>(k) * m.lda + i] : m.A[static_cast<size_t>(i) * m.lda + k];
}
float opB(const Case& c, const Mats& m, int k, int j) {
  return c.tb == Trans::Yes ? m.B[static_cast<size_t>(j) * m.ldb + k] : m.B[static_cast<size_t>(k) * m.ldb + j];
}

void runSgemm(const Case& c, Mats& m, bp::ThreadPool* pool) {
  bp::sgemm(c.ta, c.tb, c.M, c.N, c.K, c.alpha, m.A.data(), m.lda, m.B.data(), m.ldb, c.beta,
            m.C.data(), m.ldc, pool);
}

// Checks C against a double-precision product with the classic bound for float summation in any
// order: |err| <= (K + 2) * u * (|alpha| sum |a||b| + |beta| |c|), u = 2^-24, doubled for slack.
// Also checks that the padding between rows of C was left alone.
void checkAgainstReference(const Case& c, uint32_t seed, bool nanC, bp::ThreadPool* pool) {
  Mats m = makeMats(c, seed);
  if (nanC) std::fill(m.C.begin(), m.C.end(), std::numeric_limits<float>::quiet_NaN());
  const std::vector<float> C0 = m.C;
  runSgemm(c, m, pool);
  const double u = std::ldexp(1.0, -24);
  for (int i = 0; i < c.M; ++i) {
    for (int j = 0; j < c.N; ++j) {
      double dot = 0, mag = 0;
      for (int k = 0; k < c.K; ++k) {
        const double p = static_cast<double>(opA(c, m, i, k)) * opB(c, m, k, j);
        dot += p;
        mag += std::fabs(p);
      }
      const double c0 = C0[static_cast<size_t>(i) * m.ldc + j];
      const double ref = c.alpha * dot + (c.beta == 0.0f ? 0.0 : c.beta * c0);
      const double bound = std::fabs(c.alpha) * mag + (c.beta == 0.0f ? 0.0 : std::fabs(c.beta * c0));
      const double tol = 2.0 * (c.K + 2) * u * bound + 1e-30;
      const double got = m.C[static_cast<size_t>(i) * m.ldc + j];
      if (!(std::fabs(got - ref) <= tol)) {
        throw bptest::Failure("sgemm mismatch: ta=" + std::to_string(c.ta == Trans::Yes) +
                              " tb=" + std::to_string(c.tb == Trans::Yes) + " M=" + std::to_string(c.M) +
                              " N=" + std::to_string(c.N) + " K=" + std::to_string(c.K) +
                              " alpha=" + std::to_string(c.alpha) + " beta=" + std::to_string(c.beta) +
                              " at (" + std::to_string(i) + "," + std::to_string(j) + "): got " +
                              std::to_string(got) + " want " + std::to_string(ref));
      }
    }
    for (int j = c.N; j < m.ldc && i + 1 < c.M; ++j) {
      const size_t at = static_cast<size_t>(i) * m.ldc + j;
      CHECK(std::memcmp(&m.C[at], &C0[at], sizeof(float)) == 0);
    }
  }
}

const Trans kT[2] = {Trans::No, Trans::Yes};

// Sizes around the micro-tile edges of every kernel family (8x32, 6x16, 4x8) and the cache blocks.
std::vector<Case> randomCases(uint32_t seed, int count) {
  static const int dims[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 15, 16, 17, 23, 24, 25, 31, 32, 33, 47, 64, 97, 130};
  const int nd = static_cast<int>(sizeof dims / sizeof dims[0]);
  static const float alphas[] = {1.0f, -0.5f, 2.0f};
  static const float betas[] = {0.0f, 1.0f, -1.5f, 0.25f};
  bp::Rng rng(seed, 3);
  std::vector<Case> cases;
  for (int n = 0; n < count; ++n) {
    Case c;
    c.ta = kT[rng.below(2)];
    c.tb = kT[rng.below(2)];
    c.M = dims[rng.below(nd)];
    c.N = dims[rng.below(nd)];
    c.K = dims[rng.below(nd)];
    c.alpha = alphas[rng.below(3)];
    c.beta = betas[rng.below(4)];
    c.padA = static_cast<int>(rng.below(3));
    c.padB = static_cast<int>(rng.below(3));
    c.padC = static_cast<int>(rng.below(3));
    cases.push_back(c);
  }
  return cases;
}

// Shapes that cross the cache blocks (K > 256 unevenly, M > MC, N > NC) and the MLP shapes.
std::vector<Case> largeCases() {
  std::vector<Case> cases;
  for (Trans ta : kT) {
    for (Trans tb : kT) {
      cases.push_back({ta, tb, 301, 67, 600, 1.0f, 0.0f, 1, 3, 2});
      cases.push_back({ta, tb, 50, 130, 257, -1.0f, 0.5f});
      cases.push_back({ta, tb, 128, 256, 784, 1.0f, 0.0f});
    }
  }
  cases.push_back({Trans::No, Trans::No, 7, 4200, 20, 1.0f, 1.0f});    // more than one NC block
  cases.push_back({Trans::No, Trans::Yes, 5, 4100, 9, 0.5f, 0.0f, 0, 0, 5});
  return cases;
}

std::vector<Case> determinismCases() {
  std::vector<Case> cases;
  for (Trans ta : kT) {
    for (Trans tb : kT) {
      cases.push_back({ta, tb, 203, 301, 177, 1.0f, 0.0f});
      cases.push_back({ta, tb, 128, 256, 784, 1.0f, 0.0f});
      cases.push_back({ta, tb, 97, 50, 600, -0.75f, 0.5f});
      cases.push_back({ta, tb, 517, 33, 130, 1.0f, 1.0f});
    }
  }
  cases.push_back({Trans::No, Trans::No, 31, 4150, 70, 1.0f, 0.0f});
  return cases;
}

}  // namespace

TEST(gemm_kernel_dispatch) {
  const std::string name = bp::gemmKernelName();
  CHECK(name == "avx512" || name == "avx2-fma" || name == "generic");
  {
    ForceGeneric force(true);
    CHECK(std::string(bp::gemmKernelName()) == "generic");
    CHECK(bp::gemmForceGeneric(true) == true);
  }
  CHECK(std::string(bp::gemmKernelName()) == name);
#if defined(__x86_64__)  // the engine builds both SIMD families on every x86-64 build
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f");
  CHECK(name == (avx512 ? "avx512" : avx2 ? "avx2-fma" : "generic"));
  {
    CapKernel cap(bp::GemmKernelCap::Avx2);
    CHECK(std::string(bp::gemmKernelName()) == (avx2 ? "avx2-fma" : "generic"));
  }
  CHECK(std::string(bp::gemmKernelName()) == name);
  std::printf("     kernel families here: %zu (widest %s)\n", familiesHere().size(), name.c_str());
#endif
}

TEST(gemm_matches_reference_random_shapes) {
  for (bp::GemmKernelCap family : familiesHere()) {
    CapKernel cap(family);
    for (const Case& c : randomCases(1234, 400)) checkAgainstReference(c, 77, false, nullptr);
  }
}

TEST(gemm_matches_reference_large_shapes_threaded) {
  bp::ThreadPool pool(3);
  for (bp::GemmKernelCap family : familiesHere()) {
    CapKernel cap(family);
    for (const Case& c : largeCases()) checkAgainstReference(c, 5, false, &pool);
  }
}

TEST(gemm_generic_matches_reference) {
  ForceGeneric force(true);
  bp::ThreadPool pool(2);
  for (const Case& c : randomCases(99, 200)) checkAgainstReference(c, 8, false, nullptr);
  for (const Case& c : largeCases()) checkAgainstReference(c, 6, false, &pool);
}

TEST(gemm_beta_zero_ignores_nan_in_c) {
  bp::ThreadPool pool(2);
  for (Trans ta : kT) {
    for (Trans tb : kT) {
      for (int M : {1, 5, 6, 7, 64, 131}) {
        checkAgainstReference({ta, tb, M, 19, 33, 1.0f, 0.0f, 0, 0, 1}, 3, true, nullptr);
        checkAgainstReference({ta, tb, M, 300, 290, -2.0f, 0.0f}, 4, true, &pool);
      }
    }
  }
  ForceGeneric force(true);
  checkAgainstReference({Trans::No, Trans::Yes, 13, 21, 9, 1.0f, 0.0f}, 5, true, nullptr);
}

TEST(gemm_unit_dimensions) {
  for (Trans ta : kT)
    for (Trans tb : kT)
      for (float beta : {0.0f, 1.0f, 3.0f}) {
        checkAgainstReference({ta, tb, 1, 1, 1, 1.0f, beta}, 1, false, nullptr);
        checkAgainstReference({ta, tb, 1, 40, 1, -1.0f, beta}, 2, false, nullptr);
        checkAgainstReference({ta, tb, 40, 1, 300, 0.5f, beta}, 3, false, nullptr);
        checkAgainstReference({ta, tb, 1, 1, 1000, 1.0f, beta}, 4, false, nullptr);
      }
  // An exact product, no tolerance needed.
  const float a = 3.0f, b = -2.0f;
  float c = 100.0f;
  bp::sgemm(Trans::No, Trans::No, 1, 1, 1, 1.0f, &a, 1, &b, 1, 0.5f, &c, 1, nullptr);
  CHECK(c == 44.0f);
}

TEST(gemm_k_zero_and_alpha_zero_scale_c) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> C(3 * 5);
  for (int i = 0; i < 15; ++i) C[i] = static_cast<float>(i);
  std::vector<float> A(1, nan), B(1, nan);  // must not be read
  bp::sgemm(Trans::No, Trans::No, 3, 4, 0, 1.0f, A.data(), 1, B.data(), 4, 2.0f, C.data(), 5, nullptr);
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 4; ++j) CHECK(C[i * 5 + j] == 2.0f * (i * 5 + j));
    CHECK(C[i * 5 + 4] == static_cast<float>(i * 5 + 4));  // padding untouched
  }
  std::vector<float> D(12, nan);
  bp::sgemm(Trans::Yes, Trans::No, 3, 4, 0, 1.0f, A.data(), 3, B.data(), 4, 0.0f, D.data(), 4, nullptr);
  for (float v : D) CHECK(v == 0.0f);
  std::vector<float> E(12, 1.5f), A2(3 * 7, nan), B2(7 * 4, nan);
  bp::sgemm(Trans::No, Trans::No, 3, 4, 7, 0.0f, A2.data(), 7, B2.data(), 4, -1.0f, E.data(), 4, nullptr);
  for (float v : E) CHECK(v == -1.5f);
  // M or N of zero: nothing to do, nothing touched.
  bp::sgemm(Trans::No, Trans::No, 0, 4, 7, 1.0f, A2.data(), 7, B2.data(), 4, 0.0f, E.data(), 4, nullptr);
  bp::sgemm(Trans::No, Trans::No, 3, 0, 7, 1.0f, A2.data(), 7, B2.data(), 1, 0.0f, E.data(), 1, nullptr);
  for (float v : E) CHECK(v == -1.5f);
}

TEST(gemm_every_family_agrees_with_generic) {
  bp::ThreadPool pool(2);
  std::vector<Case> cases = randomCases(555, 100);
  for (const Case& c : largeCases()) cases.push_back(c);
  for (bp::GemmKernelCap family : familiesHere())
  for (const Case& c : cases) {
    Mats fast = makeMats(c, 21), generic = makeMats(c, 21);
    {
      CapKernel cap(family);
      runSgemm(c, fast, &pool);
    }
    {
      ForceGeneric force(true);
      runSgemm(c, generic, &pool);
    }
    for (int i = 0; i < c.M; ++i) {
      for (int j = 0; j < c.N; ++j) {
        double mag = 0;
        for (int k = 0; k < c.K; ++k) mag += std::fabs(static_cast<double>(opA(c, fast, i, k)) * opB(c, fast, k, j));
        const size_t at = static_cast<size_t>(i) * fast.ldc + j;
        const double tol = 4.0 * (c.K + 2) * std::ldexp(1.0, -24) * (std::fabs(c.alpha) * mag + 4.0) ;
        CHECK_NEAR(fast.C[at], generic.C[at], tol);
      }
    }
  }
}

TEST(gemm_bit_identical_across_thread_counts) {
  std::vector<std::unique_ptr<bp::ThreadPool>> pools;
  for (int t : {2, 3, 7, 8}) pools.push_back(std::make_unique<bp::ThreadPool>(t));
  for (bp::GemmKernelCap family : familiesHere()) {
    CapKernel cap(family);
    for (const Case& c : determinismCases()) {
      Mats base = makeMats(c, 9);
      const std::vector<float> C0 = base.C;
      runSgemm(c, base, nullptr);
      for (auto& pool : pools) {
        for (int rep = 0; rep < 2; ++rep) {
          Mats m = makeMats(c, 9);
          runSgemm(c, m, pool.get());
          CHECK(std::memcmp(m.C.data(), base.C.data(), m.C.size() * sizeof(float)) == 0);
        }
      }
      Mats one = makeMats(c, 9);
      bp::ThreadPool single(1);
      runSgemm(c, one, &single);
      CHECK(std::memcmp(one.C.data(), base.C.data(), one.C.size() * sizeof(float)) == 0);
      CHECK(std::memcmp(C0.data(), base.C.data(), C0.size() * sizeof(float)) != 0);
    }
  }
}

// A panel with at most half its columns real runs the half-width kernel (AVX-512: 8 x 16 of the
// 8 x 32 tile). Its columns must get the bits the full kernel gives the same columns inside a
// wider product, for edge rows too and with beta applied through the staging tile.
TEST(gemm_half_width_panels_give_the_bits_of_full_panels) {
  bp::ThreadPool pool(2);
  for (bp::GemmKernelCap family : familiesHere()) {
    CapKernel cap(family);
    for (int narrow : {1, 10, 16, 40, 784}) {
      for (float beta : {0.0f, 0.75f}) {
        // The wide product has a full panel more, so its first `narrow` columns all lie in full panels.
        const int M = 29, K = 300, wide = (narrow + 31) / 32 * 32 + 32;
        bp::Rng rng(static_cast<uint32_t>(narrow), 4);
        std::vector<float> A(static_cast<size_t>(M) * K), B(static_cast<size_t>(K) * wide);
        for (auto& v : A) v = 2.0f * rng.uniform() - 1.0f;
        for (auto& v : B) v = 2.0f * rng.uniform() - 1.0f;
        std::vector<float> Cw(static_cast<size_t>(M) * wide), Cn(static_cast<size_t>(M) * narrow);
        for (int i = 0; i < M; ++i)
          for (int j = 0; j < wide; ++j) Cw[static_cast<size_t>(i) * wide + j] = 0.25f * static_cast<float>(i - j);
        for (int i = 0; i < M; ++i)
          for (int j = 0; j < narrow; ++j) Cn[static_cast<size_t>(i) * narrow + j] = Cw[static_cast<size_t>(i) * wide + j];
        bp::sgemm(Trans::No, Trans::No, M, wide, K, 1.5f, A.data(), K, B.data(), wide, beta, Cw.data(), wide, &pool);
        bp::sgemm(Trans::No, Trans::No, M, narrow, K, 1.5f, A.data(), K, B.data(), wide, beta, Cn.data(), narrow,
                  &pool);
        for (int i = 0; i < M; ++i)
          for (int j = 0; j < narrow; ++j) {
            const float got = Cn[static_cast<size_t>(i) * narrow + j];
            const float want = Cw[static_cast<size_t>(i) * wide + j];
            if (std::memcmp(&got, &want, sizeof got) != 0)
              throw bptest::Failure(std::string(bp::gemmKernelName()) + " N=" + std::to_string(narrow) + " beta=" +
                                    std::to_string(beta) + ": C[" + std::to_string(i) + "][" + std::to_string(j) +
                                    "] differs from the full panel's");
          }
      }
    }
  }
}

TEST(gemm_threadpool_covers_each_index_once) {
  for (int threads : {1, 2, 3, 8}) {
    bp::ThreadPool pool(threads);
    CHECK(pool.size() == std::max(1, threads));
    for (int n : {0, 1, 2, 3, 7, 64, 1000}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      for (auto& h : hits) h.store(0);
      pool.parallelFor(n, [&](int i) {
        CHECK(i >= 0 && i < n);
        hits[static_cast<size_t>(i)].fetch_add(1);
      });
      for (auto& h : hits) CHECK(h.load() == 1);
    }
  }
  bp::ThreadPool none(0);
  CHECK(none.size() == 1);
  int count = 0;
  none.parallelFor(5, [&](int) { ++count; });
  CHECK(count == 5);
}

TEST(gemm_threadpool_rethrows_first_exception) {
  bp::ThreadPool pool(3);
  for (int rep = 0; rep < 50; ++rep) {
    std::atomic<int> ran{0};
    bool caught = false;
    try {
      pool.parallelFor(40, [&](int i) {
        ran.fetch_add(1);
        if (i == 7) throw std::runtime_error("task 7 failed");
      });
    } catch (const std::runtime_error& e) {
      caught = std::string(e.what()) == "task 7 failed";
    }
    CHECK(caught);
    CHECK(ran.load() >= 1 && ran.load() <= 40);
  }
  // Every task throwing: exactly one exception comes out, and the pool still works afterwards.
  bool caught = false;
  try {
    pool.parallelFor(16, [](int i) { throw std::logic_error("boom " + std::to_string(i)); });
  } catch (const std::logic_error& e) {
    caught = std::string(e.what()).rfind("boom ", 0) == 0;
  }
  CHECK(caught);
  std::atomic<int> sum{0};
  pool.parallelFor(100, [&](int i) { sum.fetch_add(i); });
  CHECK(sum.load() == 4950);
}

TEST(gemm_threadpool_many_calls) {
  bp::ThreadPool pool(2);
  std::vector<long long> partial(4);
  long long total = 0;
  for (int call = 0; call < 5000; ++call) {
    pool.parallelFor(4, [&](int i) { partial[static_cast<size_t>(i)] = static_cast<long long>(call) * 4 + i; });
    for (long long v : partial) total += v;
  }
  const long long n = 5000LL * 4;
  CHECK(total == n * (n - 1) / 2);
}

TEST(gemm_threadpool_nested_call_runs_serially) {
  bp::ThreadPool pool(2);
  std::atomic<int> inner{0};
  pool.parallelFor(4, [&](int) { pool.parallelFor(3, [&](int) { inner.fetch_add(1); }); });
  CHECK(inner.load() == 12);
}

TEST(gemm_threadpool_no_leaked_threads) {
  const int before = taskCount();
  CHECK(before > 0);
  for (int i = 0; i < 200; ++i) {
    bp::ThreadPool pool(1 + i % 4);
    if (i % 2) {
      std::atomic<int> n{0};
      pool.parallelFor(8, [&](int) { n.fetch_add(1); });
      CHECK(n.load() == 8);
    }
  }
  CHECK(taskCount() == before);
  CHECK(bp::hardwareThreads() >= 1);
}

TEST(gemm_threaded_sgemm_many_small_calls) {
  // Back-to-back products just above the single-thread threshold exercise the pool's hand-off.
  bp::ThreadPool pool(2);
  const Case c{Trans::No, Trans::Yes, 64, 96, 120, 1.0f, 0.0f};
  Mats ref = makeMats(c, 2);
  runSgemm(c, ref, nullptr);
  for (int rep = 0; rep < 500; ++rep) {
    Mats m = makeMats(c, 2);
    runSgemm(c, m, &pool);
    CHECK(std::memcmp(m.C.data(), ref.C.data(), m.C.size() * sizeof(float)) == 0);
  }
}
