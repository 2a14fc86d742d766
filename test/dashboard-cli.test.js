'use strict';
// `backprop serve`, `serve --demo`, `--dashboard` on train and multi-run, and
// the demo session behind them (startDashboardCli, demoGpuReading).

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { startDashboardCli, demoGpuReading } = require('../dist/dashboard');
const { connect, waitFor } = require('./fixtures/dashboard-helpers');

const BIN = path.join(__dirname, '..', 'bin', 'backprop.js');

/** Runs the CLI with --json; collects NDJSON events as they come. */
function cli(args) {
  const child = spawn(process.execPath, [BIN, '--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  const events = [];
  let stderr = '';
  readline.createInterface({ input: child.stdout }).on('line', (line) => events.push(JSON.parse(line)));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    events,
    exited,
    stderr: () => stderr,
    event: (name, timeoutMs = 30_000) => waitFor(() => events.find((e) => e.event === name), { timeoutMs, intervalMs: 20, message: () => `a '${name}' event (got ${events.map((e) => e.event).join(', ')}; stderr: ${stderr})` }),
  };
}

function demoDirs() {
  return fs.readdirSync(os.tmpdir()).filter((name) => name.startsWith('backprop-demo-'));
}

describe('dashboard command line', function () {
  this.timeout(60_000);
  const cleanup = [];
  const track = (fn) => cleanup.push(fn);
  afterEach(async () => {
    while (cleanup.length) await cleanup.pop()();
  });

  describe('demoGpuReading', () => {
    it('heats a simulated GPU through warm, warning and critical, then cools it below the warning line, once per period', () => {
      const temps = Array.from({ length: 100 }, (_, i) => demoGpuReading(i * 100, 10_000).temperatureC);
      const max = Math.max(...temps);
      assert.ok(max >= 90 && max < 95, `peaks critical but below emergency (${max} °C)`);
      const peakAt = temps.indexOf(max);
      assert.ok(temps.slice(0, peakAt).some((t) => t >= 70 && t < 80), 'passes through warm');
      assert.ok(temps.slice(0, peakAt).some((t) => t >= 80 && t < 90), 'passes through warning');
      assert.ok(temps.slice(peakAt).some((t) => t < 70), 'cools down again');
      assert.equal(demoGpuReading(12_345, 10_000).temperatureC, demoGpuReading(2_345, 10_000).temperatureC, 'periodic');
      const hot = demoGpuReading(4_600, 10_000);
      assert.deepEqual(hot.throttleReasons, ['sw_thermal_slowdown', 'hw_slowdown']);
      assert.equal(hot.gpuUtilization, 4, 'the session is held while it is hot');
      assert.throws(() => demoGpuReading(-1), { code: 'CONFIG_INVALID', message: /elapsedMs must be a finite number >= 0/ });
      assert.throws(() => demoGpuReading(0, 10), { code: 'CONFIG_INVALID', message: /periodMs must be at least 100/ });
    });
  });

  describe('startDashboardCli', () => {
    it('runs a demo session the page can follow: four runs, GPU samples, a pause for heat, and a finished state', async () => {
      const handle = await startDashboardCli({ port: 0, demo: { runs: 4, stepsPerRun: 150, hiddenLayers: [16], batchSize: 32, runGapMs: 400, gpuPeriodMs: 2000, gpuIntervalMs: 50 } });
      track(() => handle.close());
      assert.match(handle.url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=/);
      assert.equal(await (await fetch(`http://127.0.0.1:${handle.server.port}/healthz`)).text(), 'ok');
      const client = connect(handle.server);
      track(() => client.close());
      await client.opened;
      const result = await handle.done;
      assert.equal(result.totalRuns, 4);
      assert.equal(result.aborted, false);
      await client.wait((m) => m.type === 'runEnd' && m.runIndex === 4, 'the last runEnd');
      const seen = [...(client.of('snapshot')[0]?.payload.runs ?? []).map((r) => ({ type: 'runEnd', runIndex: r.runIndex, payload: { status: r.status } })), ...client.messages];
      const ends = seen.filter((m) => m.type === 'runEnd' && m.payload.status === 'completed').map((m) => m.runIndex);
      assert.deepEqual([...new Set(ends)].sort(), [1, 2, 3, 4]);
      assert.ok(client.of('gpu').length > 0, 'GPU samples reach the page');
      const hub = handle.hub;
      const log = hub.snapshot().log.map((m) => [m.type, m.payload.state ?? m.payload.condition ?? null, m.payload.reason ?? null]);
      assert.ok(log.some(([type, state, reason]) => type === 'state' && state === 'paused' && /GPU pause/.test(reason)), `the session paused for heat: ${JSON.stringify(log)}`);
      assert.ok(log.some(([type, state]) => type === 'gpuAlert' && state === 'critical'), 'the GPU turned critical');
      await waitFor(() => hub.state === 'finished', { timeoutMs: 10_000, message: () => `the hub to report finished (${hub.state})` });
    });

    it('aborts a running demo and removes its checkpoint folder on close()', async () => {
      const before = new Set(demoDirs());
      const handle = await startDashboardCli({ port: 0, demo: { runs: 50, stepsPerRun: 100_000, hiddenLayers: [16], runGapMs: 0 } });
      const created = demoDirs().filter((d) => !before.has(d));
      assert.equal(created.length, 1, 'one checkpoint folder for the session');
      await waitFor(() => handle.hub.state === 'running', { timeoutMs: 20_000, message: 'the demo to start training' });
      await handle.close();
      const result = await handle.done;
      assert.equal(result.aborted, true);
      assert.match(result.abortReason, /closing/);
      assert.equal(fs.existsSync(path.join(os.tmpdir(), created[0])), false);
    });

    it('rejects unknown or out-of-range demo options with a BackpropError', async () => {
      await assert.rejects(startDashboardCli({ demo: { runz: 3 } }), { code: 'CONFIG_INVALID', message: /Unknown demo option 'runz'/ });
      await assert.rejects(startDashboardCli({ demo: { stepsPerRun: 0 } }), { code: 'CONFIG_INVALID', message: /demo\.stepsPerRun must be an integer >= 1/ });
    });
  });

  describe('backprop serve', () => {
    it('prints the URL with the token, serves /healthz, and stops cleanly on Ctrl-C', async () => {
      const run = cli(['serve', '--port', '0', '--token', 'a-token-for-tests']);
      track(() => run.child.kill('SIGKILL'));
      const started = await run.event('dashboard');
      assert.match(started.url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=a-token-for-tests$/);
      assert.equal(started.token, 'a-token-for-tests');
      assert.equal((await fetch(`http://127.0.0.1:${started.port}/healthz`)).status, 200);
      assert.equal((await fetch(`http://127.0.0.1:${started.port}/api/session`)).status, 401);
      run.child.kill('SIGINT');
      const { code } = await run.exited;
      assert.equal(code, 0, run.stderr());
      assert.deepEqual((await run.event('stopped')).signal, 'SIGINT');
    });

    it('--demo streams a training session and a simulated GPU to a WebSocket client', async () => {
      const run = cli(['serve', '--demo', '--port', '0', '--gpu-interval', '100']);
      track(() => run.child.kill('SIGKILL'));
      const started = await run.event('dashboard');
      const client = connect({ port: started.port, token: started.token });
      track(() => client.close());
      await client.opened;
      const runStart = await client.waitType('runStart', 30_000);
      assert.equal(runStart.payload.source, 'demo');
      assert.equal(runStart.payload.kind, 'multiRun');
      const gpu = await client.waitType('gpu', 30_000);
      assert.equal(gpu.payload.deviceName, 'Simulated GPU 80GB');
      run.child.kill('SIGINT');
      assert.equal((await run.exited).code, 0, run.stderr());
    });

    it('refuses a bad port as a usage error', async () => {
      const run = cli(['serve', '--port', '70000']);
      assert.equal((await run.exited).code, 2);
      assert.match(run.stderr(), /--port <n>.*70000.*from 0 to 65535/);
    });
  });

  describe('--dashboard on train and multi-run', () => {
    it('train --dashboard-port serves the run and announces the URL before training', async () => {
      const run = cli(['train', '--demo', 'spirals', '--samples', '600', '--epochs', '2', '--threads', '1', '--dashboard-port', '0']);
      track(() => run.child.kill('SIGKILL'));
      const { code } = await run.exited;
      assert.equal(code, 0, run.stderr());
      const names = run.events.map((e) => e.event);
      assert.equal(names[0], 'dashboard');
      assert.match(run.events[0].url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=/);
      assert.equal(names[1], 'start');
      assert.equal(names[names.length - 1], 'complete');
    });

    it('multi-run --dashboard streams the session to a client', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dashboard-cli-'));
      track(() => fs.promises.rm(dir, { recursive: true, force: true }));
      const run = cli(['multi-run', '--demo', 'blobs', '--runs', '2', '--steps-per-run', '30000', '--threads', '1', '--checkpoint-dir', dir, '--dashboard']);
      track(() => run.child.kill('SIGKILL'));
      const started = await run.event('dashboard');
      const client = connect({ port: started.port, token: started.token });
      track(() => client.close());
      await client.opened;
      await client.wait((m) => m.type === 'runStart' || (m.type === 'snapshot' && m.payload.runs.length > 0), 'a run', 30_000);
      run.child.kill('SIGINT');
      await run.exited;
    });
  });
});
