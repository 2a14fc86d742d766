#include "training_session.hpp"

#include <cmath>

#include "event_batch.hpp"
#include "exit_guard.hpp"
#include "args.hpp"
#include "session_options.hpp"
#include "napi_util.hpp"

namespace bpaddon {

namespace {

class SaveWorker : public Napi::AsyncWorker {
 public:
  SaveWorker(Napi::Object receiver, bp::Trainer* trainer, std::string folder)
      : Napi::AsyncWorker(receiver.Env(), "backpropagate.save"), trainer_(trainer), folder_(std::move(folder)),
        receiver_(Napi::Persistent(receiver)), deferred_(Napi::Promise::Deferred::New(receiver.Env())) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      trainer_->saveCheckpoint(folder_);
    } catch (const bp::EngineError& e) {
      code_ = e.code();
      SetError(e.what());
    } catch (const std::exception& e) {
      code_ = "RUNTIME_FAILED";
      SetError(e.what());
    }
  }
  void OnOK() override { deferred_.Resolve(Env().Undefined()); }
  void OnError(const Napi::Error& e) override {
    deferred_.Reject(codedError(Env(), code_, e.Message()).Value());
  }

 private:
  bp::Trainer* trainer_;
  std::string folder_;
  std::string code_;
  Napi::ObjectReference receiver_;  // keeps the session (and its trainer) alive while saving
  Napi::Promise::Deferred deferred_;
};

}  // namespace

Napi::Function TrainingSession::Define(Napi::Env env) {
  Napi::Function ctor = DefineClass(env, "TrainingSession",
                     {
                         InstanceMethod<&TrainingSession::Start>("start"),
                         InstanceMethod<&TrainingSession::Abort>("abort"),
                         InstanceMethod<&TrainingSession::Pause>("pause"),
                         InstanceMethod<&TrainingSession::Resume>("resume"),
                         InstanceMethod<&TrainingSession::SetLearningRate>("setLearningRate"),
                         InstanceMethod<&TrainingSession::SetSafetyHold>("setSafetyHold"),
                         InstanceMethod<&TrainingSession::Status>("status"),
                         InstanceMethod<&TrainingSession::Summary>("summary"),
                         InstanceMethod<&TrainingSession::GetParameters>("getParameters"),
                         InstanceMethod<&TrainingSession::SetParameters>("setParameters"),
                         InstanceMethod<&TrainingSession::GetOptimizerState>("getOptimizerState"),
                         InstanceMethod<&TrainingSession::SetOptimizerState>("setOptimizerState"),
                         InstanceMethod<&TrainingSession::Predict>("predict"),
                         InstanceMethod<&TrainingSession::Evaluate>("evaluate"),
                         InstanceMethod<&TrainingSession::SaveCheckpoint>("saveCheckpoint"),
                     });
  // Accessors check their receiver's tag before unwrapping (args.hpp).
  Napi::Object proto = ctor.Get("prototype").As<Napi::Object>();  // a class constructor's prototype is an object
  proto.DefineProperties({
      Napi::PropertyDescriptor::Accessor<&TrainingSession::GetParameterCount>("parameterCount"),
      Napi::PropertyDescriptor::Accessor<&TrainingSession::GetDeviceDescription>("deviceDescription"),
  });
  return ctor;
}

Napi::Value TrainingSession::GetParameterCount(const Napi::CallbackInfo& info) {
  return taggedReceiver<TrainingSession>(info, kTrainingSessionTag, "TrainingSession")->ParameterCount(info);
}

Napi::Value TrainingSession::GetDeviceDescription(const Napi::CallbackInfo& info) {
  return taggedReceiver<TrainingSession>(info, kTrainingSessionTag, "TrainingSession")->DeviceDescription(info);
}

TrainingSession::TrainingSession(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TrainingSession>(info) {
  Napi::Env env = info.Env();
  env_ = env;
  const Args args(info, "new TrainingSession(config)");
  guarded(env, [&] {
    trainer_ = std::make_unique<bp::Trainer>(parseSpec(args.object(0, "config")));
    return 0;
  });
  info.This().As<Napi::Object>().TypeTag(&kTrainingSessionTag);
}

Napi::Value TrainingSession::OnCalledAsFunction(const Napi::CallbackInfo& info) {
  throw codedTypeError(info.Env(), "TrainingSession is a class: call it as new TrainingSession(config)");
}

TrainingSession::~TrainingSession() {
  // Only reached when no run is active (an active run holds a reference), or
  // at environment teardown after EnvCleanup. Never Release() here: the
  // thread-safe function may already be finalised by Node.
  if (cleanupHookAdded_) {
    napi_remove_env_cleanup_hook(env_, &TrainingSession::EnvCleanup, this);
    cleanupHookAdded_ = false;
  }
  exitGuardRemove(this);
  if (trainer_) {
    trainer_->abort("trainer destroyed");
    trainer_->join();
  }
}

void TrainingSession::EnvCleanup(void* arg) {
  auto* self = static_cast<TrainingSession*>(arg);
  self->cleanupHookAdded_ = false;
  exitGuardRemove(self);
  self->trainer_->abort("the JavaScript environment is shutting down");
  self->trainer_->join();
  if (self->runActive_) {
    self->runActive_ = false;
    self->tsfn_.Abort();
  }
}

Napi::Value TrainingSession::ParameterCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(trainer_->parameterCount()));
}

Napi::Value TrainingSession::DeviceDescription(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    bp::ComputeBackend* device = trainer_->device();
    return Napi::String::New(info.Env(), device ? device->description() : std::string());
  });
}

Napi::Value TrainingSession::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Args args(info, "TrainingSession.start(x, y, options, onEvents)");
  const bp::ModelSpec& model = trainer_->spec().model;
  const bool classification = model.task == bp::Task::Classification;
  args.typedArray<float>(0, napi_float32_array, "x");
  if (classification)
    args.typedArray<int32_t>(1, napi_int32_array, "y");
  else
    args.typedArray<float>(1, napi_float32_array, "y");
  const Napi::Object options = args.object(2, "options");
  const Napi::Function onEvents = args.function(3, "onEvents");
  if (runActive_) throw codedError(env, "TRAINER_BUSY", "a training run is already active on this trainer. Wait for train() to settle or call abort() first.");
  return guarded(env, [&]() -> Napi::Value {
    // Into the last run's storage: no run is active (checked above), so the trainer hands it over.
    std::vector<float> x = trainer_->takeFeatureStorage();
    copyTypedArrayInto<float>(x, info[0], napi_float32_array, "x");
    const size_t rows = checkedRows(env, x.size(), model, "TrainingSession.start");
    std::vector<int32_t> labels;
    std::vector<float> targets;
    if (classification) {
      labels = copyTypedArray<int32_t>(info[1], napi_int32_array, "y");
      checkLabels(env, labels.data(), labels.size(), rows, model, "TrainingSession.start");
    } else {
      targets = copyTypedArray<float>(info[1], napi_float32_array, "y");
      checkTargets(env, targets.size(), rows, model, "TrainingSession.start");
    }
    if (rows == 0) throw codedError(env, "INPUT_EMPTY", "no rows to train on");
    bp::RunConfig config = parseRunConfig(options);

    tsfn_ = Tsfn::New(env, onEvents, "backpropagate.training", 0, 1, this);
    // Registered after the thread-safe function, so it runs before Node's own
    // teardown of it (cleanup hooks run in reverse order).
    napi_add_env_cleanup_hook(env, &TrainingSession::EnvCleanup, this);
    cleanupHookAdded_ = true;
    runActive_ = true;
    Ref();
    bp::Trainer* trainer = trainer_.get();
    exitGuardAdd(this, [trainer] {
      trainer->abort("process exiting");
      trainer->join();
    });
    try {
      Tsfn tsfn = tsfn_;
      trainer_->start(std::move(x), std::move(labels), std::move(targets), rows, std::move(config),
                      [tsfn]() mutable { tsfn.NonBlockingCall(); });
    } catch (...) {
      finishRun();
      throw;
    }
    return env.Undefined();
  });
}

void TrainingSession::CallJs(Napi::Env env, Napi::Function callback, TrainingSession* self, void*) {
  // env is null when the function is being finalised during teardown: no JS may run.
  if (env == nullptr || self == nullptr || !self->runActive_) return;
  self->deliver(env, callback);
}

void TrainingSession::deliver(Napi::Env env, Napi::Function callback) {
  deliverUntilIdle([&] { return deliverBatch(env, callback); }, [&] { return trainer_->endDelivery(); },
                   [&] {
                     // From the JS thread: the run is active, so the function is not released yet.
                     if (runActive_) tsfn_.NonBlockingCall();
                   });
}

Round TrainingSession::deliverBatch(Napi::Env env, Napi::Function callback) {
  trainer_->takeEventsForDelivery(drained_);
  if (drained_.records.empty()) return Round::More;  // end() finds nothing pending and stops
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return Round::Yield;
  BatchValues batch;
  const bool encoded = encoder_.encode(env, drained_, batch);
  bool terminal = false;
  size_t steps = 0;
  for (const auto& e : drained_.records) {
    terminal = terminal || bp::isTerminal(e.type);
    steps += e.type == bp::EventType::Step;
  }
  drained_.clear();
  if (terminal) {
    // The producer pushed its terminal event last and is returning: join it
    // now so that summary() is final when JS reads it.
    trainer_->join();
  }
  // The TS dispatcher isolates handler errors itself; a failure here means
  // the environment is shutting down, and must not abort the process.
  const bool called = encoded && callJsSafely(env, callback, {batch.records, batch.strings});
  napi_close_handle_scope(env, scope);
  if (terminal) {
    finishRun();
    return Round::Done;
  }
  trainer_->acknowledgeSteps(steps);  // after the handlers ran: 'block' backpressure
  // A handler cannot end the run by itself (only a terminal event does), but
  // stay defensive: once the run is over nothing may touch the function.
  if (!runActive_) return Round::Done;
  return called ? Round::More : Round::Yield;
}

void TrainingSession::finishRun() {
  if (!runActive_) return;
  runActive_ = false;
  exitGuardRemove(this);
  if (cleanupHookAdded_) {
    napi_remove_env_cleanup_hook(env_, &TrainingSession::EnvCleanup, this);
    cleanupHookAdded_ = false;
  }
  trainer_->join();
  encoder_.reset(env_);
  tsfn_.Release();
  // Plain C call: ObjectWrap::Unref() throws on failure, which during teardown would abort.
  uint32_t refs = 0;
  napi_reference_unref(env_, static_cast<napi_ref>(*this), &refs);
}

Napi::Value TrainingSession::Abort(const Napi::CallbackInfo& info) {
  const std::string reason = Args(info, "TrainingSession.abort(reason)").optionalString(0, "reason", "aborted");
  trainer_->abort(reason);
  return info.Env().Undefined();
}

Napi::Value TrainingSession::Pause(const Napi::CallbackInfo& info) {
  trainer_->pause();
  return info.Env().Undefined();
}

Napi::Value TrainingSession::Resume(const Napi::CallbackInfo& info) {
  trainer_->resume();
  return info.Env().Undefined();
}

Napi::Value TrainingSession::SetSafetyHold(const Napi::CallbackInfo& info) {
  trainer_->setSafetyHold(Args(info, "TrainingSession.setSafetyHold(hold)").boolean(0, "hold"));
  return info.Env().Undefined();
}

Napi::Value TrainingSession::SetLearningRate(const Napi::CallbackInfo& info) {
  const double lr = Args(info, "TrainingSession.setLearningRate(lr)").number(0, "lr");
  if (!(lr > 0)) throw codedRangeError(info.Env(), "TrainingSession.setLearningRate(lr): argument 'lr' must be > 0");
  trainer_->setLearningRate(lr);
  return info.Env().Undefined();
}

Napi::Value TrainingSession::Status(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bp::TrainerStatus s = trainer_->status();
  Napi::Object o = Napi::Object::New(env);
  o.Set("state", bp::runStateName(s.state));
  o.Set("step", static_cast<double>(s.step));
  o.Set("epoch", static_cast<double>(s.epoch));
  o.Set("loss", s.loss);
  o.Set("learningRate", s.learningRate);
  return o;
}

Napi::Value TrainingSession::Summary(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value { return SummaryObject(info.Env()); });
}

Napi::Value TrainingSession::SummaryObject(Napi::Env env) {
  bp::RunSummary s = trainer_->summary();
  Napi::Object o = Napi::Object::New(env);
  o.Set("steps", static_cast<double>(s.steps));
  o.Set("epochs", static_cast<double>(s.epochs));
  o.Set("samplesSeen", static_cast<double>(s.samplesSeen));
  o.Set("droppedStepEvents", static_cast<double>(s.droppedStepEvents));
  o.Set("finalLoss", s.finalLoss);
  o.Set("lossHistory", toTypedArray<double>(env, s.lossHistory));
  o.Set("durationSeconds", s.durationSeconds);
  o.Set("validationLoss", s.validationLoss);
  o.Set("validationAccuracy", s.validationAccuracy);
  o.Set("learningRate", s.learningRate);
  o.Set("lastCheckpoint", s.lastCheckpoint);
  o.Set("trainSamples", static_cast<double>(s.trainSamples));
  o.Set("validationSamples", static_cast<double>(s.validationSamples));
  return o;
}

Napi::Value TrainingSession::GetParameters(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value { return toTypedArray<float>(info.Env(), trainer_->parameters()); });
}

Napi::Value TrainingSession::SetParameters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Args args(info, "TrainingSession.setParameters(params)");
  args.typedArray<float>(0, napi_float32_array, "params");
  guarded(env, [&] {
    trainer_->setParameters(copyTypedArray<float>(info[0], napi_float32_array, args.name("params")));
    return 0;
  });
  return env.Undefined();
}

Napi::Value TrainingSession::GetOptimizerState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    std::vector<float> m, v;
    uint64_t step = 0;
    trainer_->optimizerState(m, v, step);
    Napi::Object o = Napi::Object::New(env);
    o.Set("optimizerM", toTypedArray<float>(env, m));
    o.Set("optimizerV", toTypedArray<float>(env, v));
    o.Set("optimizerStep", static_cast<double>(step));
    return o;
  });
}

Napi::Value TrainingSession::SetOptimizerState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Napi::Object o = Args(info, "TrainingSession.setOptimizerState(state)").object(0, "state");
  guarded(env, [&] {
    // Read in order, so the first bad field is the one reported.
    std::vector<float> m = copyTypedArray<float>(requireKey(o, "optimizerM"), napi_float32_array, optionName("optimizerM"));
    std::vector<float> v = copyTypedArray<float>(requireKey(o, "optimizerV"), napi_float32_array, optionName("optimizerV"));
    const uint64_t step = uint53Key(o, "optimizerStep");
    trainer_->setOptimizerState(m, v, step);
    return 0;
  });
  return env.Undefined();
}

Napi::Value TrainingSession::Predict(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto x = Args(info, "TrainingSession.predict(x)").typedArray<float>(0, napi_float32_array, "x");
  return guarded(env, [&]() -> Napi::Value {
    const size_t rows = checkedRows(env, x.ElementLength(), trainer_->spec().model, "TrainingSession.predict");
    return toTypedArray<float>(env, trainer_->predict(x.Data(), rows));
  });
}

Napi::Value TrainingSession::Evaluate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Args args(info, "TrainingSession.evaluate(x, y)");
  const auto x = args.typedArray<float>(0, napi_float32_array, "x");
  const auto& model = trainer_->spec().model;
  const bool classification = model.task == bp::Task::Classification;
  if (classification)
    args.typedArray<int32_t>(1, napi_int32_array, "y");
  else
    args.typedArray<float>(1, napi_float32_array, "y");
  return guarded(env, [&]() -> Napi::Value {
    const size_t rows = checkedRows(env, x.ElementLength(), model, "TrainingSession.evaluate");
    bp::EvalResult r;
    if (classification) {
      auto y = info[1].As<Napi::Int32Array>();
      checkLabels(env, y.Data(), y.ElementLength(), rows, model, "TrainingSession.evaluate");
      r = trainer_->evaluate(x.Data(), y.Data(), nullptr, rows);
    } else {
      auto y = info[1].As<Napi::Float32Array>();
      checkTargets(env, y.ElementLength(), rows, model, "TrainingSession.evaluate");
      r = trainer_->evaluate(x.Data(), nullptr, y.Data(), rows);
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("loss", r.loss);
    o.Set("accuracy", r.accuracy);
    return o;
  });
}

Napi::Value TrainingSession::SaveCheckpoint(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string folder = Args(info, "TrainingSession.saveCheckpoint(folder)").string(0, "folder");
  return guarded(env, [&]() -> Napi::Value {
    auto* worker = new SaveWorker(info.This().As<Napi::Object>(), trainer_.get(), std::move(folder));
    Napi::Promise promise = worker->promise();
    worker->Queue();  // the worker deletes itself when done
    return promise;
  });
}

}  // namespace bpaddon
