#include "exit_guard.hpp"

#include <cstdlib>
#include <map>
#include <mutex>

namespace bpaddon {
namespace {

struct Registry {
  std::mutex mutex;
  std::map<const void*, std::function<void()>> stoppers;
};

// Deliberately leaked: it must outlive every static destructor and the
// atexit handler below, whatever their order.
Registry& registry() {
  static Registry* r = [] {
    auto* reg = new Registry();
    std::atexit([] {
      std::map<const void*, std::function<void()>> pending;
      {
        std::lock_guard<std::mutex> lock(registry().mutex);
        pending.swap(registry().stoppers);
      }
      for (auto& entry : pending) entry.second();
    });
    return reg;
  }();
  return *r;
}

}  // namespace

void exitGuardAdd(const void* key, std::function<void()> stopAndJoin) {
  std::lock_guard<std::mutex> lock(registry().mutex);
  registry().stoppers[key] = std::move(stopAndJoin);
}

void exitGuardRemove(const void* key) {
  std::lock_guard<std::mutex> lock(registry().mutex);
  registry().stoppers.erase(key);
}

}  // namespace bpaddon
