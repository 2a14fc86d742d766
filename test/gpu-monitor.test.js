'use strict';
// GPUMonitor: roadmap section 3 (3.1 registration, 3.2 dispatch, 3.3 thread
// safety, 3.4 escalation), pause/resume, stop, failed reads and their logging,
// history, several devices and monitors, blocked-JS sampling, and the
// start/stop leak loop. Every monitor here reads a scripted (simulated) GPU.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { threadId, isMainThread } = require('node:worker_threads');

const dist = process.env.BP_DIST || path.join(__dirname, '..', 'dist');
const { GPUMonitor, GPUSafetyConfig, scriptedGpuSource, BackpropError } = require(dist);
const { createSpy, createTracker, waitFor, waitForCalls, blockEventLoop } = require('./helpers');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const tick = () => new Promise((resolve) => setImmediate(resolve));
const threadCount = () => fs.readdirSync('/proc/self/task').length;
const temps = (list) => list.map((t) => (typeof t === 'number' ? { temperatureC: t } : t));

const STATUS_KEYS = [
  'available', 'deviceName', 'deviceIndex', 'uuid', 'temperatureC', 'temperatureMaxC', 'temperatureSlowdownC',
  'vramTotalGb', 'vramUsedGb', 'vramFreeGb', 'vramPercent', 'powerDrawW', 'powerLimitW', 'powerPercent',
  'gpuUtilization', 'memoryUtilization', 'smClockMhz', 'memClockMhz', 'fanPercent', 'throttleReasons', 'processes',
  'condition', 'conditionReason', 'timestamp',
].sort();

describe('GPUMonitor', () => {
  // Every monitor a test makes is stopped afterwards, even when the test fails.
  let monitors = [];
  function monitor({ readings, loop, intervalMs = 10, config = {}, ...rest } = {}) {
    const m = new GPUMonitor({
      config: { checkIntervalMs: intervalMs, logWarnings: false, ...config },
      source: readings ? scriptedGpuSource(typeof readings === 'function' ? readings : temps(readings), { loop }) : undefined,
      ...rest,
    });
    monitors.push(m);
    return m;
  }
  afterEach(async () => {
    const list = monitors;
    monitors = [];
    for (const m of list) await m.stop();
  });

  /** Waits until the monitor's history holds at least n statuses. */
  function waitForHistory(m, n, timeoutMs = 10000) {
    return waitFor(() => m.getStatusHistory().length >= n, { timeoutMs, message: () => `${n} statuses (have ${m.getStatusHistory().length})` });
  }

  function assertIsStatus(s) {
    assert.equal(typeof s, 'object');
    assert.ok(Object.isFrozen(s), 'statuses are frozen');
    assert.deepEqual(Object.keys(s).sort(), STATUS_KEYS);
    assert.equal(typeof s.timestamp, 'number');
  }

  describe('GPUMonitor 3.1 callback registration', () => {
    it('test_monitor_accepts_callbacks: the constructor stores the callbacks as properties', async () => {
      const onStatus = createSpy('onStatus');
      const onWarning = createSpy('onWarning');
      const onCritical = createSpy('onCritical');
      const onEmergency = createSpy('onEmergency');
      const m = monitor({ readings: [50, 85, 91, 96], onStatus, onWarning, onCritical, onEmergency });
      assert.equal(m.onStatus, onStatus);
      assert.equal(m.onWarning, onWarning);
      assert.equal(m.onCritical, onCritical);
      assert.equal(m.onEmergency, onEmergency);
      m.start();
      await waitForCalls(onEmergency, 1);
      onWarning.assertCalled(1);
      onCritical.assertCalled(1);
      assert.ok(onStatus.callCount >= 4);
    });

    it('test_monitor_no_callbacks: works without callbacks (history, events)', async () => {
      const m = monitor({ readings: [50, 85] });
      assert.equal(m.onStatus, undefined);
      const statusEvents = createSpy('status');
      m.on('status', statusEvents);
      assert.equal(m.running, false);
      assert.equal(m.getLatestStatus(), null);
      assert.deepEqual([...m.getStatusHistory()], []);
      m.start();
      assert.equal(m.running, true);
      await waitForHistory(m, 3);
      assert.ok(statusEvents.callCount >= 3);
      assert.equal(m.getLatestStatus().temperatureC, 85);
    });

    it('test_monitor_callback_replacement: callbacks are plain properties, replaceable after start()', async () => {
      const first = createSpy('first');
      const second = createSpy('second');
      const m = monitor({ readings: [91], onCritical: first });
      m.start();
      await waitForCalls(first, 2);
      m.onCritical = second;
      const firstCount = first.callCount;
      await waitForCalls(second, 2);
      await tick();
      assert.equal(first.callCount, firstCount, 'the replaced callback is not called any more');
      m.onCritical = undefined; // removing it is fine too
      const secondCount = second.callCount;
      const before = m.getStatusHistory().length;
      await waitForHistory(m, before + 2);
      assert.equal(second.callCount, secondCount);
    });

    it('rejects non-function callbacks and bad device indices with CONFIG_INVALID', () => {
      for (const options of [{ onStatus: 42 }, { onCritical: 'x' }, { deviceIndex: -1 }, { deviceIndices: [] }, { deviceIndex: 1.5 }, { source: { kind: 'bogus' } }]) {
        assert.throws(() => new GPUMonitor(options), (e) => e instanceof BackpropError && e.code === 'CONFIG_INVALID', JSON.stringify(options));
      }
    });

    it('keeps a GPUSafetyConfig instance and defaults the rest', () => {
      const config = new GPUSafetyConfig({ tempCritical: 85 });
      assert.equal(new GPUMonitor({ config }).config, config);
      assert.equal(new GPUMonitor({ config: { tempCritical: 85 } }).config.tempWarning, 80);
      assert.equal(new GPUMonitor().config.checkIntervalMs, 5000);
    });
  });

  describe('GPUMonitor 3.2 event dispatch', () => {
    it('test_on_status_fires_periodically: onStatus on every sample, on the interval, never bunched', async () => {
      const onStatus = createSpy('onStatus');
      const m = monitor({ readings: [50], intervalMs: 20, onStatus });
      const started = Date.now();
      m.start();
      await sleep(300);
      await m.stop();
      const elapsed = Date.now() - started;
      const n = onStatus.callCount;
      assert.ok(n >= 3, `only ${n} statuses in ${elapsed} ms at 20 ms`);
      assert.ok(n <= Math.floor(elapsed / 20) + 2, `${n} statuses in ${elapsed} ms is more than one per 20 ms interval`);
      const stamps = onStatus.calls.map((c) => c.args[0].timestamp);
      for (let i = 1; i < stamps.length; i++) assert.ok(stamps[i] > stamps[i - 1], 'timestamps increase');
      // Fixed deadlines: sample k is taken no earlier than start + k x interval.
      assert.ok(stamps[stamps.length - 1] - stamps[0] >= (stamps.length - 1) * 20 - 5, 'samples are not bunched');
      assert.equal(m.getStatusHistory().length, n, 'every status is in the history');
    });

    for (const [condition, hook, readings, expectedTemps] of [
      ['warning', 'onWarning', [79, 80, 80.5, 79, 75], [80, 80.5]],
      ['critical', 'onCritical', [89, 90, 92, 89, 60], [90, 92]],
      ['emergency', 'onEmergency', [94, 95, 99, 94, 60], [95, 99]],
    ]) {
      it(`test_on_${condition}_at_threshold: ${hook} fires for each '${condition}' sample and only for those`, async () => {
        const spies = { onWarning: createSpy('onWarning'), onCritical: createSpy('onCritical'), onEmergency: createSpy('onEmergency') };
        const events = createSpy(`${condition} event`);
        const m = monitor({ readings, ...spies });
        m.on(condition, events);
        m.start();
        await waitForHistory(m, readings.length + 2);
        const got = spies[hook].calls.map((c) => c.args[0].temperatureC);
        assert.deepEqual(got, expectedTemps);
        for (const c of spies[hook].calls) {
          assert.equal(c.args.length, 1);
          assertIsStatus(c.args[0]);
          assert.equal(c.args[0].condition, condition, 'test_callback_status_has_condition');
        }
        assert.deepEqual(events.calls.map((c) => c.args[0]), spies[hook].calls.map((c) => c.args[0]), 'the event gets the same status objects');
        for (const [name, spy] of Object.entries(spies)) {
          for (const c of spy.calls) assert.equal(c.args[0].condition, name.slice(2).toLowerCase(), `${name} only sees its own condition`);
        }
      });
    }

    it('test_callback_receives_gpustatus: every callback and event gets one frozen GPUStatus', async () => {
      const tracker = createTracker();
      const hook = (name) => (s, ...extra) => tracker.record(name, { s, extra });
      const m = monitor({
        readings: [
          { temperatureC: 50, vramUsedGb: 10, vramTotalGb: 80, powerDrawW: 100, powerLimitW: 400, deviceName: 'Sim' },
          85, 91, 96, 60,
        ],
        onStatus: hook('onStatus'), onWarning: hook('onWarning'), onCritical: hook('onCritical'), onEmergency: hook('onEmergency'),
      });
      for (const e of ['status', 'warning', 'critical', 'emergency']) m.on(e, hook(`ev:${e}`));
      m.start();
      await waitForHistory(m, 6);
      for (const e of tracker.events) {
        assert.deepEqual(e.payload.extra, [], `${e.name} gets exactly one argument`);
        assertIsStatus(e.payload.s);
      }
      const first = tracker.events[0].payload.s;
      assert.equal(first.deviceName, 'Sim');
      assert.equal(first.vramPercent, 12.5);
      assert.equal(first.powerPercent, 25);
      assert.equal(first.available, true);
      // Per sample: onStatus, 'status', then the condition's callback and event.
      tracker.assertSubsequence(['onStatus', 'ev:status', 'onStatus', 'ev:status', 'onWarning', 'ev:warning',
        'onStatus', 'ev:status', 'onCritical', 'ev:critical', 'onStatus', 'ev:status', 'onEmergency', 'ev:emergency']);
    });

    it('getLatestStatus() and isEmergency follow the samples; history holds the last 100, oldest first', async () => {
      const readings = [];
      for (let i = 0; i < 150; i++) readings.push({ temperatureC: 30 + (i % 40), deviceName: `s${i}` });
      readings.push({ temperatureC: 97, deviceName: 'hot' });
      readings.push({ temperatureC: 50, deviceName: 'cool' });
      const seen = [];
      const flags = [];
      const m = monitor({
        readings,
        intervalMs: 1,
        onStatus: (s) => {
          seen.push(s);
          flags.push([s.deviceName, m.isEmergency, m.getLatestStatus() === s]);
        },
      });
      assert.equal(m.isEmergency, false);
      assert.equal(m.getLatestStatus(), null);
      m.start();
      await waitFor(() => seen.length > 160, { timeoutMs: 10000, message: () => `160 statuses (have ${seen.length})` });
      await m.stop();
      assert.ok(flags.every(([, , latest]) => latest), 'inside onStatus, getLatestStatus() is that status');
      assert.deepEqual(flags.find(([name]) => name === 'hot'), ['hot', true, true]);
      assert.ok(flags.filter(([name]) => name !== 'hot').every(([, emergency]) => !emergency), 'isEmergency only while the latest is emergency');
      assert.equal(m.isEmergency, false);
      const history = m.getStatusHistory();
      assert.ok(Object.isFrozen(history));
      assert.equal(history.length, 100);
      assert.deepEqual([...history], seen.slice(-100), 'the last 100 statuses, in order, as the same objects');
      assert.equal(m.getLatestStatus(), seen[seen.length - 1]);
      assert.equal(m.getLatestStatus(0), seen[seen.length - 1]);
      assert.equal(m.getLatestStatus(3), null);
      for (let i = 1; i < history.length; i++) assert.ok(history[i].timestamp >= history[i - 1].timestamp);
    });

    it('a config change after start() applies to later samples', async () => {
      const m = monitor({ readings: [86] });
      m.start();
      await waitFor(() => m.getLatestStatus()?.condition === 'warning');
      m.config = { tempCritical: 85, checkIntervalMs: 10 };
      assert.equal(m.config.tempCritical, 85);
      await waitFor(() => m.getLatestStatus().condition === 'critical', { message: 'the new threshold to apply' });
    });
  });

  describe('GPUMonitor 3.3 thread safety', () => {
    it('test_callbacks_from_monitor_thread: sampling runs on one native thread, callbacks on the JS thread', async () => {
      // Load everything first so only the monitor's own thread is counted.
      const warm = monitor({ readings: [50] });
      warm.start();
      await warm.stop();
      await sleep(20);
      const baseline = threadCount();
      const where = [];
      const record = () => where.push({ threadId, isMainThread });
      const m = monitor({ readings: [50, 85, 91, 96], onStatus: record, onWarning: record, onCritical: record, onEmergency: record });
      m.on('status', record);
      m.start();
      const running = threadCount();
      await waitForHistory(m, 6);
      assert.equal(running, baseline + 1, `thread count ${baseline} -> ${running} while sampling`);
      await m.stop();
      assert.equal(threadCount(), baseline, 'the sampling thread is gone after stop()');
      assert.ok(where.length >= 15);
      for (const w of where) assert.deepEqual(w, { threadId: 0, isMainThread: true });
    });

    it("test_callback_exception_isolated: a throwing callback never stops monitoring ('callbackError')", async () => {
      const errors = [];
      const boom = new Error('handler failed');
      const m = monitor({ readings: [91], onStatus: () => { throw boom; }, onCritical: () => Promise.reject(new Error('async failed')) });
      m.on('status', () => { throw new Error('listener failed'); });
      m.on('callbackError', (error, info) => errors.push({ error, info }));
      m.start();
      await waitForHistory(m, 5);
      const n = m.getStatusHistory().length;
      await waitForHistory(m, n + 3);
      assert.equal(m.running, true);
      const hooks = new Set(errors.map((e) => e.info.hook));
      assert.ok(hooks.has('onStatus'), [...hooks].join());
      assert.ok(hooks.has('listener:status'), [...hooks].join());
      await waitFor(() => errors.some((e) => e.info.hook === 'onCritical'), { message: 'the rejected promise of onCritical to be reported' });
      const fromOnStatus = errors.filter((e) => e.info.hook === 'onStatus');
      assert.ok(fromOnStatus.length >= 5, 'reported on every throw');
      for (const e of fromOnStatus) {
        assert.equal(e.error, boom);
        assert.equal(e.info.error, boom);
        assert.ok(Object.isFrozen(e.info));
      }
    });

    it('without a callbackError listener a throwing callback gives one process warning per hook', async () => {
      const warnings = [];
      const onWarning = (w) => { if (w.code === 'BACKPROP_CALLBACK_ERROR') warnings.push(w); };
      process.on('warning', onWarning);
      try {
        const m = monitor({ readings: [50], onStatus: () => { throw new Error('always fails'); } });
        m.start();
        await waitForHistory(m, 8);
        await sleep(20);
        assert.equal(m.running, true);
        assert.equal(warnings.length, 1, warnings.map((w) => w.message).join('\n'));
        assert.match(warnings[0].message, /GPUMonitor/);
        assert.match(warnings[0].message, /onStatus/);
        assert.match(warnings[0].message, /always fails/);
      } finally {
        process.off('warning', onWarning);
      }
    });

    it('test_concurrent_callback_access: several monitors at once, each sees only its own readings', async () => {
      const shared = { total: 0, byName: {} };
      const ms = ['alpha', 'beta', 'gamma'].map((name, i) => {
        const seen = [];
        const m = monitor({
          readings: [{ deviceName: name, temperatureC: 40 + i * 10 }, { deviceName: name, temperatureC: 41 + i * 10 }],
          intervalMs: 2 + i,
          onStatus: (s) => {
            seen.push(s);
            shared.total++;
            shared.byName[s.deviceName] = (shared.byName[s.deviceName] || 0) + 1;
          },
        });
        return { name, i, m, seen };
      });
      for (const x of ms) x.m.start();
      await waitFor(() => ms.every((x) => x.seen.length >= 20), { timeoutMs: 10000 });
      for (const x of ms) await x.m.stop();
      let sum = 0;
      for (const x of ms) {
        for (const s of x.seen) {
          assert.equal(s.deviceName, x.name);
          assert.ok(s.temperatureC === 40 + x.i * 10 || s.temperatureC === 41 + x.i * 10);
        }
        assert.equal(x.seen[0].temperatureC, 40 + x.i * 10);
        assert.equal(shared.byName[x.name], x.seen.length);
        assert.deepEqual([...x.m.getStatusHistory()], x.seen.slice(-100));
        sum += x.seen.length;
      }
      assert.equal(shared.total, sum);
    });

    it('test_stop_during_callback: await stop() inside onStatus, no callbacks after it resolves, no crash', async () => {
      let calls = 0;
      let afterResolve = 0;
      let resolved = false;
      let stopPromise = null;
      const m = monitor({
        readings: [50, 85, 91],
        intervalMs: 5,
        onStatus: async (s) => {
          calls++;
          if (resolved) afterResolve++;
          if (calls === 3) {
            stopPromise = m.stop();
            await stopPromise;
            resolved = true;
          }
        },
      });
      const otherCallbacks = createSpy('after stop');
      m.start();
      await waitFor(() => resolved, { message: 'stop() called inside onStatus to resolve' });
      m.onWarning = otherCallbacks;
      m.onCritical = otherCallbacks;
      m.on('status', otherCallbacks);
      const historyAtStop = m.getStatusHistory().length;
      await sleep(60);
      assert.equal(afterResolve, 0);
      otherCallbacks.assertCalled(0);
      assert.equal(m.running, false);
      assert.equal(m.getStatusHistory().length, historyAtStop, 'nothing sampled after the stop');
      await m.stop(); // twice is fine
      // And the monitor can start again afterwards.
      m.onStatus = createSpy('restart');
      m.start();
      await waitForCalls(m.onStatus, 2);
    });

    it('stop() inside a callback while a batch is pending: samples taken before the stop are all delivered, in order, not re-entrantly', async () => {
      // The JS thread is blocked for 150 ms at a 2 ms interval, so dozens of
      // samples are waiting in one batch when onStatus calls stop() at the 3rd.
      const readings = [];
      for (let i = 0; i < 2000; i++) readings.push({ temperatureC: 40, deviceName: String(i) });
      const seen = [];
      let depth = 0;
      let maxDepth = 0;
      let stopReturnedAt = 0;
      let stopPromise = null;
      const m = monitor({
        readings,
        intervalMs: 2,
        onStatus: (s) => {
          depth++;
          maxDepth = Math.max(maxDepth, depth);
          seen.push({ index: Number(s.deviceName), timestamp: s.timestamp });
          if (seen.length === 3) {
            stopPromise = m.stop();
            stopReturnedAt = Date.now();
          }
          depth--;
        },
      });
      m.start();
      blockEventLoop(150);
      await waitFor(() => stopPromise !== null, { message: 'the 3rd status' });
      await stopPromise;
      const atResolve = seen.length;
      await sleep(30);
      assert.equal(seen.length, atResolve, 'no callbacks after stop() resolved');
      assert.equal(maxDepth, 1, 'onStatus was called from inside onStatus (stop() dispatched re-entrantly)');
      const indices = seen.map((x) => x.index);
      assert.deepEqual(indices, indices.map((_, i) => i), `statuses delivered skip samples: ${indices.join(',')}`);
      assert.ok(seen.length >= 5, `only ${seen.length} statuses delivered, though the 150 ms block left dozens of samples, all taken before stop() was called`);
      assert.ok(seen.every((x) => x.timestamp <= stopReturnedAt + 1), 'nothing sampled after stop() returned');
      assert.deepEqual(m.getStatusHistory().map((s) => Number(s.deviceName)), indices.slice(-100));
    });

    it('stop() resolves after the thread joined; twice, and before start(), are fine', async () => {
      const idle = monitor({ readings: [50] });
      await idle.stop();
      const m = monitor({ readings: [50] });
      const baseline = threadCount();
      m.start();
      m.start(); // no second thread
      assert.equal(threadCount(), baseline + 1);
      const first = m.stop();
      const second = m.stop();
      assert.ok(first instanceof Promise && second instanceof Promise);
      await Promise.all([first, second]);
      assert.equal(threadCount(), baseline);
      assert.ok(m.getStatusHistory().length >= 1, 'the first sample is always delivered');
    });

    it('test_pause_prevents_callbacks: paused sampling goes on, callbacks and events are skipped', async () => {
      const onStatus = createSpy('onStatus');
      const onCritical = createSpy('onCritical');
      const statusEvents = createSpy('status');
      const readErrors = createSpy('readError');
      const readings = [50, 50, 50];
      for (let i = 0; i < 200; i++) readings.push(i % 10 === 9 ? { fail: 'flaky' } : { temperatureC: 91, deviceName: `p${i}` });
      const pausedMonitor = monitor({ readings, intervalMs: 5, onStatus, onCritical });
      pausedMonitor.on('status', statusEvents);
      pausedMonitor.on('readError', readErrors);
      pausedMonitor.start();
      await waitForCalls(onStatus, 1);
      pausedMonitor.pause();
      assert.equal(pausedMonitor.isPaused, true);
      const calls = onStatus.callCount;
      const events = statusEvents.callCount;
      const criticals = onCritical.callCount;
      const errors = readErrors.callCount;
      const historyBefore = pausedMonitor.getStatusHistory().length;
      await waitFor(() => pausedMonitor.getStatusHistory().length >= historyBefore + 25, { message: 'samples while paused' });
      assert.equal(onStatus.callCount, calls, 'no onStatus while paused');
      assert.equal(statusEvents.callCount, events, "no 'status' events while paused");
      assert.equal(onCritical.callCount, criticals, 'no onCritical while paused');
      assert.equal(readErrors.callCount, errors, "no 'readError' while paused");
      const latest = pausedMonitor.getLatestStatus();
      assert.equal(latest.condition, 'critical', 'getLatestStatus() keeps updating while paused');
      assert.equal(pausedMonitor.running, true);
      pausedMonitor.resume();
      assert.equal(pausedMonitor.isPaused, false);
      await waitForCalls(onCritical, criticals + 2);
      assert.ok(onStatus.callCount > calls);
      for (const c of onCritical.calls) assert.equal(c.args[0].condition, 'critical');
    });
  });

  describe('GPUMonitor 3.4 escalation', () => {
    it('test_warning_to_critical_escalation and test_critical_to_emergency_escalation with a rising temperature', async () => {
      const tracker = createTracker();
      const m = monitor({
        readings: [60, 72, 82, 86, 90, 93, 95, 97],
        onWarning: (s) => tracker.record('warning', s.temperatureC),
        onCritical: (s) => tracker.record('critical', s.temperatureC),
        onEmergency: (s) => tracker.record('emergency', s.temperatureC),
      });
      m.start();
      await waitForHistory(m, 9);
      await m.stop();
      const conditions = m.getStatusHistory().slice(0, 8).map((s) => s.condition);
      assert.deepEqual(conditions, ['safe', 'warm', 'warning', 'warning', 'critical', 'critical', 'emergency', 'emergency']);
      const firsts = [];
      for (const e of tracker.events) if (!firsts.includes(e.name)) firsts.push(e.name);
      assert.deepEqual(firsts, ['warning', 'critical', 'emergency']);
      assert.deepEqual(tracker.events.slice(0, 6).map((e) => [e.name, e.payload]), [
        ['warning', 82], ['warning', 86], ['critical', 90], ['critical', 93], ['emergency', 95], ['emergency', 97],
      ]);
    });

    it('test_deescalation_on_cooldown: a falling temperature steps the condition back down', async () => {
      const m = monitor({ readings: [97, 92, 85, 75, 60] });
      const seen = [];
      m.on('status', (s) => seen.push(s.condition));
      m.start();
      await waitForHistory(m, 6);
      assert.deepEqual(seen.slice(0, 6), ['emergency', 'critical', 'warning', 'warm', 'safe', 'safe']);
      assert.equal(m.isEmergency, false);
    });

    it('test_multiple_events_per_check: temperature critical + VRAM warning + power critical in one check', async () => {
      const onCritical = createSpy('onCritical');
      const onWarning = createSpy('onWarning');
      const m = monitor({
        readings: [{ temperatureC: 91, vramUsedGb: 73, vramTotalGb: 80, powerDrawW: 410, powerLimitW: 400 }],
        onCritical,
        onWarning,
      });
      m.start();
      await waitForCalls(onCritical, 2);
      const s = onCritical.calls[0].args[0];
      assert.equal(s.condition, 'critical');
      assert.match(s.conditionReason, /temperature/i);
      assert.match(s.conditionReason, /VRAM/);
      assert.match(s.conditionReason, /power/i);
      onWarning.assertCalled(0);
    });
  });

  describe('GPUMonitor failed reads', () => {
    it("'readError' per failure, thermalSafetyDisabled from the third; no status, no history; 'recovered' before the next status", async () => {
      const tracker = createTracker();
      const errorEvents = createSpy('error');
      const m = monitor({
        readings: [{ temperatureC: 50 }, { fail: 'nvml timeout' }, { fail: 'nvml timeout' }, { fail: 'nvml timeout' }, { fail: 'nvml timeout' }, { temperatureC: 61 }],
        onStatus: (s) => tracker.record('onStatus', s.temperatureC),
      });
      m.on('status', (s) => tracker.record('status', s.temperatureC));
      m.on('readError', (e) => tracker.record('readError', e));
      m.on('recovered', (e) => tracker.record('recovered', e));
      m.on('error', errorEvents);
      m.start();
      await waitForHistory(m, 3);
      await m.stop();
      tracker.assertSubsequence(['onStatus', 'status', 'readError', 'readError', 'readError', 'readError', 'recovered', 'onStatus', 'status']);
      const names = tracker.names();
      assert.deepEqual(names.slice(0, 9), ['onStatus', 'status', 'readError', 'readError', 'readError', 'readError', 'recovered', 'onStatus', 'status']);
      const readErrors = tracker.events.filter((e) => e.name === 'readError').map((e) => e.payload);
      assert.deepEqual(readErrors.map((e) => e.consecutiveFailures), [1, 2, 3, 4]);
      assert.deepEqual(readErrors.map((e) => e.thermalSafetyDisabled), [false, false, true, true]);
      for (const e of readErrors) {
        assert.ok(e.error instanceof BackpropError);
        assert.equal(e.error.code, 'GPU_READ_FAILED');
        assert.match(e.error.message, /nvml timeout/);
        assert.equal(e.deviceIndex, 0);
        assert.ok(Object.isFrozen(e));
      }
      const recovered = tracker.events.find((e) => e.name === 'recovered').payload;
      assert.equal(recovered.afterFailures, 4);
      assert.ok(m.getStatusHistory().every((s) => s.available && s.temperatureC !== null), 'failed reads are not in the history');
      assert.deepEqual(m.getStatusHistory().slice(0, 2).map((s) => s.temperatureC), [50, 61]);
      errorEvents.assertCalled(0);
    });

    it("a monitor that only fails never emits 'error' and keeps running", async () => {
      const m = monitor({ readings: [{ fail: 'no GPU' }] });
      const readErrors = createSpy('readError');
      m.on('readError', readErrors);
      m.start(); // no 'error' listener: an 'error' emit would throw
      await waitForCalls(readErrors, 5);
      assert.equal(m.running, true);
      assert.equal(m.getLatestStatus(), null);
      assert.equal(readErrors.lastCall.args[0].consecutiveFailures, readErrors.callCount);
    });

    it('logWarnings: the logger gets the first failure, the third (once) and the recovery, nothing else', async () => {
      const logger = createSpy('logger');
      const readings = [{ temperatureC: 50 }, { temperatureC: 91 }];
      for (let i = 0; i < 8; i++) readings.push({ fail: 'driver reset' });
      readings.push({ temperatureC: 96 }, { temperatureC: 85 }, { temperatureC: 60 });
      const m = monitor({ readings, config: { logWarnings: true }, logger });
      m.start();
      await waitFor(() => m.getLatestStatus()?.temperatureC === 60, { message: 'the end of the script' });
      await sleep(30);
      await m.stop();
      const lines = logger.calls.map((c) => c.args[0]);
      assert.equal(lines.length, 3, `logged:\n${lines.join('\n')}`);
      for (const c of logger.calls) assert.equal(c.args.length, 1);
      assert.match(lines[0], /driver reset/);
      assert.match(lines[1], /3/);
      assert.match(lines[1], /thermal safety/i);
      assert.match(lines[2], /8/);
    });

    it('with logWarnings false the logger is never called', async () => {
      const logger = createSpy('logger');
      const m = monitor({ readings: [{ fail: 'x' }, { fail: 'x' }, { fail: 'x' }, { temperatureC: 50 }], config: { logWarnings: false }, logger });
      m.start();
      await waitForHistory(m, 2);
      logger.assertCalled(0);
    });

    it('a second failure streak is logged again (first, third, recovery)', async () => {
      const logger = createSpy('logger');
      const f = { fail: 'gone' };
      const m = monitor({ readings: [50, f, f, f, 51, f, f, f, f, 52], config: { logWarnings: true }, logger });
      m.start();
      await waitFor(() => m.getLatestStatus()?.temperatureC === 52);
      await sleep(20);
      assert.equal(logger.callCount, 6, logger.calls.map((c) => c.args[0]).join('\n'));
    });
  });

  describe('GPUMonitor sampling', () => {
    it('samples continue while the JS thread is blocked, delivered afterwards in order', async () => {
      const onStatus = createSpy('onStatus');
      const m = monitor({ readings: [50], intervalMs: 10, onStatus });
      m.start();
      await waitForCalls(onStatus, 1);
      const before = onStatus.callCount;
      const blockStart = Date.now();
      blockEventLoop(300);
      const blockEnd = Date.now();
      assert.equal(onStatus.callCount, before, 'no callbacks while JavaScript is blocked');
      await sleep(30);
      const inWindow = m.getStatusHistory().filter((s) => s.timestamp >= blockStart && s.timestamp <= blockEnd);
      assert.ok(inWindow.length >= 10, `only ${inWindow.length} samples taken during the 300 ms block at 10 ms`);
      assert.ok(inWindow.length <= Math.floor((blockEnd - blockStart) / 10) + 2, `${inWindow.length} samples in ${blockEnd - blockStart} ms at 10 ms`);
      const stamps = onStatus.calls.map((c) => c.args[0].timestamp);
      for (let i = 1; i < stamps.length; i++) assert.ok(stamps[i] > stamps[i - 1], 'delivered in order');
      const delivered = onStatus.calls.filter((c) => c.args[0].timestamp >= blockStart && c.args[0].timestamp <= blockEnd);
      assert.equal(delivered.length, inWindow.length, 'each blocked-time sample reached onStatus');
    });

    it('a function source is sampled on the monitor time grid', async () => {
      const m = monitor({ readings: (ms) => ({ temperatureC: ms < 50 ? 60 : 92 }), intervalMs: 10 });
      m.start();
      await waitFor(() => m.getLatestStatus()?.condition === 'critical');
      const h = m.getStatusHistory();
      assert.equal(h[0].temperatureC, 60);
      assert.ok(h.filter((s) => s.temperatureC === 60).length === 5, 'readings for 0, 10, 20, 30 and 40 ms');
    });

    it('watches several devices (deviceIndices [0, 1])', async () => {
      const m = monitor({
        readings: [{ deviceIndex: 0, temperatureC: 50, deviceName: 'zero' }, { deviceIndex: 1, temperatureC: 91, deviceName: 'one' }],
        deviceIndices: [0, 1],
      });
      const byDevice = { 0: [], 1: [] };
      const onCritical = createSpy('onCritical');
      m.onCritical = onCritical;
      m.on('status', (s) => byDevice[s.deviceIndex].push(s));
      assert.deepEqual([...m.deviceIndices], [0, 1]);
      m.start();
      await waitFor(() => byDevice[0].length >= 3 && byDevice[1].length >= 3);
      assert.ok(byDevice[0].every((s) => s.deviceName === 'zero' && s.condition === 'safe'));
      assert.ok(byDevice[1].every((s) => s.deviceName === 'one' && s.condition === 'critical'));
      assert.equal(m.getLatestStatus(0).deviceName, 'zero');
      assert.equal(m.getLatestStatus(1).deviceName, 'one');
      assert.ok(onCritical.calls.every((c) => c.args[0].deviceIndex === 1));
    });

    it('a device without scripted readings gets failed reads, the other keeps working', async () => {
      const m = monitor({ readings: [{ deviceIndex: 0, temperatureC: 50 }], deviceIndices: [0, 1] });
      const readErrors = createSpy('readError');
      m.on('readError', readErrors);
      m.start();
      await waitForCalls(readErrors, 3);
      assert.ok(readErrors.calls.every((c) => c.args[0].deviceIndex === 1));
      assert.ok(m.getStatusHistory().length >= 2);
      assert.ok(m.getStatusHistory().every((s) => s.deviceIndex === 0));
    });

    it('start/stop 300 times does not leak threads', async function () {
      const warm = monitor({ readings: [50] });
      warm.start();
      await warm.stop();
      await sleep(50);
      const baseline = threadCount();
      const reused = monitor({ readings: [50, 85, 91], loop: true, intervalMs: 1, onStatus: () => {} });
      let delivered = 0;
      for (let i = 0; i < 300; i++) {
        const fresh = new GPUMonitor({ config: { checkIntervalMs: 1, logWarnings: false }, source: scriptedGpuSource([{ temperatureC: 50 }]), onStatus: () => delivered++ });
        fresh.start();
        reused.start();
        if (i % 4 === 0) await tick();
        await fresh.stop();
        await reused.stop();
      }
      assert.ok(delivered >= 300, 'every start() delivers its first sample');
      let now = threadCount();
      const deadline = Date.now() + 3000;
      while (now > baseline + 1 && Date.now() < deadline) {
        await sleep(50);
        now = threadCount();
      }
      assert.ok(now <= baseline + 1, `thread count ${baseline} before, ${now} after 300 start/stop cycles`);
    });
  });
});
