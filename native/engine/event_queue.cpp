// EventQueue: the step ring, the list of other events, and the merge that
// puts them back in push order (see event_queue.hpp for why).
//
// Indices are 64-bit counts that never wrap; a step's slot is its index
// modulo the ring size. Invariants:
//  - tail_ <= head_: steps in [tail_, head_) are pending; tail_ moves forward
//    only by compare-and-swap, by the consumer claiming [tail, head) or by a
//    producer dropping the oldest step, so a claim and a drop never both win
//    the same step (each drop and each delivery is counted exactly once).
//  - a producer writes slot i only when i - tail_ < ring size, so the step
//    that slot held before was already claimed or dropped. A consumer copying
//    a slot that a producer then overwrites (its tail was stale) loses its
//    compare-and-swap and copies again; slots are atomics, so such a copy is
//    never a data race, only wasted work.
//  - one producer thread at a time: the producer-side fields are its own.
//  - Dekker pairs (sequentially consistent): a producer publishes (head_ or
//    othersPushed_) and then reads scheduled_; the consumer clears scheduled_
//    and then reads what is published. One of them always sees the other, so
//    an event is never left pending with no delivery asked for. The same
//    holds for acked_/producerWaiting_ in Block mode.
#include "event_queue.hpp"

#include <algorithm>
#include <utility>

namespace bp {

namespace {
constexpr uint64_t kMinRing = 16;
// The ring is allocated up front (its pages are touched only as they are
// used); a larger capacity gives no useful buffering and would reserve more
// address space than a caller expects from an event queue.
constexpr uint64_t kMaxCapacity = uint64_t{1} << 20;

uint64_t ringSizeFor(uint64_t capacity) {
  uint64_t n = kMinRing;
  while (n < capacity) n <<= 1;
  return n;
}
}  // namespace

struct EventQueue::Slot {
  std::atomic<double> a, b, c;  // no initialisers: the ring's pages stay untouched until used
};

struct EventQueue::PendingOther {
  EventRecord record;
  uint64_t position = 0;  // the step index it precedes: steps below it were pushed before it
  std::string s1, s2;
};

EventQueue::EventQueue(size_t stepCapacity, OverflowPolicy policy)
    : capacity_(std::clamp<size_t>(stepCapacity, 1, kMaxCapacity)),
      policy_(policy),
      mask_(ringSizeFor(capacity_) - 1),
      ring_(new Slot[mask_ + 1]) {
  scratch_.reserve(64);
}

EventQueue::~EventQueue() = default;

bool EventQueue::push(Event&& e) {
  if (e.type == EventType::Step) {
    pushStep(e);
  } else {
    pushOther(std::move(e));
  }
  return requestDelivery();
}

void EventQueue::pushStep(const Event& e) {
  if (policy_ == OverflowPolicy::Block && producerHead_ - ackedSeen_ >= capacity_ &&
      !closed_.load(std::memory_order_acquire)) {
    ackedSeen_ = acked_.load(std::memory_order_seq_cst);
    if (producerHead_ - ackedSeen_ >= capacity_) {
      std::unique_lock<std::mutex> lock(waitMutex_);
      producerWaiting_.store(true, std::memory_order_seq_cst);
      spaceAvailable_.wait(lock, [&] {
        ackedSeen_ = acked_.load(std::memory_order_seq_cst);
        return producerHead_ - ackedSeen_ < capacity_ || closed_.load(std::memory_order_seq_cst);
      });
      producerWaiting_.store(false, std::memory_order_relaxed);
    }
  }
  if (policy_ == OverflowPolicy::Coalesce) makeRoom(capacity_);
  makeRoom(mask_ + 1);  // only binds after close() in Block mode
  Slot& slot = ring_[producerHead_ & mask_];
  slot.a.store(e.a, std::memory_order_relaxed);
  slot.b.store(e.b, std::memory_order_relaxed);
  slot.c.store(e.c, std::memory_order_relaxed);
  ++producerHead_;
  head_.store(producerHead_, std::memory_order_seq_cst);
}

// Drops the oldest pending steps until fewer than `limit` are pending.
void EventQueue::makeRoom(uint64_t limit) {
  while (producerHead_ - tailSeen_ >= limit) {
    uint64_t tail = tail_.load(std::memory_order_acquire);
    if (producerHead_ - tail >= limit &&
        tail_.compare_exchange_strong(tail, tail + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      ++tail;
    }
    tailSeen_ = tail;  // on a lost race, the tail the consumer moved to
  }
}

void EventQueue::pushOther(Event&& e) {
  PendingOther o;
  o.record.type = e.type;
  o.record.a = e.a;
  o.record.b = e.b;
  o.record.c = e.c;
  o.position = producerHead_;
  o.s1 = std::move(e.s1);
  o.s2 = std::move(e.s2);
  std::lock_guard<std::mutex> lock(othersMutex_);
  others_.push_back(std::move(o));
  othersPushed_.fetch_add(1, std::memory_order_seq_cst);
}

bool EventQueue::requestDelivery() {
  if (scheduled_.load(std::memory_order_seq_cst)) return false;
  return !scheduled_.exchange(true, std::memory_order_seq_cst);
}

void EventQueue::take(EventBatch& out) {
  out.clear();
  uint64_t tail = tail_.load(std::memory_order_acquire);
  uint64_t head = tail;
  for (;;) {
    head = head_.load(std::memory_order_acquire);
    out.records.clear();
    for (uint64_t i = tail; i < head; ++i) {
      const Slot& slot = ring_[i & mask_];
      EventRecord r;
      r.a = slot.a.load(std::memory_order_relaxed);
      r.b = slot.b.load(std::memory_order_relaxed);
      r.c = slot.c.load(std::memory_order_relaxed);
      out.records.push_back(r);
    }
    if (tail == head) break;
    // Claims the copied steps; fails if a producer dropped the oldest meanwhile (tail then holds the new tail).
    if (tail_.compare_exchange_strong(tail, head, std::memory_order_acq_rel, std::memory_order_acquire)) break;
  }
  const uint64_t taken = othersTaken_.load(std::memory_order_relaxed);
  if (othersPushed_.load(std::memory_order_acquire) == taken) return;

  // Other events pushed before step `head` belong to this batch, in place.
  std::lock_guard<std::mutex> lock(othersMutex_);
  size_t count = 0;
  while (count < others_.size() && others_[count].position <= head) ++count;
  if (count == 0) return;
  scratch_.clear();
  size_t step = 0;
  const size_t steps = out.records.size();
  for (size_t k = 0; k < count; ++k) {
    PendingOther& o = others_[k];
    while (step < steps && tail + step < o.position) scratch_.push_back(out.records[step++]);
    EventRecord r = o.record;
    if (!o.s1.empty()) {
      r.s1 = static_cast<uint32_t>(out.strings.size());
      out.strings.push_back(std::move(o.s1));
    }
    if (!o.s2.empty()) {
      r.s2 = static_cast<uint32_t>(out.strings.size());
      out.strings.push_back(std::move(o.s2));
    }
    scratch_.push_back(r);
  }
  scratch_.insert(scratch_.end(), out.records.begin() + static_cast<std::ptrdiff_t>(step), out.records.end());
  std::swap(out.records, scratch_);
  others_.erase(others_.begin(), others_.begin() + static_cast<std::ptrdiff_t>(count));
  othersTaken_.store(taken + count, std::memory_order_relaxed);
}

bool EventQueue::nothingPending() const {
  return head_.load(std::memory_order_seq_cst) == tail_.load(std::memory_order_seq_cst) &&
         othersPushed_.load(std::memory_order_seq_cst) == othersTaken_.load(std::memory_order_relaxed);
}

void EventQueue::drain(EventBatch& out) {
  // Cleared first: a push from here on notifies again, even if this drain takes its event.
  scheduled_.store(false, std::memory_order_seq_cst);
  take(out);
}

void EventQueue::takeForDelivery(EventBatch& out) { take(out); }

bool EventQueue::endDelivery() {
  scheduled_.store(false, std::memory_order_seq_cst);
  if (nothingPending()) return true;
  // Something arrived: keep delivering, unless a push already asked for a new delivery.
  return scheduled_.exchange(true, std::memory_order_seq_cst);
}

void EventQueue::acknowledge(size_t steps) {
  if (policy_ != OverflowPolicy::Block || steps == 0) return;
  acked_.fetch_add(steps, std::memory_order_seq_cst);
  if (!producerWaiting_.load(std::memory_order_seq_cst)) return;
  // The waiting producer checks acked_ under this lock: taking it orders the wake-up after that check.
  { std::lock_guard<std::mutex> lock(waitMutex_); }
  spaceAvailable_.notify_all();
}

void EventQueue::close() {
  closed_.store(true, std::memory_order_seq_cst);
  { std::lock_guard<std::mutex> lock(waitMutex_); }
  spaceAvailable_.notify_all();
}

size_t EventQueue::size() const {
  const uint64_t tail = tail_.load(std::memory_order_acquire);
  const uint64_t head = head_.load(std::memory_order_acquire);
  const uint64_t others = othersPushed_.load(std::memory_order_acquire) - othersTaken_.load(std::memory_order_relaxed);
  return static_cast<size_t>((head > tail ? head - tail : 0) + others);
}

}  // namespace bp
