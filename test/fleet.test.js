'use strict';
// Fleet mode end to end on a real redis-server and real BullMQ: jobs spread
// over worker processes, a listener in another process, remote commands and
// their latency, bad jobs with their codes, a password, network namespaces.
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Queue } = require('bullmq');
const { Trainer, datasets } = require('../dist');
const { TrainingQueue, TrainingWorker } = require('../dist/fleet');
const { startRedis, available } = require('./helpers/redis');
const { startWorkerChild, runListenerChild, trainJob, once, until } = require('./helpers/fleet');

const tmp = (p) => fs.mkdtempSync(path.join(os.tmpdir(), p));

async function localRun(job) {
  const trainer = new Trainer(job.trainer);
  const { dataset, ...args } = job.data;
  return trainer.train(datasets[dataset](args), job.train);
}

describe('fleet: jobs across worker processes', function () {
  this.timeout(120000);
  let redis, workers, queue, ckpt;
  before(async function () {
    if (!available()) {
      console.log('      redis-server is not installed (apt-get install redis-server): skipped');
      this.skip();
    }
    redis = await startRedis();
    ckpt = tmp('bp-fleet-ckpt-');
    workers = ['w1', 'w2', 'w3'].map((hostName) => startWorkerChild({ connection: redis.url, hostName, checkpointRoot: ckpt }));
    await Promise.all(workers.map((w) => w.ready));
    queue = new TrainingQueue({ connection: redis.url });
  });
  after(async () => {
    await queue?.close();
    await Promise.all((workers ?? []).map((w) => w.kill()));
    await redis?.stop();
    if (ckpt) fs.rmSync(ckpt, { recursive: true, force: true });
  });

  it('60 jobs over 3 workers: one terminal event each at a listener in another process, seq increasing, results equal local runs', async () => {
    const jobs = Array.from({ length: 60 }, (_, i) => trainJob({ seed: i + 1, samples: 300, epochs: 2 }));
    const handles = [];
    for (const job of jobs) handles.push(await queue.submit(job));
    const records = await runListenerChild(redis.url, handles.map((h) => h.id));
    const hosts = new Set();
    for (const [i, handle] of handles.entries()) {
      const rec = records.get(handle.id);
      assert.ok(rec, `no record for job ${i}`);
      assert.equal(rec.error, null, `job ${i} failed: ${JSON.stringify(rec.error)}`);
      const terminal = rec.events.filter((e) => e.type === 'complete' || e.type === 'error');
      assert.equal(terminal.length, 1, `job ${i}: ${terminal.length} terminal events`);
      assert.equal(rec.events[rec.events.length - 1].type, 'complete');
      for (let k = 1; k < rec.events.length; k++) assert.ok(rec.events[k].seq > rec.events[k - 1].seq, `job ${i}: seq not increasing`);
      assert.deepEqual(rec.events.filter((e) => e.type === 'epoch').map((e) => e.epoch), [1, 2], `job ${i}: epochs`);
      for (const e of rec.events) hosts.add(e.host);
      const local = await localRun(jobs[i]);
      assert.deepEqual(rec.result.lossHistory, [...local.lossHistory], `job ${i}: loss history differs from a local run`);
      assert.equal(rec.result.steps, local.steps);
      // The submitting process's own handle saw the same outcome.
      assert.deepEqual((await handle.result()).lossHistory, rec.result.lossHistory);
    }
    assert.ok(hosts.size >= 2, `jobs ran on ${[...hosts].join(', ')} only`);
  });
});

describe('fleet: remote commands and bad jobs', function () {
  this.timeout(60000);
  let redis, worker, queue, dataRoot, ckpt, raw;
  before(async function () {
    if (!available()) this.skip();
    redis = await startRedis();
    dataRoot = tmp('bp-fleet-data-');
    ckpt = tmp('bp-fleet-ckpt-');
    fs.writeFileSync(path.join(dataRoot, 'good.csv'), 'a,b,label\n' + Array.from({ length: 60 }, (_, i) => `${(i % 7) / 7},${(i % 5) / 5},${i % 3}`).join('\n') + '\n');
    fs.writeFileSync(path.join(dataRoot, 'broken.csv'), 'a,b,label\n0.1,0.2,1\n0.3,oops,2\n');
    fs.symlinkSync('/etc/hostname', path.join(dataRoot, 'leak.csv'));
    worker = new TrainingWorker({ connection: redis.url, dataRoot, checkpointRoot: ckpt, hostName: 'local' });
    await worker.waitUntilReady();
    queue = new TrainingQueue({ connection: redis.url });
    raw = new Queue('backprop', { connection: { host: '127.0.0.1', port: redis.port } });
  });
  after(async () => {
    await raw?.close();
    await queue?.close();
    await worker?.close({ force: true });
    await redis?.stop();
    for (const d of [dataRoot, ckpt]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  it('pause, setLearningRate, resume and abort reach the worker within 1 s; abort fails the job and is not retried', async () => {
    const handle = await queue.submit(trainJob({ samples: 3000, hidden: [64, 64], epochs: 100000 }));
    await once(handle, 'step');
    const timed = async (event, send) => {
      const t0 = performance.now();
      const got = once(handle, event, 10000);
      await send();
      await got;
      return performance.now() - t0;
    };
    const latencies = [];
    latencies.push(await timed('paused', () => handle.pause()));
    let stepsWhilePaused = 0;
    const count = () => stepsWhilePaused++;
    handle.on('step', count);
    await new Promise((r) => setTimeout(r, 400));
    handle.off('step', count);
    assert.equal(stepsWhilePaused, 0, 'steps went on while paused');
    assert.equal(handle.status.state, 'paused');
    latencies.push(await timed('learningRate', () => handle.setLearningRate(0.002)));
    latencies.push(await timed('resumed', () => handle.resume()));
    await once(handle, 'step');
    const t0 = performance.now();
    await handle.abort('enough');
    const error = await handle.result().then(() => null, (e) => e);
    latencies.push(performance.now() - t0);
    for (const ms of latencies) assert.ok(ms < 1000, `a command took ${ms.toFixed(0)} ms (${latencies.map((l) => l.toFixed(0)).join(', ')})`);
    assert.equal(error.name, 'AbortError');
    assert.equal(error.code, 'ABORT_ERR');
    assert.equal(error.reason, 'enough');
    assert.equal(error.run.metadata.learningRate, 0.002);
    const job = await raw.getJob(handle.id);
    await until(async () => (await job.getState()) === 'failed', 10000, 'the aborted job to be failed');
    await new Promise((r) => setTimeout(r, 1500)); // a retry would have started by now
    assert.equal(await raw.getJob(handle.id).then((j) => j.getState()), 'failed');
    assert.equal(handle.status.attempt, 1);
  });

  it('a bad job rejects at submit with CONFIG_INVALID naming the field, and nothing is enqueued', async () => {
    const before = await queue.counts();
    const cases = [
      [{ ...trainJob(), train: { epoch: 3 } }, 'train.epoch', 'epochs'],
      [{ ...trainJob(), trainer: { model: { hiddenLayers: [4], outputSize: 3 } } }, 'trainer.model.inputSize'],
      [{ ...trainJob(), data: { dataset: 'mnist' } }, 'data.dataset'],
      [{ ...trainJob(), atempts: 2 }, 'atempts', 'attempts'],
      [{ ...trainJob(), train: { outputDir: '/tmp/x' } }, 'train.outputDir'],
      [{ ...trainJob(), kind: 'predict' }, 'kind'],
    ];
    for (const [job, field, suggestion] of cases) {
      const error = await queue.submit(job).then(() => null, (e) => e);
      assert.equal(error?.code, 'CONFIG_INVALID', `${field}: ${error}`);
      assert.equal(error.details.field, field);
      if (suggestion) assert.equal(error.details.suggestion, suggestion);
    }
    assert.deepEqual(await queue.counts(), before);
  });

  it('malformed job data, path traversal, a symlink out, a file that fails to parse: that job fails with its code, the worker goes on', async () => {
    const rawJob = async (data) => {
      const id = `raw-${Math.random().toString(36).slice(2)}`;
      await raw.add('train', data, { jobId: id, attempts: 3 });
      return queue.attach(id);
    };
    const csv = (file) => ({ ...trainJob(), data: { path: file } });
    const outcomes = [
      [await rawJob('{not json'), 'CONFIG_INVALID'],
      [await rawJob({ v: 1, job: { kind: 'train', trainer: {} } }), 'CONFIG_INVALID'],
      [await queue.submit(csv('../../etc/passwd')), 'JOB_PATH_FORBIDDEN'],
      [await queue.submit(csv('/etc/passwd')), 'JOB_PATH_FORBIDDEN'],
      [await queue.submit(csv('leak.csv')), 'JOB_PATH_FORBIDDEN'],
      [await queue.submit(csv('broken.csv')), 'INPUT_PARSE'],
    ];
    for (const [handle, code] of outcomes) {
      const error = await handle.result().then(() => null, (e) => e);
      assert.equal(error?.code, code, `${handle.id}: ${error}`);
      assert.equal(error.name, 'BackpropError');
      assert.ok(error.message.length > 20);
      assert.equal(handle.status.attempt, 1, 'a permanent failure is not retried');
    }
    const good = await queue.submit(csv('good.csv'));
    const run = await good.result();
    assert.equal(run.steps, 4);
    assert.equal((await queue.attach(good.id)).id, good.id);
    const missing = await queue.attach('no-such-job').then(() => null, (e) => e);
    assert.equal(missing.code, 'JOB_NOT_FOUND');
  });
});

describe('fleet: a Redis password', function () {
  this.timeout(30000);
  it('queue and worker connect with requirepass, by URL and by options', async function () {
    if (!available()) this.skip();
    const redis = await startRedis({ password: 's3cret/pass' });
    const ckpt = tmp('bp-fleet-ckpt-');
    const worker = new TrainingWorker({ connection: redis.url, checkpointRoot: ckpt, hostName: 'pw' });
    const queue = new TrainingQueue({ connection: { host: '127.0.0.1', port: redis.port, password: 's3cret/pass' } });
    try {
      const handle = await queue.submit(trainJob());
      const run = await handle.result();
      assert.equal(run.metadata.outcome, 'completed');
      assert.equal(handle.status.host, 'pw');
    } finally {
      await queue.close();
      await worker.close();
      await redis.stop();
      fs.rmSync(ckpt, { recursive: true, force: true });
    }
  });
});

describe('fleet: workers in their own network namespaces', function () {
  this.timeout(60000);
  const names = ['bpfleetA', 'bpfleetB'];
  let made = [];
  after(() => {
    for (const ns of made) spawnSync('ip', ['netns', 'del', ns]);
    for (const [i] of names.entries()) spawnSync('ip', ['link', 'del', `bpveth${i}`]);
  });

  it('two workers reach Redis over veth pairs and share the jobs', async function () {
    const probe = spawnSync('ip', ['netns', 'add', names[0]], { encoding: 'utf8' });
    if (probe.status !== 0 || !available()) {
      console.log(`      ip netns add does not work here (${(probe.stderr || probe.error?.message || 'no redis-server').trim()}): skipped`);
      this.skip();
    }
    made.push(names[0]);
    const sh = (...args) => {
      const r = spawnSync(args[0], args.slice(1), { encoding: 'utf8' });
      assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    };
    sh('ip', 'netns', 'add', names[1]);
    made.push(names[1]);
    for (const [i, ns] of names.entries()) {
      sh('ip', 'link', 'add', `bpveth${i}`, 'type', 'veth', 'peer', 'name', `bpvethp${i}`);
      sh('ip', 'link', 'set', `bpvethp${i}`, 'netns', ns);
      sh('ip', 'addr', 'add', `10.231.${i}.1/24`, 'dev', `bpveth${i}`);
      sh('ip', 'link', 'set', `bpveth${i}`, 'up');
      sh('ip', 'netns', 'exec', ns, 'ip', 'addr', 'add', `10.231.${i}.2/24`, 'dev', `bpvethp${i}`);
      sh('ip', 'netns', 'exec', ns, 'ip', 'link', 'set', `bpvethp${i}`, 'up');
      sh('ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
    }
    // Redis's protected mode refuses clients from other interfaces unless a password is set.
    const redis = await startRedis({ bind: '127.0.0.1 10.231.0.1 10.231.1.1', password: 'ns-pass' });
    const ckpt = tmp('bp-fleet-ckpt-');
    const workers = names.map((ns, i) =>
      startWorkerChild({ connection: `redis://:ns-pass@10.231.${i}.1:${redis.port}`, hostName: ns, checkpointRoot: ckpt }, ['ip', 'netns', 'exec', ns]),
    );
    const queue = new TrainingQueue({ connection: redis.url });
    try {
      await Promise.all(workers.map((w) => w.ready));
      const handles = [];
      for (let i = 0; i < 8; i++) handles.push(await queue.submit(trainJob({ seed: i + 1, samples: 600, epochs: 3 })));
      const runs = await Promise.all(handles.map((h) => h.result()));
      assert.ok(runs.every((r) => r.metadata.outcome === 'completed'));
      const hosts = new Set(handles.map((h) => h.status.host));
      assert.ok([...hosts].every((h) => names.includes(h)), [...hosts].join(','));
    } finally {
      await queue.close();
      await Promise.all(workers.map((w) => w.kill()));
      await redis.stop();
      fs.rmSync(ckpt, { recursive: true, force: true });
    }
  });
});
