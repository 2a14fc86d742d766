'use strict';
// Fleet faults on a real redis-server: a worker SIGKILLed mid-job (stalled
// check, retry elsewhere, resume from the checkpoint with the same loss
// history), Redis killed and restarted mid-job, and a hot GPU (simulated).
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Trainer, datasets, simulatedGPU } = require('../dist');
const { TrainingQueue, TrainingWorker } = require('../dist/fleet');
const { startRedis, available } = require('./helpers/redis');
const { startWorkerChild, trainJob, once, until } = require('./helpers/fleet');

const tmp = (p) => fs.mkdtempSync(path.join(os.tmpdir(), p));
// Detection of a dead worker within lockDuration + stalledInterval (about 5 s here).
const FAST_STALL = { lockDuration: 4000, stalledInterval: 1000 };
// A job long enough to be interrupted (a few seconds on 2 cores), checkpointing every 40 steps.
const longJob = () => trainJob({ seed: 5, samples: 2000, hidden: [256, 256], epochs: 12, train: { saveEverySteps: 40 } });

async function localRun(job) {
  const { dataset, ...args } = job.data;
  const { saveEverySteps, ...train } = job.train; // checkpoints do not change the run
  return new Trainer(job.trainer).train(datasets[dataset](args), train);
}

describe('fleet faults', function () {
  this.timeout(90000);
  before(function () {
    if (!available()) {
      console.log('      redis-server is not installed (apt-get install redis-server): skipped');
      this.skip();
    }
  });

  it('a worker SIGKILLed mid-job: the job resumes on another worker from its last checkpoint, with the loss history of an uninterrupted run', async () => {
    const redis = await startRedis();
    const ckpt = tmp('bp-fleet-ckpt-');
    const workers = ['k1', 'k2'].map((hostName) => startWorkerChild({ connection: redis.url, hostName, checkpointRoot: ckpt, ...FAST_STALL }));
    const queue = new TrainingQueue({ connection: redis.url });
    try {
      await Promise.all(workers.map((w) => w.ready));
      const job = longJob();
      const handle = await queue.submit(job);
      const events = [];
      handle.on('event', (e) => events.push(e));
      const [savedPath] = await once(handle, 'save', 60000);
      const first = handle.status.host;
      const victim = workers.find((w) => w.host === first);
      await victim.kill('SIGKILL');
      const killedAt = Date.now();
      const [info] = await once(handle, 'attempt', 60000);
      const detectedMs = Date.now() - killedAt;
      assert.notEqual(info.host, first, 'the retry ran on the worker that was killed');
      assert.ok(detectedMs < 30000, `stall detected after ${detectedMs} ms`);
      const run = await handle.result();
      const local = await localRun(job);
      assert.deepEqual(run.lossHistory, [...local.lossHistory]);
      assert.equal(run.steps, local.steps);
      // Resumed from a checkpoint no older than the last one the listener saw before the kill.
      const savedBefore = events.filter((e) => e.type === 'save' && e.attempt === 1).map((e) => Number(/checkpoint-(\d+)$/.exec(e.data.path)[1]));
      const resumedStep = Number(/checkpoint-(\d+)$/.exec(run.metadata.resumedFrom)[1]);
      assert.ok(resumedStep >= Math.max(...savedBefore), `resumed from ${resumedStep}, saw ${savedBefore}`);
      assert.ok(savedPath.includes(handle.id), 'checkpoints are under checkpointRoot/<jobId>/');
      for (let k = 1; k < events.length; k++) assert.ok(events[k].seq > events[k - 1].seq);
      assert.equal(events.filter((e) => e.type === 'complete').length, 1);
    } finally {
      await queue.close();
      await Promise.all(workers.map((w) => w.kill()));
      await redis.stop();
      fs.rmSync(ckpt, { recursive: true, force: true });
    }
  });

  it('Redis killed and restarted mid-job: the job finishes and the listener sees every critical event once', async () => {
    let redis = await startRedis({ appendonly: true, keepDir: true });
    const dir = redis.dir;
    const ckpt = tmp('bp-fleet-ckpt-');
    const worker = startWorkerChild({ connection: redis.url, hostName: 'r1', checkpointRoot: ckpt });
    const queue = new TrainingQueue({ connection: redis.url });
    try {
      await worker.ready;
      const job = longJob();
      const handle = await queue.submit(job);
      const critical = [];
      handle.on('event', (e) => {
        if (['epoch', 'save', 'complete', 'error'].includes(e.type)) critical.push(e);
      });
      await once(handle, 'epoch', 60000);
      await redis.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, 1000));
      redis = await redis.restart();
      const run = await handle.result();
      const local = await localRun(job);
      assert.deepEqual(run.lossHistory, [...local.lossHistory]);
      const epochs = critical.filter((e) => e.type === 'epoch').map((e) => e.data.epoch);
      assert.deepEqual(epochs, Array.from({ length: 12 }, (_, i) => i + 1));
      const saves = critical.filter((e) => e.type === 'save').map((e) => e.data.path);
      assert.equal(new Set(saves).size, saves.length, 'a save event came twice');
      const steps = saves.map((p) => Number(/checkpoint-(\d+)$/.exec(p)[1]));
      for (let s = 40; s <= local.steps; s += 40) assert.ok(steps.includes(s), `no save event for step ${s}`);
      assert.equal(critical.filter((e) => e.type === 'complete').length, 1);
      for (let k = 1; k < critical.length; k++) assert.ok(critical[k].seq > critical[k - 1].seq);
    } finally {
      await queue.close();
      await worker.kill();
      await redis.stop();
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(ckpt, { recursive: true, force: true });
    }
  });

  it('a critical GPU stops the worker taking jobs until safe; an emergency fails the running job, which is retried on another worker', async () => {
    const redis = await startRedis();
    const ckpt = tmp('bp-fleet-ckpt-');
    const gpu = simulatedGPU({ temperatureC: 50 });
    const hot = new TrainingWorker({ connection: redis.url, hostName: 'hot', checkpointRoot: ckpt, gpuSafety: { source: gpu, checkIntervalMs: 50 } });
    const queue = new TrainingQueue({ connection: redis.url });
    let cool = null;
    try {
      await hot.waitUntilReady();
      gpu.set({ temperatureC: 92 });
      await until(() => hot.gpuHolding, 10000, 'the worker to hold for the GPU');
      const waiting = await queue.submit(trainJob());
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(waiting.status.attempt, 0, 'a held worker ran a job');
      gpu.set({ temperatureC: 55 });
      const first = await waiting.result();
      assert.equal(first.metadata.outcome, 'completed');
      assert.equal(waiting.status.host, 'hot');

      const long = await queue.submit(longJob());
      await once(long, 'step', 30000);
      const retried = once(long, 'retry', 30000);
      gpu.set({ temperatureC: 99 });
      const [{ error }] = await retried;
      assert.equal(error.code, 'RUNTIME_GPU_TEMPERATURE_CRITICAL');
      assert.ok(hot.gpuHolding);
      cool = new TrainingWorker({ connection: redis.url, hostName: 'cool', checkpointRoot: ckpt });
      const run = await long.result();
      assert.equal(run.metadata.outcome, 'completed');
      assert.equal(long.status.host, 'cool');
      assert.equal(long.status.attempt, 2);
    } finally {
      await queue.close();
      await hot.close({ force: true });
      await cool?.close();
      await redis.stop();
      fs.rmSync(ckpt, { recursive: true, force: true });
    }
  });
});
