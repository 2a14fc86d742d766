'use strict';
// GPU safety during trainer.train({ gpuSafety }): 'critical' holds the native
// training thread (with hysteresis), 'emergency' and exhausted cooldowns stop
// the run with RUNTIME_GPU_TEMPERATURE_CRITICAL, run metadata records the
// hottest reading, and the e2e row of roadmap 4.1 (training + GPU monitoring
// callbacks). All GPUs here are scripted.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const dist = process.env.BP_DIST || path.join(__dirname, '..', 'dist');
const { Trainer, TrainingCallback, datasets, scriptedGpuSource, BackpropError } = require(dist);
const { createSpy, createTracker, waitFor } = require('./helpers');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const threadCount = () => fs.readdirSync('/proc/self/task').length;
const temps = (list) => list.map((t) => (typeof t === 'number' ? { temperatureC: t } : t));

/** Big enough that a run with many epochs is still going when the scripted condition arrives. */
const DATA = datasets.spirals({ samples: 2000, classes: 3, seed: 7 });
const LONG = { epochs: 100000, batchSize: 32 };

function newTrainer() {
  return new Trainer({ model: { inputSize: 2, hiddenLayers: [32], outputSize: 3 }, seed: 7, learningRate: 0.01, threads: 1 });
}

// Every run started with startRun() is aborted and awaited after its test.
let active = [];

/**
 * Starts trainer.train(DATA, { ...LONG, ...train, gpuSafety: { source, checkIntervalMs: 10, ...gpu } })
 * and records the trainer's GPU and state events.
 */
function startRun({ readings, loop, gpu = {}, train = {}, callback } = {}) {
  const trainer = newTrainer();
  const tracker = createTracker();
  const statuses = [];
  trainer.on('gpuStatus', (s) => {
    statuses.push(s);
    tracker.record('gpuStatus', s);
  });
  trainer.on('paused', () => tracker.record('paused', { at: Date.now(), step: trainer.status.step }));
  trainer.on('resumed', () => tracker.record('resumed', { at: Date.now(), step: trainer.status.step }));
  trainer.on('gpuReadError', (e) => tracker.record('gpuReadError', e));
  const gpuSafety = gpu === false ? false : { source: scriptedGpuSource(temps(readings), { loop }), checkIntervalMs: 10, logWarnings: false, ...gpu };
  const promise = trainer.train(DATA, { ...LONG, ...train, gpuSafety }, callback);
  const settled = promise.then((run) => ({ run }), (error) => ({ error }));
  active.push({ trainer, settled });
  return { trainer, tracker, statuses, promise, settled };
}

function assertGpuCritical(error) {
  assert.ok(error instanceof BackpropError, `expected a BackpropError, got ${error && error.name}: ${error && error.message}`);
  assert.equal(error.code, 'RUNTIME_GPU_TEMPERATURE_CRITICAL');
  assert.ok(error.run, 'err.run is present');
  assert.equal(error.run.metadata.outcome, 'failed');
}

describe('trainer.train({ gpuSafety })', () => {
  afterEach(async () => {
    const list = active;
    active = [];
    for (const { trainer, settled } of list) {
      trainer.abort('test cleanup');
      await settled;
    }
  });

  it("'critical' holds the training thread: 'paused' event, state 'paused', steps frozen", async () => {
    const { trainer, tracker } = startRun({ readings: [60, 60, 91], gpu: { cooldownMs: 60000 } });
    await waitFor(() => tracker.count('paused') === 1, { timeoutMs: 10000, message: "the 'paused' event" });
    const first = trainer.status;
    assert.equal(first.state, 'paused');
    await sleep(100);
    const second = trainer.status;
    assert.equal(second.state, 'paused');
    assert.equal(second.step, first.step, 'no steps while held');
    assert.equal(tracker.count('resumed'), 0);
  });

  it('hysteresis: a reading at 85 (warning) after critical keeps training held', async () => {
    const { trainer, tracker, statuses } = startRun({ readings: [60, 91, 91, 91, 85], gpu: { cooldownMs: 60000 } });
    await waitFor(() => tracker.count('paused') === 1 && statuses.some((s) => s.temperatureC === 85), { timeoutMs: 10000, message: 'the pause and an 85 °C status' });
    const heldStep = trainer.status.step;
    await sleep(150); // 15 more readings at 85 °C
    assert.equal(trainer.status.state, 'paused');
    assert.equal(trainer.status.step, heldStep);
    assert.equal(tracker.count('resumed'), 0);
    assert.ok(statuses.filter((s) => s.temperatureC === 85).length >= 5);
  });

  it("resumes once safe/warm and below tempWarning: 'resumed', steps advance", async () => {
    // 100 ms critical, 100 ms warning (the training thread must reach a step boundary to pause at all).
    const readings = [60, ...Array(10).fill(91), ...Array(10).fill(85), 75];
    const { trainer, tracker, statuses } = startRun({ readings, gpu: { cooldownMs: 60000 } });
    await waitFor(() => tracker.count('resumed') === 1, { timeoutMs: 10000, message: "the 'resumed' event" });
    tracker.assertSubsequence(['paused', 'resumed']);
    const resumed = tracker.events.find((e) => e.name === 'resumed').payload;
    await waitFor(() => statuses.some((s) => s.temperatureC === 75));
    const first75 = statuses.find((s) => s.temperatureC === 75);
    const last85 = statuses.filter((s) => s.temperatureC === 85).pop();
    assert.ok(resumed.at + 1 >= first75.timestamp, 'not resumed before the first reading below tempWarning');
    assert.ok(resumed.at >= last85.timestamp, 'the 85 °C readings did not release the hold');
    const step = trainer.status.step;
    await waitFor(() => trainer.status.step > step, { timeoutMs: 5000, message: 'steps to advance after resuming' });
    assert.equal(trainer.status.state, 'running');
  });

  it("'emergency' rejects with RUNTIME_GPU_TEMPERATURE_CRITICAL (onError called, err.run present)", async () => {
    const onError = createSpy('onError');
    const errorEvents = createSpy('error event');
    const { trainer, settled } = startRun({ readings: [60, 60, 96], callback: new TrainingCallback({ onError }) });
    trainer.on('error', errorEvents);
    const { error, run } = await settled;
    assert.equal(run, undefined, 'the run must not complete');
    assertGpuCritical(error);
    assert.match(error.message, /emergency/);
    onError.assertCalled(1);
    assert.equal(onError.calls[0].args[0], error);
    errorEvents.assertCalled(1);
    assert.equal(error.run.metadata.gpuMaxTemp, 96);
    assert.equal(trainer.status.state, 'idle');
  });

  it("'emergency' while held for 'critical' stops the run too", async () => {
    const { settled, tracker } = startRun({ readings: [60, ...Array(30).fill(91), 97], gpu: { cooldownMs: 60000 } });
    const { error } = await settled;
    assertGpuCritical(error);
    assert.equal(tracker.count('paused'), 1);
    assert.equal(error.run.metadata.gpuMaxTemp, 97);
  });

  it('maxCooldownAttempts waits of cooldownMs without recovery stop the run', async () => {
    const { settled, tracker } = startRun({ readings: [60, 91], gpu: { cooldownMs: 100, maxCooldownAttempts: 2 } });
    await waitFor(() => tracker.count('paused') === 1, { timeoutMs: 10000, message: "the 'paused' event" });
    const paused = tracker.events.find((e) => e.name === 'paused').payload;
    const { error } = await settled;
    const failedAt = Date.now();
    assertGpuCritical(error);
    assert.match(error.message, /cooldown/i);
    assert.ok(failedAt - paused.at >= 150, `gave up ${failedAt - paused.at} ms after pausing; 2 waits of 100 ms were due`);
    assert.equal(error.run.steps, paused.step, 'no steps while held');
    assert.equal(error.run.metadata.gpuMaxTemp, 91);
  });

  it('three failed reads while held stop the run (thermal safety disabled); gpuReadError events are forwarded', async () => {
    const f = { fail: 'sensor lost' };
    const { settled, tracker } = startRun({ readings: [60, 91, 91, f, f, f, f], gpu: { cooldownMs: 60000 } });
    const { error } = await settled;
    assertGpuCritical(error);
    assert.match(error.message, /sensor lost/);
    assert.ok(tracker.count('gpuReadError') >= 1);
    const readError = tracker.events.find((e) => e.name === 'gpuReadError').payload;
    assert.equal(readError.error.code, 'GPU_READ_FAILED');
  });

  it('pauseOnCritical: false trains through critical readings', async () => {
    const { trainer, tracker, statuses } = startRun({ readings: [91], gpu: { pauseOnCritical: false } });
    await waitFor(() => statuses.length >= 5);
    const step = trainer.status.step;
    await waitFor(() => trainer.status.step > step + 10, { timeoutMs: 5000 });
    assert.equal(tracker.count('paused'), 0);
    assert.equal(trainer.status.state, 'running');
  });

  it("abortOnEmergency: false still holds training on 'emergency' (it is worse than critical)", async () => {
    const { trainer, tracker, statuses, settled } = startRun({ readings: [60, 96], gpu: { abortOnEmergency: false, cooldownMs: 60000 } });
    await waitFor(() => statuses.filter((s) => s.condition === 'emergency').length >= 5, { timeoutMs: 10000 });
    await sleep(50);
    const outcome = await Promise.race([settled, sleep(1).then(() => null)]);
    assert.equal(outcome, null, 'the run was not stopped (abortOnEmergency is false)');
    assert.equal(tracker.count('paused'), 1, "an 'emergency' GPU neither stopped nor paused training");
    assert.equal(trainer.status.state, 'paused');
  });

  it("'gpuStatus' events forward the monitor's statuses, in order", async () => {
    const { statuses, trainer } = startRun({ readings: [50, 55, 60, 65, 70] });
    await waitFor(() => statuses.length >= 7);
    trainer.abort();
    assert.deepEqual(statuses.slice(0, 6).map((s) => s.temperatureC), [50, 55, 60, 65, 70, 70]);
    for (const s of statuses) {
      assert.ok(Object.isFrozen(s));
      assert.equal(typeof s.condition, 'string');
      assert.equal(s.deviceIndex, 0);
    }
    for (let i = 1; i < statuses.length; i++) assert.ok(statuses[i].timestamp > statuses[i - 1].timestamp);
  });

  it('run.metadata records gpuMaxTemp and gpuMaxVramPercent', async () => {
    const { trainer, statuses, settled } = startRun({
      readings: [
        { temperatureC: 60, vramUsedGb: 32, vramTotalGb: 80 },
        { temperatureC: 72, vramUsedGb: 64, vramTotalGb: 80 },
        { temperatureC: 65, vramUsedGb: 48, vramTotalGb: 80 },
      ],
    });
    await waitFor(() => statuses.length >= 5);
    trainer.abort('enough');
    const { error } = await settled;
    assert.equal(error.name, 'AbortError');
    assert.equal(error.run.metadata.outcome, 'aborted');
    assert.equal(error.run.metadata.gpuMaxTemp, 72);
    assert.equal(error.run.metadata.gpuMaxVramPercent, 80);
  });

  it('gpuMaxTemp includes the first reading of the run, even for a short run', async () => {
    // With a 1 s interval a short run only ever sees the monitor's first sample.
    const results = [];
    for (let i = 0; i < 30; i++) {
      const trainer = newTrainer();
      const forwarded = [];
      trainer.on('gpuStatus', (s) => forwarded.push(s.temperatureC));
      const run = await trainer.train(DATA, {
        epochs: 1,
        gpuSafety: { source: scriptedGpuSource([{ temperatureC: 77, vramUsedGb: 60, vramTotalGb: 80 }]), checkIntervalMs: 1000, logWarnings: false },
      });
      results.push({ forwarded: forwarded.join(','), gpuMaxTemp: run.metadata.gpuMaxTemp, gpuMaxVramPercent: run.metadata.gpuMaxVramPercent });
    }
    const missed = results.filter((r) => r.gpuMaxTemp !== 77 || r.gpuMaxVramPercent !== 75);
    assert.deepEqual(missed, [], `${missed.length}/30 runs recorded metadata that misses the monitor's first reading (forwarded as gpuStatus)`);
    assert.ok(results.every((r) => r.forwarded === '77'));
  });

  it('gpuSafety: false, and omitted on the CPU: no monitor, gpuMaxTemp null', async () => {
    for (const gpuSafety of [false, undefined]) {
      const trainer = newTrainer();
      assert.equal(trainer.device, 'cpu');
      const gpuStatus = createSpy('gpuStatus');
      trainer.on('gpuStatus', gpuStatus);
      const options = { epochs: 2 };
      if (gpuSafety !== undefined) options.gpuSafety = gpuSafety;
      const run = await trainer.train(DATA, options);
      assert.equal(run.metadata.gpuMaxTemp, null);
      assert.equal(run.metadata.gpuMaxVramPercent, null);
      gpuStatus.assertCalled(0);
    }
  });

  it('the run\'s monitor thread is gone after train() settles', async () => {
    const warm = newTrainer();
    await warm.train(DATA, { epochs: 1, gpuSafety: false });
    await sleep(20);
    const baseline = threadCount();
    const { trainer, statuses, settled } = startRun({ readings: [50] });
    await waitFor(() => statuses.length >= 3);
    trainer.abort();
    await settled;
    await waitFor(() => threadCount() <= baseline, { timeoutMs: 3000, message: () => `thread count back to ${baseline} (now ${threadCount()})` });
  });

  it('a bad gpuSafety option rejects with CONFIG_INVALID', async () => {
    for (const gpuSafety of ['on', { tempCritical: 'hot' }, { tempCritcal: 80 }]) {
      await assert.rejects(newTrainer().train(DATA, { epochs: 1, gpuSafety }), (e) => e instanceof BackpropError && e.code === 'CONFIG_INVALID', JSON.stringify(gpuSafety));
    }
  });
});

describe('roadmap 4.1 test_e2e_gpu_monitoring_integration', () => {
  it('training with step/epoch/complete callbacks and GPU monitoring: pause for heat, resume, complete', async () => {
    const tracker = createTracker();
    const callback = new TrainingCallback({
      onStep: (step) => tracker.record('step', step),
      onEpoch: (epoch) => tracker.record('epoch', epoch),
      onComplete: (run) => tracker.record('complete', run),
      onError: (error) => tracker.record('error', error),
    });
    const trainer = newTrainer();
    const gpu = [];
    trainer.on('gpuStatus', (s) => {
      gpu.push(s);
      tracker.record('gpuStatus', s);
    });
    trainer.on('paused', () => tracker.record('paused', trainer.status.step));
    trainer.on('resumed', () => tracker.record('resumed', trainer.status.step));
    const maxSteps = 20000;
    const run = await trainer.train(
      DATA,
      {
        epochs: 100000,
        maxSteps,
        gpuSafety: {
          // Critical for 100 ms, then warning for 50 ms (still held), then warm: resume.
          source: scriptedGpuSource([
            { temperatureC: 62, vramUsedGb: 20, vramTotalGb: 80 },
            ...Array(9).fill({ temperatureC: 91, vramUsedGb: 30, vramTotalGb: 80 }),
            { temperatureC: 92, vramUsedGb: 30, vramTotalGb: 80 },
            ...Array(5).fill({ temperatureC: 86, vramUsedGb: 30, vramTotalGb: 80 }),
            { temperatureC: 74, vramUsedGb: 25, vramTotalGb: 80 },
          ]),
          checkIntervalMs: 10,
          cooldownMs: 60000,
          logWarnings: false,
        },
      },
      callback,
    );
    assert.equal(run.steps, maxSteps);
    assert.equal(run.metadata.outcome, 'completed');
    assert.equal(run.metadata.gpuMaxTemp, 92);
    assert.equal(run.metadata.gpuMaxVramPercent, 37.5);
    assert.equal(tracker.count('error'), 0);
    assert.equal(tracker.count('complete'), 1);
    assert.equal(tracker.count('paused'), 1);
    assert.equal(tracker.count('resumed'), 1);
    tracker.assertSubsequence(['paused', 'resumed', 'complete']);
    assert.ok(tracker.count('epoch') >= 1);
    const steps = tracker.events.filter((e) => e.name === 'step').map((e) => e.payload);
    for (let i = 1; i < steps.length; i++) assert.ok(steps[i] > steps[i - 1], 'steps in order');
    const phases = [];
    for (const s of gpu) if (phases[phases.length - 1] !== s.condition) phases.push(s.condition);
    assert.deepEqual(phases, ['safe', 'critical', 'warning', 'warm']);
    assert.ok(gpu.length >= 17, 'the whole script was sampled');
    const pausedAt = tracker.events.find((e) => e.name === 'paused').payload;
    assert.ok(pausedAt < maxSteps, `paused at step ${pausedAt}`);
    // The step events before and after the hold are contiguous: nothing lost or repeated.
    assert.equal(steps[steps.length - 1], maxSteps);
  });
});
