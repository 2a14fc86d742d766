'use strict';
// `backprop gpu` as a child process: no NVML (says so, exit 0), the stub NVML
// library's devices as a table and as NDJSON, --watch until Ctrl-C, and the
// named scenarios played through the real GPU monitor.

const assert = require('node:assert/strict');
const path = require('node:path');
const { CONTROL, runCli, startCli, parseNdjson, tempDir, removeTempDirs } = require('./fixtures/cli-harness');
const { stubOrSkip, writeStubScript } = require('./helpers/stub-nvml');

const NO_NVML = { BACKPROP_NVML_LIBRARY: '/nonexistent/libnvidia-ml.so.1' };

const STUB_DEVICES = [
  'init=ok',
  'devices=2',
  '0.name=Stub H200',
  '0.uuid=GPU-00000000-1111-2222-3333-444444444444',
  '0.temp=45',
  '0.temp_shutdown=95',
  '0.temp_slowdown=90',
  '0.mem_total_mb=81920',
  '0.mem_used_mb=20480',
  '0.power_mw=120000',
  '0.power_limit_mw=700000',
  '0.util_gpu=30',
  '0.util_mem=10',
  '0.clock_sm=1980',
  '0.clock_mem=2619',
  '0.fan=41',
  '0.throttle=0x44',
  '0.procs=1234:2048,5678:512',
  '1.name=Stub Hot',
  '1.temp=91',
  '1.temp_shutdown=100',
];

describe('backprop gpu (child process)', function () {
  this.timeout(120000);
  after(removeTempDirs);

  describe('without NVML', () => {
    it('says clearly that no GPU can be read and why, and exits 0', async () => {
      const r = await runCli(['gpu'], { env: NO_NVML });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^No GPU can be read on this machine: NVML, the NVIDIA driver's monitoring library, is unavailable \(\/nonexistent\/libnvidia-ml\.so\.1 not found/);
      assert.match(r.stdout, /Training runs on the CPU here/);
      assert.match(r.stdout, /backprop gpu --simulate heatup/);
      assert.doesNotMatch(r.stdout, CONTROL);
    });

    it('--json: one gpuUnavailable event with the reason', async () => {
      const r = await runCli(['gpu', '--json'], { env: NO_NVML });
      assert.equal(r.code, 0, r.stderr);
      const events = parseNdjson(r.stdout);
      assert.equal(events.length, 1);
      assert.equal(events[0].event, 'gpuUnavailable');
      assert.equal(events[0].libraryPath, '/nonexistent/libnvidia-ml.so.1');
      assert.match(events[0].reason, /not found/);
    });
  });

  describe('with the stub NVML library', () => {
    let env;
    before(function () {
      const stub = stubOrSkip(this);
      const script = path.join(tempDir(), 'stub-script.txt');
      writeStubScript(script, STUB_DEVICES);
      env = { BACKPROP_NVML_LIBRARY: stub.modern, BACKPROP_STUB_NVML_SCRIPT: script };
    });

    it('shows every device as a table row: temperature, condition, VRAM, power, utilisation, clocks, fan, throttle, processes', async () => {
      const r = await runCli(['gpu'], { env });
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trimEnd().split('\n');
      assert.match(lines[0], /^GPU\s+NAME\s+TEMP\s+CONDITION\s+VRAM\s+POWER\s+UTIL\s+CLOCKS SM\/MEM\s+FAN\s+THROTTLE\s+PROCESSES$/);
      assert.match(lines[1], /^\[0\]\s+Stub H200\s+45°C\s+safe\s+20\.0\/80\.0 GB \(25%\)\s+120\/700 W\s+30%\s+1980\/2619 MHz\s+41%\s+sw_power_cap,hw_thermal_slowdown\s+\S*\/1234\(2048M\) \S*\/5678\(512M\)$/);
      assert.match(lines[2], /^\[1\]\s+Stub Hot\s+91°C\s+critical\s+-/);
      assert.equal(lines[3], '  [1] critical: temperature 91.0°C >= critical 90');
      assert.equal(lines.length, 4);
    });

    it('--json: a gpuStatus event per device with the readings', async () => {
      const r = await runCli(['--json', 'gpu'], { env });
      assert.equal(r.code, 0, r.stderr);
      const events = parseNdjson(r.stdout);
      assert.deepEqual(events.map((e) => [e.event, e.deviceIndex, e.deviceName, e.condition]), [
        ['gpuStatus', 0, 'Stub H200', 'safe'],
        ['gpuStatus', 1, 'Stub Hot', 'critical'],
      ]);
      assert.equal(events[0].temperatureC, 45);
      assert.equal(events[0].vramTotalGb, 80);
      assert.equal(events[0].powerDrawW, 120);
      assert.deepEqual(events[0].processes, [{ pid: 1234, usedMemoryMb: 2048 }, { pid: 5678, usedMemoryMb: 512 }]);
    });

    it('--watch redraws the table every interval until Ctrl-C, then exits 130', async () => {
      const run = startCli(['gpu', '--watch', '--interval', '100'], { env });
      await run.waitFor((r) => (r.stdout.match(/Stub H200/g) || []).length >= 3);
      run.child.kill('SIGINT');
      const r = await run.done;
      assert.equal(r.code, 130, r.stderr);
      const tables = r.stdout.split('\n').filter((l) => /every 100 ms, Ctrl-C to stop$/.test(l));
      assert.ok(tables.length >= 3);
      assert.doesNotMatch(r.stdout, CONTROL, 'off a terminal each table is printed below the last, no cursor moves');
    });
  });

  describe('--simulate (scripted readings through the real GPU monitor)', () => {
    it('heatup: a line per sample, safe to EMERGENCY in order, and the worst condition', async () => {
      const r = await runCli(['gpu', '--simulate', 'heatup', '--interval', '20']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^Simulating 'heatup': temperature climbs under load/);
      const samples = r.stdout.split('\n').filter((l) => /^\s+\+\d+\.\d\ds  \[0\] Simulated GPU 80GB/.test(l));
      assert.equal(samples.length, 11);
      const temps = samples.map((l) => Number(/ (\d+)°C /.exec(l)[1]));
      assert.deepEqual(temps, [45, 58, 66, 72, 76, 81, 85, 88, 91, 93, 96]);
      const conditions = samples.map((l) => /°C (\S+) \|/.exec(l)[1]);
      assert.deepEqual(conditions, ['safe', 'safe', 'safe', 'warm', 'warm', 'warning', 'warning', 'warning', 'critical', 'critical', 'EMERGENCY']);
      assert.match(samples[10], /throttle hw_thermal_slowdown,sw_thermal_slowdown \(temperature 96\.0°C >= emergency 95\)/);
      assert.match(r.stdout, /Scenario finished: 11 samples, worst condition EMERGENCY\.\n$/);
    });

    it('--json: simulationStart, a gpuStatus per sample in order, simulationEnd', async () => {
      const r = await runCli(['--json', 'gpu', '--simulate', 'memory', '--interval', '20']);
      assert.equal(r.code, 0, r.stderr);
      const events = parseNdjson(r.stdout);
      assert.equal(events[0].event, 'simulationStart');
      assert.equal(events[0].samples, 8);
      const statuses = events.slice(1, -1);
      assert.deepEqual(statuses.map((e) => e.event), Array(8).fill('gpuStatus'));
      assert.deepEqual(statuses.map((e) => e.sample), [1, 2, 3, 4, 5, 6, 7, 8]);
      assert.deepEqual(statuses.map((e) => e.vramUsedGb), [20, 40, 60, 68, 72, 74, 76, 77.5]);
      for (let i = 1; i < statuses.length; i++) assert.ok(statuses[i].timestamp > statuses[i - 1].timestamp);
      assert.deepEqual(events[events.length - 1], { event: 'simulationEnd', scenario: 'memory', samples: 8, worstCondition: 'critical', interrupted: false });
    });

    it('flaky: failed reads, thermal safety disabled from the third, then readable again', async () => {
      const r = await runCli(['gpu', '--simulate', 'flaky', '--interval', '20']);
      assert.equal(r.code, 0, r.stderr);
      const failures = r.stdout.split('\n').filter((l) => /read failed/.test(l));
      assert.equal(failures.length, 4);
      failures.forEach((l, i) => {
        assert.match(l, new RegExp(`read failed \\(${i + 1} in a row\\): GPU 0 could not be read: GPU is lost`));
        assert.equal(/thermal safety DISABLED/.test(l), i >= 2, l);
      });
      assert.match(r.stdout, /\[0\] readable again after 4 failed reads/);
      assert.match(r.stdout, /Scenario finished: 8 samples/);
    });
  });
});
