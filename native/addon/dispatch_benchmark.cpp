#include "dispatch_benchmark.hpp"

#include <deque>
#include <memory>
#include <string>
#include <thread>

#include "event_batch.hpp"
#include "event_queue.hpp"
#include "args.hpp"
#include "napi_util.hpp"

namespace bpaddon {
namespace {

struct BenchState;
struct StepData {
  double step, loss;
};

void CallBatched(Napi::Env env, Napi::Function cb, BenchState* state, void*);
void CallNaive(Napi::Env env, Napi::Function cb, BenchState* state, StepData* data);

using BatchedTsfn = Napi::TypedThreadSafeFunction<BenchState, void, CallBatched>;
using NaiveTsfn = Napi::TypedThreadSafeFunction<BenchState, StepData, CallNaive>;

struct BenchState {
  bool naive = false;
  uint64_t count = 0;
  uint64_t delivered = 0;
  bp::EventQueue queue{4096, bp::OverflowPolicy::Block};
  bp::EventBatch drained;
  BatchEncoder encoder;
  BatchedTsfn batched;
  NaiveTsfn naiveFn;
  Napi::FunctionReference done;
  std::thread producer;
};

void finish(Napi::Env env, BenchState* state) {
  state->producer.join();
  state->encoder.reset(env);
  if (state->naive)
    state->naiveFn.Release();
  else
    state->batched.Release();
  Napi::FunctionReference done = std::move(state->done);
  delete state;
  done.Call({});
}

// The same delivery as TrainingSession::deliver: one notification delivers
// batches until the queue is idle, into the reused records buffer.
void CallBatched(Napi::Env env, Napi::Function cb, BenchState* state, void*) {
  if (env == nullptr) return;
  auto round = [&] {
    state->queue.takeForDelivery(state->drained);
    if (state->drained.records.empty()) return Round::More;
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) return Round::Yield;
    BatchValues batch;
    const size_t n = state->drained.records.size();
    state->delivered += n;
    const bool called = state->encoder.encode(env, state->drained, batch) && callJsSafely(env, cb, {batch.records, batch.strings});
    napi_close_handle_scope(env, scope);
    state->queue.acknowledge(n);
    if (state->delivered >= state->count) {
      finish(env, state);
      return Round::Done;
    }
    return called ? Round::More : Round::Yield;
  };
  deliverUntilIdle(round, [&] { return state->queue.endDelivery(); }, [&] { state->batched.NonBlockingCall(); });
}

void CallNaive(Napi::Env env, Napi::Function cb, BenchState* state, StepData* data) {
  std::unique_ptr<StepData> owned(data);
  if (env == nullptr) return;
  callJsSafely(env, cb, {Napi::Number::New(env, data->step), Napi::Number::New(env, data->loss)});
  if (++state->delivered >= state->count) finish(env, state);
}

}  // namespace

Napi::Value DispatchBenchmark(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Args args(info, "dispatchBenchmark(count, mode, onEvents, done)");
  const int32_t count = args.int32(0, "count", 1);
  const std::string mode = args.string(1, "mode");
  if (mode != "naive" && mode != "batched")
    throw codedRangeError(env, "dispatchBenchmark(count, mode, onEvents, done): argument 'mode' must be 'naive' or 'batched'");
  const Napi::Function onEvents = args.function(2, "onEvents");
  const Napi::Function done = args.function(3, "done");
  auto* state = new BenchState();
  state->count = static_cast<uint64_t>(count);
  state->naive = mode == "naive";
  state->done = Napi::Persistent(done);
  if (state->naive) {
    state->naiveFn = NaiveTsfn::New(env, onEvents, "backpropagate.bench", 0, 1, state);
    state->producer = std::thread([state] {
      NaiveTsfn fn = state->naiveFn;
      for (uint64_t i = 1; i <= state->count; ++i) {
        auto* d = new StepData{static_cast<double>(i), 1.0 / static_cast<double>(i)};
        if (fn.NonBlockingCall(d) != napi_ok) {
          delete d;
          return;
        }
      }
    });
  } else {
    state->batched = BatchedTsfn::New(env, onEvents, "backpropagate.bench", 0, 1, state);
    state->producer = std::thread([state] {
      BatchedTsfn fn = state->batched;
      for (uint64_t i = 1; i <= state->count; ++i) {
        if (state->queue.push(bp::Event{bp::EventType::Step, static_cast<double>(i), 1.0 / static_cast<double>(i), 1}))
          fn.NonBlockingCall();
      }
    });
  }
  return env.Undefined();
}

}  // namespace bpaddon
