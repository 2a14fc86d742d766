// The pure decisions of a training run, apart from the loop that acts on
// them: which rows are held out, where a run starts or resumes, the warm-up
// learning rate, when checkpoints are written, and which terminal event a
// failure becomes. None of them touches the model, so each is tested alone
// (native/tests/run_schedule_test.cpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <exception>
#include <vector>

#include "event_queue.hpp"
#include "rng.hpp"
#include "trainer.hpp"

namespace bp {

// Train/validation split: fixed by the seed alone, so a resumed run holds out
// exactly the rows the original run held out. Without a split the training
// rows are 0..rows-1 in order; with one they are sorted (so the shuffle alone
// decides the order) and at least one row is kept on each side.
struct DataSplit {
  std::vector<uint32_t> trainRows;
  std::vector<uint32_t> validationRows;
};
DataSplit splitRows(size_t rows, double validationSplit, uint32_t seed);

// Where training would continue if stopped now (what a checkpoint records):
// epoch (1-based), the next batch in it, and the shuffle state at the start
// of that epoch (so the epoch's order is replayed).
struct RunPosition {
  uint64_t epoch = 1;
  uint64_t stepInEpoch = 0;
  Rng::State shuffleState{};
};

// The first position of a run: from the checkpoint when resuming, else epoch
// 1 with the shuffle generator as given. Also the step count to start from.
struct RunStart {
  RunPosition position;
  uint64_t step = 0;
};
RunStart startOf(const RunConfig& config, const Rng::State& freshShuffleState);

// Each run of one trainer gets its own shuffle sequence; a fresh trainer with
// the same seed repeats the same sequence (bit-identical runs).
Rng shuffleGeneratorFor(uint32_t seed, uint64_t runOrdinal);

uint64_t stepsPerEpoch(size_t trainRows, int batchSize);

// Linear warm-up over the first `warmupSteps` steps of this run (1-based).
double warmedUpRate(double learningRate, uint64_t stepInRun, uint64_t warmupSteps);

// When a checkpoint is due after a step: now, or after the epoch event when
// the step ends its epoch (so the checkpoint's position is "start of the next
// epoch"), or not at all.
enum class StepCheckpoint { None, Now, AtEpochEnd };
StepCheckpoint checkpointAfterStep(const RunConfig& config, uint64_t step, bool lastOfEpoch);
bool checkpointAfterEpoch(const RunConfig& config, bool deferredFromLastStep);
// At the end of a run (completed or aborted): unless the last step is saved.
bool checkpointAtEnd(const RunConfig& config, uint64_t step, uint64_t lastSavedStep);

// The terminal Error event for a failure (EngineError keeps its code; out of
// memory and anything else become RUNTIME_FAILED with a message).
Event errorEvent(const std::string& code, const std::string& message);
Event failureEvent(std::exception_ptr failure);

}  // namespace bp
