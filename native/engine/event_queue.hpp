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
// behind, Coalesce drops the oldest undelivered step event (so the newest step
// is always delivered) and counts it. Block counts a step as pending until the
// consumer acknowledges that its handlers ran (acknowledge()), and makes the
// producer wait while `stepCapacity` steps are pending: the producer is never
// more than `stepCapacity` steps ahead of the handlers, so with capacity 1 a
// handler's abort or pause lands on the very next step. Every other event
// kind is never dropped and never waits.
#pragma once
#include <atomic>
#include <condition_variable>
#include <algorithm>
#include <cstdint>
#include <vector>
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
  Sample = 8,   // a GPU monitor sample (payload owned by the monitor layer)
  Dropped = 9,  // a coalesced step left in place as a tombstone; never delivered
};

inline bool isTerminal(EventType t) {
  return t == EventType::Complete || t == EventType::Error || t == EventType::Aborted;
}

// What a producer hands to push().
struct Event {
  EventType type = EventType::Step;
  double a = 0, b = 0, c = 0;
  std::string s1, s2;
};

// What the queue stores and the consumer reads: a flat record (no heap
// allocation per event); the rare strings live in the batch's side table.
struct EventRecord {
  static constexpr uint32_t kNoString = UINT32_MAX;
  EventType type = EventType::Step;
  uint32_t s1 = kNoString, s2 = kNoString;
  double a = 0, b = 0, c = 0;
};

struct EventBatch {
  std::vector<EventRecord> records;  // may contain Dropped tombstones: skip them
  std::vector<std::string> strings;
  void clear() {
    records.clear();
    strings.clear();
  }
};

enum class OverflowPolicy { Coalesce, Block };

class EventQueue {
 public:
  EventQueue(size_t stepCapacity, OverflowPolicy policy)
      : capacity_(stepCapacity < 1 ? 1 : stepCapacity), policy_(policy) {
    pending_.records.reserve(std::min<size_t>(capacity_ + 16, 1 << 16));
  }

  // Appends an event. Returns true when the caller must notify the consumer
  // (no delivery was scheduled yet). In Block mode a step event waits while
  // the queue holds `stepCapacity` steps, unless the queue is closed.
  bool push(Event&& e) {
    EventRecord r;
    r.type = e.type;
    r.a = e.a;
    r.b = e.b;
    r.c = e.c;
    std::unique_lock<std::mutex> lock(mutex_);
    if (e.type == EventType::Step) {
      if (policy_ == OverflowPolicy::Block) {
        spaceAvailable_.wait(lock, [&] { return pendingSteps_ < capacity_ || closed_; });
      } else if (pendingSteps_ >= capacity_) {
        dropOldestStep();
      }
      ++pendingSteps_;
    } else {
      if (!e.s1.empty()) r.s1 = addString(std::move(e.s1));
      if (!e.s2.empty()) r.s2 = addString(std::move(e.s2));
    }
    pending_.records.push_back(r);
    if (scheduled_) return false;
    scheduled_ = true;
    return true;
  }

  // Moves every pending event into `out` (its previous contents are dropped)
  // and marks that no delivery is scheduled, so the next push notifies again.
  // Swapping keeps both buffers' capacity: no allocation in steady state.
  void drain(EventBatch& out) {
    out.clear();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      std::swap(out.records, pending_.records);
      std::swap(out.strings, pending_.strings);
      if (policy_ == OverflowPolicy::Coalesce) pendingSteps_ = 0;  // Block: pending until acknowledged
      tombstones_ = 0;
      cursor_ = 0;
      scheduled_ = false;
    }
    spaceAvailable_.notify_all();
  }

  // The consumer's delivery loop. takeForDelivery() moves every pending event
  // into `out` like drain(), but leaves the delivery marked as scheduled, so
  // events pushed while the consumer runs its handlers do not notify again;
  // the consumer takes them in its next round. endDelivery() ends the loop:
  // it clears the mark and returns true only when nothing is pending (the next
  // push then notifies); otherwise the mark stays set, it returns false, and
  // the consumer must take again, or, if it stops now anyway, arrange a new
  // delivery itself, since no push will ask for one.
  void takeForDelivery(EventBatch& out) {
    out.clear();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      std::swap(out.records, pending_.records);
      std::swap(out.strings, pending_.strings);
      if (policy_ == OverflowPolicy::Coalesce) pendingSteps_ = 0;
      tombstones_ = 0;
      cursor_ = 0;
    }
    spaceAvailable_.notify_all();
  }

  bool endDelivery() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!pending_.records.empty()) return false;
    scheduled_ = false;
    return true;
  }

  // Block mode: the consumer has run the handlers of `steps` step events.
  void acknowledge(size_t steps) {
    if (policy_ != OverflowPolicy::Block || steps == 0) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      pendingSteps_ -= std::min(steps, pendingSteps_);
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
    return pending_.records.size() - tombstones_;
  }

 private:
  uint32_t addString(std::string&& s) {
    pending_.strings.push_back(std::move(s));
    return static_cast<uint32_t>(pending_.strings.size() - 1);
  }

  // Marks the oldest pending step as dropped. cursor_ only moves forward over
  // records that cannot be dropped (non-steps, tombstones), and tombstones are
  // compacted away once they outnumber the capacity: amortised O(1) per drop,
  // and memory stays bounded however long JavaScript is blocked.
  void dropOldestStep() {
    auto& recs = pending_.records;
    while (cursor_ < recs.size() && recs[cursor_].type != EventType::Step) ++cursor_;
    if (cursor_ == recs.size()) return;
    recs[cursor_].type = EventType::Dropped;
    ++cursor_;
    --pendingSteps_;
    ++tombstones_;
    dropped_.fetch_add(1, std::memory_order_relaxed);
    if (tombstones_ > capacity_) {
      recs.erase(std::remove_if(recs.begin(), recs.end(), [](const EventRecord& r) { return r.type == EventType::Dropped; }),
                 recs.end());
      tombstones_ = 0;
      cursor_ = 0;
    }
  }

  mutable std::mutex mutex_;
  std::condition_variable spaceAvailable_;
  EventBatch pending_;
  size_t pendingSteps_ = 0;
  size_t tombstones_ = 0;
  size_t cursor_ = 0;
  const size_t capacity_;
  const OverflowPolicy policy_;
  bool scheduled_ = false;
  bool closed_ = false;
  std::atomic<uint64_t> dropped_{0};
};

}  // namespace bp
