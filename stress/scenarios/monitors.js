'use strict';
// Scenario "monitors": GPUMonitors on scripted sources, started and stopped
// in a tight loop (stopped from outside, at once, after a tick, or from inside
// their own callback; restarted on the same object), several at a time, some
// watching two devices, with handlers that throw or block the event loop.
//
// Each scripted reading is unique (its deviceName, or its failure text), so
// the delivered stream can be checked exactly: for each device, everything a
// monitor object delivers over all its start/stop cycles is the script in
// order, with nothing lost, repeated or reordered; each status has the
// condition the synchronous evaluation (getGpuStatus) gives the same reading;
// onWarning/onCritical/onEmergency fire exactly for those conditions;
// 'recovered' follows exactly the failure streaks; thrown handler errors all
// reach 'callbackError'; nothing is delivered once stop() has returned.

const { DIST, blockEventLoop, sleep, tick, waitUntil } = require('../lib/util');

const { GPUMonitor, scriptedGpuSource, getGpuStatus } = require(DIST);

const MAX_BLOCKS_PER_SPAN = 2;
const CONDITION_HOOK = { warning: 'onWarning', critical: 'onCritical', emergency: 'onEmergency' };

/** A script of unique readings for one device: every condition, some failed reads. */
function makeScript(random, deviceIndex, tag) {
  const length = random.int(5, 14);
  const readings = [];
  for (let k = 0; k < length; k++) {
    if (random.chance(0.15)) {
      readings.push({ deviceIndex, fail: `scripted-fail-${tag}-${deviceIndex}-${k}` });
      continue;
    }
    const reading = { deviceIndex, deviceName: `scripted-${tag}-${deviceIndex}-${k}`, temperatureC: random.int(30, 99) };
    if (random.chance(0.5)) reading.temperatureMaxC = random.int(90, 105);
    if (random.chance(0.6)) Object.assign(reading, { vramTotalGb: 80, vramUsedGb: random.int(0, 80) });
    if (random.chance(0.6)) Object.assign(reading, { powerLimitW: 700, powerDrawW: random.int(50, 720) });
    readings.push(reading);
  }
  return readings;
}

/** The key a delivered item is matched on: the status's deviceName, or the failure text. */
const keyOfReading = (r) => (r.fail !== undefined ? `fail:${r.fail}` : r.deviceName);

async function runMonitorLife(ctx, id) {
  const { random } = ctx;
  const label = `monitor#${id}`;
  const fail = (m) => ctx.fail(`${label}: ${m}`);
  const devices = random.chance(0.3) ? [0, 1] : [0];
  const scripts = new Map(devices.map((d) => [d, makeScript(random, d, id)]));
  const config = { checkIntervalMs: random.int(1, 5), logWarnings: false };
  const expectedCondition = new Map();
  for (const script of scripts.values()) {
    for (const r of script) {
      if (r.fail === undefined) expectedCondition.set(r.deviceName, getGpuStatus({ source: scriptedGpuSource([r]), config }).condition);
    }
  }

  const cursor = new Map(devices.map((d) => [d, 0]));
  const streak = new Map(devices.map((d) => [d, 0]));
  const inFailure = new Map(devices.map((d) => [d, false]));
  let stoppedForGood = false;
  let delivered = 0;
  let thrown = 0;
  let reported = 0;
  const throwEvery = random.chance(0.3) ? random.int(2, 9) : 0;
  const blockEvery = random.chance(0.3) ? random.int(3, 12) : 0;
  const hookCalls = { onWarning: 0, onCritical: 0, onEmergency: 0 };
  const hookExpected = { onWarning: 0, onCritical: 0, onEmergency: 0 };
  let stopInsideAfter = 0;
  let spanCount = 0;
  let blocksThisSpan = 0;
  let monitor;

  /** Checks that the next item of `device` is the script's next reading, and advances. */
  const expectNext = (device, key) => {
    const script = scripts.get(device);
    if (!script) return fail(`an item for device ${device}, which is not watched`);
    const want = keyOfReading(script[cursor.get(device) % script.length]);
    if (key !== want) fail(`device ${device}: delivered ${key}, the script's next reading is ${want} (lost, repeated or reordered)`);
    cursor.set(device, cursor.get(device) + 1);
    return undefined;
  };
  const afterItem = () => {
    delivered++;
    if (stoppedForGood) fail('an item was delivered after stop() returned');
    spanCount++;
    if (stopInsideAfter && spanCount === stopInsideAfter) monitor.stop();
    // A few blocks per span: blocking on every few samples would let 8 monitors
    // at 1 ms outrun the event loop for good (samples queue while JS is busy, by design).
    if (blockEvery && delivered % blockEvery === 0 && blocksThisSpan < MAX_BLOCKS_PER_SPAN) {
      blocksThisSpan++;
      blockEventLoop(random.int(1, 8));
    }
  };

  monitor = new GPUMonitor({
    config,
    deviceIndices: devices,
    source: scriptedGpuSource([...scripts.values()].flat(), { loop: true }),
    onStatus: (s) => {
      expectNext(s.deviceIndex, s.deviceName);
      const want = expectedCondition.get(s.deviceName);
      if (s.condition !== want) fail(`${s.deviceName}: condition '${s.condition}' on the monitor thread, '${want}' from getGpuStatus()`);
      if (!Object.isFrozen(s)) fail('a status handed to onStatus is not frozen');
      if (CONDITION_HOOK[s.condition]) hookExpected[CONDITION_HOOK[s.condition]]++;
      if (inFailure.get(s.deviceIndex)) fail(`device ${s.deviceIndex}: a status after a failure streak without a 'recovered' event first`);
      streak.set(s.deviceIndex, 0);
      afterItem();
      if (throwEvery && delivered % throwEvery === 0) {
        thrown++;
        throw new Error(`planned monitor failure ${label}`);
      }
    },
    onWarning: () => void hookCalls.onWarning++,
    onCritical: () => void hookCalls.onCritical++,
    onEmergency: () => void hookCalls.onEmergency++,
  });
  monitor.on('readError', (e) => {
    const text = e.error.message.slice(e.error.message.indexOf('scripted-fail-'));
    expectNext(e.deviceIndex, `fail:${text}`);
    if (e.error.code !== 'GPU_READ_FAILED') fail(`readError code ${e.error.code}`);
    const n = streak.get(e.deviceIndex) + 1;
    streak.set(e.deviceIndex, n);
    inFailure.set(e.deviceIndex, true);
    if (e.consecutiveFailures < 1) fail(`readError consecutiveFailures ${e.consecutiveFailures}`);
    if (e.thermalSafetyDisabled !== e.consecutiveFailures >= 3) fail(`thermalSafetyDisabled ${e.thermalSafetyDisabled} with ${e.consecutiveFailures} consecutive failures`);
    afterItem();
  });
  monitor.on('recovered', (e) => {
    if (!inFailure.get(e.deviceIndex)) fail(`'recovered' for device ${e.deviceIndex} without a failure before it`);
    inFailure.set(e.deviceIndex, false);
  });
  monitor.on('callbackError', (error, info) => {
    reported++;
    if (info.hook !== 'onStatus' || !String(error && error.message).includes(label)) fail(`unexpected callbackError from ${info.hook}: ${error && error.message}`);
  });

  const cycles = random.int(4, ctx.long ? 24 : 12);
  for (let c = 0; c < cycles; c++) {
    spanCount = 0;
    blocksThisSpan = 0;
    stopInsideAfter = 0;
    const how = random.pick(['at once', 'after a tick', 'after a while', 'inside a callback']);
    monitor.start();
    if (how === 'after a tick') await tick();
    else if (how === 'after a while') await sleep(random.int(1, 15));
    else if (how === 'inside a callback') {
      stopInsideAfter = random.int(1, 6);
      const stopped = await waitUntil(() => !monitor.running, 10000, 2);
      if (!stopped) fail(`stop() inside a callback after ${stopInsideAfter} items did not stop the monitor`);
    }
    await monitor.stop();
    if (monitor.running) fail('running is true after stop()');
  }
  stoppedForGood = true;
  await sleep(10);
  for (const hook of Object.keys(hookCalls)) {
    if (hookCalls[hook] !== hookExpected[hook]) fail(`${hook} ran ${hookCalls[hook]} times for ${hookExpected[hook]} statuses of that condition`);
  }
  if (reported !== thrown) fail(`${thrown} onStatus throws, ${reported} reported to 'callbackError'`);
  ctx.count('events', delivered);
  ctx.count('monitorCycles', cycles);
}

module.exports = {
  name: 'monitors',
  description: 'GPUMonitors on scripted sources started and stopped in a tight loop, several at once',
  weight: 0.1,
  async run(ctx) {
    let id = 0;
    while (ctx.nextRound()) {
      const lives = [];
      for (let i = 0; i < 8; i++) lives.push(runMonitorLife(ctx, ++id));
      await Promise.all(lives);
    }
  },
};
