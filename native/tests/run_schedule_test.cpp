// The run's pure decisions (run_schedule.hpp) and the CPU engine as a
// ComputeBackend (cpu_backend.hpp), each checked on its own.
#include <algorithm>
#include <cmath>
#include <limits>
#include <new>
#include <set>
#include <stdexcept>
#include <vector>

#include "cpu_backend.hpp"
#include "errors.hpp"
#include "optimizer.hpp"
#include "run_schedule.hpp"
#include "testing.hpp"

using namespace bp;

TEST(schedule_split_without_validation_keeps_rows_in_order) {
  const DataSplit s = splitRows(10, 0, 7);
  CHECK(s.validationRows.empty());
  CHECK(s.trainRows.size() == 10);
  for (uint32_t i = 0; i < 10; ++i) CHECK(s.trainRows[i] == i);
}

TEST(schedule_split_is_fixed_by_the_seed_and_partitions_the_rows) {
  const DataSplit a = splitRows(100, 0.2, 7), b = splitRows(100, 0.2, 7), c = splitRows(100, 0.2, 8);
  CHECK(a.validationRows.size() == 20);
  CHECK(a.trainRows.size() == 80);
  CHECK(a.validationRows == b.validationRows);
  CHECK(a.validationRows != c.validationRows);
  CHECK(std::is_sorted(a.trainRows.begin(), a.trainRows.end()));
  std::set<uint32_t> all(a.trainRows.begin(), a.trainRows.end());
  all.insert(a.validationRows.begin(), a.validationRows.end());
  CHECK(all.size() == 100);
}

TEST(schedule_split_keeps_one_row_on_each_side) {
  const DataSplit tiny = splitRows(2, 0.01, 1);
  CHECK(tiny.validationRows.size() == 1);
  CHECK(tiny.trainRows.size() == 1);
  const DataSplit most = splitRows(5, 0.99, 1);
  CHECK(most.trainRows.size() == 1);
  CHECK(splitRows(1, 0.5, 1).validationRows.empty());  // one row cannot be split
}

TEST(schedule_start_of_fresh_and_resumed_runs) {
  RunConfig fresh;
  const Rng::State state{1, 2, 3, 4};
  const RunStart f = startOf(fresh, state);
  CHECK(f.position.epoch == 1);
  CHECK(f.position.stepInEpoch == 0);
  CHECK(f.position.shuffleState == state);
  CHECK(f.step == 0);

  RunConfig resumed;
  ResumeState r;
  r.epoch = 3;
  r.stepInEpoch = 5;
  r.step = 29;
  r.shuffleRngState = {9, 8, 7, 6};
  resumed.resume = r;
  const RunStart s = startOf(resumed, state);
  CHECK(s.position.epoch == 3);
  CHECK(s.position.stepInEpoch == 5);
  CHECK(s.position.shuffleState == r.shuffleRngState);
  CHECK(s.step == 29);
}

TEST(schedule_each_run_of_a_trainer_has_its_own_shuffle) {
  CHECK(shuffleGeneratorFor(42, 1).state() == shuffleGeneratorFor(42, 1).state());
  CHECK(shuffleGeneratorFor(42, 1).state() != shuffleGeneratorFor(42, 2).state());
}

TEST(schedule_steps_per_epoch_and_warmup) {
  CHECK(stepsPerEpoch(100, 32) == 4);
  CHECK(stepsPerEpoch(96, 32) == 3);
  CHECK(stepsPerEpoch(0, 32) == 0);
  CHECK(stepsPerEpoch(5, 0) == 5);  // a batch is at least one row
  CHECK_NEAR(warmedUpRate(0.1, 1, 4), 0.025, 1e-15);
  CHECK_NEAR(warmedUpRate(0.1, 3, 4), 0.075, 1e-15);
  CHECK(warmedUpRate(0.1, 4, 4) == 0.1);
  CHECK(warmedUpRate(0.1, 1, 0) == 0.1);
}

TEST(schedule_checkpoint_timing) {
  RunConfig c;
  c.saveEverySteps = 5;
  CHECK(checkpointAfterStep(c, 5, false) == StepCheckpoint::None);  // no output folder
  c.outputDir = "out";
  CHECK(checkpointAfterStep(c, 4, false) == StepCheckpoint::None);
  CHECK(checkpointAfterStep(c, 5, false) == StepCheckpoint::Now);
  CHECK(checkpointAfterStep(c, 10, true) == StepCheckpoint::AtEpochEnd);
  CHECK(!checkpointAfterEpoch(c, false));
  CHECK(checkpointAfterEpoch(c, true));
  c.saveEveryEpoch = true;
  CHECK(checkpointAfterEpoch(c, false));
  CHECK(checkpointAtEnd(c, 7, UINT64_MAX));
  CHECK(!checkpointAtEnd(c, 7, 7));
  CHECK(!checkpointAtEnd(c, 0, UINT64_MAX));  // nothing trained yet
  c.saveEverySteps = 0;
  CHECK(checkpointAfterStep(c, 5, false) == StepCheckpoint::None);
}

TEST(schedule_failure_events_keep_codes) {
  Event e = failureEvent(std::make_exception_ptr(EngineError("RUNTIME_GPU_OOM", "too big")));
  CHECK(e.type == EventType::Error);
  CHECK(e.s1 == "RUNTIME_GPU_OOM");
  CHECK(e.s2 == "too big");
  e = failureEvent(std::make_exception_ptr(std::bad_alloc()));
  CHECK(e.s1 == "RUNTIME_FAILED");
  CHECK(e.s2.find("out of memory") != std::string::npos);
  e = failureEvent(std::make_exception_ptr(std::runtime_error("disk gone")));
  CHECK(e.s1 == "RUNTIME_FAILED");
  CHECK(e.s2 == "disk gone");
  e = failureEvent(std::make_exception_ptr(42));
  CHECK(e.s2 == "unknown native failure");
  CHECK(failureEvent(nullptr).s1 == "RUNTIME_FAILED");
}

namespace {

ModelSpec tinyModel() {
  ModelSpec m;
  m.inputSize = 3;
  m.hidden = {5};
  m.outputSize = 2;
  return m;
}

}  // namespace

TEST(cpu_backend_step_is_mlp_plus_optimizer) {
  const ModelSpec model = tinyModel();
  OptimizerConfig oc;
  const size_t n = parameterCountOf(model);
  std::vector<float> params(n);
  Rng rng(3, 1);
  initParameters(model, params.data(), rng);
  const std::vector<float> x = {0.1f, 0.2f, 0.3f, -1, 0.5f, 2, 0.7f, -0.3f, 0.1f};
  const std::vector<int32_t> labels = {0, 1, 1};

  auto backend = createCpuBackend(model, oc, 2);
  CHECK(!backend->isAccelerator());
  backend->upload(params.data(), nullptr, nullptr, n);
  backend->uploadDataset(x.data(), labels.data(), nullptr, 3);
  backend->reserve(2);
  const uint32_t rows[] = {2, 0};
  const float loss1 = backend->trainStep(rows, 2, stepScalars(oc, 1, 0.01f));
  const float loss2 = backend->trainStep(rows, 2, stepScalars(oc, 2, 0.01f));
  backend->releaseDataset();

  // The reference: the same two steps by hand on the same gathered rows.
  Mlp mlp(model);
  Optimizer opt(oc, n);
  std::vector<float> p = params, g(n);
  const std::vector<float> xb = {0.7f, -0.3f, 0.1f, 0.1f, 0.2f, 0.3f};
  const std::vector<int32_t> lb = {1, 0};
  const float r1 = mlp.forwardBackward(p.data(), g.data(), xb.data(), nullptr, lb.data(), nullptr, 2, nullptr);
  opt.step(p.data(), g.data(), 0.01f);
  const float r2 = mlp.forwardBackward(p.data(), g.data(), xb.data(), nullptr, lb.data(), nullptr, 2, nullptr);
  opt.step(p.data(), g.data(), 0.01f);
  CHECK(loss1 == r1);
  CHECK(loss2 == r2);
  std::vector<float> outP(n), outM(n), outV(n);
  backend->download(outP.data(), outM.data(), outV.data(), n);
  CHECK(outP == p);
  CHECK(outM == opt.m());
  CHECK(outV == opt.v());
}

TEST(cpu_backend_skips_the_update_on_a_non_finite_loss) {
  const ModelSpec model = tinyModel();
  const size_t n = parameterCountOf(model);
  std::vector<float> params(n, 0.1f);
  auto backend = createCpuBackend(model, OptimizerConfig{}, 1);
  backend->upload(params.data(), nullptr, nullptr, n);
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> x = {inf, 0, 0};
  const std::vector<int32_t> labels = {0};
  backend->uploadDataset(x.data(), labels.data(), nullptr, 1);
  const uint32_t rows[] = {0};
  CHECK(!std::isfinite(backend->trainStep(rows, 1, stepScalars(OptimizerConfig{}, 1, 0.1f))));
  backend->releaseDataset();
  std::vector<float> out(n);
  backend->download(out.data(), nullptr, nullptr, n);
  CHECK(out == params);
}

TEST(cpu_backend_rejects_a_wrong_parameter_count_and_steps_without_data) {
  auto backend = createCpuBackend(tinyModel(), OptimizerConfig{}, 1);
  std::vector<float> p(3);
  bool threw = false;
  try {
    backend->upload(p.data(), nullptr, nullptr, p.size());
  } catch (const EngineError& e) {
    threw = e.code() == "CHECKPOINT_INCOMPATIBLE";
  }
  CHECK(threw);
  threw = false;
  const uint32_t rows[] = {0};
  try {
    backend->trainStep(rows, 1, stepScalars(OptimizerConfig{}, 1, 0.1f));
  } catch (const EngineError& e) {
    threw = e.code() == "RUNTIME_FAILED";
  }
  CHECK(threw);
}
