#include "training_session.hpp"

#include <cmath>

#include "event_batch.hpp"
#include "exit_guard.hpp"
#include "napi_util.hpp"

namespace bpaddon {

namespace {

bp::ModelSpec parseModel(const Napi::Object& m) {
  bp::ModelSpec spec;
  spec.inputSize = static_cast<int>(numberKey(m, "inputSize"));
  spec.outputSize = static_cast<int>(numberKey(m, "outputSize"));
  Napi::Value hidden = requireKey(m, "hiddenLayers");
  if (!hidden.IsArray()) throw Napi::TypeError::New(m.Env(), "native option 'hiddenLayers' must be an array");
  auto arr = hidden.As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); ++i) spec.hidden.push_back(arr.Get(i).As<Napi::Number>().Int32Value());
  const std::string act = stringKey(m, "activation");
  spec.activation = act == "tanh" ? bp::Activation::Tanh : act == "gelu" ? bp::Activation::Gelu : bp::Activation::Relu;
  spec.task = stringKey(m, "task") == "regression" ? bp::Task::Regression : bp::Task::Classification;
  if (spec.inputSize < 1 || spec.outputSize < 1) throw Napi::RangeError::New(m.Env(), "model sizes must be >= 1");
  for (int h : spec.hidden)
    if (h < 1) throw Napi::RangeError::New(m.Env(), "hidden layer sizes must be >= 1");
  return spec;
}

bp::TrainerSpec parseSpec(const Napi::Object& cfg) {
  bp::TrainerSpec spec;
  spec.model = parseModel(requireKey(cfg, "model").As<Napi::Object>());
  spec.optimizer.kind = stringKey(cfg, "optimizer") == "sgd" ? bp::OptimizerKind::Sgd : bp::OptimizerKind::AdamW;
  spec.optimizer.learningRate = numberKey(cfg, "learningRate");
  spec.optimizer.weightDecay = static_cast<float>(numberKey(cfg, "weightDecay"));
  spec.optimizer.momentum = static_cast<float>(numberKey(cfg, "momentum"));
  spec.optimizer.gradientClipNorm = static_cast<float>(numberKey(cfg, "gradientClipNorm"));
  spec.seed = static_cast<uint32_t>(numberKey(cfg, "seed"));
  spec.threads = static_cast<int>(numberKey(cfg, "threads"));
  // Optional (absent: CPU), so older callers of the binding keep working.
  Napi::Value device = cfg.Get("device");
  if (device.IsString() && device.As<Napi::String>().Utf8Value() == "cuda") {
    spec.device.kind = bp::DeviceKind::Cuda;
    Napi::Value index = cfg.Get("deviceIndex");
    spec.device.index = index.IsNumber() ? index.As<Napi::Number>().Int32Value() : 0;
    Napi::Value tf32 = cfg.Get("tf32");
    spec.device.tf32 = tf32.IsBoolean() && tf32.As<Napi::Boolean>().Value();
  } else if (!device.IsUndefined() && !(device.IsString() && device.As<Napi::String>().Utf8Value() == "cpu")) {
    throw Napi::TypeError::New(cfg.Env(), "native option 'device' must be 'cpu' or 'cuda'");
  }
  return spec;
}

bp::ResumeState parseResume(const Napi::Object& r) {
  bp::ResumeState s;
  s.params = copyTypedArray<float>(requireKey(r, "params"), napi_float32_array, "resume.params");
  s.m = copyTypedArray<float>(requireKey(r, "optimizerM"), napi_float32_array, "resume.optimizerM");
  s.v = copyTypedArray<float>(requireKey(r, "optimizerV"), napi_float32_array, "resume.optimizerV");
  s.optimizerStep = static_cast<uint64_t>(numberKey(r, "optimizerStep"));
  s.step = static_cast<uint64_t>(numberKey(r, "step"));
  s.epoch = static_cast<uint64_t>(numberKey(r, "epoch"));
  s.stepInEpoch = static_cast<uint64_t>(numberKey(r, "stepInEpoch"));
  auto rng = requireKey(r, "shuffleRngState").As<Napi::Array>();
  if (rng.Length() != 4) throw Napi::TypeError::New(r.Env(), "resume.shuffleRngState must have 4 words");
  for (uint32_t i = 0; i < 4; ++i) s.shuffleRngState[i] = rng.Get(i).As<Napi::Number>().Uint32Value();
  s.samplesSeen = static_cast<uint64_t>(numberKey(r, "samplesSeen"));
  s.lossHistory = copyTypedArray<double>(requireKey(r, "lossHistory"), napi_float64_array, "resume.lossHistory");
  s.learningRate = numberKey(r, "learningRate");
  return s;
}

bp::RunConfig parseRunConfig(const Napi::Object& o) {
  bp::RunConfig c;
  c.epochs = static_cast<uint64_t>(numberKey(o, "epochs"));
  c.maxSteps = static_cast<uint64_t>(numberKey(o, "maxSteps"));
  c.batchSize = static_cast<int>(numberKey(o, "batchSize"));
  c.shuffle = boolKey(o, "shuffle");
  c.outputDir = stringKey(o, "outputDir");
  c.saveEverySteps = static_cast<uint64_t>(numberKey(o, "saveEverySteps"));
  c.saveEveryEpoch = boolKey(o, "saveEveryEpoch");
  c.stepPolicy = stringKey(o, "stepEvents") == "block" ? bp::OverflowPolicy::Block : bp::OverflowPolicy::Coalesce;
  c.queueCapacity = static_cast<size_t>(numberKey(o, "queueCapacity"));
  c.validationSplit = numberKey(o, "validationSplit");
  c.runId = stringKey(o, "runId");
  c.resumedFrom = stringKey(o, "resumedFrom");
  Napi::Value warmup = o.Get("warmupSteps");
  if (warmup.IsNumber()) c.warmupSteps = static_cast<uint64_t>(warmup.As<Napi::Number>().DoubleValue());
  Napi::Value resume = o.Get("resume");
  if (resume.IsObject()) c.resume = parseResume(resume.As<Napi::Object>());
  if (c.batchSize < 1) throw Napi::RangeError::New(o.Env(), "batchSize must be >= 1");
  return c;
}

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
  return DefineClass(env, "TrainingSession",
                     {
                         InstanceAccessor<&TrainingSession::ParameterCount>("parameterCount"),
                         InstanceAccessor<&TrainingSession::DeviceDescription>("deviceDescription"),
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
}

TrainingSession::TrainingSession(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TrainingSession>(info) {
  Napi::Env env = info.Env();
  env_ = env;
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "TrainingSession(config) needs an object");
  guarded(env, [&] {
    trainer_ = std::make_unique<bp::Trainer>(parseSpec(info[0].As<Napi::Object>()));
    return 0;
  });
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
  bp::ComputeBackend* device = trainer_->device();
  return Napi::String::New(info.Env(), device ? device->description() : std::string());
}

Napi::Value TrainingSession::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[2].IsObject() || !info[3].IsFunction())
    throw Napi::TypeError::New(env, "start(x, y, options, onEvents)");
  if (runActive_) throw codedError(env, "TRAINER_BUSY", "a training run is already active on this trainer. Wait for train() to settle or call abort() first.");
  return guarded(env, [&]() -> Napi::Value {
    const bp::ModelSpec& model = trainer_->spec().model;
    std::vector<float> x = copyTypedArray<float>(info[0], napi_float32_array, "x");
    const size_t rows = x.size() / static_cast<size_t>(model.inputSize);
    std::vector<int32_t> labels;
    std::vector<float> targets;
    if (model.task == bp::Task::Classification) {
      labels = copyTypedArray<int32_t>(info[1], napi_int32_array, "y");
      if (labels.size() != rows) throw Napi::RangeError::New(env, "y length does not match x");
      for (int32_t l : labels)
        if (l < 0 || l >= model.outputSize) throw Napi::RangeError::New(env, "label out of range");
    } else {
      targets = copyTypedArray<float>(info[1], napi_float32_array, "y");
      if (targets.size() != rows * static_cast<size_t>(model.outputSize))
        throw Napi::RangeError::New(env, "y length does not match x");
    }
    if (rows == 0) throw codedError(env, "INPUT_EMPTY", "no rows to train on");
    bp::RunConfig config = parseRunConfig(info[2].As<Napi::Object>());

    tsfn_ = Tsfn::New(env, info[3].As<Napi::Function>(), "backpropagate.training", 0, 1, this);
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
  trainer_->drainEvents(drained_);
  if (drained_.records.empty()) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  BatchValues batch;
  const bool encoded = encodeBatch(env, drained_, batch);
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
  if (encoded) callJsSafely(env, callback, {batch.records, batch.strings});
  napi_close_handle_scope(env, scope);
  if (!terminal) trainer_->acknowledgeSteps(steps);  // after the handlers ran: 'block' backpressure
  if (terminal) finishRun();
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
  tsfn_.Release();
  // Plain C call: ObjectWrap::Unref() throws on failure, which during teardown would abort.
  uint32_t refs = 0;
  napi_reference_unref(env_, static_cast<napi_ref>(*this), &refs);
}

Napi::Value TrainingSession::Abort(const Napi::CallbackInfo& info) {
  std::string reason = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "aborted";
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
  trainer_->setSafetyHold(info.Length() > 0 && info[0].ToBoolean().Value());
  return info.Env().Undefined();
}

Napi::Value TrainingSession::SetLearningRate(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "setLearningRate(lr)");
  trainer_->setLearningRate(info[0].As<Napi::Number>().DoubleValue());
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
  Napi::Env env = info.Env();
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
  return toTypedArray<float>(info.Env(), trainer_->parameters());
}

Napi::Value TrainingSession::SetParameters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1) throw Napi::TypeError::New(env, "setParameters(params)");
  guarded(env, [&] {
    trainer_->setParameters(copyTypedArray<float>(info[0], napi_float32_array, "params"));
    return 0;
  });
  return env.Undefined();
}

Napi::Value TrainingSession::GetOptimizerState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<float> m, v;
  uint64_t step = 0;
  trainer_->optimizerState(m, v, step);
  Napi::Object o = Napi::Object::New(env);
  o.Set("optimizerM", toTypedArray<float>(env, m));
  o.Set("optimizerV", toTypedArray<float>(env, v));
  o.Set("optimizerStep", static_cast<double>(step));
  return o;
}

Napi::Value TrainingSession::SetOptimizerState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "setOptimizerState(state)");
  Napi::Object o = info[0].As<Napi::Object>();
  guarded(env, [&] {
    trainer_->setOptimizerState(copyTypedArray<float>(requireKey(o, "optimizerM"), napi_float32_array, "optimizerM"),
                                copyTypedArray<float>(requireKey(o, "optimizerV"), napi_float32_array, "optimizerV"),
                                static_cast<uint64_t>(numberKey(o, "optimizerStep")));
    return 0;
  });
  return env.Undefined();
}

Napi::Value TrainingSession::Predict(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1) throw Napi::TypeError::New(env, "predict(x)");
  return guarded(env, [&]() -> Napi::Value {
    auto x = info[0].As<Napi::Float32Array>();
    const size_t rows = x.ElementLength() / static_cast<size_t>(trainer_->spec().model.inputSize);
    return toTypedArray<float>(env, trainer_->predict(x.Data(), rows));
  });
}

Napi::Value TrainingSession::Evaluate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2) throw Napi::TypeError::New(env, "evaluate(x, y)");
  return guarded(env, [&]() -> Napi::Value {
    auto x = info[0].As<Napi::Float32Array>();
    const auto& model = trainer_->spec().model;
    const size_t rows = x.ElementLength() / static_cast<size_t>(model.inputSize);
    bp::EvalResult r;
    if (model.task == bp::Task::Classification) {
      auto y = info[1].As<Napi::Int32Array>();
      r = trainer_->evaluate(x.Data(), y.Data(), nullptr, rows);
    } else {
      auto y = info[1].As<Napi::Float32Array>();
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
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "saveCheckpoint(folder)");
  auto* worker = new SaveWorker(info.This().As<Napi::Object>(), trainer_.get(), info[0].As<Napi::String>().Utf8Value());
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

}  // namespace bpaddon
