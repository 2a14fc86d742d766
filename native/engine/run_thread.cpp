#include "run_thread.hpp"

#include <stdexcept>

namespace bp {

RunThread::~RunThread() {
  wait();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void RunThread::start(std::function<void()> job) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (pending_) throw std::logic_error("RunThread::start: a job is pending");
  if (!alive_) {
    // The last thread exited after its idle spell (or none was started): reap it, start another.
    if (thread_.joinable()) thread_.join();  // it has left loop(): this returns at once
    thread_ = std::thread([this] { loop(); });
    alive_ = true;
  }
  job_ = std::move(job);
  pending_ = true;
  running_ = true;
  lock.unlock();
  wake_.notify_one();
}

void RunThread::wait() {
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [&] { return !running_; });
  pending_ = false;
}

bool RunThread::pending() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return pending_;
}

bool RunThread::threadAlive() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return alive_;
}

void RunThread::loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    // A job can be waiting already: start() sets it before this thread first takes the lock.
    if (!wake_.wait_for(lock, idleExit_, [&] { return stop_ || job_; })) {
      // Idle for idleExit_: exit, decided under the lock, so start() either sees alive_ false (and
      // starts a new thread) or has handed this one a job before the timeout.
      alive_ = false;
      return;
    }
    if (!job_) {  // stop_ and nothing to run
      alive_ = false;
      return;
    }
    std::function<void()> job = std::move(job_);
    job_ = nullptr;
    lock.unlock();
    try {
      job();
    } catch (...) {
      // Documented: jobs do not throw (Trainer::runLoop turns every failure into a terminal event).
    }
    job = nullptr;  // release what the job captured before waiters are told it is done
    lock.lock();
    running_ = false;
    done_.notify_all();
  }
}

}  // namespace bp
