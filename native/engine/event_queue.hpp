// The bounded queue between a native producer (training or monitoring thread)
// and the JavaScript thread.
//
// Why it exists: calling into JS once per event (one thread-safe-function call
// each) costs a libuv wake-up and a V8 entry per event and would make the
// producer wait whenever JS is busy. Instead the producer appends to this queue
// and asks for *one* delivery when the queue goes from "nothing scheduled" to
// "scheduled"; the JS thread then drains everything pending in one batch.
//
// Bounding: only step events are bounded (by `stepCapacity`). When JS falls
// behind, Coalesce drops the oldest pending step event (so the newest step is
// always delivered) and counts it; Block makes the producer wait until the
// consumer drained. Every other event kind is never dropped and never waits.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>

namespace bp {

enum class EventType : uint8_t {
  Step = 1,
  Epoch = 2,
  Save = 3,
  Complete = 4,
  Error = 5,
  Aborted = 6,
  StateChange = 7,
  Sample = 8,  // a GPU monitor sample (payload owned by the monitor layer)
};

inline bool isTerminal(EventType t) {
  return t == EventType::Complete || t == EventType::Error || t == EventType::Aborted;
}

struct Event {
  EventType type = EventType::Step;
  double a = 0, b = 0, c = 0;
  std::string s1, s2;
  uint64_t payload = 0;  // index or id for producer-specific data
};

enum class OverflowPolicy { Coalesce, Block };

class EventQueue {
 public:
  EventQueue(size_t stepCapacity, OverflowPolicy policy)
      : capacity_(stepCapacity < 1 ? 1 : stepCapacity), policy_(policy) {}

  // Appends an event. Returns true when the caller must notify the consumer
  // (no delivery was scheduled yet). In Block mode a step event waits while
  // the queue holds `stepCapacity` steps, unless the queue is closed.
  bool push(Event&& e) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (e.type == EventType::Step) {
      if (policy_ == OverflowPolicy::Block) {
        ++waitingProducers_;
        spaceAvailable_.wait(lock, [&] { return pendingSteps_ < capacity_ || closed_; });
        --waitingProducers_;
      } else if (pendingSteps_ >= capacity_) {
        dropOldestStep();
      }
      ++pendingSteps_;
    }
    queue_.push_back(std::move(e));
    if (scheduled_) return false;
    scheduled_ = true;
    return true;
  }

  // Moves every pending event into `out` (which is cleared first) and marks
  // that no delivery is scheduled, so the next push notifies again.
  void drain(std::deque<Event>& out) {
    out.clear();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      out.swap(queue_);
      pendingSteps_ = 0;
      scheduled_ = false;
    }
    spaceAvailable_.notify_all();
  }

  // Releases any producer waiting in Block mode; later pushes never wait.
  // Used on abort and on teardown so a producer can always finish.
  void close() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      closed_ = true;
    }
    spaceAvailable_.notify_all();
  }

  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

  size_t size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return queue_.size();
  }

 private:
  void dropOldestStep() {
    for (auto it = queue_.begin(); it != queue_.end(); ++it) {
      if (it->type == EventType::Step) {
        queue_.erase(it);
        --pendingSteps_;
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return;
      }
    }
  }

  mutable std::mutex mutex_;
  std::condition_variable spaceAvailable_;
  std::deque<Event> queue_;
  size_t pendingSteps_ = 0;
  size_t waitingProducers_ = 0;
  const size_t capacity_;
  const OverflowPolicy policy_;
  bool scheduled_ = false;
  bool closed_ = false;
  std::atomic<uint64_t> dropped_{0};
};

}  // namespace bp
