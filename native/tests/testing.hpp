// A minimal test registry for the engine's native tests (no Node, no third-party
// framework, so the executable builds anywhere the engine builds: under
// sanitizers, valgrind, or on a GPU machine without Node).
#pragma once
#include <cmath>
#include <cstdio>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace bptest {

struct TestCase {
  const char* name;
  std::function<void()> fn;
};

inline std::vector<TestCase>& registry() {
  static std::vector<TestCase> tests;
  return tests;
}

struct Registrar {
  Registrar(const char* name, std::function<void()> fn) { registry().push_back({name, std::move(fn)}); }
};

struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace bptest

#define BP_CAT2(a, b) a##b
#define BP_CAT(a, b) BP_CAT2(a, b)
#define TEST(name)                                                              \
  static void BP_CAT(test_fn_, name)();                                         \
  static ::bptest::Registrar BP_CAT(test_reg_, name)(#name, BP_CAT(test_fn_, name)); \
  static void BP_CAT(test_fn_, name)()

#define CHECK(cond)                                                                   \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      std::ostringstream bp_os;                                                       \
      bp_os << __FILE__ << ":" << __LINE__ << ": CHECK(" #cond ") failed";            \
      throw ::bptest::Failure(bp_os.str());                                           \
    }                                                                                 \
  } while (0)

#define CHECK_NEAR(a, b, tol)                                                         \
  do {                                                                                \
    double bp_a = (a), bp_b = (b);                                                    \
    if (!(std::fabs(bp_a - bp_b) <= (tol))) {                                         \
      std::ostringstream bp_os;                                                       \
      bp_os << __FILE__ << ":" << __LINE__ << ": " #a " = " << bp_a << " vs " #b " = " \
            << bp_b << " (tolerance " << (tol) << ")";                                \
      throw ::bptest::Failure(bp_os.str());                                           \
    }                                                                                 \
  } while (0)
