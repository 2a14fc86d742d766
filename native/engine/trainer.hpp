// The engine's trainer: owns a model's parameters and optimizer state, and
// runs training on its own native thread. It knows nothing of Node: progress
// leaves through an EventQueue plus a `notify` callback, control arrives
// through thread-safe methods (abort, pause, resume, setLearningRate) that
// take effect at the next step boundary.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "compute_backend.hpp"
#include "event_queue.hpp"
#include "mlp.hpp"
#include "optimizer.hpp"
#include "rng.hpp"
#include "run_thread.hpp"

namespace bp {

struct AbortRequested;
struct RunPosition;

struct TrainerSpec {
  ModelSpec model;
  OptimizerConfig optimizer;
  uint32_t seed = 42;
  int threads = 0;  // 0 = all cores
  DeviceRequest device;  // where steps run (CPU unless a GPU is asked for)
};

struct ResumeState {
  std::vector<float> params, m, v;
  uint64_t optimizerStep = 0;
  uint64_t step = 0;
  uint64_t epoch = 1;
  uint64_t stepInEpoch = 0;
  Rng::State shuffleRngState{};
  uint64_t samplesSeen = 0;
  std::vector<double> lossHistory;
  double learningRate = 0;
};

struct RunConfig {
  uint64_t epochs = 1;    // 0 = unbounded (maxSteps decides)
  uint64_t maxSteps = 0;  // 0 = unbounded
  int batchSize = 32;
  bool shuffle = true;
  std::string outputDir;  // empty = no checkpoints
  uint64_t saveEverySteps = 0;
  bool saveEveryEpoch = false;
  OverflowPolicy stepPolicy = OverflowPolicy::Coalesce;
  size_t queueCapacity = 1024;
  double validationSplit = 0;
  uint64_t warmupSteps = 0;  // linear warm-up of the learning rate over the first steps of the run
  std::string runId;
  std::string resumedFrom;
  std::optional<ResumeState> resume;
};

struct RunSummary {
  uint64_t steps = 0;
  uint64_t epochs = 0;  // completed epochs
  uint64_t samplesSeen = 0;
  uint64_t droppedStepEvents = 0;
  double finalLoss = 0;
  std::vector<double> lossHistory;
  double durationSeconds = 0;
  double validationLoss = 0;      // NaN when no validation split
  double validationAccuracy = 0;  // NaN when none or regression
  double learningRate = 0;
  std::string lastCheckpoint;
  uint64_t trainSamples = 0;
  uint64_t validationSamples = 0;
};

enum class RunState { Idle = 0, Running = 1, Paused = 2, Stopping = 3 };
const char* runStateName(RunState s);

struct TrainerStatus {
  RunState state = RunState::Idle;
  uint64_t step = 0;
  uint64_t epoch = 0;
  double loss = 0;
  double learningRate = 0;
};

class Trainer {
 public:
  explicit Trainer(TrainerSpec spec);
  ~Trainer();  // aborts a running run and joins its thread
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  const TrainerSpec& spec() const { return spec_; }
  size_t parameterCount() const { return params_.size(); }
  // The accelerator this trainer runs on, or null for the CPU engine.
  ComputeBackend* device() const { return backend_->isAccelerator() ? backend_.get() : nullptr; }

  // Starts a run on a new native thread. `labels` (classification) or
  // `targets` (regression, rows x outputSize) — the other is empty. Throws
  // EngineError("TRAINER_BUSY") if a run is active. `notify` is called on the
  // training thread whenever the consumer should drain events.
  // The storage of the last run's features, to be refilled and handed back to start(): copying a
  // new dataset into pages that are already mapped skips a page fault per 4 KiB (a 188 MB
  // Fashion-MNIST copy went from about 95 ms to 20 ms on the caller's thread). Empty while a run
  // is pending, and after a start() that was given other storage.
  std::vector<float> takeFeatureStorage();
  void start(std::vector<float> x, std::vector<int32_t> labels, std::vector<float> targets, size_t rows,
             RunConfig config, std::function<void()> notify);

  // Consumer side: moves pending events out (see EventQueue::drain).
  void drainEvents(EventBatch& out);
  // The same for a consumer that loops while events keep arriving (see
  // EventQueue::takeForDelivery and endDelivery).
  void takeEventsForDelivery(EventBatch& out);
  bool endDelivery();
  // Block mode: the handlers of `steps` drained step events have run.
  void acknowledgeSteps(size_t steps);

  void abort(const std::string& reason);
  // Stops the run at the next step boundary with an error (code, message)
  // instead of an abort: used by safety monitors.
  void failWith(const std::string& code, const std::string& message);
  void pause();
  void resume();
  // Pause requested by a safety monitor; kept apart from the user's pause so
  // that neither side's resume cancels the other's pause.
  void setSafetyHold(bool hold);
  void setLearningRate(double lr);
  TrainerStatus status() const;

  // Waits for the run to finish if it has finished or is finishing (its thread stays for the next
  // run, see run_thread.hpp). Safe to call repeatedly.
  void join();

  RunSummary summary() const;

  std::vector<float> parameters() const;
  void setParameters(const std::vector<float>& params);
  void optimizerState(std::vector<float>& m, std::vector<float>& v, uint64_t& step) const;
  void setOptimizerState(const std::vector<float>& m, const std::vector<float>& v, uint64_t step);

  std::vector<float> predict(const float* x, size_t rows);
  EvalResult evaluate(const float* x, const int32_t* labels, const float* targets, size_t rows);
  // Saves the current parameters and optimizer state (no run position).
  void saveCheckpoint(const std::string& folder);

 private:
  // The training thread: runLoop() and the steps it is made of (trainer.cpp).
  struct Run;
  void runLoop();
  void beginRun(Run& run);              // split, dataset, start or resume position
  bool trainEpoch(Run& run);            // false: stopped inside the epoch
  float trainBatch(Run& run, const uint32_t* rows, int count);
  void recordStep(Run& run, float loss, int rows);
  void endEpoch(Run& run, bool checkpointDeferred);
  void validate(Run& run);
  void saveCheckpointOf(Run& run);
  Event stoppedEvent(Run& run, const AbortRequested& abort);  // the terminal event of an abort or failWith
  void finishRun(Run& run, std::chrono::steady_clock::time_point started, Event terminal);

  void emit(Event&& e);
  void checkControl();
  void applyOptimizerStateLocked(const std::vector<float>& m, const std::vector<float>& v, uint64_t step);
  std::string saveDuringRun(const RunPosition& position);
  // The model lives in two places, the backend's copy and the host mirror
  // (params_, optimizer_); these bring the stale side up to date (modelMutex_ held).
  void syncHostLocked();
  void syncDeviceLocked();

  TrainerSpec spec_;
  mutable std::mutex modelMutex_;  // guards params_, optimizer_ and backend_'s model
  std::vector<float> params_;
  Optimizer optimizer_;
  uint64_t runOrdinal_ = 0;
  // Where steps run: the CPU engine or an accelerator, never null.
  // deviceAhead_: the backend holds newer parameters and optimizer moments
  // than params_/optimizer_ (it trained); hostAhead_: the host copy was
  // replaced (construction, setParameters, resume). The step count always
  // lives in optimizer_. Guarded by modelMutex_.
  std::unique_ptr<ComputeBackend> backend_;
  bool deviceAhead_ = false;
  bool hostAhead_ = false;

  // Run state (set by start(), read by the thread).
  RunThread runner_;  // runs runLoop(); kept between runs (see run_thread.hpp)
  std::mutex joinMutex_;
  std::unique_ptr<EventQueue> queue_;
  std::function<void()> notify_;
  RunConfig config_;
  std::vector<float> x_, targets_;
  std::vector<int32_t> labels_;
  size_t rows_ = 0;

  // Control.
  mutable std::mutex controlMutex_;
  std::condition_variable controlCv_;
  bool abortRequested_ = false;
  bool userPaused_ = false;
  bool safetyHold_ = false;
  std::string abortReason_;
  std::string failCode_, failMessage_;

  // Live status, read from any thread.
  std::atomic<int> state_{static_cast<int>(RunState::Idle)};
  std::atomic<uint64_t> step_{0};
  std::atomic<uint64_t> epoch_{0};
  std::atomic<double> loss_{0};
  std::atomic<double> learningRate_;

  // Filled by the thread, read after join.
  mutable std::mutex summaryMutex_;
  RunSummary summary_;
};

}  // namespace bp
