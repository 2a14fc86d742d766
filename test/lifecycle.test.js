'use strict';
// Process and thread lifecycle: exit and termination during training, handles
// keeping the process alive only while a run is active, and trainers inside
// worker_threads.
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { Trainer, datasets } = require('../dist');

const child = path.join(__dirname, 'fixtures', 'lifecycle-child.js');

function runChild(scenario, { timeoutMs = 30000, onLine } = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [child, scenario], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${scenario}: child did not exit within ${timeoutMs} ms (hung). stdout=${stdout} stderr=${stderr}`));
    }, timeoutMs);
    proc.stdout.on('data', (d) => {
      stdout += d;
      if (onLine) for (const line of String(d).split('\n').filter(Boolean)) onLine(line, proc);
    });
    proc.stderr.on('data', (d) => (stderr += d));
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

function threadCount() {
  return require('node:fs').readdirSync('/proc/self/task').length;
}

describe('lifecycle: process exit and handles', function () {
  this.timeout(60000);

  it('process.exit() during training exits with that code, no crash or hang', async () => {
    const r = await runChild('exit-during-training');
    assert.equal(r.signal, null, `child died by signal ${r.signal}: ${r.stderr}`);
    assert.equal(r.code, 7, r.stderr);
    assert.match(r.stdout, /exiting/);
  });

  it('SIGTERM during training runs the handler and exits cleanly', async () => {
    let sent = false;
    const r = await runChild('sigterm-during-training', {
      onLine: (line, proc) => {
        if (line === 'training' && !sent) {
          sent = true;
          proc.kill('SIGTERM');
        }
      },
    });
    assert.ok(sent, 'child never reported training');
    assert.equal(r.signal, null, r.stderr);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /sigterm/);
  });

  it('a running trainer keeps the process alive until the run completes', async () => {
    const r = await runChild('keeps-alive');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /complete \d+/);
  });

  it('an idle trainer holds no handle: the process exits by itself after a run', async () => {
    const r = await runChild('idle-holds-nothing', { timeoutMs: 20000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /complete 5/);
  });

  it('an aborted run releases its handle too', async () => {
    const r = await runChild('abort-then-exit', { timeoutMs: 20000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /rejected AbortError/);
  });
});

describe('lifecycle: worker_threads', function () {
  this.timeout(60000);

  function startWorker(workerData) {
    const worker = new Worker(path.join(__dirname, 'fixtures', 'worker-trainer.js'), { workerData });
    const messages = [];
    const waiters = [];
    worker.on('message', (m) => {
      messages.push(m);
      for (const w of waiters.splice(0)) w();
    });
    const next = (type) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const m = messages.find((x) => x.type === type || x.type === 'error');
          if (m) return m.type === 'error' ? reject(new Error(m.message)) : resolve(m);
          waiters.push(check);
        };
        worker.once('error', reject);
        check();
      });
    return { worker, next };
  }

  it('trainers in several workers at once all complete, each with its own results', async () => {
    const workers = [1, 2, 3].map((seed) => startWorker({ seed }));
    const results = await Promise.all(workers.map((w) => w.next('done')));
    for (const r of results) {
      assert.ok(r.steps > 0);
      assert.ok(Number.isFinite(r.finalLoss));
    }
    // Same work on the main thread with the same seed gives the same history as worker 1.
    const data = datasets.spirals({ samples: 600, classes: 3, seed: 1 });
    const t = new Trainer({ model: { inputSize: 2, hiddenLayers: [32], outputSize: 3 }, seed: 1, threads: 1 });
    const run = await t.train(data, { epochs: 5 });
    assert.deepEqual(Array.from(run.lossHistory), results[0].lossHistory);
    await Promise.all(workers.map((w) => w.worker.terminate()));
  });

  it('terminating a worker mid-run neither hangs nor crashes, and leaves no native thread behind', async () => {
    const before = threadCount();
    for (let i = 0; i < 5; i++) {
      const { worker, next } = startWorker({ seed: i, forever: true });
      await next('started');
      const code = await worker.terminate();
      assert.equal(code, 1);
    }
    // Training threads of terminated workers were joined by the cleanup hook.
    const deadline = Date.now() + 5000;
    while (threadCount() > before + 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(threadCount() <= before + 1, `threads before ${before}, after ${threadCount()}`);
    // The main thread still trains normally afterwards.
    const data = datasets.spirals({ samples: 300, classes: 3, seed: 2 });
    const t = new Trainer({ model: { inputSize: 2, hiddenLayers: [8], outputSize: 3 } });
    const run = await t.train(data, { maxSteps: 3 });
    assert.equal(run.steps, 3);
  });
});
