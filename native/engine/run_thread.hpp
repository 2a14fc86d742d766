// The thread a Trainer's runs execute on, kept between runs.
//
// Why not a new std::thread per run: the run thread is the thread pool's caller, and a new thread
// after an idle spell is often placed on the same core as the pool's sleeping worker. The
// scheduler then keeps the two, both cache-hot, sharing one core for milliseconds before it moves
// one: measured at batch 1024 after a 250 ms pause, the first step of a run on a new thread took
// 8.7-9.4 ms against 5.6-6.2 ms on a kept thread (5.4 ms without a pause), and a 2-core host
// lost 3-5 ms of an 8-step epoch. A kept thread also keeps its thread-local packing buffers.
//
// Like the pool's workers, the thread exits after idleExit without a job, so an idle trainer holds
// no thread; the next start() makes a new one.
#pragma once
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace bp {

class RunThread {
 public:
  static constexpr std::chrono::milliseconds kIdleExit{2000};  // as ThreadPool::kIdleExit

  explicit RunThread(std::chrono::milliseconds idleExit = kIdleExit) : idleExit_(idleExit) {}
  RunThread(const RunThread&) = delete;
  RunThread& operator=(const RunThread&) = delete;
  // Waits for a job in progress, then stops and joins the thread.
  ~RunThread();

  // Runs job on the kept thread (started first if it is not running). Throws std::logic_error when
  // a job is pending (started and not yet waited for), std::system_error when no thread can be
  // started; either way the job does not run. job must not throw: an escaping exception is
  // swallowed, as the thread must go on serving later jobs.
  void start(std::function<void()> job);
  // Until the pending job has returned; then nothing is pending. Safe from several threads at
  // once, and a no-op when nothing is pending. Never call it from the job itself.
  void wait();
  // A job was started and not yet waited for (it may have returned already).
  bool pending() const;
  // The kept thread is running (in a job or idle), for tests.
  bool threadAlive() const;

 private:
  void loop();

  const std::chrono::milliseconds idleExit_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;  // the thread: a job or stop
  std::condition_variable done_;  // waiters: the job returned
  std::function<void()> job_;
  bool pending_ = false;  // start() .. wait()
  bool running_ = false;  // the job is executing
  bool alive_ = false;    // loop() has not returned
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace bp
