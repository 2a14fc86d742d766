'use strict';
// NVML through the real dlopen path, against the stub libnvidia-ml.so.1
// (native/stub-nvml, built by test/helpers/stub-nvml.js) driven by script
// files. NVML state is per process: the in-process tests reset it around each
// test; scenarios that need another library variant or environment run in
// child processes (test/fixtures/gpu-nvml-child.js).
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFile } = require('node:child_process');

const dist = process.env.BP_DIST || path.join(__dirname, '..', 'dist');
const { GPUMonitor, getGpuStatus, checkGpuSafe, listGpus, nvmlInfo, resetNvmlState, BackpropError } = require(dist);
const { createSpy, waitFor, waitForCalls } = require('./helpers');
const { stubOrSkip, writeStubScript } = require('./helpers/stub-nvml');

const CHILD = path.join(__dirname, 'fixtures', 'gpu-nvml-child.js');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A fully scripted device 0 (and a hot device 1 when devices=2). */
function baseScript(extra = []) {
  return [
    'init=ok',
    'devices=1',
    '0.name=Stub H200',
    '0.uuid=GPU-00000000-1111-2222-3333-444444444444',
    '0.temp=45',
    '0.temp_shutdown=95',
    '0.temp_slowdown=90',
    '0.mem_total_mb=81920',
    '0.mem_used_mb=20480',
    '0.mem_reserved_mb=0',
    '0.power_mw=120000',
    '0.power_limit_mw=700000',
    '0.util_gpu=30',
    '0.util_mem=10',
    '0.clock_sm=1980',
    '0.clock_mem=2619',
    '0.fan=41',
    '0.throttle=0x44',
    '0.procs=1234:2048,5678:512',
    ...extra,
  ];
}

function runChild(options, env) {
  const childEnv = { ...process.env, ...env };
  for (const [k, v] of Object.entries(childEnv)) if (v === undefined) delete childEnv[k];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CHILD, JSON.stringify(options)], { env: childEnv, timeout: 20000 }, (error, stdout, stderr) => {
      if (error) {
        reject(new Error(`child failed (${error.code ?? error.signal}): ${stderr || error.message}`));
        return;
      }
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop()));
      } catch (e) {
        reject(new Error(`child printed no JSON: ${stdout}\n${stderr}`));
      }
    });
  });
}

let tmpDir;
let stub;
let savedScriptEnv;

describe('NVML via the stub library, in this process', () => {
  let script;
  let monitors = [];
  const newMonitor = (options) => {
    const m = new GPUMonitor({ config: { checkIntervalMs: 10, logWarnings: false }, ...options });
    monitors.push(m);
    return m;
  };

  before(function () {
    stub = stubOrSkip(this);
    tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bp-gpu-nvml-'));
    script = path.join(tmpDir, 'stub-script.txt');
    savedScriptEnv = process.env.BACKPROP_STUB_NVML_SCRIPT;
    process.env.BACKPROP_STUB_NVML_SCRIPT = script;
  });
  beforeEach(() => {
    writeStubScript(script, baseScript());
    resetNvmlState();
  });
  afterEach(async () => {
    for (const m of monitors) await m.stop();
    monitors = [];
    resetNvmlState();
  });
  after(() => {
    if (savedScriptEnv === undefined) delete process.env.BACKPROP_STUB_NVML_SCRIPT;
    else process.env.BACKPROP_STUB_NVML_SCRIPT = savedScriptEnv;
    resetNvmlState();
    if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
  });

  it('nvmlInfo() loads the library given by libraryPath', () => {
    const info = nvmlInfo(stub.modern);
    assert.deepEqual(info, { available: true, reason: '', libraryPath: stub.modern, deviceCount: 1 });
  });

  it('reads every per-device field, converted to the documented units', () => {
    const s = getGpuStatus({ libraryPath: stub.modern });
    assert.ok(Object.isFrozen(s));
    assert.equal(s.available, true);
    assert.equal(s.deviceName, 'Stub H200');
    assert.equal(s.deviceIndex, 0);
    assert.equal(s.uuid, 'GPU-00000000-1111-2222-3333-444444444444');
    assert.equal(s.temperatureC, 45);
    assert.equal(s.temperatureMaxC, 95);
    assert.equal(s.temperatureSlowdownC, 90);
    assert.equal(s.vramTotalGb, 80);
    assert.equal(s.vramUsedGb, 20);
    assert.equal(s.vramFreeGb, 60);
    assert.equal(s.vramPercent, 25);
    assert.equal(s.powerDrawW, 120);
    assert.equal(s.powerLimitW, 700);
    assert.ok(Math.abs(s.powerPercent - (120 / 700) * 100) < 1e-9);
    assert.equal(s.gpuUtilization, 30);
    assert.equal(s.memoryUtilization, 10);
    assert.equal(s.smClockMhz, 1980);
    assert.equal(s.memClockMhz, 2619);
    assert.equal(s.fanPercent, 41);
    assert.deepEqual([...s.throttleReasons].sort(), ['hw_thermal_slowdown', 'sw_power_cap']);
    assert.deepEqual(s.processes.map((p) => ({ ...p })), [{ pid: 1234, usedMemoryMb: 2048 }, { pid: 5678, usedMemoryMb: 512 }]);
    assert.equal(s.condition, 'safe');
    assert.ok(Math.abs(s.timestamp - Date.now()) < 5000);
  });

  it('uses the newest memory query (_v2: reserved memory is not counted as used)', () => {
    writeStubScript(script, baseScript(['0.mem_reserved_mb=1024']));
    const s = getGpuStatus({ libraryPath: stub.modern });
    assert.equal(s.vramUsedGb, 20, 'nvmlDeviceGetMemoryInfo (v1) would report used + reserved = 21 GiB');
    assert.equal(s.vramFreeGb, 59);
  });

  it("unsupported fields ('NA') are null, and never lose the others", () => {
    writeStubScript(script, baseScript([
      '0.fan=NA', '0.temp_slowdown=NA', '0.clock_mem=NA', '0.util_gpu=NA', '0.throttle=NA', '0.procs=NA', '0.uuid=NA',
      '0.temp=NA',
    ]));
    const s = getGpuStatus({ libraryPath: stub.modern });
    assert.equal(s.available, true);
    for (const key of ['fanPercent', 'temperatureSlowdownC', 'memClockMhz', 'gpuUtilization', 'memoryUtilization', 'throttleReasons', 'processes', 'uuid', 'temperatureC']) {
      assert.equal(s[key], null, key);
    }
    assert.equal(s.deviceName, 'Stub H200');
    assert.equal(s.temperatureMaxC, 95);
    assert.equal(s.vramTotalGb, 80);
    assert.equal(s.powerDrawW, 120);
    assert.equal(s.smClockMhz, 1980);
    assert.equal(s.condition, 'safe', 'evaluated from VRAM and power');
  });

  it('a field failing with a real error is null too, the reading stays usable', () => {
    writeStubScript(script, baseScript(['0.temp=ERR:999', '0.mem_used_mb=77824'])); // 95 % VRAM
    const s = getGpuStatus({ libraryPath: stub.modern });
    assert.equal(s.available, true);
    assert.equal(s.temperatureC, null);
    assert.equal(s.vramPercent, 95);
    assert.equal(s.condition, 'critical');
    assert.match(s.conditionReason, /VRAM/);
  });

  it("a device that reports no temperature, VRAM or power is 'unknown'", () => {
    writeStubScript(script, ['devices=1', '0.name=Bare']);
    const s = getGpuStatus({ libraryPath: stub.modern });
    assert.equal(s.deviceName, 'Bare');
    assert.equal(s.temperatureC, null);
    assert.equal(s.condition, 'unknown');
    assert.ok(s.conditionReason.length > 0);
  });

  it('decodes throttle (clock event) reasons to names', () => {
    const read = (mask) => {
      writeStubScript(script, baseScript([`0.throttle=${mask}`]));
      return getGpuStatus({ libraryPath: stub.modern }).throttleReasons;
    };
    assert.deepEqual([...read('0x44')].sort(), ['hw_thermal_slowdown', 'sw_power_cap']);
    assert.deepEqual([...read('0')], []);
    assert.deepEqual([...read('0x20')], ['sw_thermal_slowdown']);
    assert.deepEqual([...read('0x1FF')].sort(), [
      'applications_clocks_setting', 'display_clock_setting', 'gpu_idle', 'hw_power_brake_slowdown', 'hw_slowdown',
      'hw_thermal_slowdown', 'sw_power_cap', 'sw_thermal_slowdown', 'sync_boost',
    ]);
  });

  it('lists compute processes with their memory (null when not attributable; empty list when none)', () => {
    writeStubScript(script, baseScript(['0.procs=1234:2048,5678:NA,91011:0']));
    const s = getGpuStatus({ libraryPath: stub.modern });
    assert.deepEqual(s.processes.map((p) => ({ ...p })), [
      { pid: 1234, usedMemoryMb: 2048 }, { pid: 5678, usedMemoryMb: null }, { pid: 91011, usedMemoryMb: 0 },
    ]);
    writeStubScript(script, baseScript(['0.procs=']));
    assert.deepEqual([...getGpuStatus({ libraryPath: stub.modern }).processes], []);
  });

  it('listGpus() gives a status for every device (devices=2)', () => {
    writeStubScript(script, baseScript(['devices=2', '1.name=Stub B', '1.temp=91', '1.temp_shutdown=100']));
    const list = listGpus({ libraryPath: stub.modern });
    assert.equal(list.length, 2);
    assert.deepEqual(list.map((s) => [s.deviceIndex, s.deviceName, s.condition]), [[0, 'Stub H200', 'safe'], [1, 'Stub B', 'critical']]);
    assert.equal(list[1].vramTotalGb, null, 'device 1 has no memory scripted');
    assert.equal(nvmlInfo(stub.modern).deviceCount, 2);
    assert.equal(checkGpuSafe({ libraryPath: stub.modern, deviceIndex: 1 }), false);
    assert.equal(checkGpuSafe({ libraryPath: stub.modern, deviceIndex: 0 }), true);
  });

  it('a device index past the last device is unknown with the reason', () => {
    const s = getGpuStatus({ libraryPath: stub.modern, deviceIndex: 3 });
    assert.equal(s.available, false);
    assert.equal(s.condition, 'unknown');
    assert.match(s.conditionReason, /nvmlDeviceGetHandleByIndex/);
  });

  it('a monitor can watch several devices (deviceIndices [0, 1])', async () => {
    writeStubScript(script, baseScript(['devices=2', '1.name=Stub B', '1.temp=91']));
    const seen = { 0: [], 1: [] };
    const onCritical = createSpy('onCritical');
    const m = newMonitor({ libraryPath: stub.modern, deviceIndices: [0, 1], onStatus: (s) => seen[s.deviceIndex].push(s), onCritical });
    m.start();
    await waitFor(() => seen[0].length >= 3 && seen[1].length >= 3);
    assert.ok(seen[0].every((s) => s.deviceName === 'Stub H200' && s.condition === 'safe'));
    assert.ok(seen[1].every((s) => s.deviceName === 'Stub B' && s.condition === 'critical'));
    assert.ok(onCritical.callCount >= 3 && onCritical.calls.every((c) => c.args[0].deviceIndex === 1));
  });

  it("a monitor with source { kind: 'nvml', libraryPath } reads the stub", async () => {
    const onStatus = createSpy('onStatus');
    const m = newMonitor({ source: { kind: 'nvml', libraryPath: stub.modern }, onStatus });
    m.start();
    await waitForCalls(onStatus, 2);
    assert.equal(onStatus.calls[0].args[0].deviceName, 'Stub H200');
    assert.equal(onStatus.calls[0].args[0].available, true);
  });

  it('changing readings: rewriting the script while a monitor runs changes later statuses', async () => {
    const m = newMonitor({ libraryPath: stub.modern });
    const onCritical = createSpy('onCritical');
    m.onCritical = onCritical;
    m.start();
    await waitFor(() => m.getStatusHistory().length >= 2);
    assert.equal(m.getLatestStatus().temperatureC, 45);
    writeStubScript(script, baseScript(['0.temp=91']));
    await waitForCalls(onCritical, 1);
    assert.equal(onCritical.calls[0].args[0].temperatureC, 91);
    writeStubScript(script, baseScript(['0.temp=60', '0.mem_used_mb=79872'])); // 97.5 % VRAM
    await waitFor(() => m.getLatestStatus().temperatureC === 60, { message: 'the second rewrite' });
    assert.equal(m.getLatestStatus().condition, 'critical');
    assert.match(m.getLatestStatus().conditionReason, /VRAM/);
    const history = m.getStatusHistory().map((s) => s.temperatureC);
    const first91 = history.indexOf(91);
    const first60 = history.indexOf(60);
    assert.ok(first91 > 0 && first60 > first91, `history in order: ${history.join(',')}`);
    assert.ok(history.slice(0, first91).every((t) => t === 45));
  });

  it("a device whose queries all fail gives 'readError' (GPU_READ_FAILED) and then 'recovered'", async () => {
    const readErrors = createSpy('readError');
    const recovered = createSpy('recovered');
    const m = newMonitor({ libraryPath: stub.modern });
    m.on('readError', readErrors);
    m.on('recovered', recovered);
    writeStubScript(script, baseScript(['0.fail=1']));
    m.start();
    await waitForCalls(readErrors, 3);
    const event = readErrors.calls[2].args[0];
    assert.ok(event.error instanceof BackpropError);
    assert.equal(event.error.code, 'GPU_READ_FAILED');
    assert.match(event.error.message, /Unknown Error|failed/);
    assert.equal(event.consecutiveFailures, 3);
    assert.equal(event.thermalSafetyDisabled, true);
    assert.equal(m.getStatusHistory().length, 0);
    writeStubScript(script, baseScript());
    await waitForCalls(recovered, 1);
    assert.ok(recovered.calls[0].args[0].afterFailures >= 3);
    await waitFor(() => m.getStatusHistory().length >= 1);
    assert.equal(m.getLatestStatus().temperatureC, 45);
  });

  it('a lost GPU (fail_code=15) is a failed read; a failing handle lookup too', () => {
    writeStubScript(script, baseScript(['0.fail=1', '0.fail_code=15']));
    const lost = getGpuStatus({ libraryPath: stub.modern });
    assert.equal(lost.available, false);
    assert.equal(lost.condition, 'unknown');
    assert.match(lost.conditionReason, /GPU is lost/);
    writeStubScript(script, baseScript(['0.handle_fail=6']));
    const noHandle = getGpuStatus({ libraryPath: stub.modern });
    assert.equal(noHandle.available, false);
    assert.match(noHandle.conditionReason, /nvmlDeviceGetHandleByIndex/);
  });

  it('a missing library: unavailable with the reason, cached until resetNvmlState()', async () => {
    const missing = path.join(tmpDir, 'nowhere', 'libnvidia-ml.so.1');
    const info = nvmlInfo(missing);
    assert.equal(info.available, false);
    assert.equal(info.deviceCount, 0);
    assert.equal(info.libraryPath, missing);
    assert.ok(info.reason.includes(missing), info.reason);
    const s = getGpuStatus({ libraryPath: missing });
    assert.equal(s.available, false);
    assert.equal(s.condition, 'unknown');
    assert.equal(s.conditionReason, info.reason);
    assert.deepEqual(listGpus({ libraryPath: missing }), []);

    const readErrors = createSpy('readError');
    const m = newMonitor({ libraryPath: missing });
    m.on('readError', readErrors);
    m.start();
    await waitForCalls(readErrors, 2);
    assert.equal(readErrors.calls[0].args[0].error.code, 'GPU_READ_FAILED');
    assert.ok(readErrors.calls[0].args[0].error.message.includes(missing));
    await m.stop();

    // Init runs once per process: a later call naming a good library gets the cached failure.
    const cached = nvmlInfo(stub.modern);
    assert.equal(cached.available, false);
    assert.equal(cached.reason, info.reason);
    assert.equal(getGpuStatus({ libraryPath: stub.modern }).available, false);
    resetNvmlState();
    assert.equal(nvmlInfo(stub.modern).available, true);
    assert.equal(getGpuStatus({ libraryPath: stub.modern }).temperatureC, 45);
  });

  it('init failure (init=fail:12): the reason names nvmlInit_v2; cached until resetNvmlState()', () => {
    writeStubScript(script, baseScript(['init=fail:12']));
    const info = nvmlInfo(stub.modern);
    assert.equal(info.available, false);
    assert.match(info.reason, /nvmlInit_v2/, 'the newest init entry point is used');
    assert.match(info.reason, /Library Not Found/, 'with nvmlErrorString() of the code');
    const s = getGpuStatus({ libraryPath: stub.modern });
    assert.equal(s.condition, 'unknown');
    assert.match(s.conditionReason, /nvmlInit/);
    // Fixing the script is not enough: the failure is cached.
    writeStubScript(script, baseScript());
    assert.equal(nvmlInfo(stub.modern).available, false);
    assert.equal(getGpuStatus({ libraryPath: stub.modern }).available, false);
    resetNvmlState();
    const fixed = nvmlInfo(stub.modern);
    assert.equal(fixed.available, true);
    assert.equal(fixed.reason, '');
    assert.equal(getGpuStatus({ libraryPath: stub.modern }).temperatureC, 45);
  });

  it('resetNvmlState() while a monitor is reading: no crash, reading continues', async () => {
    const m = newMonitor({ libraryPath: stub.modern, config: { checkIntervalMs: 1, logWarnings: false } });
    m.start();
    await waitFor(() => m.getStatusHistory().length >= 2);
    for (let i = 0; i < 50; i++) {
      resetNvmlState();
      if (i % 5 === 0) await sleep(2);
    }
    const n = m.getStatusHistory().length;
    await waitFor(() => m.getStatusHistory().length >= Math.min(n + 5, 100) && m.getLatestStatus().temperatureC === 45);
  });
});

describe('NVML in child processes (per-process state)', () => {
  let script;
  before(function () {
    stub = stubOrSkip(this);
    tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bp-gpu-nvml-child-'));
    script = path.join(tmpDir, 'stub-script.txt');
  });
  after(() => {
    if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
  });

  it('the legacy variant (old entry points only) still gives full readings', async () => {
    writeStubScript(script, baseScript(['devices=2', '1.name=Legacy B', '1.temp=88', '0.mem_reserved_mb=1024']));
    const r = await runChild({ libraryPath: stub.legacy }, { BACKPROP_STUB_NVML_SCRIPT: script, BACKPROP_NVML_LIBRARY: undefined });
    assert.equal(r.info.available, true, r.info.reason);
    assert.equal(r.info.deviceCount, 2);
    const s = r.status;
    assert.equal(s.deviceName, 'Stub H200');
    assert.equal(s.temperatureC, 45);
    assert.equal(s.vramTotalGb, 80);
    assert.equal(s.vramUsedGb, 21, 'v1 memory info counts reserved as used');
    assert.equal(s.powerLimitW, 700, 'through nvmlDeviceGetPowerManagementLimit');
    assert.deepEqual([...s.throttleReasons].sort(), ['hw_thermal_slowdown', 'sw_power_cap'], 'through ...ThrottleReasons');
    assert.deepEqual(s.processes, [{ pid: 1234, usedMemoryMb: 2048 }, { pid: 5678, usedMemoryMb: 512 }], 'v1 process layout');
    assert.equal(s.condition, 'safe');
    assert.deepEqual(r.list.map((x) => [x.deviceName, x.condition]), [['Stub H200', 'safe'], ['Legacy B', 'warning']]);
  });

  it('the legacy variant: an init failure names nvmlInit', async () => {
    writeStubScript(script, baseScript(['init=fail:9']));
    const r = await runChild({ libraryPath: stub.legacy }, { BACKPROP_STUB_NVML_SCRIPT: script });
    assert.equal(r.info.available, false);
    assert.match(r.info.reason, /nvmlInit failed/);
    assert.match(r.info.reason, /Driver Not Loaded/);
    assert.equal(r.status.condition, 'unknown');
  });

  it('the nov3 variant reads processes through the _v2 call', async () => {
    writeStubScript(script, baseScript(['0.procs=4321:100']));
    const r = await runChild({ libraryPath: stub.nov3 }, { BACKPROP_STUB_NVML_SCRIPT: script });
    assert.equal(r.info.available, true, r.info.reason);
    assert.deepEqual(r.status.processes, [{ pid: 4321, usedMemoryMb: 100 }]);
    assert.equal(r.status.vramUsedGb, 20);
  });

  it('BACKPROP_NVML_LIBRARY names the library when no option does (queries and monitor)', async () => {
    writeStubScript(script, baseScript(['0.temp=91']));
    const r = await runChild({ monitorMs: 80 }, { BACKPROP_STUB_NVML_SCRIPT: script, BACKPROP_NVML_LIBRARY: stub.modern });
    assert.equal(r.info.available, true, r.info.reason);
    assert.equal(r.info.libraryPath, stub.modern);
    assert.equal(r.status.temperatureC, 91);
    assert.equal(r.status.condition, 'critical');
    assert.equal(r.list.length, 1);
    assert.ok(r.monitor.statuses.length >= 2);
    assert.ok(r.monitor.statuses.every((s) => s.deviceName === 'Stub H200' && s.condition === 'critical'));
    assert.deepEqual(r.monitor.readErrors, []);
  });

  it('BACKPROP_NVML_LIBRARY naming a missing file: unavailable with that path in the reason', async () => {
    const missing = path.join(tmpDir, 'missing', 'libnvidia-ml.so.1');
    const r = await runChild({ monitorMs: 60 }, { BACKPROP_STUB_NVML_SCRIPT: script, BACKPROP_NVML_LIBRARY: missing });
    assert.equal(r.info.available, false);
    assert.equal(r.info.libraryPath, missing);
    assert.ok(r.info.reason.includes(missing), r.info.reason);
    assert.equal(r.status.available, false);
    assert.equal(r.status.condition, 'unknown');
    assert.deepEqual(r.list, []);
    assert.deepEqual(r.monitor.statuses, []);
    assert.ok(r.monitor.readErrors.length >= 2);
    assert.ok(r.monitor.readErrors.every((e) => e.code === 'GPU_READ_FAILED' && e.message.includes(missing)));
  });

  it('the libraryPath option wins over BACKPROP_NVML_LIBRARY', async () => {
    writeStubScript(script, baseScript());
    const missing = path.join(tmpDir, 'missing', 'libnvidia-ml.so.1');
    const r = await runChild({ libraryPath: stub.modern, monitorMs: 50 }, { BACKPROP_STUB_NVML_SCRIPT: script, BACKPROP_NVML_LIBRARY: missing });
    assert.equal(r.info.available, true, r.info.reason);
    assert.equal(r.info.libraryPath, stub.modern);
    assert.equal(r.status.temperatureC, 45);
    assert.ok(r.monitor.statuses.length >= 2);
  });

  it("a monitor's source { kind: 'nvml', libraryPath } and libraryPath option win over BACKPROP_NVML_LIBRARY", async () => {
    writeStubScript(script, baseScript(['0.temp=82']));
    const missing = path.join(tmpDir, 'missing', 'libnvidia-ml.so.1');
    const env = { BACKPROP_STUB_NVML_SCRIPT: script, BACKPROP_NVML_LIBRARY: missing };
    for (const monitorSource of ['source', 'option']) {
      // The monitor initialises NVML first; the queries after it pass no option and see that state.
      const r = await runChild({ libraryPath: stub.modern, monitorMs: 60, monitorFirst: true, monitorSource }, env);
      assert.deepEqual(r.monitor.readErrors, [], monitorSource);
      assert.ok(r.monitor.statuses.length >= 2, monitorSource);
      assert.ok(r.monitor.statuses.every((s) => s.condition === 'warning' && s.temperatureC === 82), monitorSource);
      assert.equal(r.info.available, true, monitorSource);
      assert.equal(r.info.libraryPath, stub.modern, monitorSource);
    }
  });
});

describe('NVML default library, in a child process', () => {
  it('by default it dlopens libnvidia-ml.so.1 (no NVIDIA driver here: unknown with the reason)', async () => {
    const r = await runChild({}, { BACKPROP_NVML_LIBRARY: undefined, BACKPROP_STUB_NVML_SCRIPT: undefined });
    assert.equal(r.info.libraryPath, 'libnvidia-ml.so.1');
    if (r.info.available) {
      console.log('      (a real NVIDIA driver is present: checked only that it loads)');
      assert.equal(typeof r.status.available, 'boolean');
      return;
    }
    assert.match(r.info.reason, /libnvidia-ml\.so\.1/);
    assert.equal(r.status.available, false);
    assert.equal(r.status.condition, 'unknown');
    assert.equal(r.status.conditionReason, r.info.reason);
    assert.deepEqual(r.list, []);
  });
});
