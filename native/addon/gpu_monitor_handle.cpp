#include "gpu_monitor_handle.hpp"

#include <chrono>

#include "exit_guard.hpp"
#include "gpu_values.hpp"
#include "napi_util.hpp"
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
  return DefineClass(env, "GpuMonitorHandle",
                     {
                         InstanceMethod<&GpuMonitorHandle::Start>("start"),
                         InstanceMethod<&GpuMonitorHandle::Stop>("stop"),
                         InstanceMethod<&GpuMonitorHandle::SetConfig>("setConfig"),
                         InstanceMethod<&GpuMonitorHandle::AttachTrainer>("attachTrainer"),
                         InstanceMethod<&GpuMonitorHandle::DetachTrainer>("detachTrainer"),
                         InstanceAccessor<&GpuMonitorHandle::Running>("running"),
                         InstanceAccessor<&GpuMonitorHandle::Dropped>("dropped"),
                     });
}

GpuMonitorHandle::GpuMonitorHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<GpuMonitorHandle>(info) {
  Napi::Env env = info.Env();
  env_ = env;
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "GpuMonitorHandle(options)");
  Napi::Object o = info[0].As<Napi::Object>();
  guarded(env, [&] {
    std::unique_ptr<bp::GpuSource> source;
    if (stringKey(o, "source") == "scripted") {
      std::vector<bp::GpuReading> readings;
      auto arr = requireKey(o, "readings").As<Napi::Array>();
      for (uint32_t i = 0; i < arr.Length(); ++i) readings.push_back(parseGpuReading(arr.Get(i).As<Napi::Object>()));
      source = bp::makeScriptedSource(std::move(readings), boolKey(o, "loop"));
    } else {
      source = bp::makeNvmlSource(stringKey(o, "libraryPath"));
    }
    std::vector<int> devices;
    auto devs = requireKey(o, "deviceIndices").As<Napi::Array>();
    for (uint32_t i = 0; i < devs.Length(); ++i) devices.push_back(devs.Get(i).As<Napi::Number>().Int32Value());
    thread_ = std::make_unique<bp::GpuMonitorThread>(std::move(source), std::move(devices),
                                                     parseGpuConfig(requireKey(o, "config").As<Napi::Object>()),
                                                     numberKey(o, "intervalMs"),
                                                     [this](const bp::GpuSample& s) { onSample(s); });
    return 0;
  });
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
  if (info.Length() < 1 || !info[0].IsFunction()) throw Napi::TypeError::New(env, "start(onSamples)");
  if (active_) return env.Undefined();
  tsfn_ = Tsfn::New(env, info[0].As<Napi::Function>(), "backpropagate.gpuMonitor", 0, 1, this);
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
  Napi::Array out = Napi::Array::New(env, rest.size());
  for (size_t i = 0; i < rest.size(); ++i) out.Set(static_cast<uint32_t>(i), sampleToJs(env, rest[i]));
  return out;
}

Napi::Value GpuMonitorHandle::SetConfig(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(info.Env(), "setConfig(config)");
  thread_->setConfig(parseGpuConfig(info[0].As<Napi::Object>()));
  return info.Env().Undefined();
}

Napi::Value GpuMonitorHandle::AttachTrainer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsObject() || !info[1].IsNumber() || !info[2].IsObject())
    throw Napi::TypeError::New(env, "attachTrainer(session, deviceIndex, policy)");
  Napi::Object sessionObj = info[0].As<Napi::Object>();
  TrainingSession* session = Napi::ObjectWrap<TrainingSession>::Unwrap(sessionObj);
  Napi::Object p = info[2].As<Napi::Object>();
  bp::GpuGuardPolicy policy;
  policy.pauseOnCritical = boolKey(p, "pauseOnCritical");
  policy.abortOnEmergency = boolKey(p, "abortOnEmergency");
  policy.cooldownMs = numberKey(p, "cooldownMs");
  policy.maxCooldownAttempts = static_cast<int>(numberKey(p, "maxCooldownAttempts"));
  policy.resumeBelowTempC = numberKey(p, "resumeBelowTempC");
  std::lock_guard<std::mutex> lock(mutex_);
  const int id = nextGuardId_++;
  Attached a{info[1].As<Napi::Number>().Int32Value(), std::make_unique<bp::GpuSafetyGuard>(session->engine(), policy),
             Napi::Persistent(sessionObj)};
  guards_.emplace(id, std::move(a));
  return Napi::Number::New(env, id);
}

Napi::Value GpuMonitorHandle::DetachTrainer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int id = info[0].As<Napi::Number>().Int32Value();
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
  const std::string lib = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  bp::NvmlAvailability a = bp::nvmlEnsureInit(lib);
  Napi::Object o = Napi::Object::New(env);
  o.Set("available", a.available);
  o.Set("reason", a.reason);
  o.Set("libraryPath", a.libraryPath);
  o.Set("deviceCount", a.available ? bp::nvmlDeviceCount() : 0);
  return o;
}

Napi::Value ReadGpu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3) throw Napi::TypeError::New(env, "readGpu(index, libraryPath, config)");
  const int index = info[0].As<Napi::Number>().Int32Value();
  const std::string lib = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  bp::GpuSample s;
  s.reading = bp::nvmlReadDevice(index, lib);
  s.evaluation = bp::evaluateGpu(s.reading, parseGpuConfig(info[2].As<Napi::Object>()));
  return sampleToJs(env, s);
}

Napi::Value EvaluateGpuReading(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsObject())
    throw Napi::TypeError::New(env, "evaluateGpuReading(reading, config)");
  bp::GpuSample s;
  s.reading = parseGpuReading(info[0].As<Napi::Object>());
  s.reading.timestampMs = bp::wallClockMs();
  s.evaluation = bp::evaluateGpu(s.reading, parseGpuConfig(info[1].As<Napi::Object>()));
  return sampleToJs(env, s);
}

Napi::Value ResetNvmlState(const Napi::CallbackInfo& info) {
  bp::nvmlResetState();
  return info.Env().Undefined();
}

// nvmlSampleCost(index, reps, libraryPath): median microseconds of one full
// device read, for `npm run bench`.
Napi::Value NvmlSampleCost(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int index = info[0].As<Napi::Number>().Int32Value();
  const int reps = std::max(1, info[1].As<Napi::Number>().Int32Value());
  const std::string lib = info.Length() > 2 && info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
  std::vector<double> us;
  bp::nvmlReadDevice(index, lib);
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    bp::nvmlReadDevice(index, lib);
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(us.begin(), us.end());
  return Napi::Number::New(env, us[us.size() / 2]);
}

}  // namespace bpaddon
