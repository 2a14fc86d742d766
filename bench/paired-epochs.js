// Ours / PyTorch from paired epochs: one epoch of ours, then one of PyTorch's (a long-lived
// `pytorch_mlp.py --serve` process, warmed up once), many times over; the ratio is the median of
// the pairs' ratios. The hosts these runs are made on change speed in bursts of seconds, and a
// pair spans well under a second, so both sides of each ratio see the same machine far more often
// than in rounds of multi-second measurements.
'use strict';
const { spawn } = require('node:child_process');
const path = require('node:path');
const readline = require('node:readline');
const { torchEnv } = require('./python-baselines');

// OpenBLAS's worker threads spin for a while after each call (THREAD_TIMEOUT, about 0.1 s) and ours
// for 50 us: the pause keeps one side's spinning out of the other's epoch.
const PAUSE_MS = 250;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A PyTorch process training the bench's task one epoch per request. */
async function startTorchServer(batch, config, samples) {
  const child = spawn('/usr/bin/python3', [path.join(__dirname, 'pytorch_mlp.py'), String(batch), String(config.torch), String(samples), '--serve'], {
    env: { ...process.env, ...torchEnv(config) },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => {
    const { value, done } = await lines.next();
    if (done) throw new Error(`pytorch_mlp.py --serve ended: ${stderr.trim().split('\n').pop() || 'no output'}`);
    return JSON.parse(value);
  };
  const ready = await next();
  return {
    torch: ready.torch,
    async epochSeconds() {
      child.stdin.write('epoch\n');
      return (await next()).seconds;
    },
    close() {
      child.stdin.end();
      return new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)));
    },
  };
}

/**
 * `pairs` alternating epochs: `ourEpoch()` resolves with our samples/s for one epoch of `samples`.
 * Returns the per-pair rates and ratios, or `{ error }` when PyTorch cannot run.
 */
async function pairedEpochs({ batch, config, samples, pairs, ourEpoch }) {
  let server;
  try {
    server = await startTorchServer(batch, config, samples);
  } catch (e) {
    return { error: e.message };
  }
  const ours = [], theirs = [], ratios = [];
  try {
    // Not counted: the server's start took seconds, long enough for our idle workers to exit, and
    // its own warm-up leaves OpenBLAS threads spinning.
    await sleep(PAUSE_MS);
    await ourEpoch();
    await sleep(PAUSE_MS);
    for (let i = 0; i < pairs; i++) {
      const mine = await ourEpoch();
      await sleep(PAUSE_MS);
      const torchRate = samples / (await server.epochSeconds());
      await sleep(PAUSE_MS);
      ours.push(mine);
      theirs.push(torchRate);
      ratios.push(mine / torchRate);
    }
  } catch (e) {
    return { error: e.message };
  } finally {
    await server.close();
  }
  return { torch: server.torch, ours, theirs, ratios };
}

module.exports = { pairedEpochs };
