// The bounded queue between a native producer (the training thread) and the
// JavaScript thread.
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
// kind is never dropped and never waits. After close() no push waits; a
// Block-mode step then drops the oldest undelivered step only if the ring is
// full (the run is ending and nobody may be reading).
//
// Why it is built this way: step events are the whole rate, so they travel
// through a single-producer lock-free ring. A mutex shared by producer and
// consumer turned every collision into a futex wait/wake pair, which under
// some hypervisors costs microseconds and capped delivery at about 5 M
// events/s (bench/README.md); a step push is now one sequentially consistent
// store, and a lock is taken only when a Block-mode producer must wait. The
// rare other events (epoch, save, state, terminal) carry strings and go
// through a small locked list, each stamped with the ring position it
// follows, and the consumer merges the two in push order.
//
// Threads: one producer thread at a time (a run's training thread; the
// Trainer makes a new queue per run) and one consumer thread at a time (the
// JS thread); close(), dropped() and size() may be called from any thread.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

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

// What a producer hands to push().
struct Event {
  EventType type = EventType::Step;
  double a = 0, b = 0, c = 0;
  std::string s1, s2;
};

// What the consumer reads: a flat record (no heap allocation per event); the
// rare strings live in the batch's side table.
struct EventRecord {
  static constexpr uint32_t kNoString = UINT32_MAX;
  EventType type = EventType::Step;
  uint32_t s1 = kNoString, s2 = kNoString;
  double a = 0, b = 0, c = 0;
};

struct EventBatch {
  std::vector<EventRecord> records;  // in push order
  std::vector<std::string> strings;
  void clear() {
    records.clear();
    strings.clear();
  }
};

enum class OverflowPolicy { Coalesce, Block };

class EventQueue {
 public:
  EventQueue(size_t stepCapacity, OverflowPolicy policy);
  EventQueue(const EventQueue&) = delete;
  EventQueue& operator=(const EventQueue&) = delete;
  ~EventQueue();

  // Appends an event. Returns true when the caller must notify the consumer
  // (no delivery was scheduled yet). In Block mode a step event waits while
  // the queue holds `stepCapacity` unacknowledged steps, unless it is closed.
  bool push(Event&& e);

  // Moves every pending event into `out` (its previous contents are dropped)
  // and marks that no delivery is scheduled, so the next push notifies again.
  // Both buffers keep their capacity: no allocation in steady state.
  void drain(EventBatch& out);

  // The consumer's delivery loop. takeForDelivery() moves every pending event
  // into `out` like drain(), but leaves the delivery marked as scheduled, so
  // events pushed while the consumer runs its handlers do not notify again;
  // the consumer takes them in its next round. endDelivery() ends the loop:
  // it returns true when the loop may stop (nothing pending and the next push
  // notifies, or a push that raced with it has already asked for a new
  // delivery); otherwise the mark stays set, it returns false, and the
  // consumer must take again, or, if it stops now anyway, arrange a new
  // delivery itself, since no push will ask for one.
  void takeForDelivery(EventBatch& out);
  bool endDelivery();

  // Block mode: the consumer has run the handlers of `steps` step events.
  void acknowledge(size_t steps);

  // Releases any producer waiting in Block mode; later pushes never wait.
  // Used on abort and on teardown so a producer can always finish.
  void close();

  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

  // Events pushed and not yet taken (a snapshot when others run).
  size_t size() const;

 private:
  struct Slot;           // one step in the ring
  struct PendingOther;   // one non-step event with its strings
  static constexpr size_t kLine = 64;

  void pushStep(const Event& e);
  void pushOther(Event&& e);
  bool requestDelivery();
  void makeRoom(uint64_t limit);
  void take(EventBatch& out);
  bool nothingPending() const;

  const size_t capacity_;
  const OverflowPolicy policy_;
  const uint64_t mask_;
  std::unique_ptr<Slot[]> ring_;

  // The producer's own (one producer thread at a time).
  alignas(kLine) uint64_t producerHead_ = 0;  // steps pushed (the next slot's index)
  uint64_t tailSeen_ = 0;          // a stale copy of tail_: never above it
  uint64_t ackedSeen_ = 0;         // a stale copy of acked_

  // Written by the producer, read by the consumer.
  alignas(kLine) std::atomic<uint64_t> head_{0};
  std::atomic<uint64_t> othersPushed_{0};
  std::atomic<bool> producerWaiting_{false};

  // Written by the consumer (tail_ also by a producer dropping a step).
  alignas(kLine) std::atomic<uint64_t> tail_{0};   // steps taken or dropped
  std::atomic<uint64_t> acked_{0};                 // Block: steps whose handlers ran
  std::atomic<uint64_t> othersTaken_{0};           // written by the consumer only
  std::vector<EventRecord> scratch_;               // consumer only: merge buffer

  alignas(kLine) std::atomic<bool> scheduled_{false};
  std::atomic<bool> closed_{false};
  std::atomic<uint64_t> dropped_{0};

  std::mutex waitMutex_;  // Block mode: a producer waiting for acknowledgements
  std::condition_variable spaceAvailable_;
  mutable std::mutex othersMutex_;
  std::vector<PendingOther> others_;  // in push order
};

}  // namespace bp
