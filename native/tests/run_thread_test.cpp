// RunThread: the thread a Trainer's runs execute on is kept between runs, gives every job its own
// pending/wait cycle, exits on its own after an idle spell, and starts again on the next job.
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "gemm_test_support.hpp"
#include "run_thread.hpp"
#include "testing.hpp"
#include "trainer.hpp"

using bptest::taskCount;
using bptest::waitUntil;

TEST(run_thread_keeps_one_thread_for_jobs_in_a_row) {
  const int before = taskCount();
  bp::RunThread runner(std::chrono::milliseconds(2000));
  std::vector<std::thread::id> ids;
  for (int i = 0; i < 5; ++i) {
    runner.start([&] { ids.push_back(std::this_thread::get_id()); });
    CHECK(runner.pending());
    runner.wait();
    CHECK(!runner.pending());
  }
  CHECK(ids.size() == 5);
  for (const auto& id : ids) CHECK(id == ids.front());
  CHECK(ids.front() != std::this_thread::get_id());
  CHECK(runner.threadAlive());
  CHECK(taskCount() == before + 1);
}

TEST(run_thread_refuses_a_second_job_until_the_first_is_waited_for) {
  bp::RunThread runner;
  std::atomic<bool> release{false};
  runner.start([&] { waitUntil([&] { return release.load(); }, std::chrono::seconds(10)); });
  bool refused = false;
  try {
    runner.start([] {});
  } catch (const std::logic_error&) {
    refused = true;
  }
  CHECK(refused);
  // Two waiters at once both return once the job has.
  std::atomic<int> waited{0};
  std::thread other([&] {
    runner.wait();
    waited.fetch_add(1);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(waited.load() == 0);
  release = true;
  runner.wait();
  other.join();
  CHECK(waited.load() == 1);
  // Finished but not waited for still counts as pending: a run's end is only final once joined.
  runner.start([] {});
  CHECK(waitUntil([&] { return runner.threadAlive(); }, std::chrono::seconds(1)));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(runner.pending());
  runner.wait();
  CHECK(!runner.pending());
  runner.wait();  // nothing pending: returns at once
}

TEST(run_thread_exits_when_idle_and_starts_again) {
  const int before = taskCount();
  {
    bp::RunThread runner(std::chrono::milliseconds(200));
    std::thread::id first, second;
    runner.start([&] { first = std::this_thread::get_id(); });
    runner.wait();
    CHECK(taskCount() == before + 1);
    CHECK(waitUntil([&] { return !runner.threadAlive(); }, std::chrono::seconds(10)));
    CHECK(waitUntil([&] { return taskCount() == before; }, std::chrono::seconds(10)));
    runner.start([&] { second = std::this_thread::get_id(); });
    runner.wait();
    CHECK(second != std::thread::id());
    CHECK(runner.threadAlive());
    // A job that throws does not take the thread down (a job must not throw; the thread survives).
    runner.start([] { throw std::runtime_error("escaped"); });
    runner.wait();
    int ran = 0;
    runner.start([&] { ++ran; });
    runner.wait();
    CHECK(ran == 1);
  }
  CHECK(waitUntil([&] { return taskCount() == before; }, std::chrono::seconds(10)));
}

TEST(run_thread_destructor_waits_for_the_job_in_progress) {
  const int before = taskCount();
  std::atomic<bool> finished{false};
  {
    bp::RunThread runner;
    runner.start([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      finished = true;
    });
  }
  CHECK(finished.load());
  CHECK(taskCount() == before);
}

// The trainer's runs share the kept thread: two runs in a row leave one run thread behind, not two,
// and the trainer's destruction takes it down.
TEST(trainer_runs_in_a_row_reuse_one_run_thread) {
  const int before = taskCount();
  {
    bp::TrainerSpec spec;
    spec.model.inputSize = 2;
    spec.model.hidden = {8};
    spec.model.outputSize = 2;
    spec.threads = 1;
    bp::Trainer trainer(spec);
    std::vector<float> x(64);
    std::vector<int32_t> y(32);
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 7) / 7.0f;
    for (size_t i = 0; i < y.size(); ++i) y[i] = static_cast<int32_t>(i % 2);
    for (int run = 0; run < 3; ++run) {
      bp::RunConfig config;
      config.epochs = 1;
      config.batchSize = 8;
      trainer.start(x, y, {}, 32, config, [] {});
      trainer.join();
      CHECK(trainer.summary().steps == 4);  // each run counts its own steps
      CHECK(taskCount() == before + 1);
    }
  }
  CHECK(waitUntil([&] { return taskCount() == before; }, std::chrono::seconds(10)));
}
