// Engine tests without Node: the
// trainer's run loop (determinism, abort, pause, failures), checkpoints and
// SHA-256. Built by CMake with BP_BUILD_TESTS=ON; also run under TSan/ASan.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>
#include <unistd.h>

#include "errors.hpp"
#include "event_queue.hpp"
#include "gpu_safety_guard.hpp"
#include "sha256.hpp"
#include "testing.hpp"
#include "trainer.hpp"

using namespace bp;
namespace fs = std::filesystem;

namespace {

TrainerSpec smallSpec(uint32_t seed = 7) {
  TrainerSpec s;
  s.model.inputSize = 2;
  s.model.hidden = {16};
  s.model.outputSize = 3;
  s.seed = seed;
  s.threads = 2;
  s.optimizer.learningRate = 0.01;
  return s;
}

struct Data {
  std::vector<float> x;
  std::vector<int32_t> y;
  size_t rows;
};

Data blobs(size_t rows) {
  Data d;
  d.rows = rows;
  Rng rng(1, 9);
  for (size_t i = 0; i < rows; ++i) {
    const int c = static_cast<int>(i % 3);
    d.x.push_back(c * 2.0f + rng.uniform() - 0.5f);
    d.x.push_back(-c * 1.5f + rng.uniform() - 0.5f);
    d.y.push_back(c);
  }
  return d;
}

// Runs a training job to its end, collecting every event.
std::vector<EventRecord> runToEnd(Trainer& t, const Data& d, RunConfig cfg, EventBatch* strings = nullptr) {
  std::vector<EventRecord> events;
  std::atomic<int> notified{0};
  t.start(d.x, d.y, {}, d.rows, cfg, [&] { notified++; });
  EventBatch batch;
  for (;;) {
    t.drainEvents(batch);
    bool done = false;
    size_t steps = 0;
    for (auto& r : batch.records) {
      steps += r.type == EventType::Step;
      events.push_back(r);
      done = done || isTerminal(r.type);
    }
    if (strings) strings->strings.insert(strings->strings.end(), batch.strings.begin(), batch.strings.end());
    t.acknowledgeSteps(steps);
    if (done) break;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  t.join();
  return events;
}

}  // namespace

TEST(sha256_known_vectors) {
  CHECK(sha256Hex("", 0) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256Hex("abc", 3) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  std::string million(1000000, 'a');
  CHECK(sha256Hex(million.data(), million.size()) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(trainer_same_seed_gives_bit_identical_history_for_any_thread_count) {
  Data d = blobs(600);
  RunConfig cfg;
  cfg.epochs = 3;
  cfg.batchSize = 32;
  std::vector<double> histories[3];
  int threads[3] = {1, 2, 3};
  for (int i = 0; i < 3; ++i) {
    TrainerSpec s = smallSpec();
    s.threads = threads[i];
    Trainer t(s);
    runToEnd(t, d, cfg);
    histories[i] = t.summary().lossHistory;
  }
  CHECK(histories[0].size() == 3 * ((600 + 31) / 32));
  CHECK(histories[0] == histories[1]);
  CHECK(histories[0] == histories[2]);
  CHECK(histories[0].back() < histories[0].front() * 0.5);  // it learns
}

TEST(trainer_event_order_steps_epochs_terminal) {
  Data d = blobs(320);
  Trainer t(smallSpec());
  RunConfig cfg;
  cfg.epochs = 2;
  cfg.batchSize = 32;
  cfg.stepPolicy = OverflowPolicy::Block;
  auto ev = runToEnd(t, d, cfg);
  int expectStep = 1, epochs = 0;
  for (size_t i = 0; i < ev.size(); ++i) {
    if (ev[i].type == EventType::Step) CHECK(static_cast<int>(ev[i].a) == expectStep++);
    if (ev[i].type == EventType::Epoch) {
      ++epochs;
      CHECK(static_cast<int>(ev[i].a) == epochs);
      CHECK(expectStep - 1 == epochs * 10);
    }
  }
  CHECK(ev.back().type == EventType::Complete);
  CHECK(epochs == 2);
}

TEST(trainer_abort_stops_within_one_step) {
  Data d = blobs(3000);
  Trainer t(smallSpec());
  RunConfig cfg;
  cfg.epochs = 100000;
  cfg.batchSize = 8;
  t.start(d.x, d.y, {}, d.rows, cfg, [] {});
  while (t.status().step < 50) std::this_thread::yield();
  t.pause();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const uint64_t held = t.status().step;
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(t.status().step == held);  // paused: no step advances
  CHECK(t.status().state == RunState::Paused);
  t.abort("test");
  t.join();
  CHECK(t.summary().steps == held);
  EventBatch b;
  t.drainEvents(b);
  CHECK(!b.records.empty());
  CHECK(b.records.back().type == EventType::Aborted);
  CHECK(b.strings.at(b.records.back().s1) == "test");
}

TEST(trainer_fail_with_reports_an_error_event) {
  Data d = blobs(3000);
  Trainer t(smallSpec());
  RunConfig cfg;
  cfg.epochs = 100000;
  t.start(d.x, d.y, {}, d.rows, cfg, [] {});
  while (t.status().step < 5) std::this_thread::yield();
  t.failWith("RUNTIME_GPU_TEMPERATURE_CRITICAL", "too hot");
  t.join();
  EventBatch b;
  t.drainEvents(b);
  CHECK(b.records.back().type == EventType::Error);
  CHECK(b.strings.at(b.records.back().s1) == "RUNTIME_GPU_TEMPERATURE_CRITICAL");
}

TEST(trainer_divergence_is_a_non_finite_loss_error) {
  TrainerSpec s;
  s.model.inputSize = 1;
  s.model.outputSize = 1;
  s.model.task = Task::Regression;
  s.optimizer.kind = OptimizerKind::Sgd;
  s.optimizer.learningRate = 10;
  s.optimizer.momentum = 0.9f;
  s.optimizer.weightDecay = 0;
  Trainer t(s);
  std::vector<float> x(64), y(64);
  for (int i = 0; i < 64; ++i) {
    x[i] = 1e3f * i;
    y[i] = 1e6f * i;
  }
  RunConfig cfg;
  cfg.epochs = 1000;
  EventBatch strings;
  std::vector<EventRecord> ev;
  t.start(x, {}, y, 64, cfg, [] {});
  t.join();
  EventBatch b;
  t.drainEvents(b);
  CHECK(b.records.back().type == EventType::Error);
  CHECK(b.strings.at(b.records.back().s1) == "RUNTIME_NON_FINITE_LOSS");
}

TEST(checkpoint_folder_is_complete_and_checksummed) {
  Data d = blobs(320);
  Trainer t(smallSpec());
  const fs::path dir = fs::temp_directory_path() / ("bp-engine-test-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  RunConfig cfg;
  cfg.epochs = 2;
  cfg.outputDir = dir.string();
  cfg.saveEveryEpoch = true;
  EventBatch strings;
  auto ev = runToEnd(t, d, cfg, &strings);
  int saves = 0;
  for (auto& r : ev) saves += r.type == EventType::Save;
  CHECK(saves == 2);
  const fs::path ck = dir / "checkpoint-20";
  CHECK(fs::exists(ck / "model.safetensors"));
  CHECK(fs::exists(ck / "optimizer.safetensors"));
  std::ifstream f(ck / "model.safetensors", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::ifstream s(ck / "trainer_state.json");
  std::string state((std::istreambuf_iterator<char>(s)), std::istreambuf_iterator<char>());
  CHECK(state.find(sha256Hex(bytes.data(), bytes.size())) != std::string::npos);
  for (auto& entry : fs::directory_iterator(dir)) CHECK(entry.path().filename().string()[0] != '.');  // no temp folder left
  fs::remove_all(dir);
}

TEST(gpu_guard_holds_on_critical_and_releases_below_warning) {
  Data d = blobs(3000);
  Trainer t(smallSpec());
  RunConfig cfg;
  cfg.epochs = 100000;
  t.start(d.x, d.y, {}, d.rows, cfg, [] {});
  GpuGuardPolicy policy;
  policy.cooldownMs = 1e9;
  GpuSafetyGuard guard(&t, policy);
  auto sample = [](double temp, GpuCondition c) {
    GpuSample s;
    s.reading.temperatureC = temp;
    s.evaluation.condition = c;
    s.evaluation.vramPercent = NAN;
    return s;
  };
  while (t.status().step < 5) std::this_thread::yield();
  guard.onSample(sample(91, GpuCondition::Critical), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(t.status().state == RunState::Paused);
  guard.onSample(sample(85, GpuCondition::Warning), 10);  // hysteresis: still held
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(t.status().state == RunState::Paused);
  guard.onSample(sample(70, GpuCondition::Warm), 20);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (t.status().state != RunState::Running && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  CHECK(t.status().state == RunState::Running);
  CHECK(guard.stats().pauses == 1);
  CHECK(guard.stats().maxTempC == 91);
  t.abort("done");
  t.join();
}
