// GPU health sampling on a dedicated native thread. No Node-API here: the
// N-API layer supplies a sink that queues samples for the JavaScript thread.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gpu_condition.hpp"
#include "nvml.hpp"

namespace bp {

// A source of readings. read() is only ever called from the one sampling
// thread of the monitor that owns the source, so implementations need no lock.
class GpuSource {
 public:
  virtual ~GpuSource() = default;
  // elapsedMs: time since the monitor started (steady clock).
  virtual GpuReading read(int deviceIndex, double elapsedMs) = 0;
};

// Reads NVML (initialising it with libraryOverride, BACKPROP_NVML_LIBRARY or
// libnvidia-ml.so.1 if no one has yet). When NVML is unavailable every read
// fails with the reason, so the monitor reports Unknown samples, not silence.
std::unique_ptr<GpuSource> makeNvmlSource(const std::string& libraryOverride = "");

// Replays caller-supplied readings, one per sample. Each device consumes the
// readings whose deviceIndex is its own, in order; after the last one the last
// repeats, or the list starts over when loop is true. A device with no
// readings gets failed readings. timestampMs is stamped at read time.
std::unique_ptr<GpuSource> makeScriptedSource(std::vector<GpuReading> readings, bool loop);

struct GpuSample {
  GpuReading reading;
  GpuEvaluation evaluation;
  int consecutiveFailures = 0;  // failed reads in a row for this device, this one included (0 on success)
  bool recovered = false;       // first successful read after failures
  int afterFailures = 0;        // when recovered: how many failures preceded it
  std::uint64_t sequence = 0;   // 0, 1, 2... across all devices of this monitor run
};

class GpuMonitorThread {
 public:
  using Sink = std::function<void(const GpuSample&)>;

  // sink is called ON THE SAMPLING THREAD for every sample of every device,
  // in order (devices in the order given, each tick). It must not block long:
  // sampling waits for it. intervalMs is clamped to [1, 1e9] ms.
  GpuMonitorThread(std::unique_ptr<GpuSource> source, std::vector<int> deviceIndices, GpuSafetyConfig config,
                   double intervalMs, Sink sink);
  ~GpuMonitorThread();  // stop() + join; must not run on the sampling thread (i.e. inside the sink)
  GpuMonitorThread(const GpuMonitorThread&) = delete;
  GpuMonitorThread& operator=(const GpuMonitorThread&) = delete;

  // Starts sampling: the first sample immediately, then every intervalMs on
  // fixed deadlines (start + k*interval, so slow reads do not accumulate
  // drift; ticks missed entirely are skipped, not bunched). The first sample
  // (first device) is always delivered, even if stop() follows at once.
  // No-op when running. After stop() it may be started again (failure counts
  // and the sequence restart; a scripted source continues where it was).
  // Called from inside the sink after stop(), it cancels that stop.
  void start();

  // Wakes the thread through the condition variable and joins it; idempotent,
  // callable from any thread. Called from inside the sink (the sampling thread
  // itself) it only requests the stop and returns: no further samples are
  // delivered, and the join happens in the next start(), stop() or destructor.
  void stop();

  bool running() const { return running_.load(); }
  void setConfig(GpuSafetyConfig config);  // thread-safe; applies from the next sample
  GpuSafetyConfig config() const;

 private:
  void run();
  void joinLocked();

  std::unique_ptr<GpuSource> source_;
  const std::vector<int> devices_;
  const double intervalMs_;
  const Sink sink_;

  mutable std::mutex mu_;  // guards config_ and stopRequested_; cv_ waits on it
  std::condition_variable cv_;
  GpuSafetyConfig config_;
  bool stopRequested_ = false;

  std::mutex lifecycleMu_;  // serialises start/stop/destructor (the join)
  std::thread thread_;
  std::atomic<bool> running_{false};
};

}  // namespace bp
