// TrainingSession: the JS-facing wrapper of one engine Trainer.
//
// Lifetime rules (the reasons behind them are in training_session.cpp):
//  - the thread-safe function exists only while a run is active, so an idle
//    trainer holds no handle and never keeps the process alive;
//  - while a run is active the JS object is referenced (cannot be collected)
//    and an environment cleanup hook is registered, which aborts and joins the
//    thread before Node tears the environment down (worker termination);
//  - the process-exit guard does the same for process.exit().
#pragma once
#include <napi.h>

#include <deque>
#include <memory>

#include "event_batch.hpp"
#include "trainer.hpp"

namespace bpaddon {

class TrainingSession : public Napi::ObjectWrap<TrainingSession> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit TrainingSession(const Napi::CallbackInfo& info);
  // TrainingSession(...) without `new`: a coded TypeError like every other bad call.
  static Napi::Value OnCalledAsFunction(const Napi::CallbackInfo& info);
  ~TrainingSession() override;
  // The engine trainer, for the GPU safety guard (same JS thread, same env).
  bp::Trainer* engine() { return trainer_.get(); }

 private:
  static void CallJs(Napi::Env env, Napi::Function callback, TrainingSession* self, void* data);
  using Tsfn = Napi::TypedThreadSafeFunction<TrainingSession, void, CallJs>;

  static Napi::Value GetParameterCount(const Napi::CallbackInfo& info);
  static Napi::Value GetDeviceDescription(const Napi::CallbackInfo& info);
  Napi::Value ParameterCount(const Napi::CallbackInfo& info);
  Napi::Value DeviceDescription(const Napi::CallbackInfo& info);
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Abort(const Napi::CallbackInfo& info);
  Napi::Value Pause(const Napi::CallbackInfo& info);
  Napi::Value Resume(const Napi::CallbackInfo& info);
  Napi::Value SetLearningRate(const Napi::CallbackInfo& info);
  Napi::Value SetSafetyHold(const Napi::CallbackInfo& info);
  Napi::Value Status(const Napi::CallbackInfo& info);
  Napi::Value Summary(const Napi::CallbackInfo& info);
  Napi::Value SummaryObject(Napi::Env env);
  Napi::Value GetParameters(const Napi::CallbackInfo& info);
  Napi::Value SetParameters(const Napi::CallbackInfo& info);
  Napi::Value GetOptimizerState(const Napi::CallbackInfo& info);
  Napi::Value SetOptimizerState(const Napi::CallbackInfo& info);
  Napi::Value Predict(const Napi::CallbackInfo& info);
  Napi::Value Evaluate(const Napi::CallbackInfo& info);
  Napi::Value SaveCheckpoint(const Napi::CallbackInfo& info);

  void deliver(Napi::Env env, Napi::Function callback);
  Round deliverBatch(Napi::Env env, Napi::Function callback);
  void finishRun();
  static void EnvCleanup(void* arg);

  std::unique_ptr<bp::Trainer> trainer_;
  Tsfn tsfn_;
  bool runActive_ = false;
  bool cleanupHookAdded_ = false;
  napi_env env_ = nullptr;
  bp::EventBatch drained_;
  BatchEncoder encoder_;  // the run's reused records buffer
};

}  // namespace bpaddon
