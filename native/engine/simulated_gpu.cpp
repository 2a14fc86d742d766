#include "simulated_gpu.hpp"

namespace bp {

SimulatedGpu::SimulatedGpu(GpuReading initial) : reading_(std::move(initial)) {}

void SimulatedGpu::set(GpuReading reading) {
  std::lock_guard<std::mutex> lock(mutex_);
  reading_ = std::move(reading);
  ++version_;
}

GpuReading SimulatedGpu::current() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return reading_;
}

std::uint64_t SimulatedGpu::version() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return version_;
}

namespace {

class SimulatedSource final : public GpuSource {
 public:
  explicit SimulatedSource(std::shared_ptr<SimulatedGpu> gpu) : gpu_(std::move(gpu)) {}
  GpuReading read(int deviceIndex, double) override {
    GpuReading r = gpu_->current();
    r.deviceIndex = deviceIndex;
    r.timestampMs = wallClockMs();
    return r;
  }

 private:
  std::shared_ptr<SimulatedGpu> gpu_;
};

}  // namespace

std::unique_ptr<GpuSource> makeSimulatedSource(std::shared_ptr<SimulatedGpu> gpu) {
  return std::make_unique<SimulatedSource>(std::move(gpu));
}

}  // namespace bp
