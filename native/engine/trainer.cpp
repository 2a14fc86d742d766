#include "trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <new>

#include "checkpoint.hpp"
#include "cuda_loader.hpp"
#include "errors.hpp"
#include "thread_pool.hpp"

namespace bp {

namespace {
constexpr uint32_t kStreamInit = 1;
constexpr uint32_t kStreamShuffle = 2;
constexpr uint32_t kStreamSplit = 3;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
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
      mlp_(spec_.model),
      params_(mlp_.parameterCount()),
      grad_(mlp_.parameterCount()),
      optimizer_(spec_.optimizer, mlp_.parameterCount()),
      learningRate_(spec_.optimizer.learningRate) {
  Rng rng(spec_.seed, kStreamInit);
  initParameters(spec_.model, params_.data(), rng);
  if (spec_.device.kind == DeviceKind::Cuda) {
    device_ = createCudaBackend(spec_.model, spec_.optimizer, spec_.device);
    hostAhead_ = true;
    syncDeviceLocked();  // not shared yet: no lock needed
  }
}

void Trainer::syncHostLocked() {
  if (!device_ || !deviceAhead_) return;
  device_->download(params_.data(), optimizer_.m().data(), optimizer_.v().empty() ? nullptr : optimizer_.v().data(),
                    params_.size());
  deviceAhead_ = false;
}

void Trainer::syncDeviceLocked() {
  if (!device_ || !hostAhead_) return;
  device_->upload(params_.data(), optimizer_.m().data(), optimizer_.v().empty() ? nullptr : optimizer_.v().data(),
                  params_.size());
  hostAhead_ = false;
}

Trainer::~Trainer() {
  if (thread_.joinable()) {
    abort("trainer destroyed");
    join();
  }
}

void Trainer::start(std::vector<float> x, std::vector<int32_t> labels, std::vector<float> targets, size_t rows,
                    RunConfig config, std::function<void()> notify) {
  if (thread_.joinable()) {
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
  const int threads = spec_.threads > 0 ? spec_.threads : hardwareThreads();
  pool_ = std::make_unique<ThreadPool>(threads);
  ++runOrdinal_;
  thread_ = std::thread([this] { runLoop(); });
}

void Trainer::drainEvents(EventBatch& out) {
  if (queue_) {
    queue_->drain(out);
  } else {
    out.clear();
  }
}

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
  if (thread_.joinable()) thread_.join();
  pool_.reset();
}

bool Trainer::hasThread() const { return thread_.joinable(); }

RunSummary Trainer::summary() const {
  std::lock_guard<std::mutex> lock(summaryMutex_);
  return summary_;
}

std::vector<float> Trainer::parameters() const {
  std::lock_guard<std::mutex> lock(modelMutex_);
  if (device_ && deviceAhead_) {
    std::vector<float> p(params_.size());
    device_->download(p.data(), nullptr, nullptr, p.size());
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
  if (device_) hostAhead_ = true;
}

void Trainer::optimizerState(std::vector<float>& m, std::vector<float>& v, uint64_t& step) const {
  std::lock_guard<std::mutex> lock(modelMutex_);
  if (device_ && deviceAhead_) {
    m.assign(optimizer_.m().size(), 0.0f);
    v.assign(optimizer_.v().size(), 0.0f);
    device_->download(nullptr, m.data(), v.empty() ? nullptr : v.data(), m.size());
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
  if (device_) hostAhead_ = true;
}

std::vector<float> Trainer::predict(const float* x, size_t rows) {
  const int width = spec_.model.outputSize;
  std::vector<float> out(rows * static_cast<size_t>(width));
  if (device_) {
    std::lock_guard<std::mutex> lock(modelMutex_);
    syncDeviceLocked();
    device_->predict(x, rows, out.data());
    return out;
  }
  Mlp local(spec_.model);  // own workspace: the training thread may be using mlp_
  std::lock_guard<std::mutex> lock(modelMutex_);
  const size_t chunk = 1024;
  for (size_t start = 0; start < rows; start += chunk) {
    const int b = static_cast<int>(std::min(chunk, rows - start));
    local.predict(params_.data(), x + start * spec_.model.inputSize, b, out.data() + start * width, nullptr);
  }
  return out;
}

EvalResult Trainer::evaluate(const float* x, const int32_t* labels, const float* targets, size_t rows) {
  if (device_) {
    std::lock_guard<std::mutex> lock(modelMutex_);
    syncDeviceLocked();
    return device_->evaluate(x, labels, targets, rows);
  }
  Mlp local(spec_.model);
  std::lock_guard<std::mutex> lock(modelMutex_);
  return local.evaluate(params_.data(), x, labels, targets, nullptr, rows, nullptr);
}

void Trainer::saveCheckpoint(const std::string& folder) {
  std::lock_guard<std::mutex> lock(modelMutex_);
  syncHostLocked();
  CheckpointModel model{&spec_.model, &spec_.optimizer, spec_.seed, params_.data(), params_.size(), &optimizer_};
  CheckpointPosition pos;
  pos.hasRun = false;
  writeCheckpoint(folder, model, pos);
}

void Trainer::checkControl() {
  std::unique_lock<std::mutex> lock(controlMutex_);
  if (abortRequested_) throw AbortRequested{abortReason_};
  if (!userPaused_ && !safetyHold_) return;
  state_.store(static_cast<int>(RunState::Paused));
  lock.unlock();
  emit(Event{EventType::StateChange, 1});
  lock.lock();
  controlCv_.wait(lock, [&] { return abortRequested_ || (!userPaused_ && !safetyHold_); });
  if (abortRequested_) throw AbortRequested{abortReason_};
  state_.store(static_cast<int>(RunState::Running));
  lock.unlock();
  emit(Event{EventType::StateChange, 0});
}

std::string Trainer::saveDuringRun(uint64_t epoch, uint64_t stepInEpoch, const Rng::State& shuffleState) {
  const uint64_t step = step_.load();
  const std::string folder =
      (std::filesystem::path(config_.outputDir) / ("checkpoint-" + std::to_string(step))).string();
  CheckpointPosition pos;
  pos.hasRun = true;
  pos.runId = config_.runId;
  pos.step = step;
  pos.epoch = epoch;
  pos.stepInEpoch = stepInEpoch;
  pos.shuffleRngState = shuffleState;
  pos.learningRate = learningRate_.load();
  pos.lastLoss = loss_.load();
  pos.resumedFrom = config_.resumedFrom;
  pos.batchSize = static_cast<uint64_t>(config_.batchSize);
  pos.shuffle = config_.shuffle;
  pos.validationSplit = config_.validationSplit;
  pos.epochs = config_.epochs;
  pos.maxSteps = config_.maxSteps;
  {
    std::lock_guard<std::mutex> lock(summaryMutex_);
    pos.samplesSeen = summary_.samplesSeen;
    pos.lossHistory = &summary_.lossHistory;
    std::lock_guard<std::mutex> modelLock(modelMutex_);
    syncHostLocked();
    CheckpointModel model{&spec_.model, &spec_.optimizer, spec_.seed, params_.data(), params_.size(), &optimizer_};
    writeCheckpoint(folder, model, pos);
    summary_.lastCheckpoint = folder;
  }
  Event e{EventType::Save, static_cast<double>(step)};
  e.s1 = folder;
  emit(std::move(e));
  return folder;
}

void Trainer::runLoop() {
  const auto started = std::chrono::steady_clock::now();
  const ModelSpec& ms = spec_.model;
  const bool classification = ms.task == Task::Classification;
  const size_t in = static_cast<size_t>(ms.inputSize), out = static_cast<size_t>(ms.outputSize);
  Event terminal{EventType::Complete};
  uint64_t lastSavedStep = UINT64_MAX;
  // Where training would continue if stopped now (recorded in checkpoints).
  uint64_t posEpoch = 1, posStepInEpoch = 0;
  Rng::State posRng{};
  double valLoss = kNaN, valAcc = kNaN;
  uint64_t validatedAtStep = UINT64_MAX;
  std::vector<uint32_t> valRows;
  auto validate = [&] {
    if (valRows.empty()) return;
    EvalResult r;
    {
      std::lock_guard<std::mutex> lock(modelMutex_);
      if (device_) {
        syncDeviceLocked();
        r = device_->evaluateRows(valRows.data(), valRows.size());
      } else {
        r = mlp_.evaluate(params_.data(), x_.data(), labels_.data(), targets_.data(), valRows.data(), valRows.size(),
                          pool_.get());
      }
    }
    valLoss = r.loss;
    valAcc = r.accuracy;
    validatedAtStep = step_.load();
  };
  auto saveHere = [&] {
    saveDuringRun(posEpoch, posStepInEpoch, posRng);
    lastSavedStep = step_.load();
  };
  try {
    // Train/validation split: fixed by the seed alone, so a resumed run holds
    // out exactly the rows the original run held out.
    std::vector<uint32_t> order(rows_);
    for (size_t i = 0; i < rows_; ++i) order[i] = static_cast<uint32_t>(i);
    size_t nVal = 0;
    if (config_.validationSplit > 0 && rows_ >= 2) {
      Rng splitRng(spec_.seed, kStreamSplit);
      shuffleInPlace(order.data(), order.size(), splitRng);
      nVal = std::max<size_t>(1, static_cast<size_t>(std::floor(rows_ * config_.validationSplit)));
      nVal = std::min(nVal, rows_ - 1);
    }
    const size_t nTrain = rows_ - nVal;
    std::vector<uint32_t> trainRows(order.begin(), order.begin() + nTrain);
    valRows.assign(order.begin() + nTrain, order.end());
    if (nVal > 0) std::sort(trainRows.begin(), trainRows.end());
    {
      std::lock_guard<std::mutex> lock(summaryMutex_);
      summary_.trainSamples = nTrain;
      summary_.validationSamples = nVal;
    }

    const int B = std::max(1, config_.batchSize);
    const uint64_t stepsPerEpoch = (nTrain + B - 1) / B;
    if (device_) {
      // The whole dataset goes up once; steps then gather their rows on the device.
      std::lock_guard<std::mutex> lock(modelMutex_);
      syncDeviceLocked();
      device_->uploadDataset(x_.data(), classification ? labels_.data() : nullptr,
                             classification ? nullptr : targets_.data(), rows_);
      device_->reserve(static_cast<int>(std::min<size_t>(static_cast<size_t>(B), nTrain)));
    }
    // Each run of one trainer gets its own shuffle sequence; a fresh trainer
    // with the same seed repeats the same sequence (bit-identical runs).
    Rng shuffleRng(spec_.seed + static_cast<uint32_t>(runOrdinal_ - 1) * 0x9E3779B9u, kStreamShuffle);
    uint64_t epoch = 1, firstBatch = 0, step = 0;
    if (config_.resume) {
      const ResumeState& r = *config_.resume;
      shuffleRng.setState(r.shuffleRngState);
      epoch = r.epoch;
      firstBatch = r.stepInEpoch;
      step = r.step;
      std::lock_guard<std::mutex> lock(summaryMutex_);
      summary_.lossHistory = r.lossHistory;
      summary_.samplesSeen = r.samplesSeen;
      summary_.steps = step;
      summary_.epochs = epoch - 1;
    }
    posEpoch = epoch;
    posStepInEpoch = firstBatch;
    posRng = shuffleRng.state();
    std::vector<float> xb(static_cast<size_t>(B) * in), tb;
    std::vector<int32_t> lb(static_cast<size_t>(B));
    if (!classification) tb.resize(static_cast<size_t>(B) * out);
    std::vector<uint32_t> perm;
    uint64_t stepInRun = 0;
    bool finished = config_.maxSteps > 0 && step >= config_.maxSteps;

    while (!finished && (config_.epochs == 0 || epoch <= config_.epochs)) {
      const Rng::State epochStartState = shuffleRng.state();
      perm = trainRows;
      if (config_.shuffle) shuffleInPlace(perm.data(), perm.size(), shuffleRng);
      epoch_.store(epoch);
      bool saveAtEpochEnd = false;
      bool epochCompleted = firstBatch >= stepsPerEpoch;
      for (uint64_t b = firstBatch; b < stepsPerEpoch; ++b) {
        checkControl();
        const size_t begin = static_cast<size_t>(b) * B;
        const int bs = static_cast<int>(std::min<size_t>(B, nTrain - begin));
        for (int i = 0; i < bs && !device_; ++i) {
          const size_t row = perm[begin + i];
          std::memcpy(&xb[static_cast<size_t>(i) * in], &x_[row * in], in * sizeof(float));
          if (classification)
            lb[i] = labels_[row];
          else
            std::memcpy(&tb[static_cast<size_t>(i) * out], &targets_[row * out], out * sizeof(float));
        }
        ++stepInRun;
        double lr = learningRate_.load();
        if (config_.warmupSteps > 0 && stepInRun < config_.warmupSteps)
          lr *= static_cast<double>(stepInRun) / static_cast<double>(config_.warmupSteps);
        float loss;
        {
          std::lock_guard<std::mutex> lock(modelMutex_);
          if (device_) {
            syncDeviceLocked();
            loss = device_->trainStep(perm.data() + begin, bs,
                                      stepScalars(spec_.optimizer, optimizer_.stepCount() + 1, static_cast<float>(lr)));
          } else {
            loss = mlp_.forwardBackward(params_.data(), grad_.data(), xb.data(), lb.data(), tb.data(), bs, pool_.get());
          }
          if (!std::isfinite(loss)) {
            throw EngineError("RUNTIME_NON_FINITE_LOSS",
                              "the loss became " + std::string(std::isnan(loss) ? "NaN" : "infinite") + " at step " +
                                  std::to_string(step + 1) +
                                  " (training diverged). Lower the learning rate, set gradientClipNorm, or scale the inputs.");
          }
          if (device_) {
            optimizer_.setStepCount(optimizer_.stepCount() + 1);  // the device applied the update
            deviceAhead_ = true;
          } else {
            optimizer_.step(params_.data(), grad_.data(), static_cast<float>(lr), pool_.get());
          }
        }
        ++step;
        step_.store(step);
        loss_.store(loss);
        {
          std::lock_guard<std::mutex> lock(summaryMutex_);
          summary_.lossHistory.push_back(loss);
          summary_.samplesSeen += static_cast<uint64_t>(bs);
          summary_.steps = step;
        }
        posEpoch = epoch;
        posStepInEpoch = b + 1;
        posRng = epochStartState;
        emit(Event{EventType::Step, static_cast<double>(step), static_cast<double>(loss), static_cast<double>(epoch)});
        const bool lastOfEpoch = b + 1 == stepsPerEpoch;
        if (lastOfEpoch) epochCompleted = true;
        if (config_.maxSteps > 0 && step >= config_.maxSteps) finished = true;
        if (!config_.outputDir.empty() && config_.saveEverySteps > 0 && step % config_.saveEverySteps == 0) {
          // At an epoch's end the checkpoint is written after the epoch event,
          // so that its position is "start of the next epoch".
          if (lastOfEpoch)
            saveAtEpochEnd = true;
          else
            saveHere();
        }
        if (finished) break;
      }
      firstBatch = 0;
      if (!epochCompleted) break;  // stopped by maxSteps inside the epoch
      validate();
      {
        std::lock_guard<std::mutex> lock(summaryMutex_);
        summary_.epochs = epoch;
      }
      emit(Event{EventType::Epoch, static_cast<double>(epoch), valLoss, valAcc});
      posEpoch = epoch + 1;
      posStepInEpoch = 0;
      posRng = shuffleRng.state();
      if (!config_.outputDir.empty() && (config_.saveEveryEpoch || saveAtEpochEnd)) saveHere();
      ++epoch;
    }
    if (validatedAtStep != step_.load()) validate();
    if (!config_.outputDir.empty() && step_.load() > 0 && lastSavedStep != step_.load()) saveHere();
  } catch (const AbortRequested& a) {
    std::string failCode, failMessage;
    {
      std::lock_guard<std::mutex> lock(controlMutex_);
      failCode = failCode_;
      failMessage = failMessage_;
    }
    if (!failCode.empty()) {
      terminal = Event{EventType::Error};
      terminal.s1 = failCode;
      terminal.s2 = failMessage;
    } else {
      terminal = Event{EventType::Aborted};
      terminal.s1 = a.reason;
    }
    // Keep what was trained: an aborted run with an output folder leaves a
    // resumable checkpoint of its last completed step.
    if (!config_.outputDir.empty() && step_.load() > 0 && lastSavedStep != step_.load()) {
      try {
        saveHere();
      } catch (const EngineError& e) {
        terminal = Event{EventType::Error};
        terminal.s1 = e.code();
        terminal.s2 = e.what();
      }
    }
  } catch (const EngineError& e) {
    terminal = Event{EventType::Error};
    terminal.s1 = e.code();
    terminal.s2 = e.what();
  } catch (const std::bad_alloc&) {
    terminal = Event{EventType::Error};
    terminal.s1 = "RUNTIME_FAILED";
    terminal.s2 = "out of memory during training. Use a smaller batchSize or model.";
  } catch (const std::exception& e) {
    terminal = Event{EventType::Error};
    terminal.s1 = "RUNTIME_FAILED";
    terminal.s2 = e.what();
  } catch (...) {
    terminal = Event{EventType::Error};
    terminal.s1 = "RUNTIME_FAILED";
    terminal.s2 = "unknown native failure";
  }
  if (device_) {
    std::lock_guard<std::mutex> lock(modelMutex_);
    device_->releaseDataset();
  }
  {
    std::lock_guard<std::mutex> lock(summaryMutex_);
    summary_.durationSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    summary_.finalLoss = summary_.lossHistory.empty() ? kNaN : summary_.lossHistory.back();
    summary_.validationLoss = valLoss;
    summary_.validationAccuracy = valAcc;
    summary_.learningRate = learningRate_.load();
    summary_.droppedStepEvents = queue_->dropped();
  }
  state_.store(static_cast<int>(RunState::Idle));
  emit(std::move(terminal));
}

}  // namespace bp
