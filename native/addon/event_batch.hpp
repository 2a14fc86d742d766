// Turns a drained batch of engine events into the two values the JS
// dispatcher reads: a Float64Array of [type, a, b, c] records and an array of
// the strings they refer to. One V8 call then delivers the whole batch.
//
// Written against the C API with status checks and no C++ exceptions: it also
// runs while a worker is being terminated, when some calls fail and
// node-addon-api's exception wrapping would abort the process.
#pragma once
#include <node_api.h>

#include <cstring>
#include <deque>

#include "event_queue.hpp"

namespace bpaddon {

constexpr size_t kRecordStride = 4;

struct BatchValues {
  napi_value records = nullptr;
  napi_value strings = nullptr;
  bool terminal = false;
};

// Returns false if the environment refused (it is shutting down).
inline bool encodeBatch(napi_env env, const std::deque<bp::Event>& events, BatchValues& out) {
  const size_t n = events.size() * kRecordStride;
  void* raw = nullptr;
  napi_value buffer;
  if (napi_create_arraybuffer(env, n * sizeof(double), &raw, &buffer) != napi_ok) return false;
  if (napi_create_typedarray(env, napi_float64_array, n, buffer, 0, &out.records) != napi_ok) return false;
  if (napi_create_array(env, &out.strings) != napi_ok) return false;
  double* r = static_cast<double*>(raw);
  uint32_t nStrings = 0;
  bool ok = true;
  auto addString = [&](const std::string& s) -> double {
    napi_value str;
    if (napi_create_string_utf8(env, s.data(), s.size(), &str) != napi_ok ||
        napi_set_element(env, out.strings, nStrings, str) != napi_ok) {
      ok = false;
    }
    return static_cast<double>(nStrings++);
  };
  for (const auto& e : events) {
    r[0] = static_cast<double>(e.type);
    r[1] = e.a;
    r[2] = e.b;
    r[3] = e.c;
    switch (e.type) {
      case bp::EventType::Save:
        r[2] = addString(e.s1);
        break;
      case bp::EventType::Error:
        r[1] = addString(e.s1);
        r[2] = addString(e.s2);
        break;
      case bp::EventType::Aborted:
        r[1] = addString(e.s1);
        break;
      default:
        break;
    }
    if (bp::isTerminal(e.type)) out.terminal = true;
    r += kRecordStride;
  }
  return ok;
}

}  // namespace bpaddon
