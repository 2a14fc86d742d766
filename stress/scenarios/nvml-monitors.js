'use strict';
// Scenario "nvml-monitors": GPUMonitors reading the stub NVML library
// (native/stub-nvml, built by test/helpers/stub-nvml.js) through the real
// dlopen path, started and stopped in a tight loop while the stub's script
// file is rewritten underneath them (atomic renames): temperatures, VRAM and
// power change with every version, and some versions make every read fail.
//
// Each version has its own temperature, so every status says which version it
// read. Checked: every value in a status was written (none invented); per
// monitor the versions read never go back in time
// (each read re-reads the file, and a rename is atomic); the condition equals
// the synchronous evaluation of the same numbers through a scripted source;
// read failures come only from failing versions and are followed by
// 'recovered' before the next status; nothing arrives after stop().

const fs = require('node:fs');
const path = require('node:path');
const { DIST, sleep, tick } = require('../lib/util');
const { buildStubNvml, writeStubScript } = require('../../test/helpers/stub-nvml');

const { GPUMonitor, scriptedGpuSource, getGpuStatus, resetNvmlState } = require(DIST);

const SCRIPT_ENV = 'BACKPROP_STUB_NVML_SCRIPT';
const BASE_TEMPERATURE = 30;
/** Versions per round: temperatures BASE .. BASE + VERSIONS - 1 stay unique and span every condition. */
const VERSIONS = 70;
const MIN_VERSIONS = 12;
const SHUTDOWN_C = 95;

function scriptFor(version, random) {
  const failing = version.failing;
  return [
    'init=ok',
    'devices=1',
    '0.name=Stub H200',
    `0.temp=${version.temperatureC}`,
    `0.temp_shutdown=${SHUTDOWN_C}`,
    '0.temp_slowdown=90',
    '0.mem_total_mb=81920',
    `0.mem_used_mb=${version.memUsedMb}`,
    `0.power_mw=${version.powerMw}`,
    '0.power_limit_mw=700000',
    ...(failing ? ['0.fail=1', `0.fail_code=${random.pick([15, 999])}`] : []),
  ];
}

async function runRound(ctx, stubPath, scriptFile, round) {
  const { random } = ctx;
  const config = { checkIntervalMs: random.int(1, 3), logWarnings: false };
  const versions = [];
  const byTemperature = new Map();
  for (let i = 0; i < VERSIONS; i++) {
    const v = {
      index: i,
      temperatureC: BASE_TEMPERATURE + i,
      memUsedMb: random.int(0, 81920),
      powerMw: random.int(50000, 720000),
      failing: i > 0 && random.chance(0.12),
    };
    versions.push(v);
    byTemperature.set(v.temperatureC, v);
  }
  writeStubScript(scriptFile, scriptFor(versions[0], random));
  resetNvmlState();
  let current = 0;
  let writing = true;
  const writer = (async () => {
    for (let i = 1; i < VERSIONS; i++) {
      // On a loaded machine every sleep runs long: past the budget, a round ends early.
      if (i >= MIN_VERSIONS && Date.now() > ctx.deadline) break;
      await sleep(random.int(0, 4));
      writeStubScript(scriptFile, scriptFor(versions[i], random));
      current = i;
    }
    writing = false;
  })();

  const lives = [];
  for (let m = 0; m < 4; m++) lives.push(runMonitor(ctx, `nvml-monitor#${round}.${m}`, stubPath, config, byTemperature, () => writing));
  // Synchronous reads on the JS thread, interleaved with the monitors' threads.
  let syncReads = 0;
  while (writing) {
    const s = getGpuStatus({ libraryPath: stubPath, config });
    syncReads++;
    if (s.available) {
      const v = byTemperature.get(s.temperatureC);
      if (!v) ctx.fail(`getGpuStatus(): temperature ${s.temperatureC} was never written`);
      else if (v.index > current) ctx.fail(`getGpuStatus(): read version ${v.index} before it was written (current ${current})`);
    }
    await sleep(random.int(1, 5));
  }
  await writer;
  await Promise.all(lives);
  ctx.count('events', syncReads);
}

async function runMonitor(ctx, label, stubPath, config, byTemperature, stillWriting) {
  const fail = (m) => ctx.fail(`${label}: ${m}`);
  const writtenVram = new Set([...byTemperature.values()].map((v) => v.memUsedMb / 1024));
  let lastVersion = -1;
  let inFailure = false;
  let stopped = false;
  let items = 0;
  const monitor = new GPUMonitor({
    config,
    libraryPath: stubPath,
    onStatus: (s) => {
      items++;
      if (stopped) fail('a status arrived after stop() returned');
      if (inFailure) fail("a status after failed reads without a 'recovered' event first");
      // A sample is several NVML queries, each re-reading the script: when a
      // rewrite lands between them, fields come from neighbouring versions,
      // and a field read from a failing version is null (as with a real
      // driver, a sample is not an atomic snapshot). Each value must still be
      // one that was written.
      if (s.deviceName !== 'Stub H200' && s.deviceName !== null) fail(`deviceName ${s.deviceName}`);
      if (s.vramUsedGb !== null && !writtenVram.has(s.vramUsedGb)) fail(`vramUsedGb ${s.vramUsedGb} was never written`);
      if (s.temperatureC === null) return undefined;
      const v = byTemperature.get(s.temperatureC);
      if (!v) return fail(`temperature ${s.temperatureC} was never written (invented reading)`);
      if (v.index < lastVersion) fail(`read version ${v.index} after version ${lastVersion} (went back in time)`);
      lastVersion = Math.max(lastVersion, v.index);
      const again = getGpuStatus({
        source: scriptedGpuSource([{ temperatureC: s.temperatureC, temperatureMaxC: s.temperatureMaxC, vramUsedGb: s.vramUsedGb, vramTotalGb: s.vramTotalGb, powerDrawW: s.powerDrawW, powerLimitW: s.powerLimitW }]),
        config,
      });
      if (again.condition !== s.condition) fail(`version ${v.index}: condition '${s.condition}' from NVML, '${again.condition}' for the same numbers from a scripted source`);
      return undefined;
    },
  });
  monitor.on('readError', (e) => {
    items++;
    if (stopped) fail('a readError arrived after stop() returned');
    inFailure = true;
    if (e.error.code !== 'GPU_READ_FAILED') fail(`readError code ${e.error.code}`);
    if (e.consecutiveFailures < 1) fail(`consecutiveFailures ${e.consecutiveFailures}`);
  });
  monitor.on('recovered', () => {
    if (!inFailure) fail("'recovered' without failed reads before it");
    inFailure = false;
  });
  monitor.on('callbackError', (error, info) => fail(`a handler threw in ${info.hook}: ${error && error.stack}`));

  let cycles = 0;
  while (stillWriting() || cycles === 0) {
    cycles++;
    monitor.start();
    const how = ctx.random.int(0, 2);
    if (how === 1) await tick();
    else if (how === 2) await sleep(ctx.random.int(1, 10));
    await monitor.stop();
  }
  stopped = true;
  await sleep(10);
  ctx.count('events', items);
  ctx.count('monitorCycles', cycles);
}

module.exports = {
  name: 'nvml-monitors',
  description: 'GPUMonitors on the stub NVML library (dlopen) in a tight start/stop loop while its readings change',
  weight: 0.1,
  async run(ctx) {
    let stub;
    try {
      stub = buildStubNvml();
    } catch (error) {
      if (error.code !== 'STUB_NVML_UNAVAILABLE') throw error;
      ctx.note(`skipped: ${error.reason}`);
      return;
    }
    const dir = ctx.tmpDir('script');
    const scriptFile = path.join(dir, 'stub-script.txt');
    const saved = process.env[SCRIPT_ENV];
    process.env[SCRIPT_ENV] = scriptFile;
    try {
      let round = 0;
      while (ctx.nextRound()) await runRound(ctx, stub.modern, scriptFile, ++round);
    } finally {
      if (saved === undefined) delete process.env[SCRIPT_ENV];
      else process.env[SCRIPT_ENV] = saved;
      resetNvmlState();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
};
