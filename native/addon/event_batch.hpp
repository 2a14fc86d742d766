// Turns a drained batch of engine events into the two values the JS
// dispatcher reads: a Float64Array of [type, a, b, c] records and an array of
// the strings they refer to. One V8 call then delivers the whole batch.
//
// Written against the C API with status checks and no C++ exceptions: it also
// runs while a worker is being terminated, when some calls fail and
// node-addon-api's exception wrapping would abort the process.
#pragma once
#include <node_api.h>

#include "event_queue.hpp"

namespace bpaddon {

constexpr size_t kRecordStride = 4;

struct BatchValues {
  napi_value records = nullptr;
  napi_value strings = nullptr;
};

// Returns false if the environment refused (it is shutting down).
inline bool encodeBatch(napi_env env, const bp::EventBatch& batch, BatchValues& out) {
  size_t live = 0;
  for (const auto& e : batch.records) live += e.type != bp::EventType::Dropped;
  const size_t n = live * kRecordStride;
  void* raw = nullptr;
  napi_value buffer;
  if (napi_create_arraybuffer(env, n * sizeof(double), &raw, &buffer) != napi_ok) return false;
  if (napi_create_typedarray(env, napi_float64_array, n, buffer, 0, &out.records) != napi_ok) return false;
  if (napi_create_array_with_length(env, batch.strings.size(), &out.strings) != napi_ok) return false;
  for (size_t i = 0; i < batch.strings.size(); ++i) {
    napi_value str;
    if (napi_create_string_utf8(env, batch.strings[i].data(), batch.strings[i].size(), &str) != napi_ok ||
        napi_set_element(env, out.strings, static_cast<uint32_t>(i), str) != napi_ok) {
      return false;
    }
  }
  double* r = static_cast<double*>(raw);
  for (const auto& e : batch.records) {
    if (e.type == bp::EventType::Dropped) continue;
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

}  // namespace bpaddon
