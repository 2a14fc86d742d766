// Turns a drained batch of engine events into the two values the JS
// dispatcher reads: a Float64Array of [type, a, b, c] records and an array of
// the strings they refer to. One V8 call then delivers the whole batch.
#pragma once
#include <napi.h>

#include <deque>

#include "event_queue.hpp"

namespace bpaddon {

constexpr size_t kRecordStride = 4;

struct BatchValues {
  Napi::Float64Array records;
  Napi::Array strings;
  bool terminal = false;
};

inline BatchValues encodeBatch(Napi::Env env, const std::deque<bp::Event>& events) {
  BatchValues out;
  out.records = Napi::Float64Array::New(env, events.size() * kRecordStride);
  out.strings = Napi::Array::New(env);
  double* r = out.records.Data();
  uint32_t nStrings = 0;
  auto addString = [&](const std::string& s) {
    out.strings.Set(nStrings, Napi::String::New(env, s));
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
  return out;
}

}  // namespace bpaddon
