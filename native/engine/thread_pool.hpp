// A small fork-join pool for the engine's data-parallel loops (GEMM blocks,
// element-wise passes). One owning thread submits work; the workers and the
// caller share it, and the workers sleep on a condition variable between calls
// so an idle model costs no CPU. A worker left idle for kIdleExit exits (an
// idle trainer holds no threads and no packing buffers), and the next call
// starts it again: a pool can live as long as its trainer and stay warm from
// one run to the next without keeping threads for trainers nobody uses.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace bp {

// A non-owning reference to a callable `void(int)`. parallelFor runs on every GEMM of every
// training step; std::function would heap-allocate for any lambda capturing more than two
// pointers, and the step path allocates nothing.
class TaskRef {
 public:
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, TaskRef>>>
  TaskRef(F& fn)  // NOLINT(google-explicit-constructor): built implicitly from the caller's lambda
      : ctx_(const_cast<void*>(static_cast<const void*>(&fn))),
        call_([](void* ctx, int i) { (*static_cast<F*>(ctx))(i); }) {}
  void operator()(int i) const { call_(ctx_, i); }

 private:
  void* ctx_;
  void (*call_)(void*, int);
};

class ThreadPool {
 public:
  // How long a worker waits for work before it exits (the default of idleExit).
  static constexpr std::chrono::milliseconds kIdleExit{2000};

  // `threads` is the total parallelism including the calling thread; threads <= 1 spawns no worker.
  explicit ThreadPool(int threads, std::chrono::milliseconds idleExit = kIdleExit);
  ~ThreadPool();  // stops and joins every worker (RAII; never detaches)
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // The parallelism work is split for (workers that exited while idle count: the next call
  // starts them again).
  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Workers running now (not exited while idle); for tests and diagnostics.
  int liveWorkers();


  // Runs fn(i) for every i in [0, n) spread over the workers and the caller; returns when all
  // finished. Called from one thread at a time (the owning training thread). Exceptions in fn are
  // caught and the first one is rethrown in the caller after every started task finished; once one
  // task has thrown, indices not yet started are skipped (as a plain loop would stop).
  // A nested call from inside fn (or a concurrent call from a second thread) runs serially on the
  // calling thread instead of deadlocking.
  // fn must outlive the call (it is referenced, never copied).
  template <class F>
  void parallelFor(int n, F&& fn) {
    run(n, TaskRef(fn));
  }

 private:
  void run(int n, TaskRef fn);
  void workerLoop(size_t index);
  // Starts again the workers that exited while idle (mutex_ held); a worker that cannot be started
  // stays exited and the work goes to the others.
  void restartExitedLocked();
  // Takes indices until none are left or a task failed; records the first exception.
  void runTasks();

  const std::chrono::milliseconds idleExit_;
  std::vector<std::thread> workers_;
  std::vector<char> exited_;  // per worker, under mutex_: returned from workerLoop, not yet joined
  int exitedCount_ = 0;       // under mutex_

  std::mutex mutex_;
  std::condition_variable wake_;   // workers wait here for a new generation or stop
  std::condition_variable done_;   // the caller waits here for claimed workers to finish
  bool stop_ = false;
  // Published under mutex_; a worker may only join the job while `open_`, so a worker that wakes
  // late never touches a job the caller has already returned from.
  const TaskRef* job_ = nullptr;
  int jobSize_ = 0;
  bool open_ = false;
  int maxClaims_ = 0;
  int claimed_ = 0;
  std::exception_ptr error_;

  std::atomic<uint64_t> generation_{0};  // read without the lock by spinning workers
  std::atomic<int> next_{0};
  std::atomic<int> finished_{0};
  std::atomic<bool> failed_{false};
  std::atomic<bool> busy_{false};
};

int hardwareThreads();  // std::thread::hardware_concurrency() clamped to >= 1

}  // namespace bp
