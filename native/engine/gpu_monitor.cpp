// The GPU sampling thread and the two reading sources.
#include "gpu_monitor.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <map>
#include <unordered_map>

namespace bp {

namespace {

class NvmlSource final : public GpuSource {
 public:
  explicit NvmlSource(std::string libraryOverride) : override_(std::move(libraryOverride)) {}
  GpuReading read(int deviceIndex, double) override {
    // Init is cached after the first call; retried only after nvmlResetState().
    return nvmlReadDevice(deviceIndex, override_);
  }

 private:
  std::string override_;
};

class ScriptedSource final : public GpuSource {
 public:
  ScriptedSource(std::vector<GpuReading> readings, bool loop) : loop_(loop) {
    for (auto& r : readings) perDevice_[r.deviceIndex].push_back(std::move(r));
  }
  GpuReading read(int deviceIndex, double) override {
    GpuReading r;
    auto it = perDevice_.find(deviceIndex);
    if (it == perDevice_.end() || it->second.empty()) {
      r.ok = false;
      r.error = "no scripted readings for device " + std::to_string(deviceIndex);
    } else {
      const auto& list = it->second;
      std::size_t& pos = cursor_[deviceIndex];
      r = list[pos < list.size() ? pos : list.size() - 1];
      ++pos;
      if (pos >= list.size()) pos = loop_ ? 0 : list.size();  // past the end: the last repeats
    }
    r.deviceIndex = deviceIndex;
    r.timestampMs = wallClockMs();
    return r;
  }

 private:
  bool loop_;
  std::map<int, std::vector<GpuReading>> perDevice_;
  std::map<int, std::size_t> cursor_;
};

// The monitor whose sampling thread this is (null elsewhere): lets stop()
// recognise a call from inside the sink, where joining would self-deadlock.
thread_local const GpuMonitorThread* tlSamplingMonitor = nullptr;

}  // namespace

std::unique_ptr<GpuSource> makeNvmlSource(const std::string& libraryOverride) {
  return std::make_unique<NvmlSource>(libraryOverride);
}

std::unique_ptr<GpuSource> makeScriptedSource(std::vector<GpuReading> readings, bool loop) {
  return std::make_unique<ScriptedSource>(std::move(readings), loop);
}

GpuMonitorThread::GpuMonitorThread(std::unique_ptr<GpuSource> source, std::vector<int> deviceIndices,
                                   GpuSafetyConfig config, double intervalMs, Sink sink)
    : source_(std::move(source)),
      devices_(std::move(deviceIndices)),
      // [1 ms, ~11.6 days]: the upper bound keeps the steady_clock arithmetic far from overflow.
      intervalMs_(std::isfinite(intervalMs) ? std::min(std::max(intervalMs, 1.0), 1e9) : 1.0),
      sink_(std::move(sink)),
      config_(config) {}

GpuMonitorThread::~GpuMonitorThread() { stop(); }

void GpuMonitorThread::start() {
  if (tlSamplingMonitor == this) {
    // From inside the sink: the thread is this one, so "starting" means
    // cancelling a stop requested earlier in the same sink call.
    std::lock_guard<std::mutex> lock(mu_);
    stopRequested_ = false;
    running_ = true;
    return;
  }
  std::lock_guard<std::mutex> life(lifecycleMu_);
  if (running_.load()) return;
  joinLocked();  // a thread stopped from inside its sink may still be finishing
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopRequested_ = false;
  }
  running_ = true;
  thread_ = std::thread([this] { run(); });
}

void GpuMonitorThread::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopRequested_ = true;
  }
  running_ = false;
  cv_.notify_all();
  if (tlSamplingMonitor == this) return;  // inside the sink: the thread exits after it returns
  std::lock_guard<std::mutex> life(lifecycleMu_);
  joinLocked();
}

void GpuMonitorThread::joinLocked() {
  if (thread_.joinable()) thread_.join();
}

void GpuMonitorThread::setConfig(GpuSafetyConfig config) {
  std::lock_guard<std::mutex> lock(mu_);
  config_ = config;
}

GpuSafetyConfig GpuMonitorThread::config() const {
  std::lock_guard<std::mutex> lock(mu_);
  return config_;
}

void GpuMonitorThread::run() {
  using Clock = std::chrono::steady_clock;
  tlSamplingMonitor = this;
  const auto interval = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(intervalMs_));
  const auto t0 = Clock::now();
  auto deadline = t0;
  std::uint64_t sequence = 0;
  std::unordered_map<int, int> failures;  // per device, consecutive failed reads

  auto stopping = [this] {
    std::lock_guard<std::mutex> lock(mu_);
    return stopRequested_;
  };

  // do/while and the `sequence > 0` test: the first sample is taken even if
  // stop() came right after start(), so every start() yields a reading.
  do {
    const GpuSafetyConfig cfg = config();
    for (int device : devices_) {
      if (sequence > 0 && stopping()) break;  // prompt stop between devices, and none delivered after it
      GpuSample s;
      const double elapsedMs = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      try {
        s.reading = source_->read(device, elapsedMs);
      } catch (const std::exception& e) {  // an exception must not escape a std::thread (terminate)
        s.reading = GpuReading{};
        s.reading.ok = false;
        s.reading.error = std::string("reading threw: ") + e.what();
      } catch (...) {
        s.reading = GpuReading{};
        s.reading.ok = false;
        s.reading.error = "reading threw a non-standard exception";
      }
      s.reading.deviceIndex = device;
      if (s.reading.timestampMs == 0) s.reading.timestampMs = wallClockMs();
      s.evaluation = evaluateGpu(s.reading, cfg);
      int& n = failures[device];
      if (!s.reading.ok) {
        s.consecutiveFailures = ++n;
      } else {
        if (n > 0) {
          s.recovered = true;
          s.afterFailures = n;
        }
        n = 0;
      }
      s.sequence = sequence++;
      try {
        sink_(s);
      } catch (...) {
        // The sink owns its errors; sampling goes on regardless of the consumer.
      }
    }

    // Fixed deadlines: the next tick is start + k*interval however long the
    // reads took. If whole ticks were missed (slow driver, suspended
    // machine), skip them instead of firing a burst of catch-up samples.
    deadline += interval;
    const auto now = Clock::now();
    if (deadline <= now) deadline += ((now - deadline) / interval + 1) * interval;
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_until(lock, deadline, [this] { return stopRequested_; });
  } while (!stopping());
  tlSamplingMonitor = nullptr;
}

}  // namespace bp
