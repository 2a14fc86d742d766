'use strict';
// The dashboard over a fleet queue, on a real redis-server with real BullMQ
// workers: jobs as runs with their worker hosts and step curves, Abort and
// Pause/Resume per job through the dashboard's command path, a process that
// closes its hub ending on its own, and `backprop serve --redis`.
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { Queue } = require('bullmq');
const { createEventHub } = require('../dist');
const { TrainingQueue, TrainingWorker } = require('../dist/fleet');
const { startRedis, available } = require('./helpers/redis');
const { trainJob, model, until } = require('./helpers/fleet');
const { connect } = require('./fixtures/dashboard-helpers');

const BIN = path.join(__dirname, '..', 'bin', 'backprop.js');
const CHILD = path.join(__dirname, 'fixtures', 'fleet-dashboard-child.js');
// Long enough to be steered (a few seconds per epoch on a shared machine); aborted by the tests.
const longJob = (name) => trainJob({ name, seed: 4, samples: 2000, hidden: [128, 128], epochs: 500, attempts: 3 });
const runEndOf = (client, jobId) => client.wait((m) => m.type === 'runEnd' && m.runId === jobId, `runEnd of ${jobId}`, 60_000);

describe('dashboard over a fleet queue', function () {
  this.timeout(120_000);
  let redis, ckpt, workers, queue, bull, hub, server;
  const cleanup = [];
  before(async function () {
    if (!available()) {
      console.log('      redis-server is not installed (apt-get install redis-server): skipped');
      this.skip();
    }
    redis = await startRedis();
    ckpt = fs.mkdtempSync(path.join(os.tmpdir(), 'bp-fleet-dash-'));
    workers = ['gpu-a', 'gpu-b'].map((hostName) => new TrainingWorker({ connection: redis.url, hostName, checkpointRoot: ckpt }));
    await Promise.all(workers.map((w) => w.waitUntilReady()));
    queue = new TrainingQueue({ connection: redis.url });
    bull = new Queue('backprop', { connection: { host: '127.0.0.1', port: redis.port } });
    hub = createEventHub();
    assert.equal(hub.watch(queue, { label: 'queue:backprop' }), 'queue:backprop');
    server = await hub.listen({ port: 0 });
  });
  afterEach(async () => {
    while (cleanup.length) await cleanup.pop()();
  });
  after(async () => {
    await hub?.close();
    await queue?.close();
    await bull?.close();
    await Promise.all((workers ?? []).map((w) => w.close({ force: true })));
    await redis?.stop();
    if (ckpt) fs.rmSync(ckpt, { recursive: true, force: true });
  });

  async function client() {
    const c = connect(server);
    cleanup.push(() => c.close());
    await c.opened;
    return c;
  }

  it('two jobs on two workers: one run each with its worker host, step curves and a terminal state', async () => {
    const c = await client();
    // Both long enough that each idle worker takes one.
    const jobs = [trainJob({ name: 'alpha', seed: 1, samples: 2000, hidden: [128, 128], epochs: 8 }), trainJob({ name: 'beta', seed: 2, samples: 2000, hidden: [128, 128], epochs: 8 })];
    const handles = await Promise.all(jobs.map((j) => queue.submit(j)));
    const results = await Promise.all(handles.map((h) => h.result()));
    const hosts = [];
    for (const [i, handle] of handles.entries()) {
      const end = await runEndOf(c, handle.id);
      assert.equal(end.payload.status, 'completed');
      assert.equal(end.payload.steps, results[i].steps);
      assert.equal(end.payload.host, handle.status.host);
      assert.equal(end.payload.attempt, 1);
      assert.match(end.payload.source, new RegExp(`^${jobs[i].name}-${handle.id.slice(0, 8)}$`));
      const start = c.messages.find((m) => m.type === 'runStart' && m.runId === handle.id);
      assert.equal(start.payload.kind, 'fleetJob');
      assert.equal(start.payload.host, handle.status.host);
      const steps = c.messages.filter((m) => m.type === 'step' && m.runId === handle.id).map((m) => m.payload.step);
      assert.ok(steps.length >= 2, `step messages of job ${i}: ${steps.length}`);
      for (let k = 1; k < steps.length; k++) assert.ok(steps[k] > steps[k - 1], 'steps rise');
      assert.equal(steps.at(-1), results[i].steps, 'the last step arrives');
      hosts.push(end.payload.host);
    }
    assert.deepEqual(hosts.sort(), ['gpu-a', 'gpu-b']);
    // A page opened now gets both runs in its snapshot, with host and curve.
    const late = connect(server);
    cleanup.push(() => late.close());
    const snapshot = await late.waitType('snapshot');
    for (const handle of handles) {
      const run = snapshot.payload.runs.find((r) => r.runId === handle.id);
      assert.ok(run, `job ${handle.id} in the snapshot`);
      assert.equal(run.status, 'completed');
      assert.ok(['gpu-a', 'gpu-b'].includes(run.host));
      assert.ok(run.history.steps.length >= 2, 'the snapshot carries the curve');
    }
    assert.ok(snapshot.payload.sources.some((s) => s.source === 'queue:backprop' && s.kind === 'fleetQueue'));
  });

  it('Abort from the dashboard ends that job as failed with ABORT_ERR, not retried', async () => {
    const c = await client();
    const handle = await queue.submit(longJob('doomed'));
    await c.wait((m) => m.type === 'step' && m.runId === handle.id, 'a step of the job', 60_000);
    c.send({ type: 'command', id: 'a1', command: 'abort', target: handle.id, reason: 'stopped from the page' });
    const ack = await c.wait((m) => m.id === 'a1', 'the answer to abort');
    assert.equal(ack.type, 'ack', JSON.stringify(ack));
    await assert.rejects(handle.result(), { name: 'AbortError', code: 'ABORT_ERR', reason: 'stopped from the page' });
    const end = await runEndOf(c, handle.id);
    assert.equal(end.payload.status, 'aborted');
    assert.equal(end.payload.error.code, 'ABORT_ERR');
    assert.equal(end.payload.abortedBy !== undefined, true);
    const job = await bull.getJob(handle.id);
    assert.equal(await job.getState(), 'failed');
    assert.equal(job.attemptsMade, 1, 'not retried');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(c.messages.filter((m) => m.type === 'runStart' && m.runId === handle.id).length, 1, 'no second attempt');
  });

  it('Pause and Resume from the dashboard hold and release that job', async () => {
    const c = await client();
    const handle = await queue.submit(longJob('steered'));
    cleanup.push(() => handle.abort('test over').catch(() => undefined));
    await c.wait((m) => m.type === 'step' && m.runId === handle.id, 'a step of the job', 60_000);
    const label = c.messages.find((m) => m.type === 'runStart' && m.runId === handle.id).payload.source;
    c.send({ type: 'command', id: 'p1', command: 'pause', target: handle.id });
    assert.equal((await c.wait((m) => m.id === 'p1', 'the answer to pause')).type, 'ack');
    await c.wait((m) => m.type === 'state' && m.payload.source === label && m.payload.state === 'paused', 'the job paused');
    assert.equal(handle.status.state, 'paused');
    const heldAt = handle.status.step;
    await new Promise((r) => setTimeout(r, 800));
    assert.equal(handle.status.step, heldAt, 'no step while paused');
    c.send({ type: 'command', id: 'r1', command: 'resume', target: label });
    assert.equal((await c.wait((m) => m.id === 'r1', 'the answer to resume')).type, 'ack');
    await c.wait((m) => m.type === 'state' && m.payload.source === label && m.payload.state === 'running' && m.seq > 0, 'the job running again');
    await until(() => handle.status.step > heldAt, 20_000, 'steps after resume');
  });

  it('a multi-run job takes abort only: pause from the dashboard is refused as unsupported', async () => {
    const c = await client();
    const handle = await queue.submit({
      kind: 'multi-run',
      name: 'session',
      trainer: { model: model([8]), seed: 3, threads: 1 },
      multiRun: { numRuns: 2, stepsPerRun: 200_000, samplesPerRun: 200, validationSamples: 100, batchSize: 16 },
      data: { dataset: 'spirals', samples: 600, seed: 3 },
    });
    await c.wait((m) => m.type === 'step' && m.runId === handle.id, 'a step of the job', 60_000);
    const source = c.messages.find((m) => m.type === 'runStart' && m.runId === handle.id).payload.source;
    const watch = c.messages.find((m) => m.type === 'watch' && m.payload.source === source);
    assert.deepEqual(watch.payload.controls, ['abort']);
    c.send({ type: 'command', id: 'm1', command: 'pause', target: handle.id });
    const refused = await c.wait((m) => m.id === 'm1', 'the answer to pause');
    assert.equal(refused.type, 'error');
    assert.equal(refused.code, 'UNSUPPORTED');
    c.send({ type: 'command', id: 'm2', command: 'abort', target: handle.id });
    assert.equal((await c.wait((m) => m.id === 'm2', 'the answer to abort')).type, 'ack');
    await assert.rejects(handle.result(), { code: 'ABORT_ERR' });
  });

  it('a process that closes its hub and queue exits on its own', async () => {
    const handle = await queue.submit(trainJob({ name: 'short', seed: 9 }));
    const child = spawn(process.execPath, [CHILD, redis.url, handle.id], { stdio: ['ignore', 'pipe', 'inherit'] });
    cleanup.push(() => child.exitCode === null && child.kill('SIGKILL'));
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })));
    const closed = await new Promise((resolve) => readline.createInterface({ input: child.stdout }).on('line', (l) => resolve({ ...JSON.parse(l), at: Date.now() })));
    assert.equal(closed.listingsAfterClose, 0, 'the queue was still listed after the hub closed');
    const closedAt = closed.at;
    const timeout = new Promise((resolve) => setTimeout(() => resolve(null), 5000));
    const exit = await Promise.race([exited, timeout]);
    assert.ok(exit, 'the process still runs 5 s after closing its hub and queue');
    assert.equal(exit.code, 0);
    assert.ok(exit.at - closedAt < 5000);
  });

  it('backprop serve --redis serves the page and a snapshot listing the queue\'s jobs', async () => {
    const handle = await queue.submit(trainJob({ name: 'listed', seed: 5 }));
    await handle.result();
    const cli = spawn(process.execPath, [BIN, '--json', 'serve', '--redis', redis.url, '--port', '0', '--token', 'fleet-token-for-tests'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    cleanup.push(() => cli.exitCode === null && cli.kill('SIGKILL'));
    const events = [];
    let stderr = '';
    cli.stderr.on('data', (d) => (stderr += d));
    readline.createInterface({ input: cli.stdout }).on('line', (l) => events.push(JSON.parse(l)));
    const started = await until(() => events.find((e) => e.event === 'dashboard'), 30_000, `the dashboard event (stderr: ${stderr})`);
    const page = await fetch(`http://127.0.0.1:${started.port}/?token=fleet-token-for-tests`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<table class="runs"/);
    const queueEvent = events.find((e) => e.event === 'queue');
    assert.equal(queueEvent.queue, 'backprop');
    assert.ok(queueEvent.completed >= 1);
    const c = connect({ port: started.port, token: 'fleet-token-for-tests' });
    cleanup.push(() => c.close());
    await c.opened;
    const listed = await c.wait((m) => (m.type === 'snapshot' && m.payload.runs.some((r) => r.runId === handle.id)) || (m.type === 'runEnd' && m.runId === handle.id), 'the job on the page', 30_000);
    const run = listed.type === 'snapshot' ? listed.payload.runs.find((r) => r.runId === handle.id) : listed.payload;
    assert.equal(run.status, 'completed');
    assert.ok(['gpu-a', 'gpu-b'].includes(run.host));
    cli.kill('SIGINT');
    const code = await new Promise((resolve) => cli.once('exit', resolve));
    assert.equal(code, 0, stderr);
  });
});
