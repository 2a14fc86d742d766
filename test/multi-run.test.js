'use strict';
// MultiRunTrainer: configuration, the roadmap's MultiRunTrainer rows (tables
// 2.1, 2.2, 2.4), the 4.1 e2e sequence row, learning-rate schedule, data
// chunks and replay, merge modes, pruning, session state and resume.
// Everything runs the real native addon; no Trainer or addon mocks.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { threadId } = require('node:worker_threads');

const dist = process.env.BP_DIST || path.join(__dirname, '..', 'dist');
const { Trainer, datasets, readCheckpoint, BackpropError } = require(dist);
const { MultiRunTrainer, MultiRunConfig } = require(path.join(dist, 'multi-run'));
const { learningRateForRun } = require(path.join(dist, 'multi-run', 'schedule'));
const { planData, sampleReplay, replayCount, runSeed } = require(path.join(dist, 'multi-run', 'replay'));
const { planPruning } = require(path.join(dist, 'multi-run', 'pruning'));
const { resolveTrainOptions } = require(path.join(dist, 'config'));
const { createSpy, createTracker, waitFor } = require('./helpers');

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
const MODEL = Object.freeze({ inputSize: 2, hiddenLayers: [8], outputSize: 3 });
/** 400 rows: enough for 3 runs x 100 rows + 40 validation rows, with room to spare. */
const DATA = datasets.blobs({ samples: 400, classes: 3, seed: 2 });

const tmpDirs = [];
function tmpDir(label) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `bp-multirun-${label}-`));
  tmpDirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of tmpDirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** Small, fast session settings; every test overrides what it is about. */
function baseConfig(overrides = {}) {
  return {
    numRuns: 3,
    stepsPerRun: 20,
    samplesPerRun: 100,
    validationSamples: 40,
    initialLr: 0.01,
    finalLr: 0.002,
    warmupStepsPerRun: 2,
    enableGpuMonitoring: false,
    checkpointDir: tmpDir('session'),
    ...overrides,
  };
}

function newMulti(config = {}, options = {}) {
  return new MultiRunTrainer({ model: MODEL, seed: 7, threads: 1, config: baseConfig(config), ...options });
}

function assertConfigInvalid(fn, field) {
  let caught;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught, `expected CONFIG_INVALID (field ${field}), but nothing was thrown`);
  assert.ok(caught instanceof BackpropError, `expected a BackpropError, got ${caught}`);
  assert.equal(caught.code, 'CONFIG_INVALID', caught.message);
  assert.equal(caught.details.field, field, `details.field: ${caught.message}`);
  return caught;
}

async function assertRejectsWith(promise, code, field) {
  let caught;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught, `expected a rejection with ${code}`);
  assert.equal(caught.code, code, caught.message);
  if (field !== undefined) assert.equal(caught.details.field, field, caught.message);
  return caught;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The run-<i> folders present in a session folder. */
function runFolders(dir) {
  return fs
    .readdirSync(dir)
    .filter((n) => /^run-\d+$/.test(n))
    .map((n) => Number(n.slice(4)))
    .sort((a, b) => a - b);
}

/** Rows consumed by `steps` minibatches over epochs of `rows` rows (the last batch of an epoch may be short). */
function samplesSeenFor(rows, steps, batchSize) {
  const perEpoch = Math.ceil(rows / batchSize);
  let seen = 0;
  for (let k = 0; k < steps; k++) seen += Math.min(batchSize, rows - (k % perEpoch) * batchSize);
  return seen;
}

function readHistory(dir) {
  return JSON.parse(fs.readFileSync(path.join(dir, 'run_history.json'), 'utf8'));
}

describe('MultiRunTrainer', function () {
  this.timeout(60000);

  describe('MultiRunConfig', () => {
    it('fills every documented default', () => {
      const c = new MultiRunConfig();
      assert.deepEqual({ ...c }, {
        numRuns: 5,
        stepsPerRun: 100,
        samplesPerRun: 1000,
        mergeMode: 'simple',
        initialLr: 2e-4,
        finalLr: 5e-5,
        lrDecay: 'linear',
        warmupStepsPerRun: 10,
        shuffleData: true,
        replayFraction: 0,
        replayStrategy: 'recent',
        saveEveryRun: true,
        checkpointDir: './output/multi_run',
        enableGpuMonitoring: true,
        pauseOnOverheat: true,
        maxTempC: 85,
        cooldownMs: 60000,
        maxPauseMs: 1800000,
        validationSamples: 100,
        validateEveryRun: true,
        earlyStopping: false,
        earlyStoppingPatience: 2,
        earlyStoppingThreshold: 0,
        checkpointKeepBestN: 3,
        checkpointKeepFinal: true,
        checkpointMaxTotal: 10,
        checkpointAutoPrune: true,
        batchSize: 32,
      });
    });

    it('keeps given values and fills the rest', () => {
      const c = new MultiRunConfig({ numRuns: 3, mergeMode: 'average', replayFraction: 0.5, replayStrategy: 'all_previous' });
      assert.equal(c.numRuns, 3);
      assert.equal(c.mergeMode, 'average');
      assert.equal(c.replayFraction, 0.5);
      assert.equal(c.replayStrategy, 'all_previous');
      assert.equal(c.stepsPerRun, 100);
    });

    it('rejects bad values with CONFIG_INVALID naming the field', () => {
      const bad = {
        numRuns: 0,
        stepsPerRun: 1.5,
        samplesPerRun: -1,
        mergeMode: 'mean',
        initialLr: 0,
        finalLr: Infinity,
        lrDecay: 'exponential',
        warmupStepsPerRun: -1,
        shuffleData: 'yes',
        replayFraction: 0.6,
        replayStrategy: 'oldest',
        checkpointDir: '',
        maxTempC: -5,
        cooldownMs: 0,
        maxPauseMs: -1,
        validationSamples: 2.5,
        earlyStoppingPatience: 0,
        earlyStoppingThreshold: -0.1,
        checkpointKeepBestN: -1,
        checkpointMaxTotal: 0,
        batchSize: 0,
      };
      for (const [field, value] of Object.entries(bad)) {
        assertConfigInvalid(() => new MultiRunConfig({ [field]: value }), field);
      }
      assertConfigInvalid(() => new MultiRunConfig({ replayFraction: -0.01 }), 'replayFraction');
    });

    it('rejects unknown options with a suggestion', () => {
      const error = assertConfigInvalid(() => new MultiRunConfig({ numRun: 3 }), 'numRun');
      assert.match(error.message, /Did you mean 'numRuns'\?/);
    });

    it('rejects invalid combinations', () => {
      assertConfigInvalid(() => new MultiRunConfig({ earlyStopping: true, validateEveryRun: false }), 'earlyStopping');
      assertConfigInvalid(() => new MultiRunConfig({ validateEveryRun: true, validationSamples: 0 }), 'validationSamples');
      assert.doesNotThrow(() => new MultiRunConfig({ validateEveryRun: false, validationSamples: 0 }));
    });

    it('the trainer accepts a plain partial object or a MultiRunConfig, and re-checks a modified instance', () => {
      const plain = new MultiRunTrainer({ model: MODEL, config: { numRuns: 2 } });
      assert.ok(plain.config instanceof MultiRunConfig);
      assert.equal(plain.config.numRuns, 2);
      assert.equal(plain.config.samplesPerRun, 1000);
      assert.ok(Object.isFrozen(plain.config));
      const instance = new MultiRunConfig({ numRuns: 4 });
      assert.equal(new MultiRunTrainer({ model: MODEL, config: instance }).config.numRuns, 4);
      instance.replayFraction = 0.9;
      assertConfigInvalid(() => new MultiRunTrainer({ model: MODEL, config: instance }), 'replayFraction');
      assertConfigInvalid(() => new MultiRunTrainer({ model: MODEL, config: { earlyStopping: true, validateEveryRun: false } }), 'earlyStopping');
    });

    it('rejects learningRate (it comes from the schedule) and bad trainer options', () => {
      assertConfigInvalid(() => new MultiRunTrainer({ model: MODEL, learningRate: 0.1 }), 'learningRate');
      assertConfigInvalid(() => new MultiRunTrainer({ model: { ...MODEL, inputSize: 0 } }), 'model.inputSize');
      assertConfigInvalid(() => new MultiRunTrainer({ model: MODEL, optimiser: 'sgd' }), 'optimiser');
      assertConfigInvalid(() => new MultiRunTrainer({ model: MODEL, gpuMonitor: { deviceIndex: -1 } }), 'gpuMonitor.deviceIndex');
      assertConfigInvalid(() => new MultiRunTrainer({ model: MODEL, gpuMonitor: { config: { tempCritical: -1 } } }), 'gpuSafety.tempCritical');
      assertConfigInvalid(() => new MultiRunTrainer({ model: MODEL, gpuMonitor: { source: { kind: 'fake' } } }), 'gpuMonitor.source');
    });

    it('Trainer.train accepts warmupSteps (integer >= 0, default 0)', () => {
      assert.equal(resolveTrainOptions({}).warmupSteps, 0);
      assert.equal(resolveTrainOptions({ warmupSteps: 25 }).warmupSteps, 25);
      assertConfigInvalid(() => resolveTrainOptions({ warmupSteps: -1 }), 'warmupSteps');
      assertConfigInvalid(() => resolveTrainOptions({ warmupSteps: 1.5 }), 'warmupSteps');
    });

    it('rejects more samples than the data has before any work (field samplesPerRun)', async () => {
      const dir = path.join(tmpDir('too-big'), 'session');
      const onRunStart = createSpy('onRunStart');
      const multi = newMulti({ numRuns: 4, samplesPerRun: 100, validationSamples: 1, checkpointDir: dir }, { onRunStart });
      const error = await assertRejectsWith(multi.run(DATA), 'CONFIG_INVALID', 'samplesPerRun');
      assert.match(error.message, /401/);
      onRunStart.assertCalled(0);
      assert.equal(fs.existsSync(dir), false, 'nothing is written');
      assert.equal(multi.status.state, 'idle');
      // Exactly enough is fine.
      const fits = newMulti({ numRuns: 3, samplesPerRun: 120, validationSamples: 40, stepsPerRun: 2 });
      const result = await fits.run(DATA);
      assert.equal(result.totalRuns, 3);
      // A validation set that leaves nothing to train on names validationSamples.
      const error2 = await assertRejectsWith(newMulti({ validationSamples: 400 }).run(DATA), 'CONFIG_INVALID', 'validationSamples');
      assert.match(error2.message, /Lower samplesPerRun .*, numRuns or validationSamples, or pass more data/);
    });

    it('stepEvents and queueCapacity are checked like train() options and reach every run', async () => {
      assertConfigInvalid(() => newMulti({}, { stepEvents: 'drop' }), 'stepEvents');
      assertConfigInvalid(() => newMulti({}, { queueCapacity: 0 }), 'queueCapacity');
      assert.deepEqual({ ...newMulti().stepDelivery }, { stepEvents: 'coalesce', queueCapacity: 1024 });
      // 'block' with a capacity of 1: the native thread is never more than one step ahead of onStep.
      let ahead = 0;
      const multi = newMulti({ numRuns: 2, stepsPerRun: 200 }, {
        stepEvents: 'block',
        onStep: (i, step) => {
          ahead = Math.max(ahead, multi.status.step - step);
        },
      });
      assert.deepEqual({ ...multi.stepDelivery }, { stepEvents: 'block', queueCapacity: 1 });
      const result = await multi.run(DATA);
      assert.equal(result.totalSteps, 400);
      assert.ok(ahead <= 1, `training ran ${ahead} steps ahead of onStep`);
    });

    it('rejects bad run() options and bad data with the usual errors', async () => {
      const multi = newMulti();
      await assertRejectsWith(multi.run(DATA, { resume: 'yes' }), 'CONFIG_INVALID', 'resume');
      await assertRejectsWith(multi.run(DATA, { restart: true }), 'CONFIG_INVALID', 'restart');
      await assertRejectsWith(multi.run({ x: DATA.x, y: new Float32Array(DATA.rows) }), 'INPUT_SHAPE_MISMATCH', 'y');
    });
  });

  // -------------------------------------------------------------------------
  describe('callbacks (roadmap 2.1)', () => {
    it('test_multirun_accepts_callbacks: the constructor stores callbacks', () => {
      const onRunStart = () => {};
      const onRunComplete = () => {};
      const onStep = () => {};
      const onGpuStatus = () => {};
      const multi = new MultiRunTrainer({ model: MODEL, onRunStart, onRunComplete, onStep, onGpuStatus });
      assert.equal(multi.onRunStart, onRunStart);
      assert.equal(multi.onRunComplete, onRunComplete);
      assert.equal(multi.onStep, onStep);
      assert.equal(multi.onGpuStatus, onGpuStatus);
      const none = new MultiRunTrainer({ model: MODEL });
      assert.deepEqual([none.onRunStart, none.onRunComplete, none.onStep, none.onGpuStatus], [null, null, null, null]);
    });

    it('test_multirun_callback_types: a non-function callback is CONFIG_INVALID naming it', () => {
      for (const hook of ['onRunStart', 'onRunComplete', 'onStep', 'onGpuStatus']) {
        for (const value of ['not a function', 42, {}, true]) {
          const error = assertConfigInvalid(() => new MultiRunTrainer({ model: MODEL, [hook]: value }), hook);
          assert.match(error.message, new RegExp(hook));
        }
        assert.doesNotThrow(() => new MultiRunTrainer({ model: MODEL, [hook]: null }));
        assert.doesNotThrow(() => new MultiRunTrainer({ model: MODEL, [hook]: undefined }));
      }
    });

    it('test_multirun_no_callbacks: a session runs without any callback', async () => {
      const result = await newMulti().run(DATA);
      assert.equal(result.totalRuns, 3);
      assert.equal(result.runs.length, 3);
      assert.equal(result.aborted, false);
      assert.ok(result.runs.every((r) => !r.failed && r.steps === 20));
    });

    it('test_multirun_partial_callbacks: any subset of callbacks works', async () => {
      const onRunComplete = createSpy('onRunComplete');
      await newMulti({}, { onRunComplete }).run(DATA);
      onRunComplete.assertCalled(3);

      const onStep = createSpy('onStep');
      await newMulti({ numRuns: 2 }, { onStep, onRunStart: null }).run(DATA);
      assert.equal(onStep.callCount, 40);

      const onRunStart = createSpy('onRunStart');
      const onGpuStatus = createSpy('onGpuStatus');
      await newMulti({ numRuns: 2 }, { onRunStart, onGpuStatus }).run(DATA);
      assert.deepEqual(onRunStart.calls.map((c) => c.args), [[1], [2]]);
      onGpuStatus.assertCalled(0); // monitoring is off in these settings
    });
  });

  // -------------------------------------------------------------------------
  describe('event sequencing (roadmap 2.2)', () => {
    /** Runs a session recording every hook and event; returns { result, tracker }. */
    async function recordedSession(config = {}, extra = {}) {
      const tracker = createTracker();
      const multi = newMulti(config, {
        onRunStart: (i) => tracker.record('cb:start', { i }),
        onRunComplete: (r) => tracker.record('cb:complete', { i: r.runIndex, result: r }),
        onStep: (i, step, loss) => tracker.record('cb:step', { i, step, loss }),
        ...extra,
      });
      multi.on('runStart', (i) => tracker.record('ev:start', { i }));
      multi.on('runComplete', (r) => tracker.record('ev:complete', { i: r.runIndex, result: r }));
      multi.on('step', (i, step, loss) => tracker.record('ev:step', { i, step, loss }));
      const result = await multi.run(DATA);
      return { result, tracker, multi };
    }

    it('test_on_run_start_order: onRunStart(i) comes before every step of run i', async () => {
      const { tracker } = await recordedSession();
      const cb = tracker.events.filter((e) => e.name.startsWith('cb:'));
      for (let i = 1; i <= 3; i++) {
        const start = cb.findIndex((e) => e.name === 'cb:start' && e.payload.i === i);
        const firstStep = cb.findIndex((e) => e.name === 'cb:step' && e.payload.i === i);
        const complete = cb.findIndex((e) => e.name === 'cb:complete' && e.payload.i === i);
        assert.ok(start >= 0 && start < firstStep && firstStep < complete, `run ${i}: start ${start}, first step ${firstStep}, complete ${complete}`);
      }
    });

    it('test_on_run_complete_order: onRunComplete(i) comes after every step of run i and before onRunStart(i + 1)', async () => {
      const { tracker } = await recordedSession();
      const cb = tracker.events.filter((e) => e.name.startsWith('cb:'));
      for (let i = 1; i <= 3; i++) {
        const complete = cb.findIndex((e) => e.name === 'cb:complete' && e.payload.i === i);
        const lastStep = cb.map((e) => e.name === 'cb:step' && e.payload.i === i).lastIndexOf(true);
        assert.ok(lastStep < complete, `run ${i}: last step ${lastStep} before complete ${complete}`);
        if (i < 3) {
          const nextStart = cb.findIndex((e) => e.name === 'cb:start' && e.payload.i === i + 1);
          assert.ok(complete < nextStart, `run ${i} completes (${complete}) before run ${i + 1} starts (${nextStart})`);
        }
      }
      assert.equal(cb[cb.length - 1].name, 'cb:complete');
    });

    it('test_callback_run_index_sequence: run indices are 1..numRuns, strictly increasing, and steps carry their run', async () => {
      const { tracker } = await recordedSession({ numRuns: 4, samplesPerRun: 80 });
      const starts = tracker.events.filter((e) => e.name === 'cb:start').map((e) => e.payload.i);
      const completes = tracker.events.filter((e) => e.name === 'cb:complete').map((e) => e.payload.i);
      assert.deepEqual(starts, [1, 2, 3, 4]);
      assert.deepEqual(completes, [1, 2, 3, 4]);
      let run = 0;
      for (const e of tracker.events.filter((x) => x.name.startsWith('cb:'))) {
        if (e.name === 'cb:start') run = e.payload.i;
        else assert.equal(e.payload.i, run, `${e.name} belongs to run ${run}`);
      }
    });

    it('test_callback_timing_between_runs: onRunStart(i + 1) waits for onRunComplete(i) to return and its promise to settle', async () => {
      const settled = [];
      const order = [];
      const onRunComplete = (r) => {
        order.push(`complete:${r.runIndex}`);
        return sleep(40).then(() => {
          settled.push(r.runIndex);
          order.push(`settled:${r.runIndex}`);
        });
      };
      const onRunStart = (i) => {
        order.push(`start:${i}`);
        if (i > 1) assert.ok(settled.includes(i - 1), `run ${i} started before onRunComplete(${i - 1}) settled`);
      };
      const multi = newMulti({}, { onRunStart, onRunComplete });
      const errors = [];
      multi.on('callbackError', (e) => errors.push(e));
      const result = await multi.run(DATA);
      assert.deepEqual(errors, []);
      assert.deepEqual(order, ['start:1', 'complete:1', 'settled:1', 'start:2', 'complete:2', 'settled:2', 'start:3', 'complete:3', 'settled:3']);
      assert.equal(result.totalRuns, 3);

      // A rejecting onRunComplete is reported and the session goes on, still in order.
      const seen = [];
      const failing = newMulti({}, {
        onRunStart: (i) => seen.push(`start:${i}`),
        onRunComplete: (r) => sleep(10).then(() => {
          seen.push(`settled:${r.runIndex}`);
          throw new Error(`boom ${r.runIndex}`);
        }),
      });
      const reported = [];
      failing.on('callbackError', (e, info) => reported.push([info.hook, e.message]));
      await failing.run(DATA);
      assert.deepEqual(seen, ['start:1', 'settled:1', 'start:2', 'settled:2', 'start:3', 'settled:3']);
      assert.deepEqual(reported, [['onRunComplete', 'boom 1'], ['onRunComplete', 'boom 2'], ['onRunComplete', 'boom 3']]);
    });

    it('test_on_step_per_run: onStep gets (runIndex, step, loss); steps restart at 1 in every run', async () => {
      const { result, tracker } = await recordedSession();
      for (let i = 1; i <= 3; i++) {
        const steps = tracker.events.filter((e) => e.name === 'cb:step' && e.payload.i === i).map((e) => e.payload);
        assert.deepEqual(steps.map((s) => s.step), Array.from({ length: 20 }, (_, k) => k + 1), `run ${i} steps`);
        const run = result.runs[i - 1];
        steps.forEach((s) => {
          assert.ok(Number.isFinite(s.loss));
          assert.equal(s.loss, run.lossHistory[s.step - 1], `run ${i} step ${s.step} loss matches lossHistory`);
        });
        const events = tracker.events.filter((e) => e.name === 'ev:step' && e.payload.i === i).map((e) => e.payload);
        assert.deepEqual(events, steps, "the 'step' event carries the same (runIndex, step, loss)");
      }
      assert.ok(tracker.events.every((e) => e.thread === threadId), 'every handler runs on the JS thread');
    });

    it('onRunComplete receives a full, frozen RunResult', async () => {
      const { result, tracker, multi } = await recordedSession({ numRuns: 3, replayFraction: 0.2 });
      const delivered = tracker.events.filter((e) => e.name === 'cb:complete').map((e) => e.payload.result);
      assert.equal(delivered.length, 3);
      const keys = [
        'runIndex', 'steps', 'samples', 'samplesSeen', 'replaySamples', 'replaySources', 'finalLoss', 'lossHistory', 'learningRate',
        'durationSeconds', 'checkpointPath', 'pruned', 'validationLoss', 'validationAccuracy', 'gpuMaxTemp', 'gpuMaxVramPercent',
        'failed', 'failureReason', 'runId',
      ];
      delivered.forEach((r, k) => {
        const i = k + 1;
        assert.deepEqual(Object.keys(r).sort(), [...keys].sort());
        assert.ok(Object.isFrozen(r) && Object.isFrozen(r.lossHistory) && Object.isFrozen(r.replaySources));
        assert.equal(r.runIndex, i);
        assert.equal(r.steps, 20);
        assert.equal(r.lossHistory.length, 20);
        assert.equal(r.finalLoss, r.lossHistory[19]);
        assert.equal(r.replaySamples, i === 1 ? 0 : 20);
        assert.equal(r.samples, 100 + r.replaySamples, 'fresh chunk plus replay');
        assert.equal(r.samplesSeen, samplesSeenFor(r.samples, 20, 32));
        assert.equal(r.learningRate, learningRateForRun(multi.config, i));
        assert.ok(r.durationSeconds > 0);
        assert.equal(r.checkpointPath, path.join(path.resolve(multi.config.checkpointDir), `run-${i}`));
        assert.ok(fs.existsSync(path.join(r.checkpointPath, 'trainer_state.json')));
        assert.equal(r.pruned, false);
        assert.ok(Number.isFinite(r.validationLoss) && r.validationLoss > 0);
        assert.ok(r.validationAccuracy >= 0 && r.validationAccuracy <= 1);
        assert.equal(r.gpuMaxTemp, null);
        assert.equal(r.gpuMaxVramPercent, null);
        assert.equal(r.failed, false);
        assert.equal(r.failureReason, null);
        assert.match(r.runId, UUID);
        assert.equal(r.runId, result.runId, 'every run carries the session id');
        assert.equal(r, result.runs[k], 'the result holds the same objects');
      });
    });

    it('run() resolves with a full, frozen MultiRunResult', async () => {
      const { result, multi } = await recordedSession();
      assert.ok(Object.isFrozen(result) && Object.isFrozen(result.runs) && Object.isFrozen(result.aggregateLossHistory) && Object.isFrozen(result.runBoundaries));
      assert.equal(result.totalRuns, 3);
      assert.equal(result.totalSteps, 60);
      assert.equal(result.totalSamples, 300);
      assert.ok(result.totalDurationSeconds >= result.runs.reduce((a, r) => a + r.durationSeconds, 0) * 0.5);
      assert.equal(result.finalLoss, result.runs[2].finalLoss);
      assert.deepEqual(result.aggregateLossHistory, result.runs.flatMap((r) => r.lossHistory));
      assert.deepEqual(result.runBoundaries, [0, 20, 40]);
      assert.equal(result.finalCheckpointPath, result.runs[2].checkpointPath);
      assert.equal(result.mergeMode, 'simple');
      assert.equal(result.aborted, false);
      assert.equal(result.abortReason, null);
      assert.match(result.runId, UUID);
      assert.equal(multi.status.state, 'idle');
      assert.equal(multi.status.runId, result.runId);
      assert.equal(multi.status.completedRuns, 3);
    });

    it('status reflects the session from inside handlers', async () => {
      const seen = [];
      const multi = newMulti({}, {
        onRunStart: (i) => seen.push(['start', i, multi.status.state, multi.status.runIndex, multi.status.completedRuns, multi.status.learningRate]),
        onRunComplete: (r) => seen.push(['complete', r.runIndex, multi.status.state, multi.status.runIndex, multi.status.completedRuns]),
      });
      assert.equal(multi.status.state, 'idle');
      assert.equal(multi.status.runId, null);
      await multi.run(DATA);
      assert.deepEqual(seen, [
        ['start', 1, 'running', 1, 0, 0.01],
        ['complete', 1, 'running', 1, 1],
        ['start', 2, 'running', 2, 1, learningRateForRun(multi.config, 2)],
        ['complete', 2, 'running', 2, 2],
        ['start', 3, 'running', 3, 2, 0.002],
        ['complete', 3, 'running', 3, 3],
      ]);
    });

    it('isolates handler errors: callbackError events, or one process warning per hook', async () => {
      const multi = newMulti({ numRuns: 2 }, {
        onRunStart: () => {
          throw new Error('start fails');
        },
        onStep: () => {
          throw new Error('step fails');
        },
        onRunComplete: async () => {
          throw new Error('complete fails');
        },
      });
      const reported = [];
      multi.on('callbackError', (e, info) => reported.push(info.hook));
      const result = await multi.run(DATA);
      assert.equal(result.totalRuns, 2);
      assert.ok(result.runs.every((r) => !r.failed));
      assert.equal(reported.filter((h) => h === 'onRunStart').length, 2);
      assert.equal(reported.filter((h) => h === 'onRunComplete').length, 2);
      assert.equal(reported.filter((h) => h === 'onStep').length, 40);

      // Nobody listening: one warning per hook.
      const warnings = [];
      const emitWarning = process.emitWarning;
      // Captured instead of printed, so the test output stays clean.
      process.emitWarning = (message, options) => {
        if (options && options.code === 'BACKPROP_CALLBACK_ERROR') warnings.push(message);
        else emitWarning.call(process, message, options);
      };
      try {
        const quiet = newMulti({ numRuns: 2 }, {
          onStep: () => {
            throw new Error('step fails');
          },
          onRunComplete: () => {
            throw new Error('complete fails');
          },
        });
        quiet.on('runStart', () => {
          throw new Error('listener fails');
        });
        await quiet.run(DATA);
      } finally {
        process.emitWarning = emitWarning;
      }
      assert.equal(warnings.length, 3, warnings.join('\n'));
      assert.ok(warnings.some((w) => w.includes('onStep')));
      assert.ok(warnings.some((w) => w.includes('onRunComplete')));
      assert.ok(warnings.some((w) => w.includes('listener:runStart')));
    });
  });

  // -------------------------------------------------------------------------
  describe('learning-rate schedule', () => {
    const sched = (lrDecay, numRuns, initialLr = 0.01, finalLr = 0.001) =>
      Array.from({ length: numRuns }, (_, i) => learningRateForRun({ numRuns, initialLr, finalLr, lrDecay }, i + 1));

    it('linear: initialLr first, exactly finalLr last, evenly spaced between', () => {
      const lr = sched('linear', 4);
      assert.equal(lr[0], 0.01);
      assert.equal(lr[3], 0.001);
      assert.ok(Math.abs(lr[1] - 0.007) < 1e-15 && Math.abs(lr[2] - 0.004) < 1e-15, String(lr));
      // Exact even where floating point would not land on it.
      assert.equal(sched('linear', 7, 0.3, 0.1)[6], 0.1);
      assert.equal(sched('linear', 3, 1e-3, 3e-3)[2], 3e-3);
    });

    it('cosine: initialLr first, exactly finalLr last, the half-cosine between', () => {
      const lr = sched('cosine', 5);
      assert.equal(lr[0], 0.01);
      assert.equal(lr[4], 0.001);
      for (let i = 1; i < 4; i++) {
        const t = i / 4;
        assert.ok(Math.abs(lr[i] - (0.001 + 0.009 * 0.5 * (1 + Math.cos(Math.PI * t)))) < 1e-15);
        assert.ok(lr[i] < lr[i - 1]);
      }
      assert.ok(Math.abs(lr[2] - 0.0055) < 1e-15, 'the midpoint is the mean');
    });

    it('constant: initialLr for every run; one run: initialLr', () => {
      assert.deepEqual(sched('constant', 4), [0.01, 0.01, 0.01, 0.01]);
      assert.deepEqual(sched('linear', 1), [0.01]);
      assert.deepEqual(sched('cosine', 1), [0.01]);
    });

    it('each RunResult.learningRate is its run base rate, for every decay', async () => {
      for (const lrDecay of ['linear', 'cosine', 'constant']) {
        const result = await newMulti({ numRuns: 3, lrDecay, initialLr: 0.02, finalLr: 0.004, stepsPerRun: 3 }).run(DATA);
        const expected = sched(lrDecay, 3, 0.02, 0.004);
        assert.deepEqual(result.runs.map((r) => r.learningRate), expected, lrDecay);
        assert.equal(result.runs[0].learningRate, 0.02);
        assert.equal(result.runs[2].learningRate, lrDecay === 'constant' ? 0.02 : 0.004);
      }
    });

    it('warmupStepsPerRun reaches the native trainer: the same first loss, different updates', async () => {
      const noWarmup = await newMulti({ numRuns: 2, warmupStepsPerRun: 0, stepsPerRun: 5 }).run(DATA);
      const warmup = await newMulti({ numRuns: 2, warmupStepsPerRun: 50, stepsPerRun: 5 }).run(DATA);
      for (let k = 0; k < 2; k++) {
        const a = noWarmup.runs[k].lossHistory;
        const b = warmup.runs[k].lossHistory;
        if (k === 0) assert.equal(a[0], b[0], 'step 1 loss is computed before any update');
        assert.notDeepEqual(a.slice(1), b.slice(1), 'a warm-up changes the updates');
      }
      // The second session learns slower at first, as a 1/50..5/50 ramp should.
      assert.ok(warmup.runs[0].lossHistory[4] > noWarmup.runs[0].lossHistory[4]);
    });
  });

  // -------------------------------------------------------------------------
  describe('data chunks and replay', () => {
    const plan = (rows, o, seed = 1) => planData(rows, { numRuns: 4, samplesPerRun: 50, validationSamples: 30, shuffleData: true, ...o }, seed);

    it('reserves validation rows once (seeded) and gives every run its own fresh chunk', () => {
      const p = plan(300, {});
      assert.equal(p.validationRows.length, 30);
      assert.equal(p.chunks.length, 4);
      const seen = new Set(p.validationRows);
      for (const chunk of p.chunks) {
        assert.equal(chunk.length, 50);
        for (const r of chunk) {
          assert.ok(!seen.has(r), `row ${r} appears twice`);
          seen.add(r);
        }
      }
      assert.deepEqual(plan(300, {}), p, 'the same seed gives the same plan');
      assert.notDeepEqual(plan(300, {}, 2).chunks, p.chunks, 'another seed gives another plan');
      assert.deepEqual(plan(300, { replayFraction: 0.5 }).chunks, p.chunks);
    });

    it('shuffleData: false keeps data order in the chunks', () => {
      const p = plan(300, { shuffleData: false });
      const pool = [];
      for (let r = 0; r < 300; r++) if (!p.validationRows.includes(r)) pool.push(r);
      assert.deepEqual(p.chunks.flatMap((c) => [...c]), pool.slice(0, 200));
    });

    it('replay counts: round(replayFraction x samplesPerRun), none in run 1', () => {
      assert.equal(replayCount(0.3, 50, 1), 0);
      assert.equal(replayCount(0.3, 50, 2), 15);
      assert.equal(replayCount(0.25, 10, 3), 3);
      assert.equal(replayCount(0, 50, 4), 0);
    });

    it("'recent' draws from the previous chunk only, without repeats", () => {
      const p = plan(300, {});
      for (let i = 2; i <= 4; i++) {
        const { rows, counts } = sampleReplay(p.chunks, i, 15, 'recent', 1);
        assert.equal(rows.length, 15);
        assert.equal(new Set(rows).size, 15);
        const previous = new Set(p.chunks[i - 2]);
        assert.ok([...rows].every((r) => previous.has(r)));
        assert.deepEqual(counts, [...Array(i - 2).fill(0), 15]);
      }
    });

    it("'all_previous' draws evenly from every earlier chunk (the remainder from the most recent)", () => {
      const p = plan(300, {});
      const { rows, counts } = sampleReplay(p.chunks, 4, 15, 'all_previous', 1);
      assert.deepEqual(counts, [5, 5, 5]);
      const { counts: c3 } = sampleReplay(p.chunks, 3, 15, 'all_previous', 1);
      assert.deepEqual(c3, [7, 8]);
      assert.equal(new Set(rows).size, 15);
      for (let k = 0; k < 3; k++) {
        const chunk = new Set(p.chunks[k]);
        assert.equal([...rows].filter((r) => chunk.has(r)).length, 5);
      }
    });

    it("'random' draws uniformly from the union of earlier chunks", () => {
      const p = plan(300, {});
      const totals = [0, 0, 0];
      for (let seed = 0; seed < 200; seed++) {
        const { rows, counts } = sampleReplay(p.chunks, 4, 15, 'random', seed);
        assert.equal(new Set(rows).size, 15);
        assert.equal(counts.reduce((a, b) => a + b, 0), 15);
        counts.forEach((c, k) => {
          const chunk = new Set(p.chunks[k]);
          assert.equal([...rows].filter((r) => chunk.has(r)).length, c);
          totals[k] += c;
        });
      }
      // 3000 draws over three equal chunks: 1000 each expected; allow a wide band.
      for (const t of totals) assert.ok(t > 850 && t < 1150, `per-chunk totals ${totals}`);
      assert.deepEqual(sampleReplay(p.chunks, 4, 15, 'random', 9), sampleReplay(p.chunks, 4, 15, 'random', 9), 'seeded');
    });

    it('a session reports replay counts and sources per strategy, and counts replayed samples', async () => {
      const expected = {
        recent: [[], [15], [0, 15], [0, 0, 15]],
        all_previous: [[], [15], [7, 8], [5, 5, 5]],
      };
      for (const replayStrategy of ['recent', 'all_previous', 'random']) {
        const result = await newMulti({ numRuns: 4, samplesPerRun: 50, validationSamples: 30, replayFraction: 0.3, replayStrategy, stepsPerRun: 3, batchSize: 32 }).run(DATA);
        result.runs.forEach((r, k) => {
          assert.equal(r.replaySamples, k === 0 ? 0 : 15);
          assert.equal(r.replaySources.length, k);
          assert.equal(r.replaySources.reduce((a, b) => a + b, 0), r.replaySamples);
          if (expected[replayStrategy]) assert.deepEqual([...r.replaySources], expected[replayStrategy][k], `${replayStrategy} run ${k + 1}`);
          assert.equal(r.samples, 50 + r.replaySamples, 'samples include the replayed rows');
        });
        assert.equal(result.totalSamples, 4 * 50 + 3 * 15);
      }
    });

    it('reads a CSV file path like Trainer.train', async () => {
      const dir = tmpDir('csv');
      const file = path.join(dir, 'data.csv');
      const lines = ['a,b,label'];
      for (let i = 0; i < DATA.rows; i++) lines.push(`${DATA.x[2 * i]},${DATA.x[2 * i + 1]},${DATA.y[i]}`);
      fs.writeFileSync(file, lines.join('\n') + '\n');
      const fromFile = await newMulti({ numRuns: 2, stepsPerRun: 5 }).run(file);
      const fromArrays = await newMulti({ numRuns: 2, stepsPerRun: 5 }).run(DATA);
      assert.deepEqual(fromFile.aggregateLossHistory, fromArrays.aggregateLossHistory);
    });
  });

  // -------------------------------------------------------------------------
  describe('merge modes', () => {
    it("'simple': each run is one Trainer.train() job starting from the previous run's weights", async () => {
      const config = { numRuns: 2, stepsPerRun: 15, replayFraction: 0.2, warmupStepsPerRun: 3 };
      const multi = newMulti(config);
      const result = await multi.run(DATA);
      assert.equal(result.finalCheckpointPath, result.runs[1].checkpointPath);
      // Rebuild run 2 by hand from run 1's checkpoint with the documented ingredients.
      const c = multi.config;
      const p = planData(DATA.rows, c, 7);
      const replay = sampleReplay(p.chunks, 2, replayCount(c.replayFraction, c.samplesPerRun, 2), c.replayStrategy, 7);
      const rows = [...p.chunks[1], ...replay.rows];
      const x = new Float32Array(rows.length * 2);
      const y = new Int32Array(rows.length);
      rows.forEach((r, i) => {
        x.set(DATA.x.subarray(2 * r, 2 * r + 2), 2 * i);
        y[i] = DATA.y[r];
      });
      const trainer = new Trainer({ model: MODEL, seed: runSeed(7, 2), threads: 1, learningRate: learningRateForRun(c, 2) });
      trainer.setParameters((await readCheckpoint(result.runs[0].checkpointPath)).params);
      const run = await trainer.train({ x, y }, { maxSteps: 15, batchSize: 32, warmupSteps: 3 });
      assert.deepEqual(run.lossHistory, result.runs[1].lossHistory);
      assert.deepEqual(trainer.getParameters(), (await readCheckpoint(result.runs[1].checkpointPath)).params);
    });

    it("'average': the next run starts from the running average of all accepted runs' weights", async () => {
      const multi = newMulti({ numRuns: 3, mergeMode: 'average', checkpointKeepBestN: 3 });
      const result = await multi.run(DATA);
      assert.equal(result.mergeMode, 'average');
      const accumulator = path.join(path.resolve(multi.config.checkpointDir), 'accumulator');
      assert.equal(result.finalCheckpointPath, accumulator);
      const runs = await Promise.all(result.runs.map((r) => readCheckpoint(r.checkpointPath)));
      const average = (await readCheckpoint(accumulator)).params;
      for (let j = 0; j < average.length; j++) {
        const mean = (runs[0].params[j] + runs[1].params[j] + runs[2].params[j]) / 3;
        assert.ok(Math.abs(average[j] - mean) < 1e-5, `parameter ${j}: ${average[j]} vs ${mean}`);
      }
      const simple = await newMulti({ numRuns: 3 }).run(DATA);
      assert.deepEqual(simple.runs[0].lossHistory, result.runs[0].lossHistory, 'run 1 is the same in both modes');
      assert.notDeepEqual(simple.runs[2].lossHistory, result.runs[2].lossHistory);

      // Exactly: the running mean in float32, avg_k = avg_(k-1) + (w_k - avg_(k-1)) / k, and run 3 trains from avg_2.
      const [w1, w2, w3] = runs.map((r) => r.params);
      const avg2 = Float32Array.from(w1, (v, j) => v + (w2[j] - v) / 2);
      const avg3 = Float32Array.from(avg2, (v, j) => v + (w3[j] - v) / 3);
      assert.deepEqual(average, avg3, 'the accumulator is the running mean of the three runs');
      const c = multi.config;
      const chunk = [...planData(DATA.rows, c, 7).chunks[2]];
      const x = new Float32Array(chunk.length * 2);
      const y = new Int32Array(chunk.length);
      chunk.forEach((r, i) => {
        x.set(DATA.x.subarray(2 * r, 2 * r + 2), 2 * i);
        y[i] = DATA.y[r];
      });
      const trainer = new Trainer({ model: MODEL, seed: runSeed(7, 3), threads: 1, learningRate: learningRateForRun(c, 3) });
      trainer.setParameters(avg2);
      const run3 = await trainer.train({ x, y }, { maxSteps: c.stepsPerRun, batchSize: c.batchSize, warmupSteps: c.warmupStepsPerRun });
      assert.deepEqual(run3.lossHistory, result.runs[2].lossHistory, "run 3 started from the mean of runs 1 and 2's weights");
      assert.deepEqual(trainer.getParameters(), w3);
    });
  });

  // -------------------------------------------------------------------------
  describe('checkpoint pruning', () => {
    it('planPruning keeps the resume source, the final one and the best N, never more than maxTotal', () => {
      const c = (runIndex, validationLoss) => ({ runIndex, validationLoss });
      const five = [c(1, 0.5), c(2, 0.2), c(3, 0.4), c(4, 0.3), c(5, 0.6)];
      assert.deepEqual(planPruning(five, { keepBestN: 2, keepFinal: true, maxTotal: 10 }, null), { keep: [2, 4, 5], prune: [1, 3] });
      assert.deepEqual(planPruning(five, { keepBestN: 2, keepFinal: false, maxTotal: 10 }, null), { keep: [2, 4], prune: [1, 3, 5] });
      assert.deepEqual(planPruning(five, { keepBestN: 3, keepFinal: true, maxTotal: 2 }, null), { keep: [2, 5], prune: [1, 3, 4] });
      assert.deepEqual(planPruning(five, { keepBestN: 0, keepFinal: false, maxTotal: 1 }, 5), { keep: [5], prune: [1, 2, 3, 4] });
      assert.deepEqual(planPruning(five, { keepBestN: 1, keepFinal: false, maxTotal: 1 }, 5), { keep: [5], prune: [1, 2, 3, 4] }, 'the resume source wins the cap');
      assert.deepEqual(planPruning(five, { keepBestN: 10, keepFinal: true, maxTotal: 10 }, 5).prune, []);
      // Without validation losses, later runs rank first.
      assert.deepEqual(planPruning([c(1, null), c(2, null), c(3, null)], { keepBestN: 1, keepFinal: false, maxTotal: 9 }, null).keep, [3]);
      assert.deepEqual(planPruning([c(1, null), c(2, 0.9), c(3, null)], { keepBestN: 1, keepFinal: false, maxTotal: 9 }, null).keep, [2]);
    });

    it('a session keeps the best N and the final checkpoint, marks pruned results, and never prunes the resume source', async () => {
      const dir = tmpDir('prune');
      const delivered = [];
      const multi = newMulti(
        { numRuns: 5, samplesPerRun: 60, checkpointDir: dir, checkpointKeepBestN: 1, checkpointKeepFinal: true, checkpointMaxTotal: 2 },
        {
          onRunComplete: (r) => {
            delivered.push(r);
            assert.ok(fs.existsSync(r.checkpointPath), `run ${r.runIndex}: the checkpoint the next run starts from exists`);
            assert.ok(runFolders(dir).length <= 2, `at most checkpointMaxTotal folders after run ${r.runIndex}: ${runFolders(dir)}`);
          },
        },
      );
      const result = await multi.run(DATA);
      const best = [...result.runs].sort((a, b) => a.validationLoss - b.validationLoss)[0].runIndex;
      const kept = [...new Set([best, 5])].sort((a, b) => a - b);
      assert.deepEqual(runFolders(dir), kept);
      for (const r of result.runs) {
        assert.equal(r.pruned, !kept.includes(r.runIndex), `run ${r.runIndex} pruned flag`);
        assert.equal(r.checkpointPath, path.join(dir, `run-${r.runIndex}`), 'the path is kept when pruned');
        assert.ok(Object.isFrozen(r));
      }
      assert.ok(delivered.every((r) => r.pruned === false), 'results already delivered are never changed');
      assert.equal(result.finalCheckpointPath, path.join(dir, 'run-5'));
      const history = readHistory(dir);
      assert.deepEqual(history.runs.map((r) => r.pruned), result.runs.map((r) => r.pruned));
    });

    it('the checkpoint the next run resumes from is kept even when the rules would prune it; a resume from it matches the uninterrupted session', async () => {
      // Rules alone would keep only the best run: the latest run survives anyway while the session can continue.
      const config = { numRuns: 4, samplesPerRun: 80, checkpointKeepBestN: 1, checkpointKeepFinal: false, checkpointMaxTotal: 1 };
      const dir = tmpDir('prune-protected');
      const folders = [];
      const full = await newMulti({ ...config, checkpointDir: dir }, {
        onRunComplete: (r) => folders.push([r.runIndex, runFolders(dir)]),
      }).run(DATA);
      assert.deepEqual(folders.slice(0, 3), [[1, [1]], [2, [2]], [3, [3]]], 'after run i < numRuns only run-i is left: the next run starts from it');
      // Once finished nothing resumes: the best run is kept, the rules apply in full.
      const best = [...full.runs].sort((a, b) => a.validationLoss - b.validationLoss)[0].runIndex;
      assert.deepEqual(runFolders(dir), [best]);
      assert.deepEqual(folders[3], [4, [best]]);
      assert.deepEqual(full.runs.map((r) => r.pruned), full.runs.map((r) => r.runIndex !== best));
      assert.equal(full.finalCheckpointPath, best === 4 ? path.join(dir, 'run-4') : null);

      // Interrupted after run 2: only run-2 is on disk, and the resumed session ends exactly like the full one.
      const cut = tmpDir('prune-protected-resume');
      const interrupted = newMulti({ ...config, checkpointDir: cut }, { onRunComplete: (r) => r.runIndex === 2 && interrupted.abort('pause here') });
      await interrupted.run(DATA);
      assert.deepEqual(runFolders(cut), [2]);
      const resumed = await newMulti({ ...config, checkpointDir: cut }).run(DATA, { resume: true });
      assert.deepEqual(resumed.aggregateLossHistory, full.aggregateLossHistory);
      assert.deepEqual(runFolders(cut), [best]);
    });

    it("without checkpointKeepFinal the final checkpoint may go; 'average' keeps its accumulator apart", async () => {
      const dir = tmpDir('prune-average');
      const result = await newMulti({ numRuns: 3, mergeMode: 'average', checkpointDir: dir, checkpointKeepBestN: 0, checkpointKeepFinal: false, checkpointMaxTotal: 1 }).run(DATA);
      assert.deepEqual(runFolders(dir), []);
      assert.ok(result.runs.every((r) => r.pruned));
      assert.ok(fs.existsSync(path.join(dir, 'accumulator', 'trainer_state.json')));
      assert.equal(result.finalCheckpointPath, path.join(dir, 'accumulator'));
    });

    it('checkpointAutoPrune: false keeps everything; saveEveryRun: false writes no run checkpoints', async () => {
      const dir = tmpDir('no-prune');
      await newMulti({ numRuns: 4, samplesPerRun: 80, checkpointDir: dir, checkpointKeepBestN: 1, checkpointMaxTotal: 1, checkpointAutoPrune: false }).run(DATA);
      assert.deepEqual(runFolders(dir), [1, 2, 3, 4]);
      const none = tmpDir('no-save');
      const result = await newMulti({ numRuns: 2, checkpointDir: none, saveEveryRun: false }).run(DATA);
      assert.deepEqual(runFolders(none), []);
      assert.ok(result.runs.every((r) => r.checkpointPath === null && !r.pruned));
      assert.equal(result.finalCheckpointPath, path.join(none, 'latest'), 'simple mode still records where the next run would start');
    });
  });

  // -------------------------------------------------------------------------
  describe('abort (roadmap 2.4)', () => {
    it('test_on_run_complete_on_abort: abort() from outside stops the run within one step; onRunComplete still fires', async () => {
      const onRunStart = createSpy('onRunStart');
      const onRunComplete = createSpy('onRunComplete');
      const multi = newMulti({ stepsPerRun: 2_000_000, numRuns: 3 }, { onRunStart, onRunComplete });
      const running = multi.run(DATA);
      await waitFor(() => multi.status.step >= 10, { timeoutMs: 20000, message: 'run 1 to take 10 steps' });
      multi.abort('user stop');
      // The native thread checks for an abort before every step: after abort()
      // returns, at most the step in flight completes.
      const stepAtAbort = multi.status.step;
      assert.equal(multi.status.state, 'stopping');
      const result = await running;
      onRunStart.assertCalled(1);
      onRunComplete.assertCalled(1);
      const r = onRunComplete.lastCall.args[0];
      assert.equal(r.runIndex, 1);
      assert.equal(r.failed, true);
      assert.equal(r.failureReason, 'aborted: user stop');
      assert.ok(r.steps >= 10 && r.steps <= stepAtAbort + 1, `stopped at step ${r.steps}, abort at ${stepAtAbort}`);
      assert.equal(r.lossHistory.length, r.steps);
      assert.equal(r.checkpointPath, null);
      assert.equal(result.aborted, true);
      assert.equal(result.abortReason, 'user stop');
      assert.equal(result.totalRuns, 1);
      assert.equal(result.runs[0], r);
      assert.equal(multi.status.state, 'idle');
    });

    it('abort() from inside onStep, onRunStart or onRunComplete', async () => {
      // onStep: the run in progress (a long one) ends failed, within one step of the abort.
      // With stepEvents 'block' the native thread waits for each onStep, so "within one step" is exact;
      // with 'coalesce' (the default) it may have run ahead, and an event may have been dropped, hence >=.
      for (const stepEvents of ['block', 'coalesce']) {
        let reached = null;
        const fromStep = newMulti({ stepsPerRun: 2_000_000, numRuns: 3 }, {
          stepEvents,
          onStep: (i, step) => {
            if (reached === null && step >= 5) {
              reached = step;
              fromStep.abort('from onStep');
            }
          },
        });
        const r1 = await fromStep.run(DATA);
        assert.equal(r1.aborted, true);
        assert.equal(r1.abortReason, 'from onStep');
        assert.equal(r1.runs.length, 1);
        assert.equal(r1.runs[0].failed, true);
        assert.equal(r1.runs[0].failureReason, 'aborted: from onStep');
        assert.ok(r1.runs[0].steps >= reached && r1.runs[0].steps < 2_000_000, `${stepEvents}: stopped at ${r1.runs[0].steps}`);
        if (stepEvents === 'block') assert.ok(r1.runs[0].steps <= reached + 1, `block: abort at step ${reached}, stopped at ${r1.runs[0].steps}`);
      }

      // onRunStart: the run reports at once, failed, with no steps.
      const steps = createSpy('onStep');
      const fromStart = newMulti({}, {
        onStep: steps,
        onRunStart: (i) => {
          if (i === 2) fromStart.abort('from onRunStart');
        },
      });
      const pairs = [];
      fromStart.on('runStart', (i) => pairs.push(`start:${i}`));
      fromStart.on('runComplete', (r) => pairs.push(`complete:${r.runIndex}:${r.failed}`));
      const r2 = await fromStart.run(DATA);
      assert.deepEqual(pairs, ['start:1', 'complete:1:false', 'start:2', 'complete:2:true']);
      assert.equal(r2.runs[1].steps, 0);
      assert.equal(r2.runs[1].failureReason, 'aborted: from onRunStart');
      assert.equal(steps.callCount, 20, 'no step of run 2');
      assert.equal(r2.aborted, true);

      // onRunComplete: the completed run stands, no further run starts.
      const fromComplete = newMulti({}, {
        onRunComplete: (r) => {
          if (r.runIndex === 1) fromComplete.abort('from onRunComplete');
        },
      });
      const r3 = await fromComplete.run(DATA);
      assert.equal(r3.runs.length, 1);
      assert.equal(r3.runs[0].failed, false);
      assert.equal(r3.aborted, true);
      assert.equal(r3.abortReason, 'from onRunComplete');
    });

    it('test_abort_preserves_callback_state: callbacks keep working for a later session on the same object', async () => {
      const onRunStart = createSpy('onRunStart');
      const onRunComplete = createSpy('onRunComplete');
      const onStep = createSpy('onStep');
      let armed = true;
      const multi = newMulti({}, {
        onRunStart,
        onRunComplete: (r) => {
          onRunComplete(r);
          if (armed && r.runIndex === 2) {
            armed = false;
            multi.abort('first session');
          }
        },
        onStep,
      });
      const first = await multi.run(DATA);
      assert.equal(first.aborted, true);
      assert.equal(onRunComplete.callCount, 2);
      multi.abort('while idle: ignored');
      onRunStart.reset();
      onRunComplete.reset();
      onStep.reset();
      const second = await multi.run(DATA);
      assert.equal(second.aborted, false);
      assert.equal(second.abortReason, null);
      assert.equal(second.totalRuns, 3);
      assert.notEqual(second.runId, first.runId);
      assert.deepEqual(onRunStart.calls.map((c) => c.args[0]), [1, 2, 3]);
      assert.deepEqual(onRunComplete.calls.map((c) => c.args[0].failed), [false, false, false]);
      assert.equal(onStep.callCount, 60);
    });

    it('rejects a second run() while one is running (TRAINER_BUSY)', async () => {
      const multi = newMulti({ stepsPerRun: 2_000_000 });
      const first = multi.run(DATA);
      await assertRejectsWith(multi.run(DATA), 'TRAINER_BUSY');
      multi.abort('done');
      assert.equal((await first).aborted, true);
    });
  });

  // -------------------------------------------------------------------------
  describe('validation and early stopping (roadmap 2.4)', () => {
    it('test_callback_during_validation: the validation loss is computed after each run, before onRunComplete', async () => {
      const events = [];
      const multi = newMulti({ numRuns: 3 }, {
        onStep: (i, step) => events.push(`step:${i}:${step}`),
        onRunComplete: (r) => events.push(`complete:${r.runIndex}:${r.validationLoss !== null}`),
      });
      const result = await multi.run(DATA);
      for (let i = 1; i <= 3; i++) {
        const complete = events.indexOf(`complete:${i}:true`);
        assert.ok(complete > events.indexOf(`step:${i}:20`), `run ${i}: validated after its last step`);
      }
      // The reported validation loss is the checkpoint's loss on the held-out rows.
      const p = planData(DATA.rows, multi.config, 7);
      const rows = [...p.validationRows];
      const x = new Float32Array(rows.length * 2);
      const y = new Int32Array(rows.length);
      rows.forEach((r, k) => {
        x.set(DATA.x.subarray(2 * r, 2 * r + 2), 2 * k);
        y[k] = DATA.y[r];
      });
      for (const r of result.runs) {
        const reloaded = await Trainer.load(r.checkpointPath, { threads: 1 });
        const evaluation = reloaded.evaluate({ x, y });
        assert.ok(Math.abs(evaluation.loss - r.validationLoss) < 1e-9, `run ${r.runIndex}`);
        assert.equal(evaluation.accuracy, r.validationAccuracy);
      }
      const off = await newMulti({ numRuns: 2, validateEveryRun: false }).run(DATA);
      assert.ok(off.runs.every((r) => r.validationLoss === null && r.validationAccuracy === null));
    });

    it('test_early_stopping_callbacks: stops after earlyStoppingPatience runs without improvement; aborted stays false', async () => {
      for (const patience of [1, 2]) {
        const onRunStart = createSpy('onRunStart');
        const onRunComplete = createSpy('onRunComplete');
        // A threshold no run can beat: only run 1 sets a best.
        const multi = newMulti(
          { numRuns: 5, samplesPerRun: 60, earlyStopping: true, earlyStoppingPatience: patience, earlyStoppingThreshold: 100 },
          { onRunStart, onRunComplete },
        );
        const result = await multi.run(DATA);
        assert.equal(result.totalRuns, 1 + patience, `patience ${patience}`);
        onRunStart.assertCalled(1 + patience);
        onRunComplete.assertCalled(1 + patience);
        assert.ok(onRunComplete.calls.every((c) => !c.args[0].failed));
        assert.equal(result.aborted, false);
        assert.match(result.abortReason, /early stopping/);
        assert.equal(result.finalCheckpointPath, result.runs[patience].checkpointPath);
        const history = readHistory(multi.config.checkpointDir);
        assert.equal(history.finished, true);
        assert.match(history.stopReason, /early stopping/);
      }
    });

    it('early stopping counts against the best loss so far, not the previous run', async () => {
      // With threshold 0 a run improves when it beats the best; record the losses and replay the rule.
      const multi = newMulti({ numRuns: 5, samplesPerRun: 60, earlyStopping: true, earlyStoppingPatience: 2, initialLr: 0.05, finalLr: 0.05, lrDecay: 'constant' });
      const result = await multi.run(DATA);
      let best = Infinity;
      let bad = 0;
      let stopAfter = 5;
      for (const r of result.runs) {
        if (r.validationLoss < best) {
          best = r.validationLoss;
          bad = 0;
        } else bad++;
        if (bad >= 2 && r.runIndex < 5) {
          stopAfter = r.runIndex;
          break;
        }
      }
      assert.equal(result.totalRuns, stopAfter);
      assert.equal(result.abortReason === null, stopAfter === 5);
    });
  });

  // -------------------------------------------------------------------------
  describe('session state and resume', () => {
    it('writes run_history.json atomically after every run', async () => {
      const dir = tmpDir('state');
      const seen = [];
      const multi = newMulti({ numRuns: 3, checkpointDir: dir }, {
        onRunComplete: (r) => {
          const h = readHistory(dir);
          seen.push([h.nextRunIndex, h.runs.length, h.runId === r.runId, h.startCheckpoint]);
          assert.deepEqual(fs.readdirSync(dir).filter((n) => n.includes('.tmp')), [], 'no temp files left');
        },
      });
      const result = await multi.run(DATA);
      assert.deepEqual(seen, [
        [2, 1, true, 'run-1'],
        [3, 2, true, 'run-2'],
        [4, 3, true, 'run-3'],
      ]);
      const h = readHistory(dir);
      assert.equal(h.format, 'backpropagate-multi-run');
      assert.equal(h.finished, true);
      assert.deepEqual(h.runs.map((r) => r.lossHistory), result.runs.map((r) => [...r.lossHistory]));
    });

    /** Final weights and loss history of a session's final checkpoint. */
    async function outcome(result) {
      return { params: (await readCheckpoint(result.finalCheckpointPath)).params, losses: result.aggregateLossHistory };
    }

    for (const variant of [
      { name: 'simple', config: {} },
      { name: 'average with replay', config: { mergeMode: 'average', replayFraction: 0.3, replayStrategy: 'random' } },
    ]) {
      it(`resume after an abort between runs equals an uninterrupted session (${variant.name})`, async () => {
        const config = { numRuns: 4, samplesPerRun: 80, ...variant.config };
        const full = await newMulti(config).run(DATA);
        assert.equal(full.totalRuns, 4);

        const dir = tmpDir('resume');
        const interrupted = newMulti({ ...config, checkpointDir: dir }, {
          onRunComplete: (r) => {
            if (r.runIndex === 2) interrupted.abort('interrupted');
          },
        });
        const partial = await interrupted.run(DATA);
        assert.equal(partial.aborted, true);
        assert.equal(partial.runs.length, 2);

        const starts = createSpy('onRunStart');
        const resumer = newMulti({ ...config, checkpointDir: dir }, { onRunStart: starts });
        const resumed = await resumer.run(DATA, { resume: true });
        assert.deepEqual(starts.calls.map((c) => c.args[0]), [3, 4], 'continues with the next run');
        assert.equal(resumed.runId, partial.runId, 'the session keeps its id');
        assert.ok(resumed.runs.every((r) => r.runId === partial.runId));
        assert.equal(resumed.totalRuns, 4);
        assert.equal(resumed.aborted, false);
        assert.deepEqual(resumed.runs.map((r) => r.runIndex), [1, 2, 3, 4]);
        assert.deepEqual(resumed.runBoundaries, full.runBoundaries);
        const a = await outcome(full);
        const b = await outcome(resumed);
        assert.deepEqual(b.losses, a.losses, 'the same loss history');
        assert.deepEqual(b.params, a.params, 'the same final weights');
        assert.deepEqual(resumed.runs.map((r) => r.validationLoss), full.runs.map((r) => r.validationLoss));
      });
    }

    it('resume after an abort in the middle of a run redoes that run from its start', async () => {
      const config = { numRuns: 3, samplesPerRun: 80, stepsPerRun: 200 };
      const full = await newMulti(config).run(DATA);
      const dir = tmpDir('resume-mid');
      // 'block': training waits for each onStep, so the abort at step 7 lands inside run 2 however slow the machine.
      const interrupted = newMulti({ ...config, checkpointDir: dir }, {
        stepEvents: 'block',
        onStep: (i, step) => {
          if (i === 2 && step === 7) interrupted.abort('mid-run');
        },
      });
      const partial = await interrupted.run(DATA);
      assert.equal(partial.runs.length, 2);
      assert.equal(partial.runs[1].failed, true);
      assert.ok(partial.runs[1].steps <= 8, `run 2 stopped at step ${partial.runs[1].steps}`);
      const resumed = await newMulti({ ...config, checkpointDir: dir }).run(DATA, { resume: true });
      assert.deepEqual(resumed.runs.map((r) => [r.runIndex, r.failed]), [[1, false], [2, false], [3, false]]);
      assert.deepEqual(resumed.aggregateLossHistory, full.aggregateLossHistory);
      assert.deepEqual((await outcome(resumed)).params, (await outcome(full)).params);
    });

    it('resuming a finished session trains nothing and reports it', async () => {
      const dir = tmpDir('resume-done');
      const done = await newMulti({ numRuns: 2, checkpointDir: dir }).run(DATA);
      const onRunStart = createSpy('onRunStart');
      const again = await newMulti({ numRuns: 2, checkpointDir: dir }, { onRunStart }).run(DATA, { resume: true });
      onRunStart.assertCalled(0);
      assert.equal(again.runId, done.runId);
      assert.deepEqual(again.aggregateLossHistory, done.aggregateLossHistory);
      assert.equal(again.finalCheckpointPath, done.finalCheckpointPath);

      // Also when every run checkpoint was pruned at the end (nothing kept): nothing is read, nothing trained.
      const bare = tmpDir('resume-done-pruned');
      const prunedConfig = { numRuns: 2, checkpointDir: bare, checkpointKeepBestN: 0, checkpointKeepFinal: false, checkpointMaxTotal: 1 };
      const first = await newMulti(prunedConfig).run(DATA);
      assert.deepEqual(runFolders(bare), []);
      assert.equal(first.finalCheckpointPath, null);
      const resumedBare = await newMulti(prunedConfig, { onRunStart }).run(DATA, { resume: true });
      onRunStart.assertCalled(0);
      assert.equal(resumedBare.runId, first.runId);
      assert.equal(resumedBare.finalCheckpointPath, null);
      assert.deepEqual(resumedBare.runs.map((r) => r.pruned), [true, true]);
    });

    for (const variant of [
      { name: "'average'", config: { mergeMode: 'average' } },
      { name: "'simple' keeping a single checkpoint", config: { checkpointKeepBestN: 0, checkpointKeepFinal: false, checkpointMaxTotal: 1 } },
      { name: "'simple' without run checkpoints", config: { saveEveryRun: false } },
    ]) {
      it(`a session stopped at its state write resumes with the same outcome: nothing is overwritten or pruned before the commit (${variant.name})`, async () => {
        const config = { numRuns: 3, ...variant.config };
        const full = await newMulti(config).run(DATA);
        const dir = tmpDir('commit');
        const file = path.join(dir, 'run_history.json');
        const failing = newMulti({ ...config, checkpointDir: dir }, {
          onRunComplete: (r) => {
            if (r.runIndex !== 1) return;
            // run_history.json becomes a folder: run 2 trains and writes its checkpoints, then its state write fails,
            // as if the process had died at that moment. The state after run 1 is kept aside and put back below.
            fs.renameSync(file, `${file}.saved`);
            fs.mkdirSync(file);
          },
        });
        const error = await assertRejectsWith(failing.run(DATA), 'RUNTIME_FAILED');
        assert.match(error.message, /run_history\.json/);
        assert.deepEqual(error.result.runs.map((r) => [r.runIndex, r.failed]), [[1, false], [2, true]]);
        fs.rmdirSync(file);
        fs.renameSync(`${file}.saved`, file);

        const starts = createSpy('onRunStart');
        const resumed = await newMulti({ ...config, checkpointDir: dir }, { onRunStart: starts }).run(DATA, { resume: true });
        assert.deepEqual(starts.calls.map((c) => c.args[0]), [2, 3]);
        assert.deepEqual(resumed.aggregateLossHistory, full.aggregateLossHistory, 'the same loss history');
        assert.deepEqual(resumed.runs.map((r) => r.validationLoss), full.runs.map((r) => r.validationLoss));
        if (full.finalCheckpointPath !== null) {
          assert.deepEqual((await readCheckpoint(resumed.finalCheckpointPath)).params, (await readCheckpoint(full.finalCheckpointPath)).params, 'the same final weights');
        }
        assert.deepEqual(fs.readdirSync(dir).filter((n) => n.includes('.staged') || n.includes('.tmp')), [], 'no staged or temporary folder left');
      });
    }

    it('refuses to resume a different session or a missing one', async () => {
      const dir = tmpDir('resume-bad');
      const partial = newMulti({ numRuns: 3, checkpointDir: dir }, { onRunComplete: () => partial.abort('stop') });
      await partial.run(DATA);
      await assertRejectsWith(newMulti({ numRuns: 3, checkpointDir: dir, initialLr: 0.02 }).run(DATA, { resume: true }), 'CHECKPOINT_INCOMPATIBLE', 'initialLr');
      await assertRejectsWith(newMulti({ numRuns: 3, checkpointDir: dir }, { seed: 8 }).run(DATA, { resume: true }), 'CHECKPOINT_INCOMPATIBLE', 'seed');
      const other = datasets.blobs({ samples: 400, classes: 3, seed: 3 });
      await assertRejectsWith(newMulti({ numRuns: 3, checkpointDir: dir }).run(other, { resume: true }), 'CHECKPOINT_INCOMPATIBLE', 'data');
      await assertRejectsWith(newMulti({ checkpointDir: path.join(tmpDir('empty'), 'none') }).run(DATA, { resume: true }), 'CHECKPOINT_NOT_FOUND');
    });
  });

  // -------------------------------------------------------------------------
  describe('e2e (roadmap 4.1)', () => {
    it('test_e2e_multirun_callback_sequence: a full session with every hook and event', async () => {
      const tracker = createTracker();
      const multi = newMulti({ numRuns: 3, stepsPerRun: 10, replayFraction: 0.2, replayStrategy: 'all_previous', mergeMode: 'average' }, {
        onRunStart: (i) => tracker.record('start', i),
        onStep: (i, step) => tracker.record('step', `${i}:${step}`),
        onRunComplete: async (r) => {
          await sleep(5);
          tracker.record('complete', r.runIndex);
        },
      });
      const listener = createSpy('runComplete listener');
      multi.on('runComplete', listener);
      const result = await multi.run(DATA);
      const expected = [];
      for (let i = 1; i <= 3; i++) {
        expected.push(['start', i]);
        for (let s = 1; s <= 10; s++) expected.push(['step', `${i}:${s}`]);
        expected.push(['complete', i]);
      }
      assert.deepEqual(tracker.events.map((e) => [e.name, e.payload]), expected);
      assert.deepEqual(listener.calls.map((c) => c.args[0]), result.runs);
      assert.equal(result.totalSteps, 30);
      assert.equal(result.totalSamples, 100 + 120 + 120);
      assert.deepEqual(result.runBoundaries, [0, 10, 20]);
      assert.equal(result.aborted, false);
    });
  });

  it('a run whose checkpoint cannot be written is reported failed and run() rejects; resume redoes it', async () => {
    const dir = path.join(tmpDir('unwritable'), 'session');
    const reported = [];
    const multi = newMulti({ numRuns: 3, checkpointDir: dir }, {
      onRunComplete: (r) => {
        reported.push([r.runIndex, r.failed, r.failureReason]);
        if (r.runIndex === 1) {
          // The session folder becomes a file: run 2's checkpoint cannot be written.
          fs.renameSync(dir, `${dir}.saved`);
          fs.writeFileSync(dir, 'not a folder');
        }
      },
    });
    let error;
    try {
      await multi.run(DATA);
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof BackpropError, `run() rejects with a BackpropError (got ${error})`);
    assert.equal(reported.length, 2);
    assert.deepEqual(reported[0], [1, false, null]);
    assert.equal(reported[1][0], 2);
    assert.equal(reported[1][1], true);
    assert.match(reported[1][2], new RegExp(`^${error.code}: `));
    assert.equal(error.result.runs.length, 2);
    assert.equal(multi.status.state, 'idle');
    // Put the folder back: the session resumes at run 2.
    fs.rmSync(dir);
    fs.renameSync(`${dir}.saved`, dir);
    const starts = createSpy('onRunStart');
    const resumed = await newMulti({ numRuns: 3, checkpointDir: dir }, { onRunStart: starts }).run(DATA, { resume: true });
    assert.deepEqual(starts.calls.map((c) => c.args[0]), [2, 3]);
    assert.equal(resumed.totalRuns, 3);
    assert.ok(resumed.runs.every((r) => !r.failed));
  });

  it('keeps the error of a failing run: run() rejects with it, after onRunComplete reports it', async () => {
    // A regression that reliably diverges (SGD at learning rate 10): RUNTIME_NON_FINITE_LOSS.
    const rows = 200;
    const x = new Float32Array(rows * 2).map((_, i) => (i % 7) / 7);
    const y = new Float32Array(rows).map((_, i) => x[2 * i] + x[2 * i + 1]);
    const onRunComplete = createSpy('onRunComplete');
    const multi = new MultiRunTrainer({
      model: { inputSize: 2, hiddenLayers: [8], outputSize: 1, task: 'regression' },
      optimizer: 'sgd',
      seed: 1,
      threads: 1,
      config: { numRuns: 2, stepsPerRun: 500, samplesPerRun: 64, batchSize: 16, validationSamples: 10, initialLr: 10, finalLr: 10, warmupStepsPerRun: 0, enableGpuMonitoring: false, checkpointDir: tmpDir('diverge') },
      onRunComplete,
    });
    const error = await assertRejectsWith(multi.run({ x, y }), 'RUNTIME_NON_FINITE_LOSS');
    onRunComplete.assertCalled(1);
    const r = onRunComplete.lastCall.args[0];
    assert.equal(r.failed, true);
    assert.match(r.failureReason, /^RUNTIME_NON_FINITE_LOSS: /);
    assert.equal(error.result.runs[0], r);
    assert.equal(error.result.aborted, false);
    assert.equal(multi.status.state, 'idle');
  });
});
