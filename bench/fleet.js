#!/usr/bin/env node
// Fleet mode numbers (`npm run bench` runs this after bench/run.js; alone:
// `node bench/fleet.js [--quick]`): per-job overhead against a local train()
// in the same run, event relay rates, and a worker's training throughput next
// to a local trainer's. Needs redis-server (started here on a free port).
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { Trainer, datasets } = require('../dist');
const { TrainingQueue } = require('../dist/fleet');
const { EventRelay } = require('../dist/fleet/relay');
const { jobKeys, StreamReader } = require('../dist/fleet/transport');
const { createClient } = require('../dist/fleet/connection');
const { startRedis, available } = require('../test/helpers/redis');

const quick = process.argv.includes('--quick');
const rows = [];
const add = (group, what, value, unit, note = '') => {
  rows.push({ group, what, value, unit, note });
  process.stderr.write(`  ${group}: ${what} = ${typeof value === 'number' ? value.toFixed(value >= 100 ? 0 : 2) : value} ${unit} ${note}\n`);
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function startWorker(url, ckpt) {
  const child = spawn(process.execPath, [path.join(__dirname, '..', 'test', 'helpers', 'fleet-child.js'), 'worker', JSON.stringify({ connection: url, hostName: 'bench', checkpointRoot: ckpt })], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve) => {
    readline.createInterface({ input: child.stdout }).on('line', (l) => JSON.parse(l).type === 'ready' && resolve(child));
  });
}

const smallJob = (seed) => ({ kind: 'train', trainer: { model: { inputSize: 2, hiddenLayers: [16], outputSize: 3 }, seed, threads: 1 }, train: { epochs: 1 }, data: { dataset: 'spirals', samples: 320, seed } });

async function overhead(queue) {
  const n = quick ? 10 : 30;
  const firstStep = [];
  const resultLag = [];
  const localFirst = [];
  for (let i = 0; i < n; i++) {
    const job = smallJob(i + 1);
    const t0 = performance.now();
    const handle = await queue.submit(job);
    let first = null;
    let completeAt = null;
    handle.once('step', () => (first = performance.now() - t0));
    handle.on('event', (e) => e.type === 'complete' && (completeAt = Date.now() - e.time));
    await handle.result();
    firstStep.push(first);
    resultLag.push(completeAt);
    const trainer = new Trainer(job.trainer);
    const { dataset, ...args } = job.data;
    const data = datasets[dataset](args);
    const l0 = performance.now();
    let lf = null;
    await trainer.train(data, job.train, { onStep: () => (lf ??= performance.now() - l0) });
    localFirst.push(lf);
  }
  add('fleet overhead', 'submit → first step at the listener (median)', median(firstStep), 'ms', `${n} jobs, one worker process`);
  add('fleet overhead', 'local train() → first step (median)', median(localFirst), 'ms', 'same jobs, this process');
  add('fleet overhead', 'complete on the worker → event at the listener (median)', median(resultLag), 'ms', 'worker clock = listener clock (one machine)');
}

async function relayRate(url, type, count) {
  const keys = jobKeys('bench-relay', `${type}-${Date.now()}`);
  const writer = createClient(require('../dist/fleet/connection').connectionOptions(url), 'bench-writer');
  const readerClient = createClient(require('../dist/fleet/connection').connectionOptions(url), 'bench-reader');
  const reader = new StreamReader(readerClient);
  const relay = new EventRelay(writer, keys, 1, 'bench', 20);
  let got = 0;
  const done = new Promise((resolve) => reader.add(keys.events, '0', () => ++got === count && resolve()));
  const t0 = performance.now();
  for (let i = 1; i <= count; i++) {
    // event() sends every one (step() would coalesce them: that is its job).
    if (type === 'step') relay.event('step', { step: i, loss: 1 / i });
    else relay.event(type, { epoch: i, validationLoss: 0.5, validationAccuracy: 0.9, loss: 0.4 });
  }
  await relay.flush();
  await done;
  const seconds = (performance.now() - t0) / 1000;
  await reader.close();
  writer.disconnect();
  return count / seconds;
}

async function throughput(queue, threads) {
  const job = { kind: 'train', trainer: { model: { inputSize: 2, hiddenLayers: [256, 256], outputSize: 3 }, seed: 1, ...(threads ? { threads } : {}) }, train: { epochs: quick ? 2 : 4, batchSize: 64 }, data: { dataset: 'spirals', samples: 20000, seed: 1 } };
  const local = [];
  const remote = [];
  for (let r = 0; r < (quick ? 2 : 3); r++) {
    const { dataset, ...args } = job.data;
    const run = await new Trainer(job.trainer).train(datasets[dataset](args), job.train);
    local.push(run.samplesSeen / run.durationSeconds);
    const fleetRun = await (await queue.submit(job)).result();
    remote.push(fleetRun.samplesSeen / fleetRun.durationSeconds);
  }
  const label = threads ? `${threads} thread` : 'all cores';
  add('fleet throughput', `local Trainer, 2-256-256-3, batch 64, ${label} (median)`, median(local), 'samples/s');
  add('fleet throughput', `worker process, same job, ${label} (median)`, median(remote), 'samples/s', 'events relayed to a listener meanwhile');
  add('fleet throughput', `worker / local, ${label}`, median(remote) / median(local), 'x', 'target: within 5%');
}

async function main() {
  if (!available()) {
    console.log('fleet bench skipped: redis-server is not installed (apt-get install redis-server)');
    return;
  }
  const redis = await startRedis();
  const ckpt = fs.mkdtempSync(path.join(os.tmpdir(), 'bp-fleet-bench-'));
  const worker = await startWorker(redis.url, ckpt);
  const queue = new TrainingQueue({ connection: redis.url });
  try {
    await overhead(queue);
    const n = quick ? 5000 : 20000;
    add('fleet relay', 'critical events (epoch), worker → listener', await relayRate(redis.url, 'epoch', n), 'events/s', `${n} events, never dropped`);
    add('fleet relay', 'step events, uncoalesced', await relayRate(redis.url, 'step', n), 'events/s', 'jobs send at most 20/s each by default');
    await throughput(queue, 0);
    // With a core left for Redis and the event loops, what the worker itself costs.
    await throughput(queue, 1);
  } finally {
    await queue.close();
    worker.kill('SIGKILL');
    await redis.stop();
    fs.rmSync(ckpt, { recursive: true, force: true });
  }
  console.log('\n| group | measurement | value | unit | note |\n|---|---|---:|---|---|');
  for (const r of rows) console.log(`| ${r.group} | ${r.what} | ${typeof r.value === 'number' ? r.value.toFixed(r.value >= 100 ? 0 : 2) : r.value} | ${r.unit} | ${r.note} |`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
