// dispatchBenchmark(): measures the event path alone. A native thread
// produces `count` step events either through the batching EventQueue that
// training uses, or the naive way (one thread-safe-function call per event),
// so `npm run bench` can put both rates side by side.
#pragma once
#include <napi.h>

namespace bpaddon {
Napi::Value DispatchBenchmark(const Napi::CallbackInfo& info);
}
