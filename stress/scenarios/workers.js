'use strict';
// Scenario "workers": trainers inside worker_threads, several at once. Some
// workers train one run to the end (checked with the RunRecorder inside the
// worker) and must then exit by themselves; the others train without end,
// some with a GPU monitor beside them, and are terminated at a random moment
// (before the addon is loaded, as the first steps arrive, or later).
//
// Checked: every completing worker reports no violation and exits with code
// 0 on its own (nothing keeps it alive); terminate() resolves in bounded time
// with code 1 and never crashes the process; after the round the runner's
// thread check shows every training, kernel and sampling thread joined.

const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { sleep, withTimeout } = require('../lib/util');

const WORKER_FILE = path.join(__dirname, '..', 'fixtures', 'worker-trainer.js');
const WORKER_TIMEOUT_MS = 60000;

function startWorker(workerData) {
  const worker = new Worker(WORKER_FILE, { workerData });
  const messages = [];
  const waiters = [];
  worker.on('message', (m) => {
    messages.push(m);
    for (const w of waiters.splice(0)) w();
  });
  const errors = [];
  worker.on('error', (error) => errors.push(error));
  const exited = new Promise((resolve) => worker.once('exit', resolve));
  const next = (type) =>
    new Promise((resolve) => {
      const check = () => {
        const m = messages.find((x) => x.type === type);
        if (m) resolve(m);
        else waiters.push(check);
      };
      check();
    });
  return { worker, next, exited, errors };
}

async function completingWorker(ctx, seed) {
  const label = `worker(seed ${seed}, completes)`;
  const stepEvents = ctx.random.pick(['block', 'coalesce']);
  const { next, exited, errors } = startWorker({ seed, mode: 'complete', stepEvents, monitor: ctx.random.chance(0.3) });
  try {
    const done = await withTimeout(next('done'), WORKER_TIMEOUT_MS, `${label} result`);
    for (const v of done.violations) ctx.fail(`${label}: ${v}`);
    ctx.count('events', done.events);
    ctx.count('runs');
    // It must end by itself: nothing of the package's may keep a finished worker alive.
    const code = await withTimeout(exited, WORKER_TIMEOUT_MS, `${label} exiting by itself`);
    if (code !== 0) ctx.fail(`${label}: exited with code ${code}`);
  } catch (error) {
    ctx.fail(`${label}: ${error.message}`);
  }
  for (const e of errors) ctx.fail(`${label}: worker error ${e && e.stack}`);
}

async function terminatedWorker(ctx, seed) {
  const when = ctx.random.pick(['at once', 'when training', 'later']);
  const label = `worker(seed ${seed}, terminated ${when})`;
  const { worker, next, errors } = startWorker({ seed, mode: 'forever', stepEvents: ctx.random.pick(['block', 'coalesce']), monitor: ctx.random.chance(0.4) });
  try {
    if (when !== 'at once') {
      await withTimeout(next('started'), WORKER_TIMEOUT_MS, `${label} start`);
      if (when === 'later') await sleep(ctx.random.int(1, 60));
    }
    const code = await withTimeout(worker.terminate(), WORKER_TIMEOUT_MS, `${label} terminate()`);
    // Node reports 1 for a worker stopped while running; one stopped before
    // its script began may report 0. Anything else means it died otherwise.
    const allowed = when === 'at once' ? [0, 1] : [1];
    if (!allowed.includes(code)) ctx.fail(`${label}: terminate() resolved with exit code ${code}, expected ${allowed.join(' or ')}`);
    ctx.count('runs');
    ctx.count('aborts');
  } catch (error) {
    ctx.fail(`${label}: ${error.message}`);
    await worker.terminate();
  }
  for (const e of errors) ctx.fail(`${label}: worker error ${e && e.stack}`);
}

module.exports = {
  name: 'workers',
  description: 'trainers in worker_threads: some complete and exit by themselves, the rest are terminated mid-run',
  weight: 0.15,
  async run(ctx) {
    let seed = 0;
    while (ctx.nextRound()) {
      const jobs = [];
      for (let i = 0; i < 2; i++) jobs.push(completingWorker(ctx, ++seed));
      for (let i = 0; i < 3; i++) jobs.push(terminatedWorker(ctx, ++seed));
      await Promise.all(jobs);
    }
  },
};
