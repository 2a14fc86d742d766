// The trainer's caller-facing side: construction, control, and access to the
// model between and during runs. The run itself is trainer_run.cpp.
#include "trainer.hpp"

#include "checkpoint.hpp"
#include "cpu_backend.hpp"
#include "cuda_loader.hpp"
#include "errors.hpp"
#include "float_mode.hpp"

namespace bp {

namespace {
constexpr uint32_t kStreamInit = 1;
}  // namespace

const char* runStateName(RunState s) {
  switch (s) {
    case RunState::Idle: return "idle";
    case RunState::Running: return "running";
    case RunState::Paused: return "paused";
    case RunState::Stopping: return "stopping";
  }
  return "idle";
}

Trainer::Trainer(TrainerSpec spec)
    : spec_(std::move(spec)),
      params_(parameterCountOf(spec_.model)),
      optimizer_(spec_.optimizer, params_.size()),
      learningRate_(spec_.optimizer.learningRate) {
  Rng rng(spec_.seed, kStreamInit);
  initParameters(spec_.model, params_.data(), rng);
  backend_ = spec_.device.kind == DeviceKind::Cuda ? createCudaBackend(spec_.model, spec_.optimizer, spec_.device)
                                                   : createCpuBackend(spec_.model, spec_.optimizer, spec_.threads);
  hostAhead_ = true;
  syncDeviceLocked();  // not shared yet: no lock needed
}

void Trainer::syncHostLocked() {
  if (!deviceAhead_) return;
  backend_->download(params_.data(), optimizer_.m().data(), optimizer_.v().empty() ? nullptr : optimizer_.v().data(),
                    params_.size());
  deviceAhead_ = false;
}

void Trainer::syncDeviceLocked() {
  if (!hostAhead_) return;
  backend_->upload(params_.data(), optimizer_.m().data(), optimizer_.v().empty() ? nullptr : optimizer_.v().data(),
                  params_.size());
  hostAhead_ = false;
}

Trainer::~Trainer() {
  if (runner_.pending()) {
    abort("trainer destroyed");
    join();
  }
}

std::vector<float> Trainer::takeFeatureStorage() {
  if (runner_.pending()) return {};  // the run thread may still read x_
  std::vector<float> storage = std::move(x_);
  x_.clear();
  return storage;
}

void Trainer::start(std::vector<float> x, std::vector<int32_t> labels, std::vector<float> targets, size_t rows,
                    RunConfig config, std::function<void()> notify) {
  if (runner_.pending()) {
    throw EngineError("TRAINER_BUSY", "a training run is already active on this trainer. Wait for train() to settle or call abort() first.");
  }
  x_ = std::move(x);
  labels_ = std::move(labels);
  targets_ = std::move(targets);
  rows_ = rows;
  config_ = std::move(config);
  notify_ = std::move(notify);
  queue_ = std::make_unique<EventQueue>(config_.queueCapacity, config_.stepPolicy);
  {
    std::lock_guard<std::mutex> lock(controlMutex_);
    abortRequested_ = false;
    userPaused_ = false;
    safetyHold_ = false;
    abortReason_.clear();
    failCode_.clear();
    failMessage_.clear();
  }
  {
    std::lock_guard<std::mutex> lock(summaryMutex_);
    summary_ = RunSummary{};
  }
  if (config_.resume) {
    std::lock_guard<std::mutex> lock(modelMutex_);
    const ResumeState& r = *config_.resume;
    if (r.params.size() != params_.size()) {
      throw EngineError("CHECKPOINT_INCOMPATIBLE", "the checkpoint's parameter count does not match this model.");
    }
    syncHostLocked();
    params_ = r.params;
    applyOptimizerStateLocked(r.m, r.v, r.optimizerStep);
    learningRate_.store(r.learningRate > 0 ? r.learningRate : spec_.optimizer.learningRate);
  }
  step_.store(config_.resume ? config_.resume->step : 0);
  epoch_.store(0);
  loss_.store(0);
  state_.store(static_cast<int>(RunState::Running));
  ++runOrdinal_;
  runner_.start([this] { runLoop(); });
}

void Trainer::drainEvents(EventBatch& out) {
  if (queue_) {
    queue_->drain(out);
  } else {
    out.clear();
  }
}

void Trainer::takeEventsForDelivery(EventBatch& out) {
  if (queue_) {
    queue_->takeForDelivery(out);
  } else {
    out.clear();
  }
}

bool Trainer::endDelivery() { return queue_ ? queue_->endDelivery() : true; }

void Trainer::acknowledgeSteps(size_t steps) {
  if (queue_) queue_->acknowledge(steps);
}

void Trainer::emit(Event&& e) {
  if (queue_->push(std::move(e)) && notify_) notify_();
}

void Trainer::abort(const std::string& reason) {
  {
    std::lock_guard<std::mutex> lock(controlMutex_);
    if (!abortRequested_) {
      abortRequested_ = true;
      abortReason_ = reason;
    }
  }
  if (state_.load() != static_cast<int>(RunState::Idle)) state_.store(static_cast<int>(RunState::Stopping));
  if (queue_) queue_->close();  // a producer waiting in Block mode must see the abort
  controlCv_.notify_all();
}

void Trainer::failWith(const std::string& code, const std::string& message) {
  {
    std::lock_guard<std::mutex> lock(controlMutex_);
    if (!abortRequested_) {
      abortRequested_ = true;
      abortReason_ = message;
      failCode_ = code;
      failMessage_ = message;
    }
  }
  if (state_.load() != static_cast<int>(RunState::Idle)) state_.store(static_cast<int>(RunState::Stopping));
  if (queue_) queue_->close();
  controlCv_.notify_all();
}

void Trainer::pause() {
  std::lock_guard<std::mutex> lock(controlMutex_);
  userPaused_ = true;
}

void Trainer::resume() {
  {
    std::lock_guard<std::mutex> lock(controlMutex_);
    userPaused_ = false;
  }
  controlCv_.notify_all();
}

void Trainer::setSafetyHold(bool hold) {
  {
    std::lock_guard<std::mutex> lock(controlMutex_);
    safetyHold_ = hold;
  }
  controlCv_.notify_all();
}

void Trainer::setLearningRate(double lr) { learningRate_.store(lr); }

TrainerStatus Trainer::status() const {
  TrainerStatus s;
  s.state = static_cast<RunState>(state_.load());
  s.step = step_.load();
  s.epoch = epoch_.load();
  s.loss = loss_.load();
  s.learningRate = learningRate_.load();
  return s;
}

void Trainer::join() {
  // Joined from the JS thread after the terminal event, and possibly from the
  // process-exit guard: serialise them.
  std::lock_guard<std::mutex> lock(joinMutex_);
  runner_.wait();
}

RunSummary Trainer::summary() const {
  std::lock_guard<std::mutex> lock(summaryMutex_);
  return summary_;
}

std::vector<float> Trainer::parameters() const {
  std::lock_guard<std::mutex> lock(modelMutex_);
  if (deviceAhead_) {
    std::vector<float> p(params_.size());
    backend_->download(p.data(), nullptr, nullptr, p.size());
    return p;
  }
  return params_;
}

void Trainer::setParameters(const std::vector<float>& params) {
  std::lock_guard<std::mutex> lock(modelMutex_);
  if (params.size() != params_.size()) {
    throw EngineError("CHECKPOINT_INCOMPATIBLE", "expected " + std::to_string(params_.size()) + " parameters, got " + std::to_string(params.size()) + ".");
  }
  syncHostLocked();  // keep the device's newer optimizer moments
  params_ = params;
  hostAhead_ = true;
}

void Trainer::optimizerState(std::vector<float>& m, std::vector<float>& v, uint64_t& step) const {
  std::lock_guard<std::mutex> lock(modelMutex_);
  if (deviceAhead_) {
    m.assign(optimizer_.m().size(), 0.0f);
    v.assign(optimizer_.v().size(), 0.0f);
    backend_->download(nullptr, m.data(), v.empty() ? nullptr : v.data(), m.size());
  } else {
    m = optimizer_.m();
    v = optimizer_.v();
  }
  step = optimizer_.stepCount();
}

void Trainer::setOptimizerState(const std::vector<float>& m, const std::vector<float>& v, uint64_t step) {
  std::lock_guard<std::mutex> lock(modelMutex_);
  syncHostLocked();  // keep the device's newer parameters
  applyOptimizerStateLocked(m, v, step);
}

void Trainer::applyOptimizerStateLocked(const std::vector<float>& m, const std::vector<float>& v, uint64_t step) {
  if (m.size() != optimizer_.m().size() || v.size() != optimizer_.v().size()) {
    throw EngineError("CHECKPOINT_INCOMPATIBLE", "the optimizer state does not match this model and optimizer.");
  }
  optimizer_.m() = m;
  optimizer_.v() = v;
  optimizer_.setStepCount(step);
  hostAhead_ = true;
}

std::vector<float> Trainer::predict(const float* x, size_t rows) {
  std::vector<float> out(rows * static_cast<size_t>(spec_.model.outputSize));
  const FlushDenormals flush;  // the same arithmetic as training; restored for the caller
  std::lock_guard<std::mutex> lock(modelMutex_);
  syncDeviceLocked();
  backend_->predict(x, rows, out.data());
  return out;
}

EvalResult Trainer::evaluate(const float* x, const int32_t* labels, const float* targets, size_t rows) {
  const FlushDenormals flush;
  std::lock_guard<std::mutex> lock(modelMutex_);
  syncDeviceLocked();
  return backend_->evaluate(x, labels, targets, rows);
}

void Trainer::saveCheckpoint(const std::string& folder) {
  std::lock_guard<std::mutex> lock(modelMutex_);
  syncHostLocked();
  CheckpointModel model{&spec_.model, &spec_.optimizer, spec_.seed, params_.data(), params_.size(), &optimizer_};
  CheckpointPosition pos;
  pos.hasRun = false;
  writeCheckpoint(folder, model, pos);
}

}  // namespace bp
