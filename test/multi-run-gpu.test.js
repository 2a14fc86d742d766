'use strict';
// MultiRunTrainer GPU behaviour (roadmap 2.3 and the e2e row
// test_e2e_gpu_monitoring_integration of 4.1): the session's monitor, its
// samples, overheating pauses (before a run and mid-run), the re-check
// interval, the pause bound, a monitor that dies during a pause, emergencies,
// and the e2e row test_e2e_abort_callback_cleanup for a session. The GPU is
// simulated with scriptedGpuSource (same native sampling thread as NVML);
// training is the real native engine.
//
// A scripted function is sampled on the monitor's grid: sample k reads
// script(k x CHECK_MS), whenever it is actually taken. Scripts are therefore
// written in samples, and tests wait for samples (never for fixed times), so
// a slow, loaded machine only makes them take longer.
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
const emergency = { ...hot, temperatureC: 99 };
/** Generous: the machine may be slow and shared. */
const WAIT_MS = 30000;
/** The sample number whose script time is `ms`. */
const at = (samples) => samples * CHECK_MS;

/** Resolves once `count()` has grown by n (samples delivered to a handler). */
function moreSamples(count, n, what = 'GPU samples') {
  const from = count();
  return waitFor(() => count() >= from + n, { timeoutMs: WAIT_MS, message: `${n} more ${what}` });
}

/** The step count of a paused run once it no longer moves (the step in flight, if any, has finished). */
async function settledStep(multi) {
  let last = multi.status.step;
  await waitFor(
    async () => {
      await sleep(50);
      const now = multi.status.step;
      const same = now === last;
      last = now;
      return same;
    },
    { timeoutMs: WAIT_MS, intervalMs: 0, message: 'the paused run to stop stepping' },
  );
  return last;
}

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
    // An async onRunStart keeps each run open for five more samples.
    const multi = newMulti([cool], {}, { onGpuStatus, onRunStart: () => moreSamples(() => onGpuStatus.callCount, 5) });
    multi.on('gpuStatus', (s) => events.push(s));
    await multi.run(DATA);
    assert.ok(onGpuStatus.callCount >= 10, `${onGpuStatus.callCount} samples`);
    assert.deepEqual(events, onGpuStatus.calls.map((c) => c.args[0]), "the 'gpuStatus' event carries the same samples");
    const stamps = events.map((s) => s.timestamp);
    for (let i = 1; i < stamps.length; i++) assert.ok(stamps[i] >= stamps[i - 1], 'timestamps never go back');
    // Sample k is taken no earlier than k intervals after the monitor started: periodic, never a burst.
    const span = stamps[stamps.length - 1] - stamps[0];
    assert.ok(span >= (stamps.length - 1) * CHECK_MS * 0.5, `${stamps.length} samples spread over ${span} ms`);
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
        return moreSamples(() => windows[i].length, 3);
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
    // 50 cool samples (the run starts and steps), 200 hot ones, then cool; the run is long, the test aborts it after the pause.
    const samplesWhilePaused = [];
    const multi = newMulti((ms) => (ms >= at(50) && ms < at(250) ? hot : cool), { stepsPerRun: 5_000_000, numRuns: 1 }, {
      onGpuStatus: (s) => {
        if (multi.status.gpuPaused) samplesWhilePaused.push(s.temperatureC);
      },
    });
    const running = multi.run(DATA);
    await waitFor(() => multi.status.state === 'paused', { timeoutMs: WAIT_MS, message: 'a GPU pause' });
    const held = await settledStep(multi);
    assert.ok(held > 0, 'the pause came mid-run');
    await moreSamples(() => samplesWhilePaused.length, 5, 'samples while paused');
    assert.equal(multi.status.step, held, 'no step while paused');
    assert.equal(multi.status.state, 'paused');
    await waitFor(() => multi.status.state === 'running' && multi.status.step > held, { timeoutMs: WAIT_MS, message: 'training to resume' });
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
    const midRun = newMulti((ms) => (ms < at(50) ? cool : hot), { maxPauseMs: 100, stepsPerRun: 5_000_000 }, { onRunComplete });
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
    // 100 hot samples: a pause of at least 99 sampling intervals, well past 100 ms.
    const script = (ms) => (ms < at(100) ? hot : cool);
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

    // Mid-run: the paused run ends failed, onRunComplete reports it, then run() rejects.
    const onRunComplete = createSpy('onRunComplete');
    const midRun = newMulti(
      (ms) => (ms < at(50) ? cool : ms < at(55) ? hot : { fail: 'GPU fell off the bus' }),
      { maxPauseMs: 600000, cooldownMs: 600000, stepsPerRun: 5_000_000 },
      { onRunComplete },
    );
    const error2 = await rejection(midRun.run(DATA));
    assert.equal(error2.code, 'RUNTIME_GPU_TEMPERATURE_CRITICAL');
    assert.match(error2.message, /monitor/);
    onRunComplete.assertCalled(1);
    const r = onRunComplete.lastCall.args[0];
    assert.equal(r.failed, true);
    assert.match(r.failureReason, /^RUNTIME_GPU_TEMPERATURE_CRITICAL: /);
    assert.ok(r.steps > 0 && r.steps < 5_000_000, `the run stopped at step ${r.steps}`);
    assert.equal(error2.result.runs[0], r);
    assert.equal(error2.result.aborted, false);
    assert.equal(midRun.status.state, 'idle');
  });

  it('abort() from inside onGpuStatus stops the run in progress; onRunComplete reports it', async () => {
    const onRunComplete = createSpy('onRunComplete');
    const multi = newMulti([cool], { stepsPerRun: 5_000_000, numRuns: 3 }, {
      onRunComplete,
      onGpuStatus: () => {
        if (multi.status.runIndex === 1 && multi.status.step > 0) multi.abort('from onGpuStatus');
      },
    });
    const result = await multi.run(DATA);
    assert.equal(result.aborted, true);
    assert.equal(result.abortReason, 'from onGpuStatus');
    onRunComplete.assertCalled(1);
    const r = onRunComplete.lastCall.args[0];
    assert.equal(r.runIndex, 1);
    assert.equal(r.failed, true);
    assert.equal(r.failureReason, 'aborted: from onGpuStatus');
    assert.ok(r.steps > 0 && r.steps < 5_000_000);
  });

  it('cooldownMs is the interval between re-checks while paused', async () => {
    // 5 hot samples, then cool: the GPU is cool long before the first re-check, cooldownMs after the pause began.
    const cooldownMs = 400;
    const tracker = createTracker();
    const multi = newMulti((ms) => (ms < at(5) ? hot : cool), { cooldownMs, numRuns: 1 }, {
      onGpuStatus: (s) => tracker.record('gpu', s.temperatureC),
      onRunStart: () => tracker.record('start'),
    });
    multi.on('paused', (s) => tracker.record('paused', s.temperatureC));
    multi.on('resumed', (s) => tracker.record('resumed', s.temperatureC));
    const result = await multi.run(DATA);
    assert.equal(result.totalRuns, 1);
    tracker.assertSubsequence(['paused', 'resumed', 'start']);
    const paused = tracker.events.find((e) => e.name === 'paused');
    const resumed = tracker.events.find((e) => e.name === 'resumed');
    const firstCool = tracker.events.find((e) => e.name === 'gpu' && e.payload === 60);
    assert.equal(paused.payload, 90);
    assert.equal(resumed.payload, 60, 'the pause ends on a cool reading');
    assert.ok(firstCool.order < resumed.order, 'a cool reading arrived while still paused');
    // Timers never fire early (1 ms of rounding allowed).
    assert.ok(resumed.time - paused.time >= cooldownMs - 1, `paused for ${Math.round(resumed.time - paused.time)} ms, cooldownMs ${cooldownMs}`);
  });

  it("a 'critical' condition pauses below maxTempC, and the pause holds until the condition is safe or warm", async () => {
    // 60 °C (below maxTempC 85) with VRAM at 97.5 % (critical at 95 %) for 20 samples, then cool.
    const vramFull = { ...cool, vramUsedGb: 78 };
    const seen = [];
    const multi = newMulti((ms) => (ms < at(20) ? vramFull : cool), { numRuns: 1 }, {
      onGpuStatus: (s) => seen.push({ condition: s.condition, paused: multi.status.gpuPaused }),
      onRunStart: () => seen.push({ condition: 'run start' }),
    });
    const pauses = createSpy('paused');
    multi.on('paused', pauses);
    const result = await multi.run(DATA);
    assert.equal(result.totalRuns, 1);
    assert.equal(result.aborted, false);
    pauses.assertCalled(1);
    const cause = pauses.lastCall.args[0];
    assert.equal(cause.condition, 'critical');
    assert.ok(cause.temperatureC < 85);
    // Every critical sample after the first one found the session paused.
    const critical = seen.filter((s) => s.condition === 'critical');
    assert.equal(critical.length, 20);
    assert.ok(critical.slice(1).every((s) => s.paused), 'paused while critical');
    // Run 1 started only once the condition was safe again.
    const start = seen.findIndex((s) => s.condition === 'run start');
    assert.ok(start > seen.map((s) => s.condition).lastIndexOf('critical'), 'run 1 starts after the last critical sample');
    assert.equal(seen[start - 1].condition, 'safe');
  });

  it('abort() during a GPU pause ends the session at once, before a run or in one', async () => {
    // Before run 1: always hot, no bound.
    const onRunStart = createSpy('onRunStart');
    const waiting = newMulti([hot], { maxPauseMs: 0, cooldownMs: 600000 }, { onRunStart });
    const first = waiting.run(DATA);
    await waitFor(() => waiting.status.gpuPaused, { timeoutMs: WAIT_MS, message: 'a GPU pause' });
    waiting.abort('too hot to wait');
    const r1 = await first;
    assert.equal(r1.aborted, true);
    assert.equal(r1.abortReason, 'too hot to wait');
    assert.equal(r1.runs.length, 0);
    onRunStart.assertCalled(0);
    assert.equal(waiting.status.state, 'idle');

    // In a run: the paused run ends failed with the abort reason.
    const onRunComplete = createSpy('onRunComplete');
    const inRun = newMulti((ms) => (ms < at(50) ? cool : hot), { maxPauseMs: 0, cooldownMs: 600000, stepsPerRun: 5_000_000 }, { onRunComplete });
    const second = inRun.run(DATA);
    await waitFor(() => inRun.status.gpuPaused, { timeoutMs: WAIT_MS, message: 'a GPU pause' });
    const held = await settledStep(inRun);
    assert.ok(held > 0, 'the pause came mid-run');
    inRun.abort('stop while paused');
    const r2 = await second;
    assert.equal(r2.aborted, true);
    onRunComplete.assertCalled(1);
    const r = onRunComplete.lastCall.args[0];
    assert.equal(r.failed, true);
    assert.equal(r.failureReason, 'aborted: stop while paused');
    assert.ok(r.steps <= held + 1, `no training after the abort (${r.steps} steps, ${held} when paused)`);
  });

  it('an emergency during a pause aborts the paused run; run() resolves aborted', async () => {
    const onRunComplete = createSpy('onRunComplete');
    const multi = newMulti(
      (ms) => (ms < at(50) ? cool : ms < at(70) ? hot : emergency),
      { maxPauseMs: 0, cooldownMs: 600000, stepsPerRun: 5_000_000, numRuns: 2 },
      { onRunComplete },
    );
    const states = [];
    multi.on('paused', () => states.push('paused'));
    const result = await multi.run(DATA);
    assert.deepEqual(states, ['paused']);
    assert.equal(result.aborted, true);
    assert.match(result.abortReason, /^RUNTIME_GPU_TEMPERATURE_CRITICAL: GPU 0 reached the emergency condition/);
    onRunComplete.assertCalled(1);
    const r = onRunComplete.lastCall.args[0];
    assert.equal(r.failed, true);
    assert.match(r.failureReason, /^RUNTIME_GPU_TEMPERATURE_CRITICAL/);
    assert.ok(r.steps > 0);
    assert.equal(r.gpuMaxTemp, 99);
    assert.equal(multi.status.state, 'idle');
  });

  it('an emergency aborts the session: the run fails with RUNTIME_GPU_TEMPERATURE_CRITICAL, run() resolves aborted', async () => {
    const onRunComplete = createSpy('onRunComplete');
    const onRunStart = createSpy('onRunStart');
    const multi = newMulti((ms) => (ms < at(15) ? cool : emergency), { stepsPerRun: 5_000_000, numRuns: 3 }, { onRunStart, onRunComplete });
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
    const onGpuStatus = createSpy('onGpuStatus');
    const multi = newMulti([hot], { pauseOnOverheat: false }, { onGpuStatus, onRunStart: () => moreSamples(() => onGpuStatus.callCount, 1) });
    multi.on('paused', paused);
    const result = await multi.run(DATA);
    assert.equal(result.totalRuns, 2);
    paused.assertCalled(0);
    assert.ok(result.runs.every((r) => r.gpuMaxTemp === 90));
  });

  it('with no readable GPU (unknown condition) training proceeds normally', async () => {
    // A device that reports nothing: condition 'unknown'.
    const statuses = [];
    const unknown = await newMulti([{ deviceName: 'no sensors' }], {}, { onGpuStatus: (s) => statuses.push(s), onRunStart: () => moreSamples(() => statuses.length, 1) }).run(DATA);
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

  it('test_e2e_abort_callback_cleanup: abort mid-session with every hook and event; nothing fires after run() resolves; the next session works', async () => {
    const dir = tmpDir('cleanup');
    const tracker = createTracker();
    let abortAt = { run: 2, step: 5 };
    const multi = newMulti([cool], { numRuns: 3, stepsPerRun: 300, checkpointDir: dir }, {
      // 'block': each step waits for its handler, so an abort from onStep lands on the very next step.
      stepEvents: 'block',
      onRunStart: (i) => tracker.record('start', i),
      onStep: (i, step) => {
        tracker.record('step', [i, step]);
        if (abortAt && i === abortAt.run && step >= abortAt.step) {
          abortAt = null;
          multi.abort('cleanup');
        }
      },
      onRunComplete: (r) => tracker.record('complete', r),
      onGpuStatus: (s) => tracker.record('gpu', s.temperatureC),
    });
    for (const event of ['runStart', 'runComplete', 'step', 'gpuStatus']) multi.on(event, () => tracker.record(`event:${event}`));
    const result = await multi.run(DATA);
    const atResolve = tracker.events.length;

    assert.equal(result.aborted, true);
    assert.equal(result.abortReason, 'cleanup');
    assert.deepEqual(result.runs.map((r) => [r.runIndex, r.failed]), [[1, false], [2, true]]);
    const aborted = result.runs[1];
    assert.equal(aborted.failureReason, 'aborted: cleanup');
    assert.ok(aborted.steps >= 5 && aborted.steps <= 6, `run 2 stopped within one step of the abort (step ${aborted.steps})`);
    assert.equal(aborted.checkpointPath, null);
    // The last hook and the last event of the session are run 2's completion.
    const hooks = tracker.events.filter((e) => ['start', 'step', 'complete'].includes(e.name));
    assert.equal(hooks[hooks.length - 1].name, 'complete');
    assert.equal(hooks[hooks.length - 1].payload, aborted);
    assert.ok(!tracker.events.some((e) => e.name === 'start' && e.payload === 3), 'no run after the abort');
    const named = tracker.events.filter((e) => e.name.startsWith('event:run') || e.name === 'event:step');
    assert.equal(named[named.length - 1].name, 'event:runComplete');
    assert.ok(tracker.count('gpu') >= 1 && tracker.count('event:gpuStatus') === tracker.count('gpu'));

    // Cleanup: the monitor is stopped, the object idle, the folder consistent.
    await sleep(20 * CHECK_MS);
    assert.equal(tracker.events.length, atResolve, 'no hook or event fires after run() resolved');
    assert.deepEqual(multi.status, { ...multi.status, state: 'idle', gpuPaused: false, completedRuns: 1 });
    const history = JSON.parse(fs.readFileSync(path.join(dir, 'run_history.json'), 'utf8'));
    assert.equal(history.nextRunIndex, 2, 'a resume redoes run 2');
    assert.equal(history.finished, false);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['run-1', 'run_history.json'], 'no run-2 checkpoint, no temporary or staged folder');

    // The same object runs again, every hook working.
    tracker.reset();
    abortAt = { run: 1, step: 3 };
    const again = await multi.run(DATA);
    assert.equal(again.aborted, true);
    assert.notEqual(again.runId, result.runId);
    assert.deepEqual(again.runs.map((r) => [r.runIndex, r.failed]), [[1, true]]);
    for (const name of ['start', 'step', 'complete', 'gpu', 'event:runStart', 'event:step', 'event:runComplete', 'event:gpuStatus']) {
      assert.ok(tracker.count(name) >= 1, `${name} fired in the second session`);
    }
  });

  it('test_e2e_gpu_monitoring_integration: a session with every callback, a pause between runs and GPU maxima', async () => {
    const tracker = createTracker();
    // Cool for 10 samples; 20 hot ones, while onRunStart(1) holds run 1 open; cool after.
    const script = (ms) => (ms >= at(10) && ms < at(30) ? { ...hot, temperatureC: 88 } : cool);
    const multi = newMulti(script, { numRuns: 3, samplesPerRun: 80 }, {
      onRunStart: (i) => {
        tracker.record('start', i);
        if (i !== 1) return undefined;
        return waitFor(() => tracker.events.some((e) => e.name === 'gpu' && e.payload[0] === 88), { timeoutMs: WAIT_MS, message: 'a hot sample' });
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
