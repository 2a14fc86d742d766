// The training thread of a Trainer: runLoop() and the named steps it is made
// of (begin, epoch, batch, validation, checkpoints, the terminal event). The
// decisions themselves (split, resume position, warm-up, checkpoint timing,
// failure events) are pure functions in run_schedule.cpp.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>

#include "checkpoint.hpp"
#include "errors.hpp"
#include "float_mode.hpp"
#include "run_schedule.hpp"
#include "trainer.hpp"

namespace bp {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}  // namespace

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

std::string Trainer::saveDuringRun(const RunPosition& position) {
  const uint64_t step = step_.load();
  const std::string folder =
      (std::filesystem::path(config_.outputDir) / ("checkpoint-" + std::to_string(step))).string();
  CheckpointPosition pos;
  pos.hasRun = true;
  pos.runId = config_.runId;
  pos.step = step;
  pos.epoch = position.epoch;
  pos.stepInEpoch = position.stepInEpoch;
  pos.shuffleRngState = position.shuffleState;
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

// One run, as the training thread sees it: the rows, the shuffle, where it
// stands, and what the last validation found.
struct Trainer::Run {
  DataSplit split;
  uint64_t stepsPerEpoch = 0;
  Rng shuffleRng;
  RunPosition position;  // where training would continue if stopped now
  uint64_t epoch = 1;
  uint64_t firstBatch = 0;  // of the current epoch (non-zero only for a resumed one)
  uint64_t step = 0;
  uint64_t stepInRun = 0;
  bool finished = false;  // maxSteps reached
  std::vector<uint32_t> order;  // this epoch's training rows, in order
  uint64_t lastSavedStep = UINT64_MAX;
  uint64_t validatedAtStep = UINT64_MAX;
  double validationLoss = kNaN;
  double validationAccuracy = kNaN;
};

void Trainer::runLoop() {
  const FlushDenormals flush;  // see float_mode.hpp
  const auto started = std::chrono::steady_clock::now();
  Run run;
  Event terminal{EventType::Complete};
  try {
    beginRun(run);
    while (!run.finished && (config_.epochs == 0 || run.epoch <= config_.epochs)) {
      if (!trainEpoch(run)) break;  // stopped by maxSteps inside the epoch
    }
    if (run.validatedAtStep != step_.load()) validate(run);
    if (checkpointAtEnd(config_, step_.load(), run.lastSavedStep)) saveCheckpointOf(run);
  } catch (const AbortRequested& a) {
    terminal = stoppedEvent(run, a);
  } catch (...) {
    terminal = failureEvent(std::current_exception());
  }
  finishRun(run, started, std::move(terminal));
}

void Trainer::beginRun(Run& run) {
  run.split = splitRows(rows_, config_.validationSplit, spec_.seed);
  const size_t nTrain = run.split.trainRows.size();
  {
    std::lock_guard<std::mutex> lock(summaryMutex_);
    summary_.trainSamples = nTrain;
    summary_.validationSamples = run.split.validationRows.size();
  }
  run.stepsPerEpoch = stepsPerEpoch(nTrain, config_.batchSize);
  {
    const bool classification = spec_.model.task == Task::Classification;
    std::lock_guard<std::mutex> lock(modelMutex_);
    syncDeviceLocked();
    backend_->uploadDataset(x_.data(), classification ? labels_.data() : nullptr,
                            classification ? nullptr : targets_.data(), rows_);
    backend_->reserve(static_cast<int>(std::min<size_t>(static_cast<size_t>(std::max(1, config_.batchSize)), nTrain)));
  }
  run.shuffleRng = shuffleGeneratorFor(spec_.seed, runOrdinal_);
  const RunStart start = startOf(config_, run.shuffleRng.state());
  run.shuffleRng.setState(start.position.shuffleState);
  run.position = start.position;
  run.epoch = start.position.epoch;
  run.firstBatch = start.position.stepInEpoch;
  run.step = start.step;
  if (config_.resume) {
    std::lock_guard<std::mutex> lock(summaryMutex_);
    summary_.lossHistory = config_.resume->lossHistory;
    summary_.samplesSeen = config_.resume->samplesSeen;
    summary_.steps = run.step;
    summary_.epochs = run.epoch - 1;
  }
  run.finished = config_.maxSteps > 0 && run.step >= config_.maxSteps;
}

bool Trainer::trainEpoch(Run& run) {
  const Rng::State epochStartState = run.shuffleRng.state();
  run.order = run.split.trainRows;
  if (config_.shuffle) shuffleInPlace(run.order.data(), run.order.size(), run.shuffleRng);
  epoch_.store(run.epoch);
  const size_t batchSize = static_cast<size_t>(std::max(1, config_.batchSize));
  const size_t nTrain = run.order.size();
  bool checkpointAtEpochEnd = false;
  bool completed = run.firstBatch >= run.stepsPerEpoch;
  for (uint64_t b = run.firstBatch; b < run.stepsPerEpoch; ++b) {
    checkControl();
    const size_t begin = static_cast<size_t>(b) * batchSize;
    const int rows = static_cast<int>(std::min(batchSize, nTrain - begin));
    const float loss = trainBatch(run, run.order.data() + begin, rows);
    recordStep(run, loss, rows);
    run.position = RunPosition{run.epoch, b + 1, epochStartState};
    emit(Event{EventType::Step, static_cast<double>(run.step), static_cast<double>(loss),
               static_cast<double>(run.epoch)});
    const bool lastOfEpoch = b + 1 == run.stepsPerEpoch;
    if (lastOfEpoch) completed = true;
    if (config_.maxSteps > 0 && run.step >= config_.maxSteps) run.finished = true;
    switch (checkpointAfterStep(config_, run.step, lastOfEpoch)) {
      case StepCheckpoint::Now: saveCheckpointOf(run); break;
      case StepCheckpoint::AtEpochEnd: checkpointAtEpochEnd = true; break;
      case StepCheckpoint::None: break;
    }
    if (run.finished) break;
  }
  run.firstBatch = 0;
  if (!completed) return false;
  endEpoch(run, checkpointAtEpochEnd);
  return true;
}

float Trainer::trainBatch(Run& run, const uint32_t* rows, int count) {
  const double lr = warmedUpRate(learningRate_.load(), ++run.stepInRun, config_.warmupSteps);
  std::lock_guard<std::mutex> lock(modelMutex_);
  syncDeviceLocked();
  const uint64_t update = optimizer_.stepCount() + 1;
  const float loss = backend_->trainStep(rows, count, stepScalars(spec_.optimizer, update, static_cast<float>(lr)));
  if (!std::isfinite(loss)) {
    throw EngineError("RUNTIME_NON_FINITE_LOSS",
                      "the loss became " + std::string(std::isnan(loss) ? "NaN" : "infinite") + " at step " +
                          std::to_string(run.step + 1) +
                          " (training diverged). Lower the learning rate, set gradientClipNorm, or scale the inputs.");
  }
  optimizer_.setStepCount(update);  // the backend applied the update
  deviceAhead_ = true;
  return loss;
}

void Trainer::recordStep(Run& run, float loss, int rows) {
  ++run.step;
  step_.store(run.step);
  loss_.store(loss);
  std::lock_guard<std::mutex> lock(summaryMutex_);
  summary_.lossHistory.push_back(loss);
  summary_.samplesSeen += static_cast<uint64_t>(rows);
  summary_.steps = run.step;
}

void Trainer::endEpoch(Run& run, bool checkpointDeferred) {
  validate(run);
  {
    std::lock_guard<std::mutex> lock(summaryMutex_);
    summary_.epochs = run.epoch;
  }
  emit(Event{EventType::Epoch, static_cast<double>(run.epoch), run.validationLoss, run.validationAccuracy});
  run.position = RunPosition{run.epoch + 1, 0, run.shuffleRng.state()};
  if (checkpointAfterEpoch(config_, checkpointDeferred)) saveCheckpointOf(run);
  ++run.epoch;
}

void Trainer::validate(Run& run) {
  const std::vector<uint32_t>& rows = run.split.validationRows;
  if (rows.empty()) return;
  EvalResult r;
  {
    std::lock_guard<std::mutex> lock(modelMutex_);
    syncDeviceLocked();
    r = backend_->evaluateRows(rows.data(), rows.size());
  }
  run.validationLoss = r.loss;
  run.validationAccuracy = r.accuracy;
  run.validatedAtStep = step_.load();
}

void Trainer::saveCheckpointOf(Run& run) {
  saveDuringRun(run.position);
  run.lastSavedStep = step_.load();
}

Event Trainer::stoppedEvent(Run& run, const AbortRequested& abort) {
  std::string failCode, failMessage;
  {
    std::lock_guard<std::mutex> lock(controlMutex_);
    failCode = failCode_;
    failMessage = failMessage_;
  }
  Event terminal{EventType::Aborted};
  if (!failCode.empty()) {
    terminal = errorEvent(failCode, failMessage);
  } else {
    terminal.s1 = abort.reason;
  }
  // Keep what was trained: an aborted run with an output folder leaves a
  // resumable checkpoint of its last completed step.
  if (checkpointAtEnd(config_, step_.load(), run.lastSavedStep)) {
    try {
      saveCheckpointOf(run);
    } catch (...) {
      terminal = failureEvent(std::current_exception());
    }
  }
  return terminal;
}

void Trainer::finishRun(Run& run, std::chrono::steady_clock::time_point started, Event terminal) {
  {
    std::lock_guard<std::mutex> lock(modelMutex_);
    backend_->releaseDataset();
  }
  {
    std::lock_guard<std::mutex> lock(summaryMutex_);
    summary_.durationSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    summary_.finalLoss = summary_.lossHistory.empty() ? kNaN : summary_.lossHistory.back();
    summary_.validationLoss = run.validationLoss;
    summary_.validationAccuracy = run.validationAccuracy;
    summary_.learningRate = learningRate_.load();
    summary_.droppedStepEvents = queue_->dropped();
  }
  state_.store(static_cast<int>(RunState::Idle));
  emit(std::move(terminal));
}

}  // namespace bp
