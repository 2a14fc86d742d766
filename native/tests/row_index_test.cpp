// Reading a minibatch in place: sgemm through a row index (GemmRowIndex) gives the same bits as
// the same product on a gathered copy, for every kernel family, storage order and thread count;
// Mlp::forwardBackward and Mlp::evaluate on rows of a dataset give the same loss and gradient
// bits as on the gathered minibatch. Also the thread pool's idle exit: workers left idle exit,
// and the next call starts them again.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "gemm.hpp"
#include "gemm_test_support.hpp"
#include "mlp.hpp"
#include "rng.hpp"
#include "testing.hpp"
#include "thread_pool.hpp"

namespace {

using bp::Trans;
using bptest::CapKernel;
using bptest::familiesHere;
using bptest::taskCount;
using bptest::waitUntil;

struct Indexed {
  std::vector<float> data;        // the stored matrix a row index points into
  std::vector<uint32_t> index;    // which of its rows are the operand's stored rows, in order
  std::vector<float> gathered;    // those rows copied out, contiguous
  int ld = 0;
};

// `rows` stored rows of width `cols` picked (with repeats, out of order) from a larger matrix.
Indexed makeIndexed(int rows, int cols, bp::Rng& rng) {
  Indexed m;
  m.ld = cols + static_cast<int>(rng.below(3));
  const int pool = rows * 3 + 5;
  m.data.resize(static_cast<size_t>(pool) * m.ld);
  for (auto& v : m.data) v = 2.0f * rng.uniform() - 1.0f;
  m.index.resize(static_cast<size_t>(rows));
  for (auto& r : m.index) r = static_cast<uint32_t>(rng.below(static_cast<uint32_t>(pool)));
  m.gathered.resize(static_cast<size_t>(rows) * m.ld);
  for (int r = 0; r < rows; ++r)
    std::memcpy(&m.gathered[static_cast<size_t>(r) * m.ld], &m.data[static_cast<size_t>(m.index[r]) * m.ld],
                sizeof(float) * static_cast<size_t>(m.ld));
  return m;
}

}  // namespace

TEST(gemm_row_index_gives_the_bits_of_a_gathered_copy) {
  static const int dims[] = {1, 5, 8, 13, 31, 33, 64, 130, 300};
  bp::ThreadPool pool(3);
  bp::Rng rng(2024, 5);
  for (bp::GemmKernelCap family : familiesHere()) {
    CapKernel cap(family);
    for (int n = 0; n < 120; ++n) {
      const Trans ta = rng.below(2) ? Trans::Yes : Trans::No, tb = rng.below(2) ? Trans::Yes : Trans::No;
      const int M = dims[rng.below(9)], N = dims[rng.below(9)], K = dims[rng.below(9)];
      const bool indexA = rng.below(2) == 1, indexB = !indexA || rng.below(2) == 1;
      // Stored shapes: A is K x M when transposed, else M x K; B is N x K when transposed, else K x N.
      Indexed a = makeIndexed(ta == Trans::Yes ? K : M, ta == Trans::Yes ? M : K, rng);
      Indexed b = makeIndexed(tb == Trans::Yes ? N : K, tb == Trans::Yes ? K : N, rng);
      const float beta = rng.below(2) ? 0.0f : 0.5f;
      std::vector<float> c0(static_cast<size_t>(M) * N);
      for (auto& v : c0) v = rng.uniform();
      std::vector<float> want = c0, got = c0, gotThreaded = c0;
      bp::sgemm(ta, tb, M, N, K, 1.0f, indexA ? a.gathered.data() : a.data.data(), a.ld,
                indexB ? b.gathered.data() : b.data.data(), b.ld, beta, want.data(), N, nullptr);
      const bp::GemmRowIndex rows{indexA ? a.index.data() : nullptr, indexB ? b.index.data() : nullptr};
      bp::sgemm(ta, tb, M, N, K, 1.0f, a.data.data(), a.ld, b.data.data(), b.ld, beta, got.data(), N, nullptr, nullptr,
                &rows);
      bp::sgemm(ta, tb, M, N, K, 1.0f, a.data.data(), a.ld, b.data.data(), b.ld, beta, gotThreaded.data(), N, &pool,
                nullptr, &rows);
      CHECK(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)) == 0);
      CHECK(std::memcmp(gotThreaded.data(), want.data(), want.size() * sizeof(float)) == 0);
    }
  }
}

TEST(gemm_row_index_reads_only_the_indexed_rows) {
  // Rows the index does not name are NaN: any read of them would poison C.
  const int M = 40, N = 70, K = 50;
  bp::Rng rng(7, 1);
  std::vector<float> A(static_cast<size_t>(3 * M) * K, std::nanf("")), B(static_cast<size_t>(K) * N);
  std::vector<uint32_t> index(M);
  for (int i = 0; i < M; ++i) {
    index[i] = static_cast<uint32_t>(3 * i + 1);
    for (int k = 0; k < K; ++k) A[static_cast<size_t>(index[i]) * K + k] = rng.uniform();
  }
  for (auto& v : B) v = rng.uniform();
  bp::ThreadPool pool(2);
  for (bp::GemmKernelCap family : familiesHere()) {
    CapKernel cap(family);
    std::vector<float> C(static_cast<size_t>(M) * N);
    const bp::GemmRowIndex rows{index.data(), nullptr};
    bp::sgemm(Trans::No, Trans::No, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, C.data(), N, &pool, nullptr, &rows);
    for (float v : C) CHECK(std::isfinite(v) && v > 0.0f);
  }
}

TEST(mlp_reads_the_minibatch_in_place_with_the_bits_of_a_gathered_copy) {
  for (bp::Task task : {bp::Task::Classification, bp::Task::Regression}) {
    bp::ModelSpec spec;
    spec.inputSize = 37;
    spec.hidden = {48, 20};
    spec.outputSize = 5;
    spec.task = task;
    bp::Mlp inPlace(spec), copied(spec);
    const size_t n = inPlace.parameterCount();
    std::vector<float> params(n), g1(n), g2(n);
    bp::Rng rng(11, 3);
    bp::initParameters(spec, params.data(), rng);
    const int rows = 300, batch = 100, in = spec.inputSize, out = spec.outputSize;
    std::vector<float> x(static_cast<size_t>(rows) * in), t(static_cast<size_t>(rows) * out);
    std::vector<int32_t> y(rows);
    for (auto& v : x) v = 2.0f * rng.uniform() - 1.0f;
    for (auto& v : t) v = rng.uniform();
    for (auto& v : y) v = static_cast<int32_t>(rng.below(static_cast<uint32_t>(out)));
    std::vector<uint32_t> order(batch);
    for (auto& r : order) r = static_cast<uint32_t>(rng.below(rows));
    // The rows `index` names, copied out of x, t and y (what the CPU backend used to gather).
    auto gather = [&](const std::vector<uint32_t>& index, std::vector<float>& xs, std::vector<float>& ts,
                      std::vector<int32_t>& ys) {
      const size_t count = index.size();
      xs.resize(count * in);
      ts.resize(count * out);
      ys.resize(count);
      for (size_t i = 0; i < count; ++i) {
        std::memcpy(&xs[i * in], &x[static_cast<size_t>(index[i]) * in], sizeof(float) * in);
        std::memcpy(&ts[i * out], &t[static_cast<size_t>(index[i]) * out], sizeof(float) * out);
        ys[i] = y[index[i]];
      }
    };
    std::vector<float> xb, tb;
    std::vector<int32_t> yb;
    gather(order, xb, tb, yb);
    bp::ThreadPool pool(2);
    const float l1 = inPlace.forwardBackward(params.data(), g1.data(), x.data(), order.data(), y.data(), t.data(),
                                             batch, &pool);
    const float l2 = copied.forwardBackward(params.data(), g2.data(), xb.data(), nullptr, yb.data(), tb.data(), batch,
                                            &pool);
    CHECK(std::memcmp(&l1, &l2, sizeof l1) == 0);
    CHECK(std::memcmp(g1.data(), g2.data(), n * sizeof(float)) == 0);
    // evaluate over more rows than one chunk (256): through the index, and on the gathered rows.
    std::vector<uint32_t> many(rows);
    for (int i = 0; i < rows; ++i) many[i] = static_cast<uint32_t>((i * 7 + 3) % rows);
    std::vector<float> xm, tm;
    std::vector<int32_t> ym;
    gather(many, xm, tm, ym);
    const bp::EvalResult e1 = inPlace.evaluate(params.data(), x.data(), y.data(), t.data(), many.data(), rows, &pool);
    const bp::EvalResult e2 = copied.evaluate(params.data(), xm.data(), ym.data(), tm.data(), nullptr, rows, nullptr);
    CHECK(std::memcmp(&e1.loss, &e2.loss, sizeof e1.loss) == 0);
    CHECK(e1.rows == static_cast<size_t>(rows));
    if (task == bp::Task::Classification) CHECK(e1.accuracy == e2.accuracy);
  }
}

TEST(threadpool_idle_workers_exit_and_the_next_call_starts_them_again) {
  const int before = taskCount();
  {
    bp::ThreadPool pool(3, std::chrono::milliseconds(300));
    CHECK(pool.size() == 3);
    CHECK(pool.liveWorkers() == 2);
    CHECK(taskCount() == before + 2);
    CHECK(waitUntil([&] { return pool.liveWorkers() == 0; }, std::chrono::seconds(10)));
    CHECK(waitUntil([&] { return taskCount() == before; }, std::chrono::seconds(10)));
    for (int round = 0; round < 3; ++round) {
      // Every task waits until three distinct threads hold one, so the call can only finish if
      // both restarted workers took part.
      std::mutex m;
      std::set<std::thread::id> ids;
      std::atomic<int> arrived{0};
      std::atomic<bool> timedOut{false};
      pool.parallelFor(3, [&](int) {
        {
          std::lock_guard<std::mutex> lock(m);
          ids.insert(std::this_thread::get_id());
        }
        arrived.fetch_add(1);
        if (!waitUntil([&] { return arrived.load() >= 3; }, std::chrono::seconds(10))) timedOut = true;
      });
      CHECK(!timedOut.load());
      CHECK(ids.size() == 3);
      CHECK(pool.liveWorkers() == 2);
      CHECK(waitUntil([&] { return pool.liveWorkers() == 0; }, std::chrono::seconds(10)));
    }
  }
  // The destructor reaps exited workers: nothing is left behind.
  CHECK(waitUntil([&] { return taskCount() == before; }, std::chrono::seconds(10)));
  // A busy pool keeps its workers: calls closer together than the idle time never see one exit.
  bp::ThreadPool busy(2, std::chrono::milliseconds(500));
  for (int i = 0; i < 40; ++i) {
    std::atomic<int> n{0};
    busy.parallelFor(4, [&](int) { n.fetch_add(1); });
    CHECK(n.load() == 4);
    CHECK(busy.liveWorkers() == 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}
