'use strict';
// Leak checks over many short runs: native threads (/proc/self/task), libuv
// handles, AbortSignal listeners and resident memory return to (or stay near)
// their baseline.
//
// Bounds: thread and handle counts must return exactly to the baseline;
// RSS may grow by less than 50 MB over all the runs of one test.
//
// A trainer's run thread and CPU worker threads stay parked for IDLE_EXIT_MS
// after a run (so the next run starts warm) and then exit on their own:
// baselines are taken once every earlier trainer's threads have exited, and
// "back to baseline" allows that long for the last run's threads to go.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { getEventListeners } = require('node:events');

const dist = process.env.BP_DIST || path.join(__dirname, '..', 'dist');
const { Trainer, TrainingCallback, datasets } = require(dist);
const { waitFor } = require('./helpers');

const RUNS = 300;
const IDLE_EXIT_MS = 2000; // ThreadPool::kIdleExit and RunThread::kIdleExit in native/engine
const RSS_BOUND_MB = 50;
const DATA = datasets.blobs({ samples: 64, classes: 2, features: 2, seed: 3 });
const OPTIONS = Object.freeze({ model: { inputSize: 2, hiddenLayers: [4], outputSize: 2 }, seed: 3, learningRate: 0.01, threads: 2 });

const threadCount = () => fs.readdirSync('/proc/self/task').length;
const handleCount = () => process._getActiveHandles().length;
const rssMB = () => process.memoryUsage().rss / (1024 * 1024);
const tick = () => new Promise((resolve) => setImmediate(resolve));

/** Runs once so every lazily created thread (libuv pool, V8 helpers) exists before the baseline is taken. */
async function warmUp() {
  await fs.promises.stat(__dirname); // starts libuv's thread pool
  const t = new Trainer(OPTIONS);
  await t.train(DATA, { maxSteps: 2, batchSize: 16 }, new TrainingCallback({ onStep() {} }));
  await settleDown();
}

async function settleDown() {
  if (global.gc) global.gc();
  await tick();
  await tick();
}

/** Taken once the parked workers of earlier runs have exited (they exit IDLE_EXIT_MS after their last task). */
async function baseline() {
  await new Promise((resolve) => setTimeout(resolve, IDLE_EXIT_MS + 500));
  await settleDown();
  return { threads: threadCount(), handles: handleCount(), rss: rssMB() };
}

/** Threads and handles go back to the baseline (the last run's threads get time to exit); RSS stays within the bound. */
async function assertBackToBaseline(base, label) {
  await waitFor(() => threadCount() <= base.threads, {
    timeoutMs: IDLE_EXIT_MS + 10000,
    message: () => `${label}: thread count to return to ${base.threads} (now ${threadCount()})`,
  });
  await waitFor(() => handleCount() <= base.handles, {
    timeoutMs: 5000,
    message: () => `${label}: active handles to return to ${base.handles} (now ${handleCount()}: ${process._getActiveHandles().map((h) => h.constructor.name).join(', ')})`,
  });
  assert.equal(threadCount(), base.threads, `${label}: threads`);
  assert.equal(handleCount(), base.handles, `${label}: handles`);
  await settleDown();
  const growth = rssMB() - base.rss;
  assert.ok(growth < RSS_BOUND_MB, `${label}: RSS grew by ${growth.toFixed(1)} MB (bound ${RSS_BOUND_MB} MB)`);
}

describe('leaks over many runs', function () {
  before(warmUp);

  it(`${RUNS} sequential short runs on one trainer leave no threads, handles or memory behind`, async () => {
    const trainer = new Trainer(OPTIONS);
    await trainer.train(DATA, { maxSteps: 2, batchSize: 16 });
    await settleDown();
    const base = await baseline();
    let steps = 0;
    let maxThreadsDuringRuns = 0;
    const cb = new TrainingCallback({
      onStep: () => {
        steps++;
        maxThreadsDuringRuns = Math.max(maxThreadsDuringRuns, threadCount());
      },
    });
    for (let i = 0; i < RUNS; i++) {
      const run = await trainer.train(DATA, { maxSteps: 2, batchSize: 16, stepEvents: i % 2 ? 'block' : 'coalesce' }, cb);
      assert.equal(run.steps, 2);
      assert.equal(trainer.status.state, 'idle');
    }
    assert.equal(steps, 2 * RUNS);
    assert.ok(maxThreadsDuringRuns > base.threads, 'sanity: a run does start native threads');
    await assertBackToBaseline(base, 'one trainer');
  });

  it('a finished run\'s threads (the run thread and the pool worker) stay parked for the next run, then exit on their own', async () => {
    const base = await baseline();
    const trainer = new Trainer(OPTIONS); // threads: 2, so one worker beside the run thread
    await trainer.train(DATA, { maxSteps: 2, batchSize: 16 });
    // Checked at once: far inside IDLE_EXIT_MS.
    assert.equal(threadCount(), base.threads + 2, 'the run thread and the worker are parked, not gone');
    await trainer.train(DATA, { maxSteps: 2, batchSize: 16 });
    assert.equal(threadCount(), base.threads + 2, 'the next run reused both');
    await waitFor(() => threadCount() === base.threads, {
      timeoutMs: IDLE_EXIT_MS + 10000,
      message: () => `the idle threads to exit (threads ${threadCount()}, baseline ${base.threads})`,
    });
    const again = await trainer.train(DATA, { maxSteps: 2, batchSize: 16 });
    assert.equal(again.steps, 2, 'a run after the threads exited starts them again and trains');
  });

  it(`${RUNS} short runs on fresh trainers leave no threads, handles or memory behind`, async () => {
    const base = await baseline();
    for (let i = 0; i < RUNS; i++) {
      const trainer = new Trainer(OPTIONS);
      const run = await trainer.train(DATA, { maxSteps: 2, batchSize: 16 });
      assert.equal(run.steps, 2);
    }
    await assertBackToBaseline(base, 'fresh trainers');
  });

  it('aborted and failed runs release their threads and handles too', async () => {
    const base = await baseline();
    const trainer = new Trainer(OPTIONS);
    for (let i = 0; i < 100; i++) {
      const error = await trainer
        .train(DATA, { epochs: 100000, batchSize: 16, stepEvents: 'block', queueCapacity: 16 }, {
          onStep: (step) => {
            if (step === 1) trainer.abort('leak test');
          },
        })
        .then(() => null, (e) => e);
      assert.equal(error && error.name, 'AbortError');
    }
    // Divergence: SGD at learning rate 10 on a regression problem fails with RUNTIME_NON_FINITE_LOSS.
    const x = new Float32Array(64 * 2).map((_, i) => (i % 7) / 7);
    const y = new Float32Array(64).map((_, i) => x[2 * i] + x[2 * i + 1]);
    const diverging = new Trainer({ model: { inputSize: 2, hiddenLayers: [8], outputSize: 1, task: 'regression' }, optimizer: 'sgd', learningRate: 10, seed: 1, threads: 2 });
    for (let i = 0; i < 100; i++) {
      const error = await diverging.train({ x, y }, { epochs: 500, batchSize: 16 }).then(() => null, (e) => e);
      assert.equal(error && error.code, 'RUNTIME_NON_FINITE_LOSS');
    }
    await assertBackToBaseline(base, 'aborted and failed runs');
  });

  it('an AbortSignal shared by many runs keeps no listeners from finished runs', async () => {
    const trainer = new Trainer(OPTIONS);
    const controller = new AbortController();
    const warnings = [];
    const onWarning = (w) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      for (let i = 0; i < 50; i++) await trainer.train(DATA, { maxSteps: 2, batchSize: 16, signal: controller.signal });
      await tick();
    } finally {
      process.off('warning', onWarning);
    }
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
    assert.deepEqual(warnings.map((w) => w.name), [], 'no MaxListenersExceededWarning');
  });
});
