'use strict';
// Edge rows (roadmap 1.3): throwing, slow/blocking handlers, coalesce vs
// block floods, handlers that modify trainer state or call back into the
// trainer, sequential runs, TRAINER_BUSY, and abort (method, signal,
// pre-aborted, latency, reuse).
//
// No speed assertions: bounds are on step counts, never on milliseconds.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const dist = process.env.BP_DIST || path.join(__dirname, '..', 'dist');
const { Trainer, TrainingCallback, datasets, BackpropError } = require(dist);
const { createSpy, createTracker, waitFor, blockEventLoop } = require('./helpers');

/** 320 rows: with batchSize 32, exactly 10 steps per epoch. */
const DATA = datasets.spirals({ samples: 320, classes: 3, seed: 9 });
const MODEL = Object.freeze({ inputSize: 2, hiddenLayers: [16], outputSize: 3 });
/** Enough epochs that a run is still going when a test acts on it (it is always aborted or bounded by maxSteps). */
const LONG = 100000;

function newTrainer(overrides = {}) {
  return new Trainer({ model: { ...MODEL }, seed: 9, learningRate: 0.01, threads: 1, ...overrides });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const tick = () => new Promise((resolve) => setImmediate(resolve));
const settle = (promise) => promise.then((run) => ({ run }), (error) => ({ error }));

/** Asserts the promise rejects with an AbortError and returns it. */
async function expectAbort(promise) {
  const outcome = await settle(promise);
  assert.ok(outcome.error, `expected an AbortError, but the run completed with ${outcome.run && outcome.run.steps} steps`);
  const error = outcome.error;
  assert.equal(error.name, 'AbortError', `expected an AbortError, got ${error}`);
  assert.equal(error.code, 'ABORT_ERR');
  assert.ok(error.run, 'AbortError carries the partial run');
  assert.equal(error.run.metadata.outcome, 'aborted');
  return error;
}

describe('training edge cases (1.3)', function () {
  // Trainers with a run that a failing test may have left going: abort them so no run outlives its test.
  const live = new Set();
  const track = (trainer) => {
    live.add(trainer);
    return trainer;
  };
  afterEach(async () => {
    for (const t of live) {
      if (t.status.state !== 'idle') t.abort('test cleanup');
    }
    await waitFor(() => [...live].every((t) => t.status.state === 'idle'), { timeoutMs: 5000, message: 'trainers to go idle' });
    live.clear();
  });

  describe('test_callback_raises_exception', () => {
    it('test_callback_raises_exception: every handler throwing every time changes nothing about the run', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bp-edge-throw-'));
      try {
        const trainer = newTrainer();
        const hooks = [];
        trainer.on('callbackError', (error, info) => {
          assert.equal(info.error, error);
          hooks.push(info.hook);
        });
        const thrower = (name) => () => {
          throw new Error(`${name} failed`);
        };
        const run = await trainer.train(
          DATA,
          { epochs: 3, batchSize: 32, stepEvents: 'block', outputDir: dir, saveEveryEpoch: true },
          new TrainingCallback({ onStep: thrower('onStep'), onEpoch: thrower('onEpoch'), onSave: thrower('onSave'), onComplete: thrower('onComplete') }),
        );
        assert.equal(run.steps, 30);
        assert.equal(run.metadata.outcome, 'completed');
        const count = (h) => hooks.filter((x) => x === h).length;
        assert.equal(count('onStep'), 30);
        assert.equal(count('onEpoch'), 3);
        assert.equal(count('onSave'), 3);
        assert.equal(count('onComplete'), 1);
        assert.equal(hooks[hooks.length - 1], 'onComplete');
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('non-Error throw values (string, undefined, object) are reported as thrown', async () => {
      const trainer = newTrainer();
      const reported = [];
      trainer.on('callbackError', (error, info) => reported.push({ error, hook: info.hook }));
      const thrownObject = { why: 'object' };
      const values = ['a string', undefined, thrownObject];
      const run = await trainer.train(DATA, { epochs: 1, batchSize: 32, stepEvents: 'block' }, {
        onStep: (step) => {
          if (step <= 3) throw values[step - 1];
        },
      });
      assert.equal(run.steps, 10);
      assert.equal(reported.length, 3);
      assert.equal(reported[0].error, 'a string');
      assert.equal(reported[1].error, undefined);
      assert.equal(reported[2].error, thrownObject);
      assert.ok(reported.every((r) => r.hook === 'onStep'));
    });

    it('a callbackError listener that throws itself does not break training', async () => {
      const trainer = newTrainer();
      trainer.on('callbackError', () => {
        throw new Error('the error listener broke too');
      });
      const run = await trainer.train(DATA, { epochs: 2, batchSize: 32 }, {
        onStep: () => {
          throw new Error('handler broke');
        },
      });
      assert.equal(run.steps, 20);
    });

    it('a throwing onStep in coalesce mode still gets the final step', async () => {
      const trainer = newTrainer();
      trainer.on('callbackError', () => {});
      const steps = [];
      const run = await trainer.train(DATA, { epochs: 5, batchSize: 32 }, {
        onStep: (step) => {
          steps.push(step);
          throw new Error('x');
        },
      });
      assert.equal(steps[steps.length - 1], run.steps);
    });
  });

  describe('test_callback_slow_handler', () => {
    it("test_callback_slow_handler: 'coalesce' with a 50 ms blocking onStep: fewer calls than steps, the rest counted as dropped, last step delivered", async () => {
      const trainer = newTrainer();
      const steps = [];
      const epochs = [];
      const run = await trainer.train(DATA, { epochs: 30, batchSize: 32, stepEvents: 'coalesce', queueCapacity: 16 }, {
        onStep: (step) => {
          steps.push(step);
          blockEventLoop(50);
        },
        onEpoch: (e) => epochs.push(e),
      });
      assert.equal(run.steps, 300);
      assert.ok(steps.length < run.steps, `expected dropped step events: ${steps.length} onStep calls for ${run.steps} steps`);
      assert.equal(run.metadata.droppedStepEvents, run.steps - steps.length);
      assert.equal(steps[steps.length - 1], run.steps, 'the last step is always delivered');
      for (let i = 1; i < steps.length; i++) assert.ok(steps[i] > steps[i - 1], 'delivered steps strictly increase');
      assert.deepEqual(epochs, Array.from({ length: 30 }, (_, i) => i + 1), 'epoch events are never dropped');
      assert.equal(run.lossHistory.length, run.steps, 'dropped events lose no loss values');
    });

    it("test_callback_slow_handler: 'block' with a 50 ms blocking onStep: every step delivered, nothing dropped", async () => {
      const trainer = newTrainer();
      const steps = [];
      const run = await trainer.train(DATA, { epochs: 4, batchSize: 32, stepEvents: 'block', queueCapacity: 16 }, {
        onStep: (step) => {
          steps.push(step);
          blockEventLoop(50);
        },
      });
      assert.equal(run.steps, 40);
      assert.deepEqual(steps, Array.from({ length: 40 }, (_, i) => i + 1));
      assert.equal(run.metadata.droppedStepEvents, 0);
    });

    it('training advances while the JS thread is blocked for 300 ms', async () => {
      const trainer = track(newTrainer());
      const promise = settle(trainer.train(DATA, { epochs: LONG, batchSize: 32 }));
      await waitFor(() => trainer.status.state === 'running' && trainer.status.step > 0, { message: 'the run to start' });
      const before = trainer.status.step;
      blockEventLoop(300);
      const after = trainer.status.step;
      trainer.abort('done');
      const { error } = await promise;
      assert.equal(error && error.name, 'AbortError');
      assert.ok(after > before, `status.step did not move while JS was blocked (${before} -> ${after})`);
      assert.ok(error.run.steps >= after);
    });

    it('training starts when train() is called: blocking the JS thread right after train() returns still sees steps advance', async () => {
      const trainer = track(newTrainer());
      const promise = settle(trainer.train(DATA, { epochs: LONG, batchSize: 32 }));
      const before = trainer.status.step;
      blockEventLoop(300);
      const after = trainer.status.step;
      const stateAfter = trainer.status.state;
      // (abort() before the run has started is lost, so wait for it to be running before stopping it.)
      await waitFor(() => trainer.status.step > 0, { message: 'the run to start' });
      trainer.abort('done');
      const { error } = await promise;
      assert.equal(error && error.name, 'AbortError');
      assert.ok(after > before, `status.step stayed at ${after} (state '${stateAfter}') during a 300 ms block right after train(): the run had not started`);
    });

    it('training advances while a handler blocks (status read inside the blocking handler moves)', async () => {
      const trainer = track(newTrainer());
      let inside = null;
      const promise = settle(
        trainer.train(DATA, { epochs: LONG, batchSize: 32 }, {
          onStep: () => {
            if (inside) return;
            const before = trainer.status.step;
            blockEventLoop(300);
            inside = { before, after: trainer.status.step };
            trainer.abort('seen enough');
          },
        }),
      );
      const { error } = await promise;
      assert.equal(error && error.name, 'AbortError');
      assert.ok(inside.after > inside.before, `status.step ${inside.before} -> ${inside.after} during a 300 ms handler`);
    });
  });

  describe('coalesce vs block flood', () => {
    const flood = { epochs: 50, batchSize: 8, queueCapacity: 16 }; // 40 steps per epoch, 2000 steps

    it("'coalesce': delivered + dropped === steps, order kept, final step and every epoch delivered", async () => {
      const tracker = createTracker();
      const run = await newTrainer().train(DATA, { ...flood, stepEvents: 'coalesce' }, {
        onStep: (step) => tracker.record('step', step),
        onEpoch: (e) => tracker.record('epoch', e),
      });
      assert.equal(run.steps, 2000);
      const steps = tracker.events.filter((e) => e.name === 'step').map((e) => e.payload);
      assert.equal(steps.length + run.metadata.droppedStepEvents, run.steps);
      for (let i = 1; i < steps.length; i++) assert.ok(steps[i] > steps[i - 1]);
      assert.equal(steps[steps.length - 1], 2000);
      assert.equal(tracker.count('epoch'), 50);
      assert.equal(run.metadata.stepEvents, 'coalesce');
    });

    it("'block': all 2000 steps delivered in order, droppedStepEvents 0", async () => {
      const steps = [];
      const run = await newTrainer().train(DATA, { ...flood, stepEvents: 'block' }, { onStep: (s) => steps.push(s) });
      assert.equal(run.steps, 2000);
      assert.equal(steps.length, 2000);
      assert.ok(steps.every((s, i) => s === i + 1));
      assert.equal(run.metadata.droppedStepEvents, 0);
      assert.equal(run.metadata.stepEvents, 'block');
    });
  });

  describe('test_callback_modifies_state', () => {
    it('test_callback_modifies_state: setLearningRate in onStep shows in status and in run.metadata.learningRate', async () => {
      const trainer = newTrainer();
      const seen = [];
      const run = await trainer.train(DATA, { epochs: 20, batchSize: 32, stepEvents: 'block', queueCapacity: 16 }, {
        onStep: (step) => {
          if (step === 5) trainer.setLearningRate(0.0025);
          if (step === 6 || step === 50) seen.push(trainer.status.learningRate);
        },
      });
      assert.deepEqual(seen, [0.0025, 0.0025]);
      assert.equal(run.metadata.learningRate, 0.0025);
      assert.equal(trainer.status.learningRate, 0.0025);
    });

    it('an invalid setLearningRate inside a handler is reported as a handler error; the run keeps its rate', async () => {
      const trainer = newTrainer();
      const errors = [];
      trainer.on('callbackError', (error, info) => errors.push({ error, hook: info.hook }));
      const run = await trainer.train(DATA, { epochs: 1, batchSize: 32, stepEvents: 'block' }, {
        onStep: (step) => {
          if (step === 2) trainer.setLearningRate(-1);
        },
      });
      assert.equal(run.steps, 10);
      assert.equal(errors.length, 1);
      assert.equal(errors[0].hook, 'onStep');
      assert.ok(errors[0].error instanceof BackpropError);
      assert.equal(errors[0].error.code, 'CONFIG_INVALID');
      assert.equal(errors[0].error.details.field, 'learningRate');
      assert.equal(run.metadata.learningRate, 0.01);
    });

    it("pause() in onStep then resume() from a timer: the run completes, with one 'paused' then one 'resumed'", async () => {
      const trainer = newTrainer();
      const tracker = createTracker();
      let pausedAt = null;
      trainer.on('paused', () => {
        pausedAt = trainer.status.step;
        tracker.record('paused', { state: trainer.status.state, step: pausedAt });
        setTimeout(() => {
          tracker.record('still-paused', { state: trainer.status.state, step: trainer.status.step });
          trainer.resume();
        }, 100);
      });
      trainer.on('resumed', () => tracker.record('resumed', trainer.status.state));
      const steps = [];
      const run = await trainer.train(DATA, { epochs: 20, batchSize: 32, stepEvents: 'block', queueCapacity: 16 }, {
        onStep: (step) => {
          steps.push(step);
          if (step === 5) trainer.pause();
        },
        onComplete: () => tracker.record('complete'),
      });
      assert.equal(run.steps, 200);
      assert.deepEqual(steps, Array.from({ length: 200 }, (_, i) => i + 1));
      tracker.assertSequence(['paused', 'still-paused', 'resumed', 'complete']);
      const [paused, stillPaused] = tracker.events;
      assert.equal(paused.payload.state, 'paused');
      assert.equal(stillPaused.payload.state, 'paused');
      assert.equal(stillPaused.payload.step, paused.payload.step, 'no step is taken while paused');
      assert.ok(pausedAt >= 5 && pausedAt < 200);
    });

    it('a handler that tries to modify the frozen run cannot change what the promise resolves with', async () => {
      const trainer = newTrainer();
      const errors = [];
      trainer.on('callbackError', (error) => errors.push(error));
      const run = await trainer.train(DATA, { epochs: 1, batchSize: 32 }, {
        onComplete: (r) => {
          'use strict';
          r.steps = 0;
        },
      });
      assert.equal(run.steps, 10);
      assert.equal(errors.length, 1);
      assert.ok(errors[0] instanceof TypeError);
    });
  });

  describe('test_callback_reentrant', () => {
    it("test_callback_reentrant: trainer.abort() inside onStep at step 5 ('block') rejects AbortError with err.run.steps 5 or 6", async () => {
      const trainer = track(newTrainer());
      const onError = createSpy('onError');
      const error = await expectAbort(
        trainer.train(DATA, { epochs: 100, batchSize: 32, stepEvents: 'block' }, {
          onStep: (step) => {
            if (step !== 5) return;
            // The handler does some work first (20 ms). In 'block' mode training must not
            // run ahead of the handlers meanwhile, so the abort still lands at the next step.
            blockEventLoop(20);
            trainer.abort('enough at 5');
          },
          onError,
        }),
      );
      onError.assertCalled(1);
      assert.equal(onError.lastCall.args[0], error);
      assert.equal(error.reason, 'enough at 5');
      assert.ok(error.run.steps >= 5 && error.run.steps <= 6, `abort at step 5 must stop at the next step boundary, but the run took ${error.run.steps} steps`);
    });

    it('trainer.status read inside handlers: state running, step >= the delivered step, runId of this run', async () => {
      const trainer = track(newTrainer());
      const inStep = [];
      const inEpoch = [];
      const run = await trainer.train(DATA, { epochs: 50, batchSize: 32, stepEvents: 'block', queueCapacity: 16 }, {
        onStep: (step) => {
          if (step <= 100) inStep.push({ step, status: trainer.status });
        },
        onEpoch: (epoch) => {
          if (epoch <= 10) inEpoch.push({ epoch, status: trainer.status });
        },
      });
      assert.equal(inStep.length, 100);
      for (const { step, status } of inStep) {
        // The run has 500 steps; these handlers run at most a queue's worth behind the native thread.
        assert.equal(status.state, 'running', `state at step ${step}`);
        assert.ok(status.step >= step, `status.step ${status.step} is behind the delivered step ${step}`);
        assert.equal(status.runId, run.runId);
        assert.equal(status.learningRate, 0.01);
      }
      for (const { epoch, status } of inEpoch) {
        assert.equal(status.state, 'running');
        assert.ok(status.epoch >= epoch);
      }
    });

    it('train() called from inside onStep rejects TRAINER_BUSY and the running run is unaffected', async () => {
      const trainer = newTrainer();
      let inner = null;
      const run = await trainer.train(DATA, { epochs: 2, batchSize: 32, stepEvents: 'block' }, {
        onStep: (step) => {
          if (step === 3) inner = settle(trainer.train(DATA, { epochs: 1 }));
        },
      });
      assert.equal(run.steps, 20);
      const { error } = await inner;
      assert.ok(error instanceof BackpropError);
      assert.equal(error.code, 'TRAINER_BUSY');
    });

    it('predict(), evaluate() and save() from inside onStep work during the run', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bp-edge-reentrant-'));
      try {
        const trainer = newTrainer();
        let saved = null;
        let probs = null;
        let evaluation = null;
        const run = await trainer.train(DATA, { epochs: 5, batchSize: 32, stepEvents: 'block' }, {
          onStep: (step) => {
            if (step !== 7) return;
            probs = trainer.predict(new Float32Array([0.1, 0.2, -0.3, 0.4]));
            evaluation = trainer.evaluate(DATA);
            saved = trainer.save(path.join(dir, 'mid-run'));
          },
        });
        assert.equal(run.steps, 50);
        assert.equal(probs.length, 6);
        for (let r = 0; r < 2; r++) {
          const sum = probs[3 * r] + probs[3 * r + 1] + probs[3 * r + 2];
          assert.ok(Math.abs(sum - 1) < 1e-5, `row ${r} probabilities sum to ${sum}`);
        }
        assert.ok(Number.isFinite(evaluation.loss));
        assert.ok(evaluation.accuracy >= 0 && evaluation.accuracy <= 1);
        const folder = await saved;
        const loaded = await Trainer.load(folder);
        assert.equal(loaded.predict(new Float32Array([0.5, 0.5])).length, 3);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('test_multiple_callbacks_sequential', () => {
    it('test_multiple_callbacks_sequential: several runs in sequence on one trainer, each with its own callback', async () => {
      const trainer = newTrainer();
      const runs = [];
      const callbacks = [];
      for (let i = 0; i < 3; i++) {
        const cb = new TrainingCallback({
          onStep: createSpy(`onStep${i}`),
          onEpoch: createSpy(`onEpoch${i}`),
          onComplete: createSpy(`onComplete${i}`),
          onError: createSpy(`onError${i}`),
        });
        callbacks.push(cb);
        runs.push(await trainer.train(DATA, { epochs: i + 1, batchSize: 32, stepEvents: 'block' }, cb));
      }
      runs.forEach((run, i) => {
        const cb = callbacks[i];
        assert.equal(run.steps, 10 * (i + 1));
        assert.deepEqual(cb.onStep.calls.map((c) => c.args[0]), Array.from({ length: run.steps }, (_, k) => k + 1), `run ${i} sees only its own steps, from 1`);
        assert.deepEqual(cb.onEpoch.calls.map((c) => c.args[0]), Array.from({ length: i + 1 }, (_, k) => k + 1));
        cb.onComplete.assertCalled(1);
        assert.equal(cb.onComplete.lastCall.args[0], run);
        cb.onError.assertCalled(0);
      });
      assert.equal(new Set(runs.map((r) => r.runId)).size, 3);
      // Training continues from the previous run's weights.
      assert.ok(runs[2].lossHistory[0] < runs[0].lossHistory[0], 'a later run starts from the trained weights');
    });

    it('one callback object reused for two sequential runs is called for both', async () => {
      const trainer = newTrainer();
      const onStep = createSpy('onStep');
      const onComplete = createSpy('onComplete');
      const cb = new TrainingCallback({ onStep, onComplete });
      await trainer.train(DATA, { epochs: 1, batchSize: 32, stepEvents: 'block' }, cb);
      await trainer.train(DATA, { epochs: 1, batchSize: 32, stepEvents: 'block' }, cb);
      assert.equal(onStep.callCount, 20);
      assert.deepEqual(onStep.calls.map((c) => c.args[0]), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      onComplete.assertCalled(2);
    });
  });

  describe('TRAINER_BUSY', () => {
    it('a second train() while one is running rejects TRAINER_BUSY; the first run completes untouched', async () => {
      const trainer = newTrainer();
      const first = { onStep: createSpy('first.onStep'), onComplete: createSpy('first.onComplete') };
      const second = { onStep: createSpy('second.onStep'), onError: createSpy('second.onError'), onComplete: createSpy('second.onComplete') };
      const p1 = trainer.train(DATA, { epochs: 20, batchSize: 32, stepEvents: 'block' }, first);
      const p2 = trainer.train(DATA, { epochs: 1 }, second);
      const busy = await p2.then(() => assert.fail('expected TRAINER_BUSY'), (e) => e);
      assert.ok(busy instanceof BackpropError);
      assert.equal(busy.code, 'TRAINER_BUSY');
      const run = await p1;
      assert.equal(run.steps, 200);
      assert.equal(first.onStep.callCount, 200);
      first.onComplete.assertCalled(1);
      second.onStep.assertCalled(0);
      second.onError.assertCalled(0);
      second.onComplete.assertCalled(0);
      // Once the first run settled the trainer takes a new run.
      const again = await trainer.train(DATA, { epochs: 1, batchSize: 32 });
      assert.equal(again.steps, 10);
    });

    it('two trainers can train at the same time', async () => {
      const a = newTrainer();
      const b = newTrainer({ seed: 10 });
      const [ra, rb] = await Promise.all([a.train(DATA, { epochs: 5, batchSize: 32 }), b.train(DATA, { epochs: 5, batchSize: 32 })]);
      assert.equal(ra.steps, 50);
      assert.equal(rb.steps, 50);
    });
  });

  describe('abort', () => {
    it("trainer.abort('why') rejects with an AbortError carrying the reason and the partial run; onError gets it last", async () => {
      const trainer = track(newTrainer());
      const tracker = createTracker();
      const errorEvent = createSpy('error event');
      trainer.on('error', errorEvent);
      const promise = trainer.train(DATA, { epochs: LONG, batchSize: 32 }, {
        onStep: (step) => tracker.record('step', step),
        onComplete: () => tracker.record('complete'),
        onError: (e) => tracker.record('error', e),
      });
      await waitFor(() => trainer.status.step >= 20, { message: '20 steps' });
      trainer.abort('why');
      const error = await expectAbort(promise);
      assert.equal(error.reason, 'why');
      assert.match(error.message, /why/);
      assert.ok(error.run.steps >= 20);
      assert.equal(error.run.lossHistory.length, error.run.steps);
      assert.ok(Object.isFrozen(error.run));
      assert.equal(tracker.count('error'), 1);
      assert.equal(tracker.count('complete'), 0);
      assert.equal(tracker.events[tracker.events.length - 1].name, 'error');
      assert.equal(tracker.events[tracker.events.length - 1].payload, error);
      errorEvent.assertCalled(1);
      assert.equal(errorEvent.lastCall.args[0], error);
      assert.equal(trainer.status.state, 'idle');
    });

    it('abort() without a reason still rejects with an AbortError', async () => {
      const trainer = track(newTrainer());
      const promise = trainer.train(DATA, { epochs: LONG, batchSize: 32 });
      await waitFor(() => trainer.status.step >= 5, { message: '5 steps' });
      trainer.abort();
      const error = await expectAbort(promise);
      assert.equal(error.reason, 'aborted');
    });

    it('an AbortSignal aborts the run; err.reason === signal.reason', async () => {
      const trainer = track(newTrainer());
      const controller = new AbortController();
      const onError = createSpy('onError');
      const promise = trainer.train(DATA, { epochs: LONG, batchSize: 32, signal: controller.signal }, { onError });
      await waitFor(() => trainer.status.step >= 10, { message: '10 steps' });
      const reason = new Error('user cancelled');
      controller.abort(reason);
      const error = await expectAbort(promise);
      assert.equal(error.reason, controller.signal.reason);
      assert.equal(error.reason, reason);
      assert.ok(error.run.steps >= 10);
      onError.assertCalled(1);
      assert.equal(onError.lastCall.args[0], error);
    });

    it('an AbortSignal aborted without a reason gives the signal\'s own reason', async () => {
      const trainer = track(newTrainer());
      const controller = new AbortController();
      const promise = trainer.train(DATA, { epochs: LONG, batchSize: 32, signal: controller.signal });
      await waitFor(() => trainer.status.step >= 5, { message: '5 steps' });
      controller.abort();
      const error = await expectAbort(promise);
      assert.equal(error.reason, controller.signal.reason);
    });

    it('an already-aborted signal rejects at once: no step runs, err.run.steps === 0, onError called', async () => {
      const trainer = newTrainer();
      const signal = AbortSignal.abort('cancelled before start');
      const onStep = createSpy('onStep');
      const onError = createSpy('onError');
      const onComplete = createSpy('onComplete');
      const error = await expectAbort(trainer.train(DATA, { epochs: 5, batchSize: 32, signal }, { onStep, onError, onComplete }));
      assert.equal(error.reason, 'cancelled before start');
      assert.equal(error.reason, signal.reason);
      assert.equal(error.run.steps, 0);
      assert.deepEqual([...error.run.lossHistory], []);
      onStep.assertCalled(0);
      onComplete.assertCalled(0);
      onError.assertCalled(1);
      assert.equal(onError.lastCall.args[0], error);
      assert.equal(trainer.status.step, 0);
      assert.equal(trainer.status.state, 'idle');
    });

    it('abort latency: abort() in onStep at step 50 (block mode) -> run.steps <= 51', async () => {
      const trainer = track(newTrainer());
      const N = 50;
      const delivered = [];
      const error = await expectAbort(
        trainer.train(DATA, { epochs: LONG, batchSize: 32, stepEvents: 'block' }, {
          onStep: (step) => {
            delivered.push(step);
            if (step !== N) return;
            blockEventLoop(20); // a handler that takes a moment before deciding to stop
            trainer.abort('latency');
          },
        }),
      );
      assert.ok(
        error.run.steps >= N && error.run.steps <= N + 1,
        `aborted at step ${N}, the run took ${error.run.steps} steps (onStep was called ${delivered.filter((s) => s > N).length} more times after the abort)`,
      );
    });

    it('abort while paused stops at the paused step', async () => {
      const trainer = track(newTrainer());
      const paused = createSpy('paused');
      trainer.on('paused', paused);
      const promise = trainer.train(DATA, { epochs: LONG, batchSize: 32 });
      await waitFor(() => trainer.status.step >= 10, { message: '10 steps' });
      trainer.pause();
      await waitFor(() => trainer.status.state === 'paused', { message: 'the run to pause' });
      const at = trainer.status.step;
      await sleep(50);
      assert.equal(trainer.status.step, at, 'no step is taken while paused');
      trainer.abort('stop while paused');
      const error = await expectAbort(promise);
      assert.equal(error.run.steps, at);
      paused.assertCalled(1);
    });

    it('abort() called right after train(), before the first step, is not lost', async () => {
      const trainer = track(newTrainer());
      const onStep = createSpy('onStep');
      const promise = trainer.train(DATA, { maxSteps: 20000, batchSize: 32 }, { onStep });
      trainer.abort('changed my mind');
      const error = await expectAbort(promise);
      assert.equal(error.reason, 'changed my mind');
      assert.ok(error.run.steps <= 1, `the run took ${error.run.steps} steps after an abort issued before it started`);
    });

    it('abort() on an idle trainer is a no-op for the next run', async () => {
      const trainer = newTrainer();
      trainer.abort('nothing to abort');
      const run = await trainer.train(DATA, { epochs: 1, batchSize: 32 });
      assert.equal(run.steps, 10);
      assert.equal(run.metadata.outcome, 'completed');
    });

    it('a signal aborted after the run completed has no effect', async () => {
      const trainer = newTrainer();
      const controller = new AbortController();
      const run = await trainer.train(DATA, { epochs: 1, batchSize: 32, signal: controller.signal });
      controller.abort('late');
      await tick();
      assert.equal(run.metadata.outcome, 'completed');
      const next = await trainer.train(DATA, { epochs: 1, batchSize: 32 });
      assert.equal(next.metadata.outcome, 'completed');
    });

    it('after an abort the trainer is reusable: the next run trains and completes with fresh events', async () => {
      const trainer = track(newTrainer());
      const promise = trainer.train(DATA, { epochs: LONG, batchSize: 32 });
      await waitFor(() => trainer.status.step >= 10, { message: '10 steps' });
      trainer.abort('first');
      const error = await expectAbort(promise);
      const onStep = createSpy('onStep');
      const onComplete = createSpy('onComplete');
      const run = await trainer.train(DATA, { epochs: 2, batchSize: 32, stepEvents: 'block' }, { onStep, onComplete });
      assert.equal(run.steps, 20);
      assert.notEqual(run.runId, error.run.runId);
      assert.deepEqual(onStep.calls.map((c) => c.args[0]), Array.from({ length: 20 }, (_, i) => i + 1));
      onComplete.assertCalled(1);
      // And it can be aborted again.
      const again = trainer.train(DATA, { epochs: LONG, batchSize: 32 });
      await waitFor(() => trainer.status.step >= 5, { message: '5 steps' });
      trainer.abort('second');
      assert.equal((await expectAbort(again)).reason, 'second');
    });
  });
});
