// GpuMonitorHandle: the JS-facing wrapper of one GpuMonitorThread.
//
// Samples are taken on the native thread and queued; the JS thread gets them
// in batches (same pattern as training events). Safety guards attached to
// training sessions act on each sample on the sampling thread itself, so a
// blocked JS thread cannot delay a pause or an emergency stop.
//
// The thread-safe function is unref'd: a monitor alone does not keep the
// process alive (like a daemon thread). Environment teardown and
// process.exit() stop and join the thread.
#pragma once
#include <napi.h>

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "gpu_monitor.hpp"
#include "gpu_safety_guard.hpp"

namespace bpaddon {

class GpuMonitorHandle : public Napi::ObjectWrap<GpuMonitorHandle> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit GpuMonitorHandle(const Napi::CallbackInfo& info);
  // GpuMonitorHandle(...) without `new`: a coded TypeError like every other bad call.
  static Napi::Value OnCalledAsFunction(const Napi::CallbackInfo& info);
  ~GpuMonitorHandle() override;

 private:
  static void CallJs(Napi::Env env, Napi::Function callback, GpuMonitorHandle* self, void* data);
  using Tsfn = Napi::TypedThreadSafeFunction<GpuMonitorHandle, void, CallJs>;

  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Stop(const Napi::CallbackInfo& info);
  Napi::Value SetConfig(const Napi::CallbackInfo& info);
  Napi::Value AttachTrainer(const Napi::CallbackInfo& info);
  Napi::Value DetachTrainer(const Napi::CallbackInfo& info);
  static Napi::Value GetRunning(const Napi::CallbackInfo& info);
  static Napi::Value GetDropped(const Napi::CallbackInfo& info);
  Napi::Value Running(const Napi::CallbackInfo& info);
  Napi::Value Dropped(const Napi::CallbackInfo& info);

  void onSample(const bp::GpuSample& sample);  // sampling thread
  void deliver(Napi::Env env, Napi::Function callback);
  void stopAndJoin();
  void finish();
  static void EnvCleanup(void* arg);

  std::unique_ptr<bp::GpuMonitorThread> thread_;
  Tsfn tsfn_;
  bool active_ = false;
  bool cleanupHookAdded_ = false;
  napi_env env_ = nullptr;

  std::mutex mutex_;  // guards pending_, scheduled_, guards_
  // Bounded FIFO (kMaxPendingSamples): when full, the oldest sample goes, in O(1).
  std::deque<bp::GpuSample> pending_;
  bool scheduled_ = false;
  uint64_t dropped_ = 0;
  struct Attached {
    int deviceIndex;
    std::unique_ptr<bp::GpuSafetyGuard> guard;
    Napi::ObjectReference session;  // keeps the trainer alive while attached
  };
  std::map<int, Attached> guards_;
  int nextGuardId_ = 1;
  std::deque<bp::GpuSample> drained_;
};

Napi::Value NvmlStatus(const Napi::CallbackInfo& info);
Napi::Value ReadGpu(const Napi::CallbackInfo& info);
Napi::Value EvaluateGpuReading(const Napi::CallbackInfo& info);
Napi::Value ResetNvmlState(const Napi::CallbackInfo& info);
Napi::Value NvmlSampleCost(const Napi::CallbackInfo& info);

}  // namespace bpaddon
