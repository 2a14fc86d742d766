// Runs every TEST registered by the *_test.cpp files; an optional argument
// filters tests by substring. Prints "N passed, N failed" as its last line.
#include <cstring>
#include <exception>

#include "testing.hpp"

int main(int argc, char** argv) {
  const char* filter = argc > 1 ? argv[1] : nullptr;
  int passed = 0, failed = 0;
  for (auto& t : bptest::registry()) {
    if (filter && !std::strstr(t.name, filter)) continue;
    try {
      t.fn();
      ++passed;
      std::printf("ok   %s\n", t.name);
    } catch (const std::exception& e) {
      ++failed;
      std::printf("FAIL %s\n     %s\n", t.name, e.what());
    }
    std::fflush(stdout);
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
