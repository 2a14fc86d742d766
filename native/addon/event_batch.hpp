// Turns a drained batch of engine events into the two values the JS
// dispatcher reads: a Float64Array of [type, a, b, c] records and an array of
// the strings they refer to. One V8 call then delivers the whole batch.
//
// Written against the C API with status checks and no C++ exceptions: it also
// runs while a worker is being terminated, when some calls fail and
// node-addon-api's exception wrapping would abort the process.
#pragma once
#include <node_api.h>

#include <algorithm>
#include <chrono>

#include "event_queue.hpp"

namespace bpaddon {

constexpr size_t kRecordStride = 4;

struct BatchValues {
  napi_value records = nullptr;
  napi_value strings = nullptr;
};

// Encodes batches into one records ArrayBuffer that is kept and reused for
// every batch of a run, with a fresh Float64Array view of the batch's length
// on it. A new zero-filled ArrayBuffer per batch cost more than the events
// themselves (allocation, page faults and munmap's TLB shootdowns showed in
// the profile). Reuse is safe because the JS decoder reads every record
// synchronously during the call and keeps none of the views: the next batch
// is only written after that call has returned. The buffer grows (replaced
// by a larger one) when a batch does not fit, and is replaced as well if JS
// detached it, so a write never lands in memory V8 no longer owns.
//
// Lives on the JS thread only; reset() must run there too, while the
// environment is alive.
class BatchEncoder {
 public:
  BatchEncoder() = default;
  BatchEncoder(const BatchEncoder&) = delete;
  BatchEncoder& operator=(const BatchEncoder&) = delete;
  ~BatchEncoder() = default;  // owner calls reset(env) first; a ref left at teardown is freed with the env

  // Returns false if the environment refused (it is shutting down).
  bool encode(napi_env env, const bp::EventBatch& batch, BatchValues& out) {
    const size_t n = batch.records.size() * kRecordStride;
    napi_value buffer = nullptr;
    double* r = reserve(env, n, buffer);
    if (r == nullptr) return false;
    if (napi_create_typedarray(env, napi_float64_array, n, buffer, 0, &out.records) != napi_ok) return false;
    if (napi_create_array_with_length(env, batch.strings.size(), &out.strings) != napi_ok) return false;
    for (size_t i = 0; i < batch.strings.size(); ++i) {
      napi_value str;
      if (napi_create_string_utf8(env, batch.strings[i].data(), batch.strings[i].size(), &str) != napi_ok ||
          napi_set_element(env, out.strings, static_cast<uint32_t>(i), str) != napi_ok) {
        return false;
      }
    }
    for (const auto& e : batch.records) {
      r[0] = static_cast<double>(e.type);
      r[1] = e.a;
      r[2] = e.b;
      r[3] = e.c;
      // String-carrying events reference the side table by index.
      switch (e.type) {
        case bp::EventType::Save:
          r[2] = e.s1;
          break;
        case bp::EventType::Error:
          r[1] = e.s1;
          r[2] = e.s2;
          break;
        case bp::EventType::Aborted:
          r[1] = e.s1 == bp::EventRecord::kNoString ? -1 : e.s1;
          break;
        default:
          break;
      }
      r += kRecordStride;
    }
    return true;
  }

  // Drops the reference to the buffer (JS thread, live environment).
  void reset(napi_env env) {
    if (ref_ != nullptr) napi_delete_reference(env, ref_);
    ref_ = nullptr;
  }

 private:
  // At least `doubles` doubles of writable buffer, or null on failure.
  double* reserve(napi_env env, size_t doubles, napi_value& buffer) {
    const size_t bytes = std::max<size_t>(doubles, 1) * sizeof(double);
    if (ref_ != nullptr) {
      void* data = nullptr;
      size_t length = 0;
      // A detached buffer reports length 0 and is replaced below.
      if (napi_get_reference_value(env, ref_, &buffer) == napi_ok && buffer != nullptr &&
          napi_get_arraybuffer_info(env, buffer, &data, &length) == napi_ok && data != nullptr && length >= bytes) {
        return static_cast<double*>(data);
      }
      reset(env);
    }
    // Room for growth: batches of a run vary in size, and replacing the
    // buffer for every slightly larger one would bring the allocations back.
    const size_t capacity = std::max<size_t>(bytes * 2, 64 * 1024);
    void* data = nullptr;
    if (napi_create_arraybuffer(env, capacity, &data, &buffer) != napi_ok || data == nullptr) return nullptr;
    if (napi_create_reference(env, buffer, 1, &ref_) != napi_ok) {
      ref_ = nullptr;
      return nullptr;
    }
    return static_cast<double*>(data);
  }

  napi_ref ref_ = nullptr;
};

// What one delivery round asks of the loop below.
enum class Round {
  More,   // delivered a batch: look for more
  Yield,  // stop for now (the JS call failed): end the delivery, or reschedule what is pending
  Done,   // the run is over (terminal event handled): no further delivery
};

// How long one notification may keep the JS thread delivering. Events that
// arrive while the handlers run are taken in the next round of the same
// call instead of costing a thread-safe-function call, a libuv wake-up and a
// V8 entry each; the bound keeps a producer that is always ahead from
// starving timers and I/O on the JS thread.
constexpr std::chrono::microseconds kDeliveryBudget{2000};

// The consumer's delivery loop, for one notification: `round` takes a batch
// (takeForDelivery, which keeps the delivery scheduled) and delivers it;
// `end` is endDelivery (true: nothing pending, the next push notifies);
// `reschedule` asks for a new notification, needed when the loop stops with
// events pending, since no push will ask for one while it is scheduled.
template <class RoundFn, class EndFn, class RescheduleFn>
void deliverUntilIdle(RoundFn&& round, EndFn&& end, RescheduleFn&& reschedule) {
  const auto deadline = std::chrono::steady_clock::now() + kDeliveryBudget;
  for (;;) {
    const Round r = round();
    if (r == Round::Done) return;
    if (end()) return;
    if (r == Round::Yield || std::chrono::steady_clock::now() >= deadline) {
      reschedule();
      return;
    }
  }
}

}  // namespace bpaddon
