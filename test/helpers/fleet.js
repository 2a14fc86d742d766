'use strict';
// Shared pieces of the fleet tests: worker child processes, jobs, waiting.
const { spawn } = require('node:child_process');
const path = require('node:path');
const readline = require('node:readline');

const CHILD = path.join(__dirname, 'fleet-child.js');

/** A worker in its own process; resolves once it takes jobs. `prefix` runs it through e.g. `ip netns exec NS`. */
function startWorkerChild(options, prefix = []) {
  const argv = [...prefix, process.execPath, CHILD, 'worker', JSON.stringify(options)];
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = [];
  const listeners = [];
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    const msg = JSON.parse(line);
    lines.push(msg);
    for (const l of listeners) l(msg);
  });
  const ready = new Promise((resolve, reject) => {
    listeners.push((m) => m.type === 'ready' && resolve());
    child.once('exit', (code) => reject(new Error(`worker child exited with ${code} before it was ready`)));
  });
  return {
    child,
    lines,
    ready,
    host: options.hostName,
    kill(signal = 'SIGKILL') {
      if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
      const exited = new Promise((r) => child.once('exit', r));
      child.kill(signal);
      return exited;
    },
  };
}

/** A listener in its own process: attaches to `ids` and resolves with one record per job. */
function runListenerChild(url, ids) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, 'listen', url, ids.join(',')], { stdio: ['ignore', 'pipe', 'inherit'] });
    const jobs = new Map();
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const msg = JSON.parse(line);
      if (msg.type === 'job') jobs.set(msg.jobId, msg);
    });
    child.once('exit', (code) => (code === 0 ? resolve(jobs) : reject(new Error(`listener exited with ${code}`))));
  });
}

const model = (hidden = [8]) => ({ inputSize: 2, hiddenLayers: hidden, outputSize: 3 });

function trainJob({ seed = 1, samples = 300, epochs = 2, hidden = [8], train = {}, ...rest } = {}) {
  return { kind: 'train', trainer: { model: model(hidden), seed, learningRate: 0.01, threads: 1 }, train: { epochs, batchSize: 32, ...train }, data: { dataset: 'spirals', samples, seed }, ...rest };
}

function once(emitter, event, timeoutMs = 20000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${event}' within ${timeoutMs} ms`)), timeoutMs);
    emitter.once(event, (...args) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}

async function until(check, timeoutMs = 20000, what = 'condition') {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

module.exports = { startWorkerChild, runListenerChild, trainJob, model, once, until };
