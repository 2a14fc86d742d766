#include "run_schedule.hpp"

#include <algorithm>
#include <cmath>
#include <new>

#include "errors.hpp"

namespace bp {

namespace {
constexpr uint32_t kStreamShuffle = 2;
constexpr uint32_t kStreamSplit = 3;
}  // namespace

DataSplit splitRows(size_t rows, double validationSplit, uint32_t seed) {
  std::vector<uint32_t> order(rows);
  for (size_t i = 0; i < rows; ++i) order[i] = static_cast<uint32_t>(i);
  size_t nVal = 0;
  if (validationSplit > 0 && rows >= 2) {
    Rng splitRng(seed, kStreamSplit);
    shuffleInPlace(order.data(), order.size(), splitRng);
    nVal = std::max<size_t>(1, static_cast<size_t>(std::floor(rows * validationSplit)));
    nVal = std::min(nVal, rows - 1);
  }
  const size_t nTrain = rows - nVal;
  DataSplit split;
  split.trainRows.assign(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(nTrain));
  split.validationRows.assign(order.begin() + static_cast<std::ptrdiff_t>(nTrain), order.end());
  if (nVal > 0) std::sort(split.trainRows.begin(), split.trainRows.end());
  return split;
}

RunStart startOf(const RunConfig& config, const Rng::State& freshShuffleState) {
  RunStart s;
  if (config.resume) {
    const ResumeState& r = *config.resume;
    s.position.epoch = r.epoch;
    s.position.stepInEpoch = r.stepInEpoch;
    s.position.shuffleState = r.shuffleRngState;
    s.step = r.step;
  } else {
    s.position.shuffleState = freshShuffleState;
  }
  return s;
}

Rng shuffleGeneratorFor(uint32_t seed, uint64_t runOrdinal) {
  return Rng(seed + static_cast<uint32_t>(runOrdinal - 1) * 0x9E3779B9u, kStreamShuffle);
}

uint64_t stepsPerEpoch(size_t trainRows, int batchSize) {
  const uint64_t b = static_cast<uint64_t>(std::max(1, batchSize));
  return (static_cast<uint64_t>(trainRows) + b - 1) / b;
}

double warmedUpRate(double learningRate, uint64_t stepInRun, uint64_t warmupSteps) {
  if (warmupSteps > 0 && stepInRun < warmupSteps)
    return learningRate * static_cast<double>(stepInRun) / static_cast<double>(warmupSteps);
  return learningRate;
}

StepCheckpoint checkpointAfterStep(const RunConfig& config, uint64_t step, bool lastOfEpoch) {
  if (config.outputDir.empty() || config.saveEverySteps == 0 || step % config.saveEverySteps != 0)
    return StepCheckpoint::None;
  return lastOfEpoch ? StepCheckpoint::AtEpochEnd : StepCheckpoint::Now;
}

bool checkpointAfterEpoch(const RunConfig& config, bool deferredFromLastStep) {
  return !config.outputDir.empty() && (config.saveEveryEpoch || deferredFromLastStep);
}

bool checkpointAtEnd(const RunConfig& config, uint64_t step, uint64_t lastSavedStep) {
  return !config.outputDir.empty() && step > 0 && lastSavedStep != step;
}

Event errorEvent(const std::string& code, const std::string& message) {
  Event e{EventType::Error};
  e.s1 = code;
  e.s2 = message;
  return e;
}

Event failureEvent(std::exception_ptr failure) {
  if (!failure) return errorEvent("RUNTIME_FAILED", "unknown native failure");
  try {
    std::rethrow_exception(failure);
  } catch (const EngineError& e) {
    return errorEvent(e.code(), e.what());
  } catch (const std::bad_alloc&) {
    return errorEvent("RUNTIME_FAILED", "out of memory during training. Use a smaller batchSize or model.");
  } catch (const std::exception& e) {
    return errorEvent("RUNTIME_FAILED", e.what());
  } catch (...) {
    return errorEvent("RUNTIME_FAILED", "unknown native failure");
  }
}

}  // namespace bp
