'use strict';
// MultiRunTrainer GPU behaviour (roadmap 2.3 and the e2e row
// test_e2e_gpu_monitoring_integration of 4.1): the session's monitor, its
// samples, overheating pauses (before a run and mid-run), the pause bound,
// a monitor that dies during a pause, and emergencies. The GPU is simulated
// with scriptedGpuSource (same native sampling thread as NVML); training is
// the real native engine.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { threadId } = require('node:worker_threads');

const dist = process.env.BP_DIST || path.join(__dirname, '..', 'dist');
const { datasets, scriptedGpuSource, GPUCondition } = require(dist);
const { MultiRunTrainer } = require(path.join(dist, 'multi-run'));
const { createSpy, createTracker, waitFor } = require('./helpers');

const MODEL = Object.freeze({ inputSize: 2, hiddenLayers: [8], outputSize: 3 });
const DATA = datasets.blobs({ samples: 400, classes: 3, seed: 2 });
const CHECK_MS = 10;
const CONDITIONS = new Set(Object.values(GPUCondition));

const tmpDirs = [];
function tmpDir(label) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `bp-multirun-gpu-${label}-`));
  tmpDirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of tmpDirs) fs.rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const cool = { temperatureC: 60, temperatureMaxC: 100, vramUsedGb: 10, vramTotalGb: 80 };
const hot = { temperatureC: 90, temperatureMaxC: 100, vramUsedGb: 10, vramTotalGb: 80 };

/** A session watched by a scripted GPU: `script` is a list of readings or a function of elapsed ms. */
function newMulti(script, config = {}, options = {}) {
  return new MultiRunTrainer({
    model: MODEL,
    seed: 7,
    threads: 1,
    config: {
      numRuns: 2,
      stepsPerRun: 20,
      samplesPerRun: 100,
      validationSamples: 40,
      initialLr: 0.01,
      finalLr: 0.002,
      enableGpuMonitoring: true,
      maxTempC: 85,
      cooldownMs: 20,
      maxPauseMs: 20000,
      checkpointDir: tmpDir('session'),
      ...config,
    },
    gpuMonitor: { source: scriptedGpuSource(script, { loop: Array.isArray(script) }), config: { checkIntervalMs: CHECK_MS, logWarnings: false } },
    ...options,
  });
}

async function rejection(promise) {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected run() to reject');
}

describe('MultiRunTrainer GPU monitoring', function () {
  this.timeout(60000);

  it('test_on_gpu_status_periodic: onGpuStatus receives every sample, periodically, in order', async () => {
    const onGpuStatus = createSpy('onGpuStatus');
    const events = [];
    // An async onRunStart keeps each run open for a few sampling intervals.
    const multi = newMulti([cool], {}, { onGpuStatus, onRunStart: () => sleep(60) });
    multi.on('gpuStatus', (s) => events.push(s));
    await multi.run(DATA);
    assert.ok(onGpuStatus.callCount >= 8, `${onGpuStatus.callCount} samples`);
    assert.deepEqual(events, onGpuStatus.calls.map((c) => c.args[0]), "the 'gpuStatus' event carries the same samples");
    const stamps = events.map((s) => s.timestamp);
    for (let i = 1; i < stamps.length; i++) assert.ok(stamps[i] >= stamps[i - 1], 'timestamps never go back');
    const span = stamps[stamps.length - 1] - stamps[0];
    assert.ok(span >= 100, `samples spread over the session (${span} ms)`);
  });

  it('test_on_gpu_status_content: GPUStatus fields are valid; RunResult carries the run maxima', async () => {
    const statuses = [];
    const readings = [
      { ...cool, temperatureC: 61, vramUsedGb: 8 },
      { ...cool, temperatureC: 72, vramUsedGb: 20 },
      { ...cool, temperatureC: 66, vramUsedGb: 12 },
    ];
    const windows = {};
    let open = null;
    const multi = newMulti(readings, {}, {
      onRunStart: (i) => {
        open = windows[i] = [];
        return sleep(60);
      },
      onRunComplete: () => {
        open = null;
      },
      onGpuStatus: (s) => {
        statuses.push(s);
        if (open) open.push(s);
      },
    });
    const result = await multi.run(DATA);
    for (const s of statuses) {
      assert.ok(Object.isFrozen(s));
      assert.equal(s.available, true);
      assert.equal(s.deviceIndex, 0);
      assert.ok(CONDITIONS.has(s.condition), s.condition);
      assert.ok([61, 72, 66].includes(s.temperatureC), String(s.temperatureC));
      const used = { 61: 8, 72: 20, 66: 12 }[s.temperatureC];
      assert.equal(s.vramUsedGb, used);
      assert.equal(s.vramTotalGb, 80);
      assert.ok(Math.abs(s.vramPercent - (used / 80) * 100) < 1e-9);
      assert.equal(s.temperatureMaxC, 100);
      assert.ok(['safe', 'warm'].includes(s.condition), `${s.temperatureC} °C is ${s.condition}`);
      assert.equal(typeof s.conditionReason, 'string');
      assert.ok(Number.isFinite(s.timestamp) && Math.abs(s.timestamp - Date.now()) < 60000);
    }
    for (const r of result.runs) {
      const seen = windows[r.runIndex];
      assert.ok(seen.length >= 3, `run ${r.runIndex} saw ${seen.length} samples`);
      // Samples up to the moment the result was built: a subset of the window.
      assert.ok([61, 72, 66].includes(r.gpuMaxTemp));
      assert.ok(r.gpuMaxTemp <= Math.max(...seen.map((s) => s.temperatureC)));
      assert.ok(r.gpuMaxTemp >= Math.max(...seen.slice(0, 3).map((s) => s.temperatureC)));
      assert.ok(r.gpuMaxVramPercent <= 25 && r.gpuMaxVramPercent >= 10);
    }
  });

  it('test_gpu_callback_thread_safety: GPU callbacks run on the JS thread, one at a time, between training events', async () => {
    let inside = 0;
    const overlaps = [];
    const threads = new Set();
    const guard = (name) => () => {
      threads.add(threadId);
      if (inside > 0) overlaps.push(name);
      inside++;
      const until = performance.now() + 0.2;
      while (performance.now() < until) {
        // a little work inside the handler
      }
      inside--;
    };
    const multi = newMulti([cool], { stepsPerRun: 1000, numRuns: 2 }, {
      onGpuStatus: guard('gpu'),
      onStep: guard('step'),
      onRunStart: guard('start'),
      onRunComplete: guard('complete'),
    });
    const result = await multi.run(DATA);
    assert.equal(result.totalRuns, 2);
    assert.deepEqual(overlaps, []);
    assert.deepEqual([...threads], [threadId]);
  });

  it('test_on_gpu_status_during_pause: a hot GPU holds the next run; samples keep coming while paused', async () => {
    const tracker = createTracker();
    // Hot for the first 150 ms of the session, then cool.
    const multi = newMulti((ms) => (ms < 150 ? hot : cool), {}, {
      onGpuStatus: (s) => tracker.record('gpu', { t: s.temperatureC, state: multi.status.state, paused: multi.status.gpuPaused }),
      onRunStart: (i) => tracker.record('start', i),
      onRunComplete: (r) => tracker.record('complete', r.runIndex),
    });
    multi.on('paused', (s) => tracker.record('paused', s && s.temperatureC));
    multi.on('resumed', (s) => tracker.record('resumed', s && s.temperatureC));
    const result = await multi.run(DATA);
    assert.equal(result.totalRuns, 2);
    assert.equal(result.aborted, false);
    const names = tracker.names();
    const firstStart = names.indexOf('start');
    assert.ok(names.indexOf('paused') >= 0 && names.indexOf('paused') < firstStart, 'paused before run 1');
    assert.ok(names.indexOf('resumed') < firstStart, 'resumed before run 1');
    const duringPause = tracker.events.filter((e) => e.name === 'gpu' && e.payload.paused);
    assert.ok(duringPause.length >= 3, `${duringPause.length} samples while paused`);
    assert.ok(duringPause.every((e) => e.payload.state === 'paused'));
    assert.ok(duringPause.some((e) => e.payload.t === 90));
    // The pause ended on a cool reading seen before run 1 started.
    const lastHot = tracker.events.map((e) => e.name === 'gpu' && e.payload.t === 90).lastIndexOf(true);
    assert.ok(lastHot < firstStart);
    assert.ok(tracker.events.slice(lastHot, firstStart).some((e) => e.name === 'gpu' && e.payload.t === 60));
    assert.equal(tracker.events.find((e) => e.name === 'paused').payload, 90);
    assert.equal(tracker.events.find((e) => e.name === 'resumed').payload, 60);
  });

  it('pauses a run in progress through trainer.pause() and resumes it when the GPU is cool again', async () => {
    // Cool, hot from 150 ms to 450 ms, cool again; the run is long, the test aborts it after the pause.
    const samplesWhilePaused = [];
    const multi = newMulti((ms) => (ms >= 150 && ms < 450 ? hot : cool), { stepsPerRun: 5_000_000, numRuns: 1 }, {
      onGpuStatus: (s) => {
        if (multi.status.gpuPaused) samplesWhilePaused.push(s.temperatureC);
      },
    });
    const running = multi.run(DATA);
    await waitFor(() => multi.status.state === 'paused', { timeoutMs: 20000, message: 'a GPU pause' });
    await sleep(40); // the step in flight finishes
    const held = multi.status.step;
    assert.ok(held > 0, 'the pause came mid-run');
    await sleep(60);
    assert.equal(multi.status.step, held, 'no step while paused');
    assert.equal(multi.status.state, 'paused');
    await waitFor(() => multi.status.state === 'running' && multi.status.step > held, { timeoutMs: 20000, message: 'training to resume' });
    multi.abort('seen enough');
    const result = await running;
    assert.equal(result.aborted, true);
    assert.equal(result.runs[0].failed, true);
    assert.equal(result.runs[0].gpuMaxTemp, 90);
    assert.ok(samplesWhilePaused.filter((t) => t === 90).length >= 3);
  });

  it('maxPauseMs bounds a pause: run() rejects with RUNTIME_GPU_TEMPERATURE_CRITICAL', async () => {
    // Always hot: the pause starts before run 1 and never ends.
    const onRunStart = createSpy('onRunStart');
    const bounded = newMulti([hot], { maxPauseMs: 120 }, { onRunStart });
    const started = Date.now();
    const error = await rejection(bounded.run(DATA));
    assert.equal(error.code, 'RUNTIME_GPU_TEMPERATURE_CRITICAL', error.message);
    assert.match(error.message, /maxPauseMs/);
    assert.ok(Date.now() - started >= 120);
    assert.ok(error.details.pausedMs >= 120);
    onRunStart.assertCalled(0);
    assert.equal(error.result.runs.length, 0);
    assert.equal(bounded.status.state, 'idle');

    // Mid-run: the run in progress ends failed, onRunComplete reports it, then run() rejects.
    const onRunComplete = createSpy('onRunComplete');
    const midRun = newMulti((ms) => (ms < 150 ? cool : hot), { maxPauseMs: 100, stepsPerRun: 5_000_000 }, { onRunComplete });
    const error2 = await rejection(midRun.run(DATA));
    assert.equal(error2.code, 'RUNTIME_GPU_TEMPERATURE_CRITICAL');
    onRunComplete.assertCalled(1);
    const r = onRunComplete.lastCall.args[0];
    assert.equal(r.failed, true);
    assert.match(r.failureReason, /^RUNTIME_GPU_TEMPERATURE_CRITICAL/);
    assert.ok(r.steps > 0);
    assert.equal(error2.result.runs[0], r);
  });

  it('maxPauseMs: 0 disables the bound', async () => {
    const script = (ms) => (ms < 250 ? hot : cool);
    const error = await rejection(newMulti(script, { maxPauseMs: 100 }).run(DATA));
    assert.equal(error.code, 'RUNTIME_GPU_TEMPERATURE_CRITICAL');
    const result = await newMulti(script, { maxPauseMs: 0 }).run(DATA);
    assert.equal(result.totalRuns, 2);
    assert.equal(result.aborted, false);
  });

  it('a monitor that dies during a pause fails the session at once', async () => {
    // Hot, then every read fails: no reading can confirm the GPU cooled down.
    const script = (ms) => (ms < 60 ? hot : { fail: 'GPU fell off the bus' });
    const started = Date.now();
    const error = await rejection(newMulti(script, { maxPauseMs: 600000, cooldownMs: 600000 }).run(DATA));
    assert.equal(error.code, 'RUNTIME_GPU_TEMPERATURE_CRITICAL');
    assert.match(error.message, /monitor/);
    assert.ok(Date.now() - started < 600000, 'without waiting for the pause bound');
    assert.equal(error.details.consecutiveFailures >= 3, true);
  });

  it('an emergency aborts the session: the run fails with RUNTIME_GPU_TEMPERATURE_CRITICAL, run() resolves aborted', async () => {
    const onRunComplete = createSpy('onRunComplete');
    const onRunStart = createSpy('onRunStart');
    const emergency = { ...hot, temperatureC: 99 };
    const multi = newMulti((ms) => (ms < 150 ? cool : emergency), { stepsPerRun: 5_000_000, numRuns: 3 }, { onRunStart, onRunComplete });
    const result = await multi.run(DATA);
    assert.equal(result.aborted, true);
    assert.match(result.abortReason, /^RUNTIME_GPU_TEMPERATURE_CRITICAL/);
    onRunStart.assertCalled(1);
    onRunComplete.assertCalled(1);
    const r = onRunComplete.lastCall.args[0];
    assert.equal(r.failed, true);
    assert.match(r.failureReason, /^RUNTIME_GPU_TEMPERATURE_CRITICAL/);
    assert.equal(r.gpuMaxTemp, 99);
  });

  it('pauseOnOverheat: false only reports hot samples', async () => {
    const paused = createSpy('paused');
    const multi = newMulti([hot], { pauseOnOverheat: false }, { onRunStart: () => sleep(30) });
    multi.on('paused', paused);
    const result = await multi.run(DATA);
    assert.equal(result.totalRuns, 2);
    paused.assertCalled(0);
    assert.ok(result.runs.every((r) => r.gpuMaxTemp === 90));
  });

  it('with no readable GPU (unknown condition) training proceeds normally', async () => {
    // A device that reports nothing: condition 'unknown'.
    const statuses = [];
    const unknown = await newMulti([{ deviceName: 'no sensors' }], {}, { onGpuStatus: (s) => statuses.push(s), onRunStart: () => sleep(30) }).run(DATA);
    assert.equal(unknown.totalRuns, 2);
    assert.ok(statuses.length > 0 && statuses.every((s) => s.condition === 'unknown'));
    assert.ok(unknown.runs.every((r) => r.gpuMaxTemp === null && r.gpuMaxVramPercent === null));
    // Reads that fail outright (no driver) do not stop training either.
    const failing = await newMulti([{ fail: 'no driver' }], {}, { onRunStart: () => sleep(40) }).run(DATA);
    assert.equal(failing.totalRuns, 2);
    assert.equal(failing.aborted, false);
    // The default source (NVML): on a machine without a GPU or NVML this is the same case.
    const nvml = await new MultiRunTrainer({
      model: MODEL,
      threads: 1,
      config: { numRuns: 2, stepsPerRun: 10, samplesPerRun: 100, validationSamples: 40, checkpointDir: tmpDir('nvml'), initialLr: 0.01 },
      gpuMonitor: { config: { checkIntervalMs: 20, logWarnings: false } },
    }).run(DATA);
    assert.equal(nvml.totalRuns, 2);
    assert.equal(nvml.aborted, false);
  });

  it('enableGpuMonitoring: false runs no monitor', async () => {
    const onGpuStatus = createSpy('onGpuStatus');
    const result = await newMulti([hot], { enableGpuMonitoring: false }, { onGpuStatus, onRunStart: () => sleep(30) }).run(DATA);
    onGpuStatus.assertCalled(0);
    assert.ok(result.runs.every((r) => r.gpuMaxTemp === null));
  });

  it('test_e2e_gpu_monitoring_integration: a session with every callback, a pause between runs and GPU maxima', async () => {
    const tracker = createTracker();
    // Cool at first; hot from 100 ms to 300 ms, while onRunStart(1) holds run 1 open; cool after.
    const script = (ms) => (ms >= 100 && ms < 300 ? { ...hot, temperatureC: 88 } : cool);
    const multi = newMulti(script, { numRuns: 3, samplesPerRun: 80 }, {
      onRunStart: (i) => {
        tracker.record('start', i);
        return i === 1 ? sleep(200) : undefined;
      },
      onStep: (i, step) => tracker.record('step', [i, step]),
      onRunComplete: (r) => tracker.record('complete', r),
      onGpuStatus: (s) => tracker.record('gpu', [s.temperatureC, multi.status.gpuPaused]),
    });
    multi.on('paused', () => tracker.record('paused'));
    multi.on('resumed', () => tracker.record('resumed'));
    const result = await multi.run(DATA);
    assert.equal(result.totalRuns, 3);
    assert.equal(result.aborted, false);
    // Runs in order, each start / steps 1..20 / complete.
    const training = tracker.events.filter((e) => ['start', 'step', 'complete'].includes(e.name));
    for (let i = 1; i <= 3; i++) {
      const run = training.filter((e) => (e.name === 'start' && e.payload === i) || (e.name === 'step' && e.payload[0] === i) || (e.name === 'complete' && e.payload.runIndex === i));
      assert.equal(run[0].name, 'start');
      assert.deepEqual(run.slice(1, -1).map((e) => e.payload[1]), Array.from({ length: 20 }, (_, k) => k + 1));
      assert.equal(run[run.length - 1].name, 'complete');
    }
    // The hot readings paused the session, and samples kept coming during the pause.
    assert.ok(tracker.events.some((e) => e.name === 'gpu' && e.payload[0] === 88 && e.payload[1] === true));
    assert.equal(result.runs[0].gpuMaxTemp, 88, 'run 1 was open when the GPU got hot');
    assert.ok(result.runs.every((r) => r.gpuMaxVramPercent === 12.5 || r.gpuMaxVramPercent === null));
    // Run 1 trained only after the pause ended: no step while it was in force.
    assert.ok(tracker.count('paused') >= 1);
    let paused = false;
    for (const e of tracker.events) {
      if (e.name === 'paused') paused = true;
      if (e.name === 'resumed') paused = false;
      if (e.name === 'step') assert.ok(!paused, `step ${e.payload} during a pause`);
    }
  });
});
