// process.exit() on the main thread ends the process through exit(), which
// runs no environment cleanup hook but does run atexit handlers and static
// destructors. A training thread still running then would race those
// destructors. Every engine trainer with a live thread is registered here, and
// one atexit handler aborts and joins them all before anything is destroyed.
#pragma once
#include <functional>

namespace bpaddon {

// Registers a stopper (abort + join) under `key`; returns once registered.
void exitGuardAdd(const void* key, std::function<void()> stopAndJoin);
void exitGuardRemove(const void* key);

}  // namespace bpaddon
