#include "gpu_monitor_handle.hpp"

#include <chrono>

#include "exit_guard.hpp"
#include "gpu_values.hpp"
#include "args.hpp"
#include "napi_util.hpp"
#include "simulated_gpu_handle.hpp"
#include "training_session.hpp"

namespace bpaddon {

namespace {
// Samples queued while JavaScript is blocked. At the shortest sensible
// interval (10 ms) this holds over 15 minutes of samples; beyond it the oldest
// are dropped and counted (dropped()).
constexpr size_t kMaxPendingSamples = 100000;

double steadyMs() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

Napi::Function GpuMonitorHandle::Define(Napi::Env env) {
  Napi::Function ctor = DefineClass(env, "GpuMonitorHandle",
                                    {
                                        InstanceMethod<&GpuMonitorHandle::Start>("start"),
                                        InstanceMethod<&GpuMonitorHandle::Stop>("stop"),
                                        InstanceMethod<&GpuMonitorHandle::SetConfig>("setConfig"),
                                        InstanceMethod<&GpuMonitorHandle::AttachTrainer>("attachTrainer"),
                                        InstanceMethod<&GpuMonitorHandle::DetachTrainer>("detachTrainer"),
                                    });
  // Accessors check their receiver's tag before unwrapping (args.hpp).
  Napi::Object proto = ctor.Get("prototype").As<Napi::Object>();  // a class constructor's prototype is an object
  proto.DefineProperties({
      Napi::PropertyDescriptor::Accessor<&GpuMonitorHandle::GetRunning>("running"),
      Napi::PropertyDescriptor::Accessor<&GpuMonitorHandle::GetDropped>("dropped"),
  });
  return ctor;
}

Napi::Value GpuMonitorHandle::GetRunning(const Napi::CallbackInfo& info) {
  return taggedReceiver<GpuMonitorHandle>(info, kGpuMonitorHandleTag, "GpuMonitorHandle")->Running(info);
}

Napi::Value GpuMonitorHandle::GetDropped(const Napi::CallbackInfo& info) {
  return taggedReceiver<GpuMonitorHandle>(info, kGpuMonitorHandleTag, "GpuMonitorHandle")->Dropped(info);
}

GpuMonitorHandle::GpuMonitorHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<GpuMonitorHandle>(info) {
  Napi::Env env = info.Env();
  env_ = env;
  const Napi::Object o = Args(info, "new GpuMonitorHandle(options)").object(0, "options");
  guarded(env, [&] {
    std::unique_ptr<bp::GpuSource> source;
    const std::string kind = stringKey(o, "source");
    if (kind == "scripted") {
      std::vector<bp::GpuReading> readings;
      Napi::Array arr = arrayKey(o, "readings");
      for (uint32_t i = 0; i < arr.Length(); ++i)
        readings.push_back(parseGpuReading(expectObject(arr.Get(i), elementName("readings", i))));
      source = bp::makeScriptedSource(std::move(readings), boolKey(o, "loop"));
    } else if (kind == "simulated") {
      Napi::Value handle = requireKey(o, "simulated");
      source = bp::makeSimulatedSource(
          unwrapTagged<SimulatedGpuHandle>(handle, kSimulatedGpuTag, optionName("simulated"), "a SimulatedGpuHandle")->gpu());
    } else if (kind == "nvml") {
      source = bp::makeNvmlSource(stringKey(o, "libraryPath"));
    } else {
      throw codedRangeError(env, "native option 'source' must be 'nvml', 'scripted' or 'simulated' (got '" + kind + "')");
    }
    std::vector<int> devices;
    Napi::Array devs = arrayKey(o, "deviceIndices");
    for (uint32_t i = 0; i < devs.Length(); ++i) devices.push_back(expectInt32(devs.Get(i), elementName("deviceIndices", i)));
    const bp::GpuSafetyConfig config = parseGpuConfig(objectKey(o, "config"));
    thread_ = std::make_unique<bp::GpuMonitorThread>(std::move(source), std::move(devices), config,
                                                     numberKey(o, "intervalMs"),
                                                     [this](const bp::GpuSample& s) { onSample(s); });
    return 0;
  });
  info.This().As<Napi::Object>().TypeTag(&kGpuMonitorHandleTag);  // the receiver of a constructor is always an object
}

Napi::Value GpuMonitorHandle::OnCalledAsFunction(const Napi::CallbackInfo& info) {
  throw codedTypeError(info.Env(), "GpuMonitorHandle is a class: call it as new GpuMonitorHandle(options)");
}

GpuMonitorHandle::~GpuMonitorHandle() {
  if (cleanupHookAdded_) {
    napi_remove_env_cleanup_hook(env_, &GpuMonitorHandle::EnvCleanup, this);
    cleanupHookAdded_ = false;
  }
  exitGuardRemove(this);
  if (thread_) thread_->stop();
}

void GpuMonitorHandle::onSample(const bp::GpuSample& sample) {
  bool notify = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const double now = steadyMs();
    for (auto& entry : guards_) {
      if (entry.second.deviceIndex == sample.reading.deviceIndex) entry.second.guard->onSample(sample, now);
    }
    if (pending_.size() >= kMaxPendingSamples) {
      pending_.pop_front();
      ++dropped_;
    }
    pending_.push_back(sample);
    if (!scheduled_) {
      scheduled_ = true;
      notify = true;
    }
  }
  if (notify) tsfn_.NonBlockingCall();
}

void GpuMonitorHandle::CallJs(Napi::Env env, Napi::Function callback, GpuMonitorHandle* self, void*) {
  if (env == nullptr || self == nullptr || !self->active_) return;
  self->deliver(env, callback);
}

void GpuMonitorHandle::deliver(Napi::Env env, Napi::Function callback) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    drained_.clear();
    drained_.swap(pending_);
    scheduled_ = false;
  }
  if (drained_.empty()) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  try {
    Napi::Array batch = Napi::Array::New(env, drained_.size());
    for (size_t i = 0; i < drained_.size(); ++i) batch.Set(static_cast<uint32_t>(i), sampleToJs(env, drained_[i]));
    callJsSafely(env, callback, {batch});
  } catch (const Napi::Error&) {
    // Only possible while the environment shuts down; the samples are moot then.
  }
  napi_close_handle_scope(env, scope);
}

void GpuMonitorHandle::stopAndJoin() {
  if (thread_) thread_->stop();
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& entry : guards_) entry.second.guard->onMonitorStopped();
}

void GpuMonitorHandle::EnvCleanup(void* arg) {
  auto* self = static_cast<GpuMonitorHandle*>(arg);
  self->cleanupHookAdded_ = false;
  exitGuardRemove(self);
  self->stopAndJoin();
  if (self->active_) {
    self->active_ = false;
    self->tsfn_.Abort();
  }
}

Napi::Value GpuMonitorHandle::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Napi::Function onSamples = Args(info, "GpuMonitorHandle.start(onSamples)").function(0, "onSamples");
  if (active_) return env.Undefined();
  tsfn_ = Tsfn::New(env, onSamples, "backpropagate.gpuMonitor", 0, 1, this);
  tsfn_.Unref(env);
  napi_add_env_cleanup_hook(env, &GpuMonitorHandle::EnvCleanup, this);
  cleanupHookAdded_ = true;
  active_ = true;
  bp::GpuMonitorThread* thread = thread_.get();
  exitGuardAdd(this, [thread] { thread->stop(); });
  thread_->start();
  return env.Undefined();
}

void GpuMonitorHandle::finish() {
  if (!active_) return;
  // Deliver what was sampled before the stop, then release.
  active_ = false;
  exitGuardRemove(this);
  if (cleanupHookAdded_) {
    napi_remove_env_cleanup_hook(env_, &GpuMonitorHandle::EnvCleanup, this);
    cleanupHookAdded_ = false;
  }
  tsfn_.Release();
}

Napi::Value GpuMonitorHandle::Stop(const Napi::CallbackInfo& info) {
  // Joins the sampling thread (prompt: it waits on a condition variable and
  // never on JavaScript), then returns the samples not yet delivered so the
  // caller can dispatch them in order before resolving.
  Napi::Env env = info.Env();
  stopAndJoin();
  std::deque<bp::GpuSample> rest;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    rest.swap(pending_);
    scheduled_ = false;
  }
  finish();
  return guarded(env, [&]() -> Napi::Value {
    Napi::Array out = Napi::Array::New(env, rest.size());
    for (size_t i = 0; i < rest.size(); ++i) out.Set(static_cast<uint32_t>(i), sampleToJs(env, rest[i]));
    return out;
  });
}

Napi::Value GpuMonitorHandle::SetConfig(const Napi::CallbackInfo& info) {
  const Napi::Object config = Args(info, "GpuMonitorHandle.setConfig(config)").object(0, "config");
  thread_->setConfig(parseGpuConfig(config));
  return info.Env().Undefined();
}

Napi::Value GpuMonitorHandle::AttachTrainer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Args args(info, "GpuMonitorHandle.attachTrainer(session, deviceIndex, policy)");
  TrainingSession* session =
      unwrapTagged<TrainingSession>(args[0], kTrainingSessionTag, args.name("session"), "a TrainingSession");
  const int deviceIndex = args.int32(1, "deviceIndex");
  const Napi::Object p = args.object(2, "policy");
  bp::GpuGuardPolicy policy;
  policy.pauseOnCritical = boolKey(p, "pauseOnCritical");
  policy.abortOnEmergency = boolKey(p, "abortOnEmergency");
  policy.cooldownMs = numberKey(p, "cooldownMs");
  policy.maxCooldownAttempts = int32Key(p, "maxCooldownAttempts");
  policy.resumeBelowTempC = numberKey(p, "resumeBelowTempC");
  return guarded(env, [&]() -> Napi::Value {
    std::lock_guard<std::mutex> lock(mutex_);
    const int id = nextGuardId_++;
    Attached a{deviceIndex, std::make_unique<bp::GpuSafetyGuard>(session->engine(), policy),
               Napi::Persistent(args[0].As<Napi::Object>())};
    guards_.emplace(id, std::move(a));
    return Napi::Number::New(env, id);
  });
}

Napi::Value GpuMonitorHandle::DetachTrainer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int id = Args(info, "GpuMonitorHandle.detachTrainer(id)").int32(0, "id");
  bp::GpuGuardStats stats;
  Napi::ObjectReference keep;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = guards_.find(id);
    if (it == guards_.end()) return env.Null();
    stats = it->second.guard->stats();
    keep = std::move(it->second.session);
    guards_.erase(it);
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("maxTempC", std::isnan(stats.maxTempC) ? env.Null() : Napi::Value(Napi::Number::New(env, stats.maxTempC)));
  o.Set("maxVramPercent", std::isnan(stats.maxVramPercent) ? env.Null() : Napi::Value(Napi::Number::New(env, stats.maxVramPercent)));
  o.Set("pauses", stats.pauses);
  o.Set("failed", stats.failed);
  return o;
}

Napi::Value GpuMonitorHandle::Running(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), thread_ && thread_->running());
}

Napi::Value GpuMonitorHandle::Dropped(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> lock(mutex_);
  return Napi::Number::New(info.Env(), static_cast<double>(dropped_));
}

Napi::Value NvmlStatus(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string lib = Args(info, "nvmlStatus(libraryPath)").optionalString(0, "libraryPath", "");
  return guarded(env, [&]() -> Napi::Value {
    bp::NvmlAvailability a = bp::nvmlEnsureInit(lib);
    Napi::Object o = Napi::Object::New(env);
    o.Set("available", a.available);
    o.Set("reason", a.reason);
    o.Set("libraryPath", a.libraryPath);
    o.Set("deviceCount", a.available ? bp::nvmlDeviceCount() : 0);
    return o;
  });
}

Napi::Value ReadGpu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Args args(info, "readGpu(index, libraryPath, config)");
  const int index = args.int32(0, "index");
  const std::string lib = args.string(1, "libraryPath");
  const bp::GpuSafetyConfig config = parseGpuConfig(args.object(2, "config"));
  return guarded(env, [&]() -> Napi::Value {
    bp::GpuSample s;
    s.reading = bp::nvmlReadDevice(index, lib);
    s.evaluation = bp::evaluateGpu(s.reading, config);
    return sampleToJs(env, s);
  });
}

Napi::Value EvaluateGpuReading(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Args args(info, "evaluateGpuReading(reading, config)");
  bp::GpuSample s;
  s.reading = parseGpuReading(args.object(0, "reading"));
  s.reading.timestampMs = bp::wallClockMs();
  const bp::GpuSafetyConfig config = parseGpuConfig(args.object(1, "config"));
  return guarded(env, [&]() -> Napi::Value {
    s.evaluation = bp::evaluateGpu(s.reading, config);
    return sampleToJs(env, s);
  });
}

Napi::Value ResetNvmlState(const Napi::CallbackInfo& info) {
  bp::nvmlResetState();
  return info.Env().Undefined();
}

// nvmlSampleCost(index, reps, libraryPath): median microseconds of one full
// device read, for `npm run bench`.
Napi::Value NvmlSampleCost(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Args args(info, "nvmlSampleCost(index, reps, libraryPath)");
  const int index = args.int32(0, "index");
  const int reps = args.int32(1, "reps", 1, 1000000);
  const std::string lib = args.optionalString(2, "libraryPath", "");
  return guarded(env, [&]() -> Napi::Value {
    std::vector<double> us;
    bp::nvmlReadDevice(index, lib);
    for (int i = 0; i < reps; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      bp::nvmlReadDevice(index, lib);
      us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(us.begin(), us.end());
    return Napi::Number::New(env, us[us.size() / 2]);
  });
}

}  // namespace bpaddon
