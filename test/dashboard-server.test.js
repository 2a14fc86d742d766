'use strict';
// The dashboard's event hub and server, through a real `ws` client and real
// HTTP requests: auth before the upgrade, origins, ordering, broadcast,
// backpressure, reconnect, bad input, commands, /metrics and /healthz.

const assert = require('node:assert/strict');
const http = require('node:http');
const { createEventHub } = require('../dist/dashboard');
const { bp, spirals, smallTrainer, longRun, connect, tryUpgrade, wsUrl, waitFor } = require('./fixtures/dashboard-helpers');

describe('dashboard server', function () {
  this.timeout(60_000);
  const cleanup = [];
  const track = (fn) => cleanup.push(fn);
  afterEach(async () => {
    while (cleanup.length) await cleanup.pop()();
  });

  async function serve(hubOptions = {}, listenOptions = {}) {
    const hub = createEventHub(hubOptions);
    track(() => hub.close());
    const server = await hub.listen(listenOptions);
    return { hub, server };
  }

  function client(server, options) {
    const c = connect(server, options);
    track(() => c.close());
    return c;
  }

  describe('HTTP routes', () => {
    it('serves the page with a CSP, uPlot from node_modules, /healthz without a token and /api/session only with it', async () => {
      const { hub, server } = await serve();
      const base = `http://127.0.0.1:${server.port}`;
      assert.match(server.url, new RegExp(`^http://127\\.0\\.0\\.1:${server.port}/\\?token=`));
      const page = await fetch(`${base}/?token=${server.token}`);
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-security-policy'), /script-src 'self'/);
      assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
      const html = await page.text();
      assert.match(html, /<script src="vendor\/uPlot\.iife\.min\.js"><\/script>/);
      assert.match(html, /<script type="module" src="app\.js"><\/script>/);
      for (const asset of ['/app.js', '/connection.js', '/store.js', '/charts.js', '/decimate.js', '/panels.js', '/format.js', '/style.css', '/vendor/uPlot.iife.min.js', '/vendor/uPlot.min.css']) {
        const res = await fetch(base + asset);
        assert.equal(res.status, 200, asset);
        assert.ok((await res.text()).length > 100, `${asset} has content`);
      }
      const health = await fetch(`${base}/healthz`);
      assert.equal(health.status, 200);
      assert.equal(await health.text(), 'ok');
      assert.equal((await fetch(`${base}/api/session`)).status, 401);
      const session = await fetch(`${base}/api/session`, { headers: { authorization: `Bearer ${server.token}` } });
      assert.equal(session.status, 200);
      assert.deepEqual(await session.json(), { sessionId: hub.sessionId, protocol: 1, seq: hub.seq, state: 'idle', watched: [] });
      assert.equal((await fetch(`${base}/nothing-here`)).status, 404);
      assert.equal((await fetch(`${base}/healthz`, { method: 'POST' })).status, 405);
    });

    it('mounts on an existing http.Server under a path with hub.attach, leaving other routes to the server', async () => {
      const app = http.createServer((req, res) => res.end(`app ${req.url}`));
      track(() => new Promise((resolve) => app.close(resolve)));
      const hub = createEventHub();
      track(() => hub.close());
      const attachment = hub.attach(app, { path: '/dash' });
      assert.equal(attachment.url, null, 'no URL before the server listens');
      await new Promise((resolve) => app.listen(0, '127.0.0.1', resolve));
      const port = app.address().port;
      const base = `http://127.0.0.1:${port}`;
      assert.equal(attachment.url, `${base}/dash/?token=${encodeURIComponent(attachment.token)}`);
      assert.equal(await (await fetch(`${base}/other`)).text(), 'app /other');
      assert.equal(await (await fetch(`${base}/dash/healthz`)).text(), 'ok');
      const redirect = await fetch(`${base}/dash?token=x`, { redirect: 'manual' });
      assert.equal(redirect.status, 301);
      assert.equal(redirect.headers.get('location'), '/dash/?token=x');
      assert.equal((await tryUpgrade(`ws://127.0.0.1:${port}/dash/ws?token=wrong-token`)).status, 401);
      const c = connect({ port, token: attachment.token }, { path: '/dash/ws' });
      track(() => c.close());
      await c.opened;
      const welcome = await c.waitType('welcome');
      assert.equal(welcome.sessionId, hub.sessionId);
      await c.waitType('snapshot');
      await attachment.close();
      await c.waitClosed();
      assert.equal(c.closed.code, 1001);
      assert.equal(await (await fetch(`${base}/dash/healthz`)).text(), 'app /dash/healthz', 'the server has its own listeners back');
    });
  });

  describe('connections and auth', () => {
    it('refuses an upgrade without the token, or with a wrong one, with HTTP 401 and no socket', async () => {
      const { hub, server } = await serve({}, { token: 'correct-horse-battery' });
      const missing = await tryUpgrade(wsUrl(server, { token: null }));
      assert.deepEqual([missing.status, missing.opened], [401, false]);
      assert.match(missing.body, /token/);
      const wrong = await tryUpgrade(wsUrl(server, { token: 'correct-horse-battery!' }));
      assert.deepEqual([wrong.status, wrong.opened], [401, false]);
      assert.equal(hub.clients().length, 0, 'no client was registered');
      // The token also works as a bearer header.
      const bearer = await tryUpgrade(wsUrl(server, { token: null }), { authorization: 'Bearer correct-horse-battery' });
      assert.equal(bearer.status, 101);
    });

    it('refuses a browser origin other than the page own with 403, and accepts a listed one', async () => {
      const { server } = await serve({}, { allowedOrigins: ['https://grafana.example.com'] });
      const foreign = await tryUpgrade(wsUrl(server), { origin: 'https://evil.example.com' });
      assert.deepEqual([foreign.status, foreign.opened], [403, false]);
      const same = await tryUpgrade(wsUrl(server), { origin: `http://127.0.0.1:${server.port}` });
      assert.equal(same.status, 101);
      const listed = await tryUpgrade(wsUrl(server), { origin: 'https://grafana.example.com' });
      assert.equal(listed.status, 101);
      const samePortOtherHost = await tryUpgrade(wsUrl(server), { origin: `http://localhost.evil.com:${server.port}` });
      assert.equal(samePortOtherHost.status, 403);
    });

    it('greets a client with welcome and a snapshot, counts it, and forgets it when it disconnects', async () => {
      const closed = [];
      const { hub, server } = await serve();
      hub.on('clientClosed', (info) => closed.push(info));
      const c = client(server);
      await c.opened;
      const welcome = await c.waitType('welcome');
      assert.equal(welcome.mode, 'snapshot');
      assert.equal(welcome.sessionId, hub.sessionId);
      const snapshot = await c.waitType('snapshot');
      assert.equal(snapshot.seq, hub.seq);
      assert.equal(snapshot.payload.state, 'idle');
      assert.deepEqual(snapshot.payload.runs, []);
      assert.equal(hub.clients().length, 1);
      c.ws.close(1000, 'bye');
      await waitFor(() => closed.length === 1, { timeoutMs: 10_000, message: 'the hub to see the close' });
      assert.equal(closed[0].code, 1000);
      assert.equal(closed[0].dropped, false);
      assert.equal(hub.clients().length, 0);
    });

    it('sends a snapshot to a client that says nothing within helloTimeoutMs', async () => {
      const { server } = await serve({}, { helloTimeoutMs: 100 });
      const c = client(server, { hello: false });
      await c.opened;
      const snapshot = await c.waitType('snapshot');
      assert.equal(snapshot.payload.state, 'idle');
    });
  });

  describe('messages', () => {
    it('broadcasts every message to several clients in seq order, with sessionId, runId, runIndex and time', async () => {
      const { hub, server } = await serve();
      const trainer = smallTrainer();
      hub.watch(trainer, { batchSize: 16 });
      const clients = [client(server), client(server), client(server)];
      await Promise.all(clients.map((c) => c.opened.then(() => c.waitType('snapshot'))));
      const before = Date.now();
      const run = await trainer.train({ x: spirals.x, y: spirals.y }, { epochs: 3, batchSize: 16 });
      for (const c of clients) await c.wait((m) => m.type === 'runEnd', 'runEnd');
      const first = clients[0].broadcasts();
      const seqs = first.map((m) => m.seq);
      const start = clients[0].of('snapshot')[0].seq;
      assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => start + 1 + i), 'seq rises by one per message, none missing');
      for (const c of clients.slice(1)) assert.deepEqual(c.broadcasts().map((m) => [m.seq, m.type]), first.map((m) => [m.seq, m.type]), 'every client gets the same messages');
      const types = first.map((m) => m.type);
      assert.equal(types.filter((t) => t === 'runStart').length, 1);
      assert.equal(types[types.length - 1], 'runEnd');
      assert.ok(types.indexOf('runStart') < types.indexOf('step'));
      assert.equal(types.filter((t) => t === 'epoch').length, 3);
      for (const m of first) {
        assert.equal(m.v, 1);
        assert.equal(m.sessionId, hub.sessionId);
        assert.ok(m.time >= before - 1000 && m.time <= Date.now() + 1000, 'time is wall-clock milliseconds');
        if (['runStart', 'step', 'epoch', 'runEnd'].includes(m.type)) {
          assert.equal(m.runId, run.runId, `${m.type} carries the run id`);
          assert.equal(m.runIndex, null);
        }
      }
      const steps = first.filter((m) => m.type === 'step').map((m) => m.payload.step);
      assert.ok(steps.every((s, i) => i === 0 || s > steps[i - 1]), 'steps increase');
      assert.equal(steps[steps.length - 1], run.steps, 'the last step is always sent');
      const end = first[first.length - 1].payload;
      assert.equal(end.status, 'completed');
      assert.equal(end.hubState, 'finished');
      assert.equal(end.finalLoss, run.finalLoss);
    });

    it('replays exactly the missed messages to a client that reconnects with its last seq', async () => {
      const { hub, server } = await serve();
      const a = client(server);
      await a.opened;
      await a.waitType('snapshot');
      hub.log('first');
      hub.log('second');
      const seen = await a.wait((m) => m.type === 'log' && m.payload.message === 'second', 'the second log');
      await a.close();
      hub.log('third');
      hub.log('fourth');
      hub.publish('x-note', { text: 'fifth' });
      const b = client(server, { lastSeq: seen.seq, sessionId: hub.sessionId });
      await b.opened;
      const welcome = await b.waitType('welcome');
      assert.equal(welcome.mode, 'replay');
      assert.equal(welcome.replayFrom, seen.seq + 1);
      assert.equal(welcome.replayCount, 3);
      await b.wait((m) => m.type === 'x-note', 'the replayed x-note');
      hub.log('live');
      await b.wait((m) => m.type === 'log' && m.payload.message === 'live', 'the live message');
      assert.equal(b.of('snapshot').length, 0, 'no snapshot on replay');
      assert.deepEqual(
        b.broadcasts().map((m) => [m.seq, m.payload.message ?? m.payload.text]),
        [
          [seen.seq + 1, 'third'],
          [seen.seq + 2, 'fourth'],
          [seen.seq + 3, 'fifth'],
          [seen.seq + 4, 'live'],
        ],
      );
    });

    it('sends a fresh snapshot when the last seq is older than the ring buffer, or from another session', async () => {
      const { hub, server } = await serve({ bufferSize: 16, logSize: 5 });
      for (let i = 1; i <= 40; i++) hub.log(`line ${i}`);
      const old = client(server, { lastSeq: 2, sessionId: hub.sessionId });
      await old.opened;
      const welcome = await old.waitType('welcome');
      assert.equal(welcome.mode, 'snapshot');
      assert.equal(welcome.oldestSeq, 25);
      const snapshot = await old.waitType('snapshot');
      assert.equal(snapshot.seq, 40);
      assert.deepEqual(snapshot.payload.log.map((m) => m.payload.message), ['line 36', 'line 37', 'line 38', 'line 39', 'line 40']);
      assert.equal(old.broadcasts().length, 0);

      const other = client(server, { lastSeq: 39, sessionId: 'a-previous-server' });
      await other.opened;
      assert.equal((await other.waitType('welcome')).mode, 'snapshot');
      await other.waitType('snapshot');
    });

    it('answers malformed, binary, unknown and too frequent messages with errors, closes an oversize one with 1009, and keeps serving', async () => {
      const { hub, server } = await serve({}, { maxPayload: 1024, messageRate: 5 });
      const c = client(server);
      await c.opened;
      await c.waitType('snapshot');
      c.send('{not json');
      c.send({ type: 'launch' });
      c.send({ type: 'command', id: 7, command: 'explode' });
      c.send({ type: 'command', id: 8, command: 'pause', extra: true });
      c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
      await waitFor(() => c.of('error').length === 5, { timeoutMs: 10_000, message: () => `5 errors, got ${JSON.stringify(c.of('error'))}` });
      const errors = c.of('error');
      assert.equal(errors[0].code, 'BAD_JSON');
      assert.equal(errors[1].code, 'BAD_MESSAGE');
      assert.match(errors[1].message, /Unknown message type "launch"/);
      assert.deepEqual([errors[2].code, errors[2].id], ['BAD_MESSAGE', 7]);
      assert.match(errors[2].message, /pause, resume, abort, setLearningRate/);
      assert.deepEqual([errors[3].code, errors[3].id], ['BAD_MESSAGE', 8]);
      assert.match(errors[4].message, /text frames/);
      // The burst allowance (twice the rate) is spent: the next ones are rate limited.
      for (let i = 0; i < 8; i++) c.send({ type: 'ping', id: i });
      await waitFor(() => c.of('error').some((e) => e.code === 'RATE_LIMITED'), { timeoutMs: 10_000, message: 'a RATE_LIMITED error' });

      const big = client(server);
      await big.opened;
      await big.waitType('snapshot');
      big.send({ type: 'ping', id: 'x'.repeat(5000) });
      await big.waitClosed();
      assert.equal(big.closed.code, 1009);

      const after = client(server);
      await after.opened;
      await after.waitType('snapshot');
      after.send({ type: 'ping', id: 'still-alive' });
      const pong = await after.waitType('pong');
      assert.equal(pong.id, 'still-alive');
      assert.equal(pong.seq, hub.seq);
    });
  });

  describe('commands', () => {
    it('pauses, changes the learning rate and resumes a run, with an ack to the sender and a command message for every client', async () => {
      const { hub, server } = await serve({}, { messageRate: 100 });
      const trainer = smallTrainer();
      hub.watch(trainer, { label: 'spirals' });
      const sender = client(server);
      const watcher = client(server);
      await Promise.all([sender, watcher].map((c) => c.opened.then(() => c.waitType('snapshot'))));
      const run = longRun(trainer);
      track(async () => {
        trainer.abort('test over');
        await run.catch(() => undefined);
      });
      await watcher.waitType('runStart');

      sender.send({ type: 'command', id: 'p1', command: 'pause' });
      const ack = await sender.wait((m) => m.type === 'ack' && m.id === 'p1', 'the pause ack');
      assert.deepEqual(ack.targets, ['spirals']);
      await waitFor(() => trainer.status.state === 'paused', { timeoutMs: 10_000, message: 'the trainer to pause' });
      const logged = await watcher.wait((m) => m.type === 'command' && m.payload.command === 'pause', 'the logged pause');
      assert.equal(logged.payload.ok, true);
      assert.match(logged.payload.from, /^client \d+ \(127\.0\.0\.1:\d+\)$/);
      await watcher.wait((m) => m.type === 'state' && m.payload.state === 'paused' && m.payload.hubState === 'paused', 'the paused state');
      const pausedAt = trainer.status.step;

      sender.send({ type: 'command', id: 'lr', command: 'setLearningRate', learningRate: 0.0025, target: 'spirals' });
      await sender.wait((m) => m.type === 'ack' && m.id === 'lr', 'the setLearningRate ack');
      assert.equal(trainer.status.learningRate, 0.0025);
      sender.send({ type: 'command', id: 'bad-lr', command: 'setLearningRate', learningRate: 50 });
      const badLr = await sender.wait((m) => m.type === 'error' && m.id === 'bad-lr', 'the learning rate error');
      assert.equal(badLr.code, 'INVALID_VALUE');
      assert.match(badLr.message, /\(0, 10\]/);
      sender.send({ type: 'command', id: 'who', command: 'pause', target: 'nobody' });
      const unknown = await sender.wait((m) => m.type === 'error' && m.id === 'who', 'the unknown target error');
      assert.equal(unknown.code, 'UNKNOWN_TARGET');
      assert.match(unknown.message, /spirals/);
      await watcher.wait((m) => m.type === 'command' && m.payload.code === 'UNKNOWN_TARGET', 'the failed command logged');
      assert.equal(trainer.status.step, pausedAt, 'no step while paused');

      sender.send({ type: 'command', id: 'r1', command: 'resume' });
      await sender.wait((m) => m.type === 'ack' && m.id === 'r1', 'the resume ack');
      await waitFor(() => trainer.status.step > pausedAt, { timeoutMs: 10_000, message: 'training to go on' });
      await watcher.wait((m) => m.type === 'state' && m.payload.state === 'running' && m.seq > logged.seq, 'the running state');
    });

    it('aborts the run from a client: train() rejects with an AbortError and every client sees the run end as aborted', async () => {
      const { hub, server } = await serve();
      const trainer = smallTrainer();
      hub.watch(trainer);
      const sender = client(server);
      const watcher = client(server);
      await Promise.all([sender, watcher].map((c) => c.opened.then(() => c.waitType('snapshot'))));
      const run = longRun(trainer);
      await watcher.waitType('runStart');
      sender.send({ type: 'command', id: 1, command: 'abort', reason: 'loss looks wrong' });
      const ack = await sender.wait((m) => m.type === 'ack' && m.id === 1, 'the abort ack');
      assert.deepEqual(ack.targets, ['trainer-1']);
      await assert.rejects(run, (error) => error.name === 'AbortError' && error.run.steps > 0);
      const end = await watcher.waitType('runEnd');
      assert.equal(end.payload.status, 'aborted');
      assert.equal(end.payload.reason, 'loss looks wrong');
      assert.match(end.payload.abortedBy, /^client \d+/);
      assert.equal(end.payload.hubState, 'aborted');
      assert.equal(hub.state, 'aborted');
      sender.send({ type: 'command', id: 2, command: 'abort' });
      const late = await sender.wait((m) => m.type === 'error' && m.id === 2, 'the not-running error');
      assert.equal(late.code, 'NOT_RUNNING');
    });

    it('refuses commands on a read-only hub', async () => {
      const { hub, server } = await serve({ allowCommands: false });
      const trainer = smallTrainer();
      hub.watch(trainer);
      const c = client(server);
      await c.opened;
      await c.waitType('snapshot');
      const run = longRun(trainer);
      track(async () => {
        trainer.abort('test over');
        await run.catch(() => undefined);
      });
      await c.waitType('runStart');
      c.send({ type: 'command', id: 'x', command: 'abort' });
      const error = await c.wait((m) => m.type === 'error' && m.id === 'x', 'the refusal');
      assert.equal(error.code, 'COMMANDS_DISABLED');
      assert.equal(trainer.status.state, 'running');
    });
  });

  describe('backpressure', () => {
    it('coalesces the steps of a stalled client, then closes it with 1013, while training keeps the step rate of a control period', async function () {
      const highWaterMark = 64 * 1024;
      const { hub, server } = await serve({ maxStepRate: 500 }, { highWaterMark, stallTimeoutMs: 3000, maxQueue: 1_000_000, closeGraceMs: 60_000 });
      const closes = [];
      hub.on('clientClosed', (info) => closes.push(info));
      const trainer = smallTrainer();
      hub.watch(trainer);
      const healthy = client(server);
      await healthy.opened;
      await healthy.waitType('snapshot');
      const healthyId = hub.clients()[0].id;
      const run = longRun(trainer);
      track(async () => {
        trainer.abort('test over');
        await run.catch(() => undefined);
      });
      await healthy.waitType('step');

      const stepRate = async (ms) => {
        const s0 = trainer.status.step;
        const t0 = performance.now();
        await new Promise((resolve) => setTimeout(resolve, ms));
        return (trainer.status.step - s0) / (performance.now() - t0);
      };
      const control = await stepRate(1500);
      assert.ok(control > 0, 'the control period trained');

      const stalled = client(server);
      await stalled.opened;
      await stalled.waitType('snapshot');
      const stalledInfo = () => hub.clients().find((c) => c.id !== healthyId);
      stalled.ws.pause(); // stops reading: the server's socket buffers fill up
      const t0 = performance.now();
      const s0 = trainer.status.step;
      // Large application messages fill the kernel buffers quickly; steps then queue behind them.
      for (let i = 0; i < 2000 && stalledInfo().bufferedAmount <= highWaterMark; i++) {
        hub.publish('x-fill', { pad: 'x'.repeat(100_000) });
        await new Promise((resolve) => setImmediate(resolve));
      }
      assert.ok(stalledInfo().bufferedAmount > highWaterMark, 'the stalled client fell behind');
      const coalescing = await waitFor(() => stalledInfo().coalesced > 0 && stalledInfo(), { timeoutMs: 30_000, message: () => `step messages to coalesce (${JSON.stringify(hub.clients())})` });
      const dropped = await waitFor(() => stalledInfo().dropReason !== null && stalledInfo(), { timeoutMs: 30_000, message: 'the stalled client to be dropped' });
      const during = (trainer.status.step - s0) / (performance.now() - t0);
      assert.match(dropped.dropReason, /too slow/);
      assert.ok(during > control * 0.25, `the step rate with a stalled client (${during.toFixed(1)}/ms) stays near the control (${control.toFixed(1)}/ms)`);

      stalled.ws.resume(); // read what was sent: the close frame comes last
      await stalled.waitClosed(30_000);
      assert.equal(stalled.closed.code, 1013);
      await waitFor(() => closes.some((c) => c.dropped), { timeoutMs: 10_000, message: 'the hub to count the drop' });
      assert.equal(hub.stats.droppedClients, 1);

      // The healthy client was never held up: it keeps receiving current messages.
      const seqNow = hub.seq;
      await healthy.wait((m) => m.seq > seqNow, 'a message after the drop');
      assert.equal(healthy.closed, null);
      assert.equal(healthy.of('x-fill').length > 0, true);
    });
  });

  describe('/metrics', () => {
    it('serves training and GPU metrics in Prometheus text format, with the token', async () => {
      const { hub, server } = await serve();
      const trainer = smallTrainer();
      hub.watch(trainer, { label: 'spirals', batchSize: 16 });
      const monitor = new bp.GPUMonitor({ source: bp.scriptedGpuSource([{ deviceName: 'Sim', temperatureC: 85, vramUsedGb: 20, vramTotalGb: 80, powerDrawW: 300, powerLimitW: 400, gpuUtilization: 90 }]), config: { checkIntervalMs: 20, logWarnings: false } });
      hub.watch(monitor);
      monitor.start();
      track(() => monitor.stop());
      const run = await trainer.train({ x: spirals.x, y: spirals.y }, { epochs: 1, batchSize: 16 });
      await waitFor(() => hub.snapshot().gpus.length === 1, { timeoutMs: 10_000, message: 'a GPU sample' });

      const url = `http://127.0.0.1:${server.port}/metrics`;
      const refused = await fetch(url);
      assert.equal(refused.status, 401);
      assert.match(refused.headers.get('www-authenticate'), /Bearer/);
      const res = await fetch(url, { headers: { authorization: `Bearer ${server.token}` } });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      const value = (pattern) => {
        const line = text.split('\n').find((l) => l.startsWith(pattern));
        assert.ok(line, `a line starting ${pattern} in\n${text}`);
        return Number(line.slice(line.lastIndexOf(' ') + 1));
      };
      assert.equal(value('backprop_training_steps_total{source="spirals"}'), run.steps);
      assert.equal(value('backprop_training_runs_total{source="spirals",status="completed"}'), 1);
      assert.ok(Math.abs(value('backprop_training_loss{source="spirals"}') - run.finalLoss) < 1e-6);
      assert.equal(value('backprop_training_learning_rate{source="spirals"}'), 0.01);
      assert.equal(value('backprop_training_state{source="spirals",state="idle"}'), 1);
      assert.equal(value('backprop_gpu_temperature_celsius{device="0",name="Sim"}'), 85);
      assert.equal(value('backprop_gpu_memory_used_bytes{device="0",name="Sim"}'), 20 * 1024 ** 3);
      assert.equal(value('backprop_gpu_power_watts{device="0",name="Sim"}'), 300);
      assert.equal(value('backprop_gpu_condition{device="0",name="Sim",condition="warning"}'), 1);
      assert.equal(value('backprop_gpu_condition_severity{device="0",name="Sim"}'), 2);
      assert.ok(value('backprop_dashboard_messages_total') >= 3);
    });

    it('serves /metrics without the token when metricsAuth is false', async () => {
      const { server } = await serve({}, { metricsAuth: false });
      const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
      assert.equal(res.status, 200);
      assert.match(await res.text(), /backprop_dashboard_clients 0/);
    });
  });

  describe('options', () => {
    it('rejects bad hub, server and watch options with a BackpropError saying what to pass', async () => {
      assert.throws(() => createEventHub({ bufferSize: 2 }), { code: 'CONFIG_INVALID', message: /bufferSize must be an integer >= 16/ });
      assert.throws(() => createEventHub({ colour: 'red' }), { code: 'CONFIG_INVALID', message: /Unknown event hub option 'colour'/ });
      const hub = createEventHub();
      track(() => hub.close());
      await assert.rejects(hub.listen({ port: 70000 }), { code: 'CONFIG_INVALID', message: /port must be an integer from 0 to 65535/ });
      await assert.rejects(hub.listen({ token: 'short' }), { code: 'CONFIG_INVALID', message: /8 to 512 printable ASCII/ });
      await assert.rejects(hub.listen({ tokn: 'typo' }), { code: 'CONFIG_INVALID', message: /Unknown dashboard option 'tokn'/ });
      assert.throws(() => hub.watch({}), { code: 'CONFIG_INVALID', message: /Trainer, MultiRunTrainer or GPUMonitor/ });
      assert.throws(() => hub.attach({}), { code: 'CONFIG_INVALID', message: /http\.Server/ });
      const taken = await hub.listen();
      await assert.rejects(hub.listen({ port: taken.port }), { code: 'CONFIG_INVALID', message: /already in use/ });
      await hub.close();
      assert.throws(() => hub.watch(smallTrainer()), { code: 'CONFIG_INVALID', message: /closed/ });
    });
  });
});
