// Runs every TEST registered by the *_test.cpp files; optional arguments
// filter tests by substring (a test runs when its name contains any of them).
// Prints "N passed, N failed" as its last line.
#include <cstring>
#include <exception>

#include "testing.hpp"

int main(int argc, char** argv) {
  auto selected = [&](const char* name) {
    if (argc < 2) return true;
    for (int i = 1; i < argc; ++i)
      if (std::strstr(name, argv[i])) return true;
    return false;
  };
  int passed = 0, failed = 0;
  for (auto& t : bptest::registry()) {
    if (!selected(t.name)) continue;
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
