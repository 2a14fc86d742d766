'use strict';
// Job handles on a real redis-server and real BullMQ: two handles on one job
// each get every event; a multi-run job end to end, and the commands it does
// not take; a job BullMQ fails for stalling too often settles its handles
// with JOB_STALLED, written to its stream once.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { TrainingQueue, TrainingWorker } = require('../dist/fleet');
const { startRedis, available } = require('./helpers/redis');
const { startWorkerChild, trainJob, model, once, until } = require('./helpers/fleet');

const tmp = (p) => fs.mkdtempSync(path.join(os.tmpdir(), p));
const CRITICAL = ['epoch', 'save', 'complete', 'error', 'runStart', 'runComplete'];

function multiRunJob() {
  return {
    kind: 'multi-run',
    name: 'continual',
    trainer: { model: model([8]), seed: 3, threads: 1 },
    multiRun: { numRuns: 2, stepsPerRun: 30, samplesPerRun: 200, validationSamples: 100, batchSize: 16 },
    data: { dataset: 'spirals', samples: 600, seed: 3 },
    attempts: 1,
  };
}

describe('fleet: job handles', function () {
  this.timeout(90000);
  before(function () {
    if (!available()) {
      console.log('      redis-server is not installed (apt-get install redis-server): skipped');
      this.skip();
    }
  });

  describe('with one worker', () => {
    let redis, worker, queue, ckpt;
    before(async () => {
      redis = await startRedis();
      ckpt = tmp('bp-fleet-handles-');
      worker = new TrainingWorker({ connection: redis.url, hostName: 'h1', checkpointRoot: ckpt });
      await worker.waitUntilReady();
      queue = new TrainingQueue({ connection: redis.url });
    });
    after(async () => {
      await queue?.close();
      await worker?.close({ force: true });
      await redis?.stop();
      if (ckpt) fs.rmSync(ckpt, { recursive: true, force: true });
    });

    it('two handles on one job from one queue each get every critical event once, and both results settle', async () => {
      const first = await queue.submit(trainJob({ seed: 11, samples: 600, epochs: 3, train: { saveEverySteps: 20 } }));
      const second = await queue.attach(first.id);
      const seen = [[], []];
      first.on('event', (e) => seen[0].push(e));
      second.on('event', (e) => seen[1].push(e));
      const [a, b] = await Promise.all([first.result(), second.result()]);
      assert.deepEqual(a, b);
      const critical = seen.map((events) => events.filter((e) => CRITICAL.includes(e.type)).map((e) => `${e.type}:${e.seq}`));
      assert.ok(critical[0].length >= 5, `critical events: ${critical[0]}`);
      assert.deepEqual(critical[1], critical[0], 'both handles saw the same critical events');
      assert.equal(new Set(critical[0]).size, critical[0].length, 'no critical event twice');
      assert.deepEqual(critical[0].filter((k) => k.startsWith('epoch:')).length, 3);
      // Closing one handle leaves the other listening.
      const third = await queue.attach(first.id);
      const fourth = await queue.attach(first.id);
      third.close();
      assert.equal((await fourth.result()).steps, a.steps);
    });

    it('a multi-run job: runStart and runComplete per run, result() resolves; pause, resume and setLearningRate reject with JOB_COMMAND_UNSUPPORTED', async () => {
      const handle = await queue.submit(multiRunJob());
      assert.equal(handle.kind, 'multi-run');
      const events = [];
      handle.on('event', (e) => events.push(e));
      const starts = [];
      const completes = [];
      handle.on('runStart', (i) => starts.push(i));
      handle.on('runComplete', (r) => completes.push(r));
      for (const [call, command] of [[() => handle.pause(), 'pause'], [() => handle.resume(), 'resume'], [() => handle.setLearningRate(1e-3), 'setLearningRate']]) {
        await assert.rejects(call(), (error) => {
          assert.equal(error.name, 'BackpropError');
          assert.equal(error.code, 'JOB_COMMAND_UNSUPPORTED');
          assert.equal(error.details.command, command);
          assert.match(error.message, /multi-run job.*abort\(\)/s);
          return true;
        });
      }
      const result = await handle.result();
      assert.equal(result.totalRuns, 2);
      assert.deepEqual(starts, [1, 2]);
      assert.deepEqual(completes.map((r) => r.runIndex), [1, 2]);
      assert.ok(events.some((e) => e.type === 'step' && e.data.runIndex === 2), 'steps carry their run index');
      assert.equal(events.at(-1).type, 'complete');
      const attached = await queue.attach(handle.id);
      assert.equal(attached.kind, 'multi-run');
      await assert.rejects(attached.pause(), { code: 'JOB_COMMAND_UNSUPPORTED' });
      // abort() is the one command a multi-run job takes.
      const aborted = await queue.submit({ ...multiRunJob(), multiRun: { ...multiRunJob().multiRun, stepsPerRun: 200_000 } });
      await once(aborted, 'runStart', 30000);
      await aborted.abort('enough');
      await assert.rejects(aborted.result(), { name: 'AbortError', code: 'ABORT_ERR', reason: 'enough' });
    });
  });

  it('a job BullMQ fails for stalling more than maxStalledCount times: result() rejects with JOB_STALLED, written to its stream once', async () => {
    const redis = await startRedis();
    const ckpt = tmp('bp-fleet-stall-');
    // maxStalledCount 0: the first stall fails the job for good.
    const stall = { lockDuration: 2000, stalledInterval: 500, maxStalledCount: 0 };
    const victim = startWorkerChild({ connection: redis.url, hostName: 'doomed', checkpointRoot: ckpt, ...stall });
    const queue = new TrainingQueue({ connection: redis.url });
    const other = new TrainingQueue({ connection: redis.url });
    let checker = null;
    try {
      await victim.ready;
      const handle = await queue.submit(trainJob({ seed: 2, samples: 2000, hidden: [256, 256], epochs: 40, attempts: 3 }));
      const twin = await other.attach(handle.id);
      await until(() => handle.status.attempt === 1, 30000, 'the first attempt');
      await victim.kill('SIGKILL');
      // A live worker runs BullMQ's stalled check (and would take the job, were it retried).
      checker = new TrainingWorker({ connection: redis.url, hostName: 'checker', checkpointRoot: ckpt, ...stall });
      const errors = [];
      handle.on('error', (e) => errors.push(e));
      for (const h of [handle, twin]) {
        await assert.rejects(h.result(), (error) => {
          assert.equal(error.name, 'BackpropError');
          assert.equal(error.code, 'JOB_STALLED');
          assert.equal(error.details.jobId, handle.id);
          assert.match(error.message, /maxStalledCount/);
          return true;
        });
      }
      assert.equal(errors.length, 1, 'one error event at the handle');
      assert.equal(handle.status.state, 'failed');
      assert.equal(handle.status.host, 'doomed');
      const client = new (require('ioredis').Redis)(redis.url);
      try {
        await new Promise((r) => setTimeout(r, 500));
        const entries = await client.xrange(`bp:{backprop}:job:${handle.id}:events`, '-', '+');
        const types = entries.map(([, fields]) => JSON.parse(fields[fields.indexOf('ev') + 1]).type);
        assert.equal(types.filter((t) => t === 'error').length, 1, `stream: ${types}`);
        assert.ok(!types.includes('attempt') || types.filter((t) => t === 'attempt').length === 1, 'not retried');
      } finally {
        client.disconnect();
      }
      // A handle made later replays the same terminal event.
      const late = await other.attach(handle.id);
      await assert.rejects(late.result(), { code: 'JOB_STALLED' });
    } finally {
      await checker?.close({ force: true });
      await queue.close();
      await other.close();
      await victim.kill();
      await redis.stop();
      fs.rmSync(ckpt, { recursive: true, force: true });
    }
  });
});
