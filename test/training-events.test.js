'use strict';
// Training-event integration rows (roadmap 1.2), event ordering, error
// isolation, None-safety, and the e2e rows of roadmap 4.1.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const dist = process.env.BP_DIST || path.join(__dirname, '..', 'dist');
const { Trainer, TrainingCallback, datasets, BackpropError, readCheckpoint } = require(dist);
const { createSpy, createTracker, waitFor } = require('./helpers');

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
const CHECKPOINT_FILES = ['model.safetensors', 'optimizer.safetensors', 'trainer_state.json'];

/** 320 rows: with batchSize 32, exactly 10 steps per epoch. */
const DATA = datasets.spirals({ samples: 320, classes: 3, seed: 5 });
const STEPS_PER_EPOCH = 10;

function newTrainer(overrides = {}) {
  return new Trainer({ model: { inputSize: 2, hiddenLayers: [16], outputSize: 3 }, seed: 5, learningRate: 0.01, threads: 1, ...overrides });
}

/** Regression that reliably diverges (SGD, learningRate 10, no clipping): RUNTIME_NON_FINITE_LOSS after a few steps. */
function divergingSetup() {
  const rows = 64;
  const x = new Float32Array(rows * 2).map((_, i) => (i % 7) / 7);
  const y = new Float32Array(rows).map((_, i) => x[2 * i] + x[2 * i + 1]);
  const trainer = new Trainer({
    model: { inputSize: 2, hiddenLayers: [8], outputSize: 1, task: 'regression' },
    optimizer: 'sgd',
    learningRate: 10,
    seed: 1,
    threads: 1,
  });
  return { trainer, data: { x, y }, options: { epochs: 500, batchSize: 16 } };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function makeTmp(label) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `bp-events-${label}-`));
}

/** Records every callback hook and every trainer event into the tracker (prefix cb: / ev:). */
function recordEverything(trainer, tracker) {
  const cb = new TrainingCallback({
    onStep: (step, loss) => tracker.record('cb:step', { step, loss }),
    onEpoch: (epoch) => tracker.record('cb:epoch', { epoch }),
    onSave: (p) => tracker.record('cb:save', { path: p, exists: fs.existsSync(p) }),
    onComplete: (run) => tracker.record('cb:complete', { run }),
    onError: (error) => tracker.record('cb:error', { error }),
  });
  trainer.on('step', (step, loss) => tracker.record('ev:step', { step, loss }));
  trainer.on('epoch', (epoch, info) => tracker.record('ev:epoch', { epoch, info }));
  trainer.on('save', (p) => tracker.record('ev:save', { path: p }));
  trainer.on('complete', (run) => tracker.record('ev:complete', { run }));
  trainer.on('error', (error) => tracker.record('ev:error', { error }));
  return cb;
}

/** Checkpoint step from a folder name checkpoint-<step>. */
function checkpointStep(folder) {
  const m = /checkpoint-(\d+)$/.exec(folder);
  assert.ok(m, `${folder} should be named checkpoint-<step>`);
  return Number(m[1]);
}

/**
 * The ordering contract for the callback events (cb:*) of one run:
 * steps strictly increasing, epoch e right after its last step, save after
 * the step it saves, exactly one terminal event and it is last.
 */
function assertRunOrdering(events, { stepsPerEpoch, mode }) {
  const cbEvents = events.filter((e) => e.name.startsWith('cb:'));
  const terminals = cbEvents.filter((e) => e.name === 'cb:complete' || e.name === 'cb:error');
  assert.equal(terminals.length, 1, `exactly one terminal event, got ${terminals.map((e) => e.name)}`);
  assert.equal(cbEvents[cbEvents.length - 1], terminals[0], 'the terminal event is the last callback event');
  let lastStep = 0;
  let lastEpoch = 0;
  for (let i = 0; i < cbEvents.length; i++) {
    const e = cbEvents[i];
    if (e.name === 'cb:step') {
      assert.ok(e.payload.step > lastStep, `step ${e.payload.step} after step ${lastStep}: steps must strictly increase`);
      if (mode === 'block') assert.equal(e.payload.step, lastStep + 1, 'block mode delivers every step');
      lastStep = e.payload.step;
    } else if (e.name === 'cb:epoch') {
      assert.equal(e.payload.epoch, lastEpoch + 1, 'epochs are numbered 1, 2, 3, ...');
      lastEpoch = e.payload.epoch;
      if (stepsPerEpoch) assertAtStep(cbEvents, i, lastStep, e.payload.epoch * stepsPerEpoch, `epoch ${e.payload.epoch}`, mode);
    } else if (e.name === 'cb:save') {
      assertAtStep(cbEvents, i, lastStep, checkpointStep(e.payload.path), `the save of step ${checkpointStep(e.payload.path)}`, mode);
    }
  }
}

/**
 * An epoch or save event that belongs after step `at`: in block mode it comes
 * right after step `at`; when coalescing (step events may be dropped, other
 * events never are) no later step comes before it and no earlier step after it.
 */
function assertAtStep(events, index, lastStep, at, what, mode) {
  if (mode === 'block') {
    assert.equal(lastStep, at, `${what} must come right after step ${at} (last step seen: ${lastStep})`);
    return;
  }
  assert.ok(lastStep <= at, `${what} came after step ${lastStep}, later than step ${at}`);
  const nextStep = events.slice(index + 1).find((e) => e.name === 'cb:step');
  if (nextStep) assert.ok(nextStep.payload.step > at, `step ${nextStep.payload.step} came after ${what}`);
}

describe('training events (1.2 integration)', function () {
  const tmpDirs = [];
  const tmp = (label) => {
    const d = makeTmp(label);
    tmpDirs.push(d);
    return d;
  };
  after(() => {
    for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
  });

  describe('test_on_step_called_each_step', () => {
    it('test_on_step_called_each_step: onStep receives (step, loss) for every step 1..run.steps in block mode', async () => {
      const onStep = createSpy('onStep');
      const trainer = newTrainer();
      const run = await trainer.train(DATA, { epochs: 3, batchSize: 32, stepEvents: 'block' }, new TrainingCallback({ onStep }));
      assert.equal(run.steps, 3 * STEPS_PER_EPOCH);
      assert.deepEqual(
        onStep.calls.map((c) => c.args[0]),
        Array.from({ length: run.steps }, (_, i) => i + 1),
      );
      assert.equal(onStep.lastCall.args[0], run.steps, 'the last onStep has step === run.steps');
      assert.equal(run.metadata.droppedStepEvents, 0);
    });

    it('the loss passed at step i+1 is exactly that minibatch loss, lossHistory[i]', async () => {
      const onStep = createSpy('onStep');
      const run = await newTrainer().train(DATA, { epochs: 2, batchSize: 32, stepEvents: 'block' }, { onStep });
      assert.equal(run.lossHistory.length, run.steps);
      for (let i = 0; i < run.steps; i++) {
        assert.equal(onStep.calls[i].args[0], i + 1);
        assert.ok(Object.is(onStep.calls[i].args[1], run.lossHistory[i]), `loss at step ${i + 1}: ${onStep.calls[i].args[1]} vs lossHistory[${i}] ${run.lossHistory[i]}`);
      }
      assert.equal(run.finalLoss, run.lossHistory[run.steps - 1]);
    });

    it("the 'step' event gets the same (step, loss) as onStep, right after it", async () => {
      const tracker = createTracker();
      const trainer = newTrainer();
      trainer.on('step', (step, loss) => tracker.record('ev', [step, loss]));
      await trainer.train(DATA, { epochs: 1, batchSize: 32, stepEvents: 'block' }, { onStep: (step, loss) => tracker.record('cb', [step, loss]) });
      const ev = tracker.events;
      assert.equal(ev.length, 2 * STEPS_PER_EPOCH);
      for (let i = 0; i < ev.length; i += 2) {
        assert.equal(ev[i].name, 'cb');
        assert.equal(ev[i + 1].name, 'ev');
        assert.deepEqual(ev[i + 1].payload, ev[i].payload);
      }
    });

    it('handlers run on the main JS thread', async () => {
      const { threadId } = require('node:worker_threads');
      const onStep = createSpy('onStep');
      await newTrainer().train(DATA, { epochs: 1, batchSize: 32 }, { onStep });
      onStep.assertCalled();
      for (const c of onStep.calls) assert.equal(c.thread, threadId);
    });
  });

  describe('test_on_step_loss_values_valid', () => {
    it('test_on_step_loss_values_valid: every loss is a finite positive number, cross-entropy scale at the start', async () => {
      const losses = [];
      const trainer = newTrainer();
      const run = await trainer.train(DATA, { epochs: 5, batchSize: 32, stepEvents: 'block' }, { onStep: (_, loss) => losses.push(loss) });
      assert.equal(losses.length, run.steps);
      for (const loss of losses) {
        assert.equal(typeof loss, 'number');
        assert.ok(Number.isFinite(loss) && loss > 0, `loss ${loss} should be finite and > 0`);
      }
      // Three classes from a random init: cross-entropy starts near ln(3) = 1.0986.
      assert.ok(losses[0] > 0.5 && losses[0] < 2.5, `first loss ${losses[0]} should be near ln 3`);
      const s = trainer.status;
      assert.equal(s.state, 'idle');
      assert.equal(s.step, run.steps);
      assert.equal(s.loss, run.finalLoss);
      assert.equal(s.runId, run.runId);
    });
  });

  describe('test_on_epoch_called_at_epoch_end', () => {
    it('test_on_epoch_called_at_epoch_end: onEpoch(1..epochs), epoch e right after step 10e', async () => {
      const tracker = createTracker();
      const run = await newTrainer().train(
        DATA,
        { epochs: 4, batchSize: 32, stepEvents: 'block' },
        {
          onStep: (step) => tracker.record('step', step),
          onEpoch: (epoch) => tracker.record('epoch', epoch),
        },
      );
      assert.equal(run.steps, 40);
      assert.equal(run.metadata.epochs, 4);
      const expected = [];
      for (let e = 1; e <= 4; e++) {
        for (let s = 1; s <= STEPS_PER_EPOCH; s++) expected.push(['step', (e - 1) * STEPS_PER_EPOCH + s]);
        expected.push(['epoch', e]);
      }
      assert.deepEqual(tracker.events.map((e) => [e.name, e.payload]), expected);
    });

    it("the 'epoch' event carries validation metrics when validationSplit is set", async () => {
      const infos = [];
      const trainer = newTrainer();
      trainer.on('epoch', (epoch, info) => infos.push({ epoch, info }));
      const run = await trainer.train(datasets.spirals({ samples: 400, classes: 3, seed: 5 }), { epochs: 2, batchSize: 32, validationSplit: 0.2 });
      assert.deepEqual(infos.map((i) => i.epoch), [1, 2]);
      for (const { info } of infos) {
        assert.ok(Number.isFinite(info.validationLoss) && info.validationLoss > 0);
        assert.ok(info.validationAccuracy >= 0 && info.validationAccuracy <= 1);
      }
      assert.equal(run.metadata.trainSamples, 320);
      assert.equal(run.metadata.validationSamples, 80);
      assert.equal(run.metadata.validationLoss, infos[1].info.validationLoss);
    });
  });

  describe('test_on_save_called_with_path', () => {
    it('test_on_save_called_with_path: the folder exists when onSave runs and holds the three checkpoint files', async () => {
      const dir = tmp('save');
      const saves = [];
      const tracker = createTracker();
      const run = await newTrainer().train(
        DATA,
        { epochs: 3, batchSize: 32, stepEvents: 'block', outputDir: dir, saveEverySteps: 7 },
        {
          onStep: (step) => tracker.record('step', step),
          onSave: (p) => {
            tracker.record('save', p);
            saves.push({ path: p, exists: fs.existsSync(p), files: fs.existsSync(p) ? fs.readdirSync(p).sort() : null });
          },
        },
      );
      // Steps 7, 14, 21, 28 by interval, then 30 at the end of the run.
      assert.deepEqual(saves.map((s) => checkpointStep(s.path)), [7, 14, 21, 28, 30]);
      for (const s of saves) {
        assert.ok(path.isAbsolute(s.path));
        assert.equal(path.dirname(s.path), path.resolve(dir));
        assert.ok(s.exists, `${s.path} must exist when onSave is called`);
        assert.deepEqual(s.files, CHECKPOINT_FILES, `${s.path} holds ${s.files}`);
      }
      assert.equal(run.outputPath, saves[saves.length - 1].path);
      // Each save comes right after the step it saved.
      const names = tracker.events;
      for (let i = 0; i < names.length; i++) {
        if (names[i].name !== 'save') continue;
        assert.equal(names[i - 1].name, 'step');
        assert.equal(names[i - 1].payload, checkpointStep(names[i].payload));
      }
      // The checkpoint's recorded position is the step in its name.
      const ckpt = await readCheckpoint(saves[1].path);
      assert.equal(ckpt.run.step, 14);
      assert.equal(ckpt.run.runId, run.runId);
      assert.deepEqual(ckpt.run.lossHistory, run.lossHistory.slice(0, 14));
    });
  });

  describe('test_on_complete_receives_run', () => {
    it('test_on_complete_receives_run: a deeply frozen TrainingRun with a UUID runId, the same one the promise resolves with', async () => {
      const onComplete = createSpy('onComplete');
      const onError = createSpy('onError');
      const completeEvent = createSpy('complete');
      const trainer = newTrainer();
      trainer.on('complete', completeEvent);
      const run = await trainer.train(DATA, { epochs: 2, batchSize: 32 }, new TrainingCallback({ onComplete, onError }));
      onComplete.assertCalled(1);
      onError.assertCalled(0);
      completeEvent.assertCalled(1);
      const got = onComplete.lastCall.args[0];
      assert.equal(got, run);
      assert.equal(completeEvent.lastCall.args[0], run);
      assert.ok(Object.isFrozen(got), 'run is frozen');
      assert.ok(Object.isFrozen(got.lossHistory), 'run.lossHistory is frozen');
      assert.ok(Object.isFrozen(got.metadata), 'run.metadata is frozen');
      assert.match(got.runId, UUID);
      assert.equal(got.steps, 20);
      assert.equal(got.lossHistory.length, 20);
      assert.equal(got.samplesSeen, 640);
      assert.equal(got.metadata.epochs, 2);
      assert.equal(got.metadata.outcome, 'completed');
      assert.ok(got.durationSeconds >= 0);
      assert.throws(() => {
        'use strict';
        got.lossHistory.push(1);
      }, TypeError);
    });

    it('each run gets a fresh runId', async () => {
      const trainer = newTrainer();
      const a = await trainer.train(DATA, { maxSteps: 3 });
      const b = await trainer.train(DATA, { maxSteps: 3 });
      assert.match(a.runId, UUID);
      assert.match(b.runId, UUID);
      assert.notEqual(a.runId, b.runId);
    });
  });

  describe('test_on_error_receives_exception', () => {
    it('test_on_error_receives_exception: a diverging run calls onError (RUNTIME_NON_FINITE_LOSS) once, last, and never onComplete', async () => {
      const { trainer, data, options } = divergingSetup();
      const tracker = createTracker();
      const cb = recordEverything(trainer, tracker);
      const error = await trainer.train(data, { ...options, stepEvents: 'block' }, cb).then(
        () => assert.fail('the run should have diverged'),
        (e) => e,
      );
      assert.ok(error instanceof BackpropError);
      assert.equal(error.code, 'RUNTIME_NON_FINITE_LOSS');
      assert.match(error.message, /NaN|infinite/);
      assert.equal(tracker.count('cb:error'), 1);
      assert.equal(tracker.count('cb:complete'), 0);
      assert.equal(tracker.count('ev:complete'), 0);
      const onErrorEvent = tracker.events.find((e) => e.name === 'cb:error');
      assert.equal(onErrorEvent.payload.error, error, 'onError gets the error the promise rejects with');
      assert.equal(tracker.events.find((e) => e.name === 'ev:error').payload.error, error);
      assertRunOrdering(tracker.events, { mode: 'block' });
      // The failing step never produced a step event; the partial run is on the error.
      const steps = tracker.count('cb:step');
      assert.ok(steps >= 1, 'a few steps run before the loss blows up');
      assert.ok(error.run, 'error.run holds the partial run');
      assert.ok(Object.isFrozen(error.run));
      assert.equal(error.run.steps, steps);
      assert.equal(error.run.metadata.outcome, 'failed');
      assert.equal(error.details.step, steps);
      assert.equal(trainer.status.state, 'idle');
    });

    it('the divergence setting fails the same way every time', async () => {
      const codes = [];
      for (let i = 0; i < 3; i++) {
        const { trainer, data, options } = divergingSetup();
        codes.push(await trainer.train(data, options).then(() => 'completed', (e) => e.code));
      }
      assert.deepEqual(codes, ['RUNTIME_NON_FINITE_LOSS', 'RUNTIME_NON_FINITE_LOSS', 'RUNTIME_NON_FINITE_LOSS']);
    });
  });

  describe('ordering', () => {
    for (const mode of ['block', 'coalesce']) {
      it(`${mode}: steps strictly increase, epoch after its last step, save after its step, terminal last, nothing after`, async () => {
        const dir = tmp(`order-${mode}`);
        const trainer = newTrainer();
        const tracker = createTracker();
        const cb = recordEverything(trainer, tracker);
        const run = await trainer.train(DATA, { epochs: 5, batchSize: 32, stepEvents: mode, outputDir: dir, saveEverySteps: 13, saveEveryEpoch: true }, cb);
        const recordedAtSettle = tracker.events.length;
        assertRunOrdering(tracker.events, { stepsPerEpoch: STEPS_PER_EPOCH, mode });
        assert.equal(tracker.count('cb:epoch'), 5, 'epoch events are never dropped');
        assert.equal(tracker.count('cb:save'), tracker.count('ev:save'));
        // Saves are never dropped: 13, 26, 39 by interval plus the five epoch ends.
        assert.deepEqual(
          tracker.events.filter((e) => e.name === 'cb:save').map((e) => checkpointStep(e.payload.path)),
          [10, 13, 20, 26, 30, 39, 40, 50],
        );
        // The terminal event is last among the emitter events too.
        const last = tracker.events[tracker.events.length - 1];
        assert.equal(last.name, 'ev:complete');
        assert.equal(last.payload.run, run);
        // The final step is always delivered, even when coalescing.
        const steps = tracker.events.filter((e) => e.name === 'cb:step');
        assert.equal(steps[steps.length - 1].payload.step, run.steps);
        if (mode === 'coalesce') assert.equal(steps.length + run.metadata.droppedStepEvents, run.steps);
        // Nothing arrives after the terminal event.
        await sleep(100);
        assert.equal(tracker.events.length, recordedAtSettle, 'no events after the terminal event');
      });
    }
  });

  describe('test_callback_error_isolation', () => {
    let warnings;
    const onWarning = (w) => {
      if (w.code === 'BACKPROP_CALLBACK_ERROR') warnings.push(w);
    };
    beforeEach(() => {
      warnings = [];
      process.on('warning', onWarning);
    });
    afterEach(() => {
      process.off('warning', onWarning);
    });

    it('test_callback_error_isolation: an onStep that always throws does not stop training; every step still happens', async () => {
      const trainer = newTrainer();
      const errors = [];
      trainer.on('callbackError', (error, info) => errors.push({ error, info }));
      let calls = 0;
      const onComplete = createSpy('onComplete');
      const run = await trainer.train(DATA, { epochs: 3, batchSize: 32, stepEvents: 'block' }, {
        onStep: (step) => {
          calls++;
          throw new Error(`boom at ${step}`);
        },
        onComplete,
      });
      assert.equal(run.steps, 30);
      assert.equal(calls, 30, 'onStep keeps being called after it threw');
      onComplete.assertCalled(1);
      assert.equal(errors.length, 30);
      errors.forEach(({ error, info }, i) => {
        assert.equal(info.hook, 'onStep');
        assert.equal(info.error, error);
        assert.equal(error.message, `boom at ${i + 1}`);
      });
      await tick();
      assert.equal(warnings.length, 0, 'no process warning while a callbackError listener is attached');
    });

    it('without a callbackError listener: exactly one process warning per hook per trainer', async () => {
      const trainer = newTrainer();
      const handlers = {
        onStep: () => {
          throw new Error('step handler broke');
        },
        onEpoch: () => {
          throw new Error('epoch handler broke');
        },
      };
      const run = await trainer.train(DATA, { epochs: 3, batchSize: 32 }, handlers);
      assert.equal(run.steps, 30);
      await tick();
      await tick();
      assert.equal(warnings.length, 2, `expected one warning for onStep and one for onEpoch, got: ${warnings.map((w) => w.message).join(' | ')}`);
      assert.ok(warnings.some((w) => /onStep/.test(w.message) && /step handler broke/.test(w.message)));
      assert.ok(warnings.some((w) => /onEpoch/.test(w.message) && /epoch handler broke/.test(w.message)));

      // A second run on the same trainer: still no more warnings for those hooks.
      await trainer.train(DATA, { epochs: 2, batchSize: 32 }, handlers);
      await tick();
      await tick();
      assert.equal(warnings.length, 2, 'the warning is shown once per hook per trainer, not per run');

      // Another trainer warns again (once).
      await newTrainer().train(DATA, { epochs: 1, batchSize: 32 }, { onStep: handlers.onStep });
      await tick();
      await tick();
      assert.equal(warnings.length, 3);
    });

    it('a handler returning a rejected promise is reported like a throw', async () => {
      const trainer = newTrainer();
      const errors = [];
      trainer.on('callbackError', (error, info) => errors.push({ error, info }));
      const run = await trainer.train(DATA, { epochs: 1, batchSize: 32, stepEvents: 'block' }, {
        onStep: async (step) => {
          throw new Error(`async boom ${step}`);
        },
        onEpoch: () => Promise.reject(new Error('epoch rejected')),
      });
      assert.equal(run.steps, 10);
      await waitFor(() => errors.length >= 11, { timeoutMs: 2000, message: () => `11 callbackErrors (got ${errors.length})` });
      assert.equal(errors.filter((e) => e.info.hook === 'onStep').length, 10);
      assert.equal(errors.filter((e) => e.info.hook === 'onEpoch').length, 1);
      assert.equal(errors.find((e) => e.info.hook === 'onEpoch').error.message, 'epoch rejected');
    });

    it('a rejected promise without a listener gives one process warning, not an unhandled rejection', async () => {
      const unhandled = [];
      const onUnhandled = (reason) => unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      try {
        await newTrainer().train(DATA, { epochs: 2, batchSize: 32 }, { onStep: () => Promise.reject(new Error('nope')) });
        await sleep(20);
        assert.equal(warnings.length, 1);
        assert.match(warnings[0].message, /onStep/);
        assert.equal(unhandled.length, 0);
      } finally {
        process.off('unhandledRejection', onUnhandled);
      }
    });

    it("a throwing 'step' EventEmitter listener is isolated: other listeners and handlers still run", async () => {
      const trainer = newTrainer();
      const errors = [];
      trainer.on('callbackError', (error, info) => errors.push(info.hook));
      trainer.on('step', () => {
        throw new Error('listener broke');
      });
      const second = createSpy('second step listener');
      trainer.on('step', second);
      const onStep = createSpy('onStep');
      const run = await trainer.train(DATA, { epochs: 2, batchSize: 32, stepEvents: 'block' }, { onStep });
      assert.equal(run.steps, 20);
      assert.equal(onStep.callCount, 20);
      assert.equal(second.callCount, 20);
      assert.equal(errors.length, 20);
      assert.ok(errors.every((h) => h === 'listener:step'), `hooks: ${[...new Set(errors)]}`);
    });

    it("a throwing 'step' listener without a callbackError listener warns once and training completes", async () => {
      const trainer = newTrainer();
      trainer.on('step', () => {
        throw new Error('listener broke');
      });
      const run = await trainer.train(DATA, { epochs: 2, batchSize: 32 });
      assert.equal(run.steps, 20);
      await tick();
      await tick();
      assert.equal(warnings.length, 1);
    });

    it('throwing onSave, onComplete and onError handlers neither change the outcome nor lose the result', async () => {
      const dir = tmp('throwing-terminal');
      const trainer = newTrainer();
      const hooks = [];
      trainer.on('callbackError', (_, info) => hooks.push(info.hook));
      const thrower = (name) => () => {
        throw new Error(name);
      };
      const run = await trainer.train(DATA, { epochs: 1, batchSize: 32, outputDir: dir }, {
        onSave: thrower('save'),
        onComplete: thrower('complete'),
      });
      assert.equal(run.steps, 10);
      assert.deepEqual(hooks, ['onSave', 'onComplete']);

      const { trainer: bad, data, options } = divergingSetup();
      const badHooks = [];
      bad.on('callbackError', (_, info) => badHooks.push(info.hook));
      await assert.rejects(bad.train(data, options, { onError: thrower('error handler') }), (e) => e.code === 'RUNTIME_NON_FINITE_LOSS');
      assert.deepEqual(badHooks, ['onError']);
    });
  });

  describe('test_callback_none_safe', () => {
    const variants = {
      'no callback argument': () => undefined,
      'null callback': () => null,
      'an empty TrainingCallback': () => new TrainingCallback(),
      'a TrainingCallback built from {}': () => new TrainingCallback({}),
      'a TrainingCallback with null handlers': () => new TrainingCallback({ onStep: null, onEpoch: null, onSave: null, onComplete: null, onError: null }),
      'a plain object with null/undefined handlers': () => ({ onStep: null, onEpoch: undefined }),
      'a callback whose handler was cleared after construction': () => {
        const cb = new TrainingCallback({ onStep() {} });
        cb.onStep = undefined;
        return cb;
      },
    };
    for (const [label, make] of Object.entries(variants)) {
      it(`test_callback_none_safe: ${label} completes a run`, async () => {
        const dir = tmp('none');
        const trainer = newTrainer();
        const run = await trainer.train(DATA, { epochs: 2, batchSize: 32, outputDir: dir, saveEveryEpoch: true }, make());
        assert.equal(run.steps, 20);
        assert.equal(run.metadata.outcome, 'completed');
      });
    }

    it('test_callback_none_safe: a failing run with no onError still rejects (and does not crash)', async () => {
      const { trainer, data, options } = divergingSetup();
      await assert.rejects(trainer.train(data, options, new TrainingCallback()), (e) => e.code === 'RUNTIME_NON_FINITE_LOSS');
      const again = divergingSetup();
      await assert.rejects(again.trainer.train(again.data, again.options), (e) => e.code === 'RUNTIME_NON_FINITE_LOSS');
    });

    it('test_callback_none_safe: handlers set to non-functions after construction are skipped', async () => {
      const cb = new TrainingCallback();
      cb.onStep = null;
      cb.onEpoch = 42;
      const run = await newTrainer().train(DATA, { epochs: 1, batchSize: 32 }, cb);
      assert.equal(run.steps, 10);
    });
  });

  describe('e2e (4.1)', () => {
    it('test_e2e_training_with_all_callbacks: the full sequence of every handler and event, in order', async () => {
      const dir = tmp('e2e');
      const trainer = newTrainer();
      const tracker = createTracker();
      const cb = recordEverything(trainer, tracker);
      // 400 rows, 20% held out -> 320 training rows -> 10 steps per epoch.
      const data = datasets.spirals({ samples: 400, classes: 3, seed: 5 });
      const run = await trainer.train(data, { epochs: 2, batchSize: 32, stepEvents: 'block', validationSplit: 0.2, outputDir: dir, saveEveryEpoch: true }, cb);

      const expected = [];
      for (let e = 1; e <= 2; e++) {
        for (let s = 1; s <= 10; s++) expected.push('cb:step', 'ev:step');
        expected.push('cb:epoch', 'ev:epoch', 'cb:save', 'ev:save');
      }
      expected.push('cb:complete', 'ev:complete');
      tracker.assertSequence(expected);
      assertRunOrdering(tracker.events, { stepsPerEpoch: 10, mode: 'block' });

      const saves = tracker.events.filter((e) => e.name === 'cb:save');
      assert.deepEqual(saves.map((e) => checkpointStep(e.payload.path)), [10, 20]);
      assert.ok(saves.every((e) => e.payload.exists));
      assert.equal(run.outputPath, saves[1].payload.path);
      assert.equal(tracker.events.find((e) => e.name === 'cb:complete').payload.run, run);
      assert.equal(run.metadata.validationSamples, 80);
      assert.ok(Number.isFinite(run.metadata.validationLoss));
      const epochInfo = tracker.events.filter((e) => e.name === 'ev:epoch').map((e) => e.payload.info);
      assert.ok(epochInfo.every((i) => Number.isFinite(i.validationLoss)));
      const stepLosses = tracker.events.filter((e) => e.name === 'cb:step').map((e) => e.payload.loss);
      assert.deepEqual(stepLosses, [...run.lossHistory]);
    });

    it('test_e2e_abort_callback_cleanup: abort mid-run calls onError(AbortError) last, keeps a resumable checkpoint and leaves the trainer idle', async () => {
      const dir = tmp('e2e-abort');
      const trainer = newTrainer();
      const tracker = createTracker();
      const cb = recordEverything(trainer, tracker);
      const inner = cb.onStep;
      cb.onStep = (step, loss) => {
        inner(step, loss);
        if (step === 15) trainer.abort('user pressed stop');
      };
      const error = await trainer.train(DATA, { epochs: 200, batchSize: 32, stepEvents: 'block', queueCapacity: 16, outputDir: dir }, cb).then(
        () => assert.fail('expected an AbortError'),
        (e) => e,
      );
      const recordedAtSettle = tracker.events.length;
      assert.equal(error.name, 'AbortError');
      assert.equal(error.code, 'ABORT_ERR');
      assert.equal(error.reason, 'user pressed stop');
      assert.equal(tracker.count('cb:error'), 1);
      assert.equal(tracker.count('cb:complete'), 0);
      assert.equal(tracker.events.find((e) => e.name === 'cb:error').payload.error, error);
      assertRunOrdering(tracker.events, { stepsPerEpoch: STEPS_PER_EPOCH, mode: 'block' });
      assert.equal(tracker.events[tracker.events.length - 1].name, 'ev:error');

      const run = error.run;
      assert.ok(Object.isFrozen(run));
      assert.equal(run.metadata.outcome, 'aborted');
      assert.ok(run.steps >= 15);
      assert.equal(run.lossHistory.length, run.steps);
      // The aborted run leaves a checkpoint of its last completed step.
      assert.ok(run.outputPath, 'an aborted run with outputDir records its checkpoint');
      assert.equal(checkpointStep(run.outputPath), run.steps);
      assert.deepEqual(fs.readdirSync(run.outputPath).sort(), CHECKPOINT_FILES);
      const ckpt = await readCheckpoint(run.outputPath);
      assert.equal(ckpt.run.step, run.steps);
      assert.equal(ckpt.run.runId, run.runId);

      assert.equal(trainer.status.state, 'idle');
      await sleep(100);
      assert.equal(tracker.events.length, recordedAtSettle, 'no events after the terminal event');

      // The trainer is reusable and the cleanup left no stale handlers behind.
      const onStep = createSpy('onStep');
      const next = await trainer.train(DATA, { epochs: 1, batchSize: 32, stepEvents: 'block' }, { onStep });
      assert.equal(next.steps, 10);
      assert.equal(onStep.callCount, 10);
      assert.equal(next.metadata.outcome, 'completed');
    });
  });
});
