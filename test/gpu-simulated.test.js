'use strict';
// simulatedGPU(): a live simulated GPU. set() and fail() are seen by the
// native sampler at its next sample, in GPUMonitor, in the synchronous
// queries, in train({ gpuSafety }) (pause, resume, stop) and in MultiRunTrainer.
const assert = require('node:assert/strict');
const path = require('node:path');

const dist = process.env.BP_DIST || path.join(__dirname, '..', 'dist');
const {
  Trainer, MultiRunTrainer, GPUMonitor, BackpropError, datasets, simulatedGPU, simulatedGpu, getGpuStatus, checkGpuSafe, waitForSafeGpu,
} = require(dist);
const { waitFor } = require('./helpers');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const DATA = datasets.spirals({ samples: 2000, classes: 3, seed: 7 });

function newTrainer() {
  return new Trainer({ model: { inputSize: 2, hiddenLayers: [32], outputSize: 3 }, seed: 7, learningRate: 0.01, threads: 1 });
}

describe('simulatedGPU()', () => {
  const cleanups = [];
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()();
  });

  it('is exported under both spellings and rejects bad readings and messages with CONFIG_INVALID', () => {
    assert.equal(simulatedGpu, simulatedGPU);
    const gpu = simulatedGPU({ temperatureC: 50 });
    assert.equal(gpu.kind, 'scripted');
    assert.equal(gpu.live, true);
    assert.deepEqual({ ...gpu.reading }, { temperatureC: 50 });
    for (const bad of [() => simulatedGPU(), () => simulatedGPU(5), () => gpu.set({ temperatureC: 'hot' }), () => gpu.set({ deviceName: 3 }),
      () => gpu.set({ throttleReasons: 'x' }), () => gpu.fail(''), () => gpu.fail(42)]) {
      assert.throws(bad, (e) => e instanceof BackpropError && e.code === 'CONFIG_INVALID');
    }
    assert.deepEqual({ ...gpu.reading }, { temperatureC: 50 }, 'a rejected set() leaves the reading unchanged');
  });

  it('a monitor sees set() from its next sample on, and fail() as a GPU_READ_FAILED read error', async () => {
    const gpu = simulatedGPU({ temperatureC: 50, deviceName: 'sim' });
    const statuses = [];
    const readErrors = [];
    const monitor = new GPUMonitor({ source: gpu, config: { checkIntervalMs: 10, logWarnings: false }, onStatus: (s) => statuses.push(s) });
    monitor.on('readError', (e) => readErrors.push(e));
    cleanups.push(() => monitor.stop());
    monitor.start();
    await waitFor(() => statuses.length >= 3, { message: 'the first samples' });
    assert.ok(statuses.every((s) => s.temperatureC === 50 && s.condition === 'safe' && s.deviceName === 'sim'));

    const before = statuses.length;
    gpu.set({ temperatureC: 91 });
    await waitFor(() => statuses.length >= before + 4, { message: 'samples after set()' });
    // A sample taken while set() ran may show either reading; every later one shows the new one.
    const after = statuses.slice(before);
    const firstNew = after.findIndex((s) => s.temperatureC === 91);
    assert.ok(firstNew >= 0 && firstNew <= 2, `the new reading appeared ${firstNew} samples after set()`);
    assert.ok(after.slice(firstNew).every((s) => s.temperatureC === 91 && s.condition === 'critical'));

    gpu.fail('sensor lost');
    await waitFor(() => readErrors.length >= 1, { message: 'a read error after fail()' });
    assert.equal(readErrors[0].error.code, 'GPU_READ_FAILED');
    assert.match(readErrors[0].error.message, /sensor lost/);
    gpu.set({ temperatureC: 55 });
    await waitFor(() => statuses.some((s, i) => i > before && s.temperatureC === 55), { message: 'a reading after recovering' });
  });

  it('getGpuStatus, checkGpuSafe and waitForSafeGpu read the current reading', async () => {
    const gpu = simulatedGPU({ temperatureC: 60 });
    assert.equal(getGpuStatus({ source: gpu }).temperatureC, 60);
    assert.equal(checkGpuSafe({ source: gpu }), true);
    gpu.set({ temperatureC: 92 });
    assert.equal(getGpuStatus({ source: gpu, deviceIndex: 3 }).deviceIndex, 3);
    assert.equal(checkGpuSafe({ source: gpu }), false);
    const waiting = waitForSafeGpu({ source: gpu, checkIntervalMs: 10, maxWaitMs: 5000 });
    await sleep(50);
    gpu.set({ temperatureC: 70 });
    assert.equal(await waiting, true);
    gpu.fail('gone');
    assert.equal(getGpuStatus({ source: gpu }).condition, 'unknown');
  });

  it('train({ gpuSafety }): a hot set() pauses training, a cool one resumes it, an emergency stops it', async () => {
    const gpu = simulatedGPU({ temperatureC: 60 });
    const trainer = newTrainer();
    const events = [];
    trainer.on('paused', () => events.push('paused'));
    trainer.on('resumed', () => events.push('resumed'));
    const settled = trainer
      .train(DATA, { epochs: 100000, batchSize: 32, gpuSafety: { source: gpu, checkIntervalMs: 10, cooldownMs: 60000, logWarnings: false } })
      .then((run) => ({ run }), (error) => ({ error }));
    cleanups.push(async () => {
      trainer.abort('test cleanup');
      await settled;
    });
    await waitFor(() => trainer.status.step > 5, { message: 'training to start' });

    gpu.set({ temperatureC: 91 });
    await waitFor(() => events.includes('paused'), { timeoutMs: 10000, message: "'paused' after a critical reading" });
    const held = trainer.status.step;
    await sleep(100);
    assert.equal(trainer.status.state, 'paused');
    assert.equal(trainer.status.step, held, 'no steps while held');

    gpu.set({ temperatureC: 65 });
    await waitFor(() => events.includes('resumed'), { timeoutMs: 10000, message: "'resumed' after a safe reading" });
    await waitFor(() => trainer.status.step > held, { message: 'steps after resuming' });

    gpu.set({ temperatureC: 97 });
    const { error, run } = await settled;
    assert.equal(run, undefined);
    assert.ok(error instanceof BackpropError);
    assert.equal(error.code, 'RUNTIME_GPU_TEMPERATURE_CRITICAL');
    assert.match(error.message, /emergency/);
    assert.equal(error.run.metadata.gpuMaxTemp, 97);
    assert.deepEqual(events, ['paused', 'resumed']);
  });

  it('train({ gpuSafety }): fail() while held for heat stops the run (thermal safety disabled), with gpuReadError events', async () => {
    const gpu = simulatedGPU({ temperatureC: 60 });
    const trainer = newTrainer();
    const readErrors = [];
    let paused = false;
    trainer.on('paused', () => { paused = true; });
    trainer.on('gpuReadError', (e) => readErrors.push(e));
    const settled = trainer
      .train(DATA, { epochs: 100000, batchSize: 32, gpuSafety: { source: gpu, checkIntervalMs: 10, cooldownMs: 60000, logWarnings: false } })
      .then((run) => ({ run }), (e) => ({ error: e }));
    cleanups.push(async () => {
      trainer.abort('test cleanup');
      await settled;
    });
    await waitFor(() => trainer.status.step > 5, { message: 'training to start' });
    gpu.set({ temperatureC: 91 });
    await waitFor(() => paused, { timeoutMs: 10000, message: "'paused'" });
    gpu.fail('sensor lost');
    const { error } = await settled;
    assert.equal(error.code, 'RUNTIME_GPU_TEMPERATURE_CRITICAL');
    assert.match(error.message, /sensor lost/);
    assert.ok(readErrors.length >= 1);
    assert.equal(readErrors[0].error.code, 'GPU_READ_FAILED');
  });

  it('MultiRunTrainer takes it as gpuMonitor.source and sees set() during the session', async () => {
    const fs = require('node:fs');
    const os = require('node:os');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bp-simgpu-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const gpu = simulatedGPU({ temperatureC: 55 });
    const temps = [];
    const multi = new MultiRunTrainer({
      model: { inputSize: 2, hiddenLayers: [8], outputSize: 3 },
      seed: 7,
      threads: 1,
      config: { numRuns: 2, stepsPerRun: 10, samplesPerRun: 100, validationSamples: 40, initialLr: 0.01, enableGpuMonitoring: true, checkpointDir: dir },
      gpuMonitor: { source: gpu, config: { checkIntervalMs: 10, logWarnings: false } },
      onGpuStatus: (s) => temps.push(s.temperatureC),
      // Run 2 starts only once the session's monitor has seen the reading set during run 1.
      onRunStart: async (i) => {
        if (i !== 2) return;
        gpu.set({ temperatureC: 70 });
        await waitFor(() => temps.includes(70), { timeoutMs: 10000, message: 'the new reading in the session' });
      },
    });
    const result = await multi.run(DATA);
    assert.equal(result.totalRuns, 2);
    const first70 = temps.indexOf(70);
    assert.ok(first70 > 0 && temps.slice(0, first70).every((t) => t === 55), `readings ${temps}`);
  });
});
