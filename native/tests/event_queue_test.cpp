// The event queue between the training thread and the JS thread
// (native/engine/event_queue.cpp): order, loss, bounds and notifications,
// with a consumer racing the producer. Also run under TSan, which checks the
// ring's atomics.
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "event_queue.hpp"
#include "testing.hpp"

using namespace bp;

namespace {

// Takes one round like the addon's delivery loop; returns the step count.
size_t takeRound(EventQueue& q, EventBatch& b, std::vector<EventRecord>& seen, std::vector<std::string>& strings) {
  q.takeForDelivery(b);
  size_t steps = 0;
  for (const auto& r : b.records) {
    steps += r.type == EventType::Step;
    EventRecord copy = r;
    if (r.s1 != EventRecord::kNoString) {
      copy.s1 = static_cast<uint32_t>(strings.size());
      strings.push_back(b.strings.at(r.s1));
    }
    seen.push_back(copy);
  }
  return steps;
}

}  // namespace

TEST(event_queue_block_is_lossless_and_bounded_ahead_of_the_consumer) {
  EventQueue q(64, OverflowPolicy::Block);
  constexpr int kSteps = 40000;
  std::atomic<int> pushed{0};
  std::thread producer([&] {
    for (int i = 1; i <= kSteps; ++i) {
      q.push(Event{EventType::Step, static_cast<double>(i)});
      pushed = i;
    }
    q.push(Event{EventType::Epoch, 1});
  });
  int last = 0, acknowledged = 0;
  bool epoch = false;
  EventBatch b;
  while (!epoch) {
    q.drain(b);
    size_t drainedSteps = 0;
    for (auto& r : b.records) {
      if (r.type == EventType::Step) {
        CHECK(static_cast<int>(r.a) == last + 1);  // order kept, nothing lost
        last = static_cast<int>(r.a);
        ++drainedSteps;
      } else if (r.type == EventType::Epoch) {
        CHECK(last == kSteps);  // the epoch comes after the last step
        epoch = true;
      }
    }
    CHECK(pushed.load() <= acknowledged + 64);  // never more than the capacity ahead of the handlers
    q.acknowledge(drainedSteps);
    acknowledged += static_cast<int>(drainedSteps);
  }
  producer.join();
  CHECK(last == kSteps);
  CHECK(q.dropped() == 0);
}

TEST(event_queue_delivery_loop_notifies_once_per_delivery) {
  EventQueue q(8, OverflowPolicy::Block);
  EventBatch b;
  CHECK(q.push(Event{EventType::Step, 1}));   // nothing scheduled: notify
  CHECK(!q.push(Event{EventType::Step, 2}));  // already scheduled
  q.takeForDelivery(b);
  CHECK(b.records.size() == 2);
  q.acknowledge(2);
  // While the consumer delivers, pushes do not ask for another delivery...
  CHECK(!q.push(Event{EventType::Step, 3}));
  CHECK(!q.push(Event{EventType::Epoch, 1}));
  // ...and the delivery cannot end while they are pending.
  CHECK(!q.endDelivery());
  CHECK(!q.push(Event{EventType::Step, 4}));
  q.takeForDelivery(b);
  CHECK(b.records.size() == 3);
  CHECK(static_cast<int>(b.records[0].a) == 3 && b.records[1].type == EventType::Epoch && static_cast<int>(b.records[2].a) == 4);
  q.acknowledge(2);
  CHECK(q.endDelivery());                    // idle: ended
  CHECK(q.push(Event{EventType::Step, 5}));  // the next push notifies again
  q.drain(b);
  CHECK(b.records.size() == 1);
}

TEST(event_queue_delivery_loop_is_lossless_under_a_fast_producer) {
  // The consumer loop of the addon: take, acknowledge, end or take again;
  // a notification starts a loop. Nothing is lost, nothing waits forever.
  EventQueue q(16, OverflowPolicy::Block);
  constexpr int kSteps = 200000;
  std::atomic<int> notifications{0};
  std::thread producer([&] {
    for (int i = 1; i <= kSteps; ++i)
      if (q.push(Event{EventType::Step, static_cast<double>(i)})) notifications++;
    if (q.push(Event{EventType::Complete})) notifications++;
  });
  int expect = 1, handled = 0;
  bool complete = false;
  EventBatch b;
  while (!complete) {
    while (handled == notifications.load()) std::this_thread::yield();
    ++handled;
    do {
      q.takeForDelivery(b);
      size_t steps = 0;
      for (auto& r : b.records) {
        if (r.type == EventType::Step) {
          CHECK(static_cast<int>(r.a) == expect);
          ++expect;
          ++steps;
        }
        complete = complete || r.type == EventType::Complete;
      }
      q.acknowledge(steps);
    } while (!complete && !q.endDelivery());
  }
  producer.join();
  CHECK(expect == kSteps + 1);
  CHECK(handled == notifications.load());  // no notification left unhandled
}

TEST(event_queue_coalesce_counts_every_drop_and_keeps_the_newest) {
  EventQueue q(16, OverflowPolicy::Coalesce);
  constexpr int kSteps = 150000;
  std::thread producer([&] {
    for (int i = 1; i <= kSteps; ++i) {
      q.push(Event{EventType::Step, static_cast<double>(i)});
      if (i % 1000 == 0) q.push(Event{EventType::Save, static_cast<double>(i), 0, 0, "ckpt", ""});
    }
  });
  producer.join();
  EventBatch b;
  q.drain(b);
  size_t steps = 0, saves = 0;
  int lastStep = 0;
  for (auto& r : b.records) {
    if (r.type == EventType::Step) {
      ++steps;
      lastStep = static_cast<int>(r.a);
    }
    if (r.type == EventType::Save) {
      ++saves;
      CHECK(b.strings.at(r.s1) == "ckpt");
    }
  }
  CHECK(steps == 16);                          // bounded: exactly the capacity is kept
  CHECK(saves == kSteps / 1000);               // critical events never dropped
  CHECK(steps + q.dropped() == kSteps);        // every drop counted
  CHECK(lastStep == kSteps);                   // the newest step is kept
}

TEST(event_queue_memory_stays_bounded_while_nobody_drains) {
  EventQueue q(32, OverflowPolicy::Coalesce);
  for (int i = 0; i < 1000000; ++i) q.push(Event{EventType::Step, static_cast<double>(i)});
  CHECK(q.size() <= 32);
  CHECK(q.dropped() == 1000000 - 32);
}

TEST(event_queue_other_events_keep_their_place_among_steps) {
  // Steps through the ring, the rest through the locked list: the consumer
  // must merge them back in push order, also across rounds and under drops.
  for (OverflowPolicy policy : {OverflowPolicy::Block, OverflowPolicy::Coalesce}) {
    EventQueue q(64, policy);
    constexpr int kSteps = 30000;
    std::thread producer([&] {
      for (int i = 1; i <= kSteps; ++i) {
        q.push(Event{EventType::Step, static_cast<double>(i)});
        if (i % 97 == 0) q.push(Event{EventType::Save, static_cast<double>(i), 0, 0, "ckpt-" + std::to_string(i), ""});
        if (i % 1000 == 0) q.push(Event{EventType::Epoch, static_cast<double>(i)});
      }
      q.push(Event{EventType::Complete, static_cast<double>(kSteps)});
    });
    std::vector<EventRecord> seen;
    std::vector<std::string> strings;
    EventBatch b;
    bool complete = false;
    while (!complete) {
      const size_t steps = takeRound(q, b, seen, strings);
      q.acknowledge(steps);
      complete = !seen.empty() && seen.back().type == EventType::Complete;
    }
    producer.join();
    double lastStep = 0;
    int saves = 0, epochs = 0, steps = 0;
    for (const auto& r : seen) {
      if (r.type == EventType::Step) {
        CHECK(r.a > lastStep);  // increasing: nothing out of order, nothing twice
        lastStep = r.a;
        ++steps;
      } else {
        // An event pushed after step i comes after step i and before step i + 1.
        CHECK(lastStep <= r.a);
        if (r.type == EventType::Save) {
          ++saves;
          CHECK(strings.at(r.s1) == "ckpt-" + std::to_string(static_cast<int>(r.a)));
        }
        epochs += r.type == EventType::Epoch;
      }
    }
    CHECK(saves == kSteps / 97 && epochs == kSteps / 1000);  // never dropped
    CHECK(lastStep == kSteps);                               // the newest step is kept
    if (policy == OverflowPolicy::Block) CHECK(steps == kSteps && q.dropped() == 0);
    CHECK(steps + q.dropped() == static_cast<uint64_t>(kSteps));
  }
}

TEST(event_queue_coalesce_drops_race_a_live_consumer_and_count_exactly) {
  // A producer dropping the oldest step competes with the consumer claiming
  // it: each step must end up delivered or counted as dropped, never both.
  EventQueue q(4, OverflowPolicy::Coalesce);
  constexpr int kSteps = 300000;
  std::atomic<bool> done{false};
  std::thread producer([&] {
    for (int i = 1; i <= kSteps; ++i) q.push(Event{EventType::Step, static_cast<double>(i)});
    done = true;
  });
  EventBatch b;
  uint64_t delivered = 0;
  double last = 0;
  for (;;) {
    const bool finished = done.load();
    q.takeForDelivery(b);
    for (const auto& r : b.records) {
      CHECK(r.a > last);
      last = r.a;
      ++delivered;
    }
    if (finished && b.records.empty()) break;
  }
  producer.join();
  CHECK(last == kSteps);
  CHECK(delivered + q.dropped() == static_cast<uint64_t>(kSteps));
}

TEST(event_queue_close_releases_a_blocked_producer_and_keeps_critical_events) {
  EventQueue q(2, OverflowPolicy::Block);
  std::atomic<int> pushed{0};
  std::thread producer([&] {
    for (int i = 1; i <= 1000; ++i) {
      q.push(Event{EventType::Step, static_cast<double>(i)});
      pushed = i;
    }
    q.push(Event{EventType::Aborted, 0, 0, 0, "stopped", ""});
  });
  // Nobody acknowledges: the producer waits after two steps.
  while (pushed.load() < 2) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(pushed.load() == 2);
  q.close();
  producer.join();
  EventBatch b;
  q.drain(b);
  // The ring (16 slots) keeps the newest steps; the rest are counted, the terminal event is kept.
  CHECK(b.records.back().type == EventType::Aborted && b.strings.at(b.records.back().s1) == "stopped");
  CHECK(b.records.size() - 1 + q.dropped() == 1000);
  CHECK(b.records[b.records.size() - 2].a == 1000);
}

TEST(event_queue_end_delivery_never_strands_an_event) {
  // Each push that asks for a delivery starts one consumer loop; a loop ends
  // only through endDelivery. Every event must be taken by some loop.
  EventQueue q(1024, OverflowPolicy::Coalesce);
  constexpr int kEvents = 200000;
  std::atomic<int> requested{0};
  std::thread producer([&] {
    for (int i = 1; i <= kEvents; ++i) {
      Event e{i % 5 == 0 ? EventType::Epoch : EventType::Step, static_cast<double>(i)};
      if (q.push(std::move(e))) requested++;
      if (i % 64 == 0) std::this_thread::yield();
    }
  });
  int loops = 0, taken = 0;
  EventBatch b;
  auto lastProgress = std::chrono::steady_clock::now();
  while (taken + static_cast<int>(q.dropped()) < kEvents) {
    if (loops == requested.load()) {
      // A stranded event shows as pending with no delivery asked for.
      if (std::chrono::steady_clock::now() - lastProgress > std::chrono::seconds(10)) break;
      std::this_thread::yield();
      continue;
    }
    lastProgress = std::chrono::steady_clock::now();
    ++loops;
    do {
      q.takeForDelivery(b);
      taken += static_cast<int>(b.records.size());
    } while (!q.endDelivery());
  }
  producer.join();
  CHECK(taken + static_cast<int>(q.dropped()) == kEvents);
  CHECK(q.size() == 0);
}
