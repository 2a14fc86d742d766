// Helpers at the Node-API boundary: converting engine exceptions into JS
// errors that carry a stable `code` (ts/native.ts turns them into
// BackpropError on the caller's stack), calling JS safely, and copying
// results out. Reading and checking arguments is args.hpp.
#pragma once
#include <napi.h>

#include <string>
#include <vector>

#include "errors.hpp"

namespace bpaddon {

inline Napi::Error codedError(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  return err;
}

// Runs `body`, converting every C++ exception into a pending JS exception so
// that nothing crosses the Node-API boundary unconverted.
template <class F>
auto guarded(Napi::Env env, F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const bp::EngineError& e) {
    throw codedError(env, e.code(), e.what());
  } catch (const std::bad_alloc&) {
    throw codedError(env, "RUNTIME_FAILED", "out of memory in native code");
  } catch (const std::exception& e) {
    throw codedError(env, "RUNTIME_FAILED", e.what());
  } catch (...) {
    throw codedError(env, "RUNTIME_FAILED", "unknown native failure");
  }
}

// Calls a JS function from a thread-safe-function callback without letting a
// failure become a C++ exception: while a worker is being terminated the call
// fails (JS can no longer run) and node-addon-api's error wrapping would abort
// the process. A JS exception thrown by the callee is cleared and returned.
inline bool callJsSafely(Napi::Env env, const Napi::Function& fn, std::initializer_list<napi_value> args) {
  napi_value global;
  if (napi_get_global(env, &global) != napi_ok) return false;
  napi_value result;
  const napi_status status = napi_call_function(env, global, fn, args.size(), args.begin(), &result);
  if (status == napi_ok) return true;
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
  }
  return false;
}

template <class T>
Napi::TypedArrayOf<T> toTypedArray(Napi::Env env, const std::vector<T>& data) {
  auto arr = Napi::TypedArrayOf<T>::New(env, data.size());
  if (!data.empty()) std::copy(data.begin(), data.end(), arr.Data());
  return arr;
}

}  // namespace bpaddon
