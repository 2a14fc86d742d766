// Argument checking at the Node-API boundary. The TypeScript layer validates
// every input first, but the binding is reachable directly (require() of the
// .node file), so the addon checks its own arguments too: every value is
// type-checked before it is read as that type, every number before it is
// converted to an integer (an out-of-range float-to-int conversion is
// undefined behaviour), and every wrapped object by its type tag before it is
// unwrapped. A bad value becomes a TypeError (wrong type, missing) or a
// RangeError (out of range) with a `code` ('CONFIG_INVALID' unless said
// otherwise) and a message naming the call, the argument and what was
// expected, as ts/native.ts expects of every native error. Never an abort.
#pragma once
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "napi_util.hpp"

namespace bpaddon {

constexpr const char* kConfigInvalid = "CONFIG_INVALID";

inline Napi::Error codedTypeError(Napi::Env env, const std::string& message, const char* code = kConfigInvalid) {
  Napi::Error err = Napi::TypeError::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  return err;
}

inline Napi::Error codedRangeError(Napi::Env env, const std::string& message, const char* code = kConfigInvalid) {
  Napi::Error err = Napi::RangeError::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  return err;
}

// "a number", "undefined", "a Float32Array", ...: what a message says was received.
inline std::string describeValue(const Napi::Value& v) {
  switch (v.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return "a boolean";
    case napi_number: return "a number";
    case napi_string: return "a string";
    case napi_symbol: return "a symbol";
    case napi_function: return "a function";
    case napi_bigint: return "a bigint";
    case napi_external: return "an external";
    case napi_object: break;
  }
  if (v.IsArray()) return "an array";
  if (v.IsTypedArray()) {
    switch (v.As<Napi::TypedArray>().TypedArrayType()) {
      case napi_int8_array: return "an Int8Array";
      case napi_uint8_array: return "a Uint8Array";
      case napi_uint8_clamped_array: return "a Uint8ClampedArray";
      case napi_int16_array: return "an Int16Array";
      case napi_uint16_array: return "a Uint16Array";
      case napi_int32_array: return "an Int32Array";
      case napi_uint32_array: return "a Uint32Array";
      case napi_float32_array: return "a Float32Array";
      case napi_float64_array: return "a Float64Array";
      default: return "a typed array";
    }
  }
  return "an object";
}

// The expected name of a typed array type, for messages.
inline const char* typedArrayName(napi_typedarray_type type) {
  switch (type) {
    case napi_uint8_array: return "a Uint8Array";
    case napi_int32_array: return "an Int32Array";
    case napi_float32_array: return "a Float32Array";
    case napi_float64_array: return "a Float64Array";
    default: return "a typed array";
  }
}

[[noreturn]] inline void throwExpected(const Napi::Value& v, const std::string& what, const char* expected) {
  throw codedTypeError(v.Env(), what + " must be " + expected + " (got " + describeValue(v) + ")");
}

// --- Typed reads of one value; `what` names it in the message. -------------

inline Napi::Object expectObject(const Napi::Value& v, const std::string& what) {
  // Arrays and functions are objects too, but never what a config object is.
  if (!v.IsObject() || v.IsArray() || v.IsFunction()) throwExpected(v, what, "an object");
  return v.As<Napi::Object>();
}

inline Napi::Array expectArray(const Napi::Value& v, const std::string& what) {
  if (!v.IsArray()) throwExpected(v, what, "an array");
  return v.As<Napi::Array>();
}

inline Napi::Function expectFunction(const Napi::Value& v, const std::string& what) {
  if (!v.IsFunction()) throwExpected(v, what, "a function");
  return v.As<Napi::Function>();
}

inline std::string expectString(const Napi::Value& v, const std::string& what) {
  if (!v.IsString()) throwExpected(v, what, "a string");
  return v.As<Napi::String>().Utf8Value();
}

inline bool expectBoolean(const Napi::Value& v, const std::string& what) {
  if (!v.IsBoolean()) throwExpected(v, what, "a boolean");
  return v.As<Napi::Boolean>().Value();
}

// A finite number.
inline double expectNumber(const Napi::Value& v, const std::string& what) {
  if (!v.IsNumber()) throwExpected(v, what, "a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) throw codedRangeError(v.Env(), what + " must be a finite number (got " + std::to_string(d) + ")");
  return d;
}

// An integer in [min, max] (both exactly representable as double).
inline double expectIntegerIn(const Napi::Value& v, const std::string& what, double min, double max) {
  const double d = expectNumber(v, what);
  if (d != std::floor(d) || d < min || d > max) {
    throw codedRangeError(v.Env(), what + " must be an integer from " + std::to_string(static_cast<long long>(min)) +
                                       " to " + std::to_string(static_cast<long long>(max)) + " (got " +
                                       std::to_string(d) + ")");
  }
  return d;
}

inline int32_t expectInt32(const Napi::Value& v, const std::string& what, int32_t min = 0,
                           int32_t max = std::numeric_limits<int32_t>::max()) {
  return static_cast<int32_t>(expectIntegerIn(v, what, min, max));
}

inline uint32_t expectUint32(const Napi::Value& v, const std::string& what) {
  return static_cast<uint32_t>(expectIntegerIn(v, what, 0, 4294967295.0));
}

// A count or index up to 2^53 (the largest integer a JS number holds exactly).
inline uint64_t expectUint53(const Napi::Value& v, const std::string& what) {
  return static_cast<uint64_t>(expectIntegerIn(v, what, 0, 9007199254740992.0));
}

template <class T>
Napi::TypedArrayOf<T> expectTypedArray(const Napi::Value& v, napi_typedarray_type type, const std::string& what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) throwExpected(v, what, typedArrayName(type));
  return v.As<Napi::TypedArrayOf<T>>();
}

// Copies into `storage`, reusing its capacity (pages already mapped) unless it is more than twice
// what the array needs.
template <class T>
void copyTypedArrayInto(std::vector<T>& storage, const Napi::Value& v, napi_typedarray_type type,
                        const std::string& what) {
  auto arr = expectTypedArray<T>(v, type, what);
  if (storage.capacity() / 2 > arr.ElementLength()) std::vector<T>().swap(storage);
  storage.assign(arr.Data(), arr.Data() + arr.ElementLength());
}

template <class T>
std::vector<T> copyTypedArray(const Napi::Value& v, napi_typedarray_type type, const std::string& what) {
  std::vector<T> out;
  copyTypedArrayInto(out, v, type, what);
  return out;
}

// --- Positional arguments of one call. --------------------------------------

// `call` is the signature shown in messages, e.g. "TrainingSession.start(x, y, options, onEvents)".
class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* call) : info_(info), call_(call) {}

  // Missing arguments read as undefined (and then fail their type check).
  Napi::Value operator[](size_t i) const { return i < info_.Length() ? info_[i] : info_.Env().Undefined(); }
  bool has(size_t i) const { return i < info_.Length() && !info_[i].IsUndefined(); }
  std::string name(const char* arg) const { return std::string(call_) + ": argument '" + arg + "'"; }

  Napi::Object object(size_t i, const char* arg) const { return expectObject((*this)[i], name(arg)); }
  Napi::Array array(size_t i, const char* arg) const { return expectArray((*this)[i], name(arg)); }
  Napi::Function function(size_t i, const char* arg) const { return expectFunction((*this)[i], name(arg)); }
  std::string string(size_t i, const char* arg) const { return expectString((*this)[i], name(arg)); }
  bool boolean(size_t i, const char* arg) const { return expectBoolean((*this)[i], name(arg)); }
  double number(size_t i, const char* arg) const { return expectNumber((*this)[i], name(arg)); }
  int32_t int32(size_t i, const char* arg, int32_t min = 0, int32_t max = std::numeric_limits<int32_t>::max()) const {
    return expectInt32((*this)[i], name(arg), min, max);
  }
  // Absent (undefined) -> fallback; otherwise it must be a string.
  std::string optionalString(size_t i, const char* arg, const std::string& fallback) const {
    return has(i) ? string(i, arg) : fallback;
  }
  template <class T>
  Napi::TypedArrayOf<T> typedArray(size_t i, napi_typedarray_type type, const char* arg) const {
    return expectTypedArray<T>((*this)[i], type, name(arg));
  }

 private:
  const Napi::CallbackInfo& info_;
  const char* call_;
};

// --- Keys of a native options object. ----------------------------------------

inline std::string optionName(const char* key) { return std::string("native option '") + key + "'"; }

inline Napi::Value requireKey(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) throw codedTypeError(o.Env(), "missing " + optionName(key));
  return v;
}

inline double numberKey(const Napi::Object& o, const char* key) { return expectNumber(requireKey(o, key), optionName(key)); }
inline std::string stringKey(const Napi::Object& o, const char* key) {
  return expectString(requireKey(o, key), optionName(key));
}
inline bool boolKey(const Napi::Object& o, const char* key) { return expectBoolean(requireKey(o, key), optionName(key)); }
inline Napi::Object objectKey(const Napi::Object& o, const char* key) {
  return expectObject(requireKey(o, key), optionName(key));
}
inline Napi::Array arrayKey(const Napi::Object& o, const char* key) { return expectArray(requireKey(o, key), optionName(key)); }
inline int32_t int32Key(const Napi::Object& o, const char* key, int32_t min = 0,
                        int32_t max = std::numeric_limits<int32_t>::max()) {
  return expectInt32(requireKey(o, key), optionName(key), min, max);
}
inline uint32_t uint32Key(const Napi::Object& o, const char* key) { return expectUint32(requireKey(o, key), optionName(key)); }
inline uint64_t uint53Key(const Napi::Object& o, const char* key) { return expectUint53(requireKey(o, key), optionName(key)); }

// "native option 'hiddenLayers[2]'"
inline std::string elementName(const char* key, uint32_t i) {
  return std::string("native option '") + key + "[" + std::to_string(i) + "]'";
}

// --- Wrapped objects. ---------------------------------------------------------

// Type tags of the addon's wrapped classes (napi_type_tag_object). Set on
// every instance when it is constructed and checked before an argument is
// unwrapped, so a plain object, an object of the other class or a wrapper from
// another addon is an error rather than memory read as the wrong type.
// (Methods called on a wrong receiver never reach the addon: V8 checks the
// receiver against the class's signature and throws "Illegal invocation".)
inline constexpr napi_type_tag kTrainingSessionTag = {0x6b1f3c5e2d7a4b90ULL, 0x9e2c4d1a7f3b5e60ULL};
inline constexpr napi_type_tag kGpuMonitorHandleTag = {0x3d8e1b7c5a294f06ULL, 0xc47a2e9b1d5f3a82ULL};
inline constexpr napi_type_tag kSimulatedGpuTag = {0x81c5f2a93e6d4b17ULL, 0x2f9b6e0c8a4d7153ULL};

// The wrapped T behind an accessor's receiver. Instance methods are safe from
// a foreign receiver (V8's signature check), but accessors are not: they are
// installed by the class itself (see defineTaggedAccessor) to check first.
template <class T>
T* taggedReceiver(const Napi::CallbackInfo& info, const napi_type_tag& tag, const char* className) {
  Napi::Value self = info.This();
  if (!self.IsObject() || !self.As<Napi::Object>().CheckTypeTag(&tag)) {
    throw codedTypeError(info.Env(), std::string(className) + " property read on " + describeValue(self) + ", not on a " +
                                         className);
  }
  return Napi::ObjectWrap<T>::Unwrap(self.As<Napi::Object>());
}

// The wrapped T behind argument `v`, after its tag says it is a T.
template <class T>
T* unwrapTagged(const Napi::Value& v, const napi_type_tag& tag, const std::string& what, const char* expected) {
  if (!v.IsObject() || !v.As<Napi::Object>().CheckTypeTag(&tag)) throwExpected(v, what, expected);
  return Napi::ObjectWrap<T>::Unwrap(v.As<Napi::Object>());
}

}  // namespace bpaddon
