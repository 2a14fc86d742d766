#include "thread_pool.hpp"

#include "float_mode.hpp"

#include <algorithm>
#include <chrono>

namespace bp {

namespace {

// Long enough to bridge the serial gaps of a training step (the loss, the trainer's bookkeeping
// between steps: tens of microseconds) so the step's parallel regions do not
// each pay a futex wake-up (costly under a hypervisor), short enough that an idle pool costs
// nothing measurable. 50 us measured 2-3 % faster than 5 us at batch 128 on 2 cores.
#ifndef BP_WSPIN
#define BP_WSPIN 50000
#endif
constexpr std::chrono::nanoseconds kWorkerSpin{BP_WSPIN};
// The caller only waits for workers that are already running tasks of about the same size as its
// own, so they usually finish within this window.
#ifndef BP_CSPIN
#define BP_CSPIN 20000
#endif
constexpr std::chrono::nanoseconds kCallerSpin{BP_CSPIN};

inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

template <class Pred>
bool spinUntil(Pred pred, std::chrono::nanoseconds budget) {
  const auto deadline = std::chrono::steady_clock::now() + budget;
  for (int i = 0;; ++i) {
    if (pred()) return true;
    // Reading the clock costs more than a pause; check it only now and then.
    if ((i & 63) == 63 && std::chrono::steady_clock::now() >= deadline) return pred();
    cpuRelax();
  }
}

}  // namespace

int hardwareThreads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(std::min<unsigned>(n, 1u << 16));
}

ThreadPool::ThreadPool(int threads, std::chrono::milliseconds idleExit) : idleExit_(idleExit) {
  const int workers = std::max(0, threads - 1);
  workers_.reserve(static_cast<size_t>(workers));
  exited_.assign(static_cast<size_t>(workers), 0);
  try {
    for (size_t i = 0; i < static_cast<size_t>(workers); ++i) workers_.emplace_back([this, i] { workerLoop(i); });
  } catch (...) {
    // Join whatever did start so a failed construction leaves no thread behind.
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
    throw;
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_)
    if (t.joinable()) t.join();  // exited workers too; one that could not be restarted is empty
}

void ThreadPool::runTasks() {
  // job_/jobSize_ are stable while any claimed worker or the caller is inside: the caller clears
  // them only after every claimed worker finished.
  const TaskRef& fn = *job_;
  const int n = jobSize_;
  while (!failed_.load(std::memory_order_relaxed)) {
    const int i = next_.fetch_add(1, std::memory_order_relaxed);
    if (i >= n) break;
    try {
      fn(i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
      failed_.store(true, std::memory_order_relaxed);
    }
  }
}

int ThreadPool::liveWorkers() {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int>(workers_.size()) - exitedCount_;
}

void ThreadPool::restartExitedLocked() {
  if (exitedCount_ == 0) return;
  for (size_t i = 0; i < workers_.size(); ++i) {
    if (!exited_[i]) continue;
    // It has returned from workerLoop, so this only reaps it (empty if an earlier restart failed).
    if (workers_[i].joinable()) workers_[i].join();
    try {
      workers_[i] = std::thread([this, i] { workerLoop(i); });
    } catch (...) {
      continue;  // out of threads: this worker stays exited (std::thread is empty, nothing to join)
    }
    exited_[i] = 0;
    --exitedCount_;
  }
}

void ThreadPool::workerLoop(size_t index) {
  const FlushDenormals flush;  // for the worker's whole life: it only runs engine tasks
  // The generation at start: 0, never read it later or a job could be missed. A worker started
  // again after an idle exit starts at 0 too; it skips jobs that are not open.
  uint64_t seen = 0;
  for (;;) {
    spinUntil([&] { return generation_.load(std::memory_order_acquire) != seen; }, kWorkerSpin);
    std::unique_lock<std::mutex> lock(mutex_);
    const bool woken =
        wake_.wait_for(lock, idleExit_, [&] { return stop_ || generation_.load(std::memory_order_relaxed) != seen; });
    if (!woken) {
      // Idle for idleExit_: exit, decided under the lock, so a caller publishing a job either
      // sees this worker exited (and starts it again) or woke it before the timeout.
      exited_[index] = 1;
      ++exitedCount_;
      return;
    }
    if (stop_) return;
    seen = generation_.load(std::memory_order_relaxed);
    if (!open_ || claimed_ >= maxClaims_) continue;
    ++claimed_;
    lock.unlock();

    runTasks();

    lock.lock();
    const int finished = finished_.fetch_add(1, std::memory_order_acq_rel) + 1;
    const bool last = !open_ && finished == claimed_;
    lock.unlock();
    if (last) done_.notify_one();
  }
}

void ThreadPool::run(int n, TaskRef fn) {
  if (n <= 0) return;
  // The caller runs tasks too: the same mode as the workers, so no result depends on which
  // thread computed it; restored on return (the caller may be the JS thread).
  const FlushDenormals flush;
  // Serial paths: nothing to share, or a nested/concurrent call that would otherwise clobber the
  // job in flight. A plain loop gives the documented exception behaviour for free.
  if (workers_.empty() || n == 1 || busy_.exchange(true, std::memory_order_acquire)) {
    for (int i = 0; i < n; ++i) fn(i);
    return;
  }

  int workers;
  int wanted;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    restartExitedLocked();
    workers = static_cast<int>(workers_.size()) - exitedCount_;
    job_ = &fn;
    jobSize_ = n;
    next_.store(0, std::memory_order_relaxed);
    finished_.store(0, std::memory_order_relaxed);
    failed_.store(false, std::memory_order_relaxed);
    error_ = nullptr;
    claimed_ = 0;
    maxClaims_ = wanted = std::min(n - 1, workers);
    open_ = true;
    generation_.fetch_add(1, std::memory_order_release);
  }
  if (wanted == workers) {
    wake_.notify_all();
  } else {
    for (int i = 0; i < wanted; ++i) wake_.notify_one();
  }

  runTasks();

  std::unique_lock<std::mutex> lock(mutex_);
  open_ = false;  // from here no late worker can join, so claimed_ is final
  const int claimed = claimed_;
  if (finished_.load(std::memory_order_acquire) != claimed) {
    lock.unlock();
    spinUntil([&] { return finished_.load(std::memory_order_acquire) == claimed; }, kCallerSpin);
    lock.lock();
    done_.wait(lock, [&] { return finished_.load(std::memory_order_acquire) == claimed; });
  }
  job_ = nullptr;
  std::exception_ptr error = std::move(error_);
  error_ = nullptr;
  lock.unlock();
  busy_.store(false, std::memory_order_release);
  if (error) std::rethrow_exception(error);
}

}  // namespace bp
