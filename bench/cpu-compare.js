#!/usr/bin/env node
// The CPU training targets side by side in one run: the machine's 2-thread
// SGEMM rate, backpropagate against PyTorch at batch 128 and 1024 (synthetic
// 784-256-128-10, as bench/run.js) and Fashion-MNIST 10 epochs (batch 128,
// AdamW 1e-3) with test accuracy. PyTorch gets every configuration that can be
// its best: torch.set_num_threads 1 and 2 times OPENBLAS_NUM_THREADS 1 and 2,
// with glibc's mmap threshold raised so each minibatch gather does not map and
// fault in fresh pages (what a program that loaded its data already gets).
// Every configuration is printed; ratios are against the best.
//
//   npm run build:ts && node bench/cpu-compare.js [--quick]
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const zlib = require('node:zlib');
const fs = require('node:fs');
const { Trainer } = require('../dist');
const { native } = require('../dist/native');

const quick = process.argv.includes('--quick');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const MALLOC = { MALLOC_MMAP_THRESHOLD_: '4294967296', MALLOC_TRIM_THRESHOLD_: '4294967296' };
const CONFIGS = [1, 2].flatMap((t) => [1, 2].map((o) => ({ threads: t, openblas: o })));
const model = { inputSize: 784, hiddenLayers: [256, 128], outputSize: 10 };

function py(script, args, env) {
  const r = spawnSync('/usr/bin/python3', [path.join(__dirname, script), ...args.map(String)], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 600000 });
  if (r.status !== 0) return { error: (r.stderr || '').trim().split('\n').pop() };
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

function synthetic(samples) {
  let s = 1;
  const rand = () => ((s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0) / 4294967296);
  const x = new Float32Array(samples * 784);
  for (let i = 0; i < x.length; i++) x[i] = rand() * 2 - 1;
  const y = new Int32Array(samples);
  for (let i = 0; i < samples; i++) y[i] = Math.floor(rand() * 10);
  return { x, y };
}

function idx(file, offset) {
  return zlib.gunzipSync(fs.readFileSync(path.join('/usr/share/datasets/fashion-mnist', file))).subarray(offset);
}
function fashion(split) {
  const px = idx(`${split}-images-idx3-ubyte.gz`, 16);
  const lb = idx(`${split}-labels-idx1-ubyte.gz`, 8);
  const x = new Float32Array(px.length);
  for (let i = 0; i < px.length; i++) x[i] = px[i] / 255;
  return { x, y: Int32Array.from(lb) };
}

const out = [];
const row = (what, value, unit, note = '') => {
  out.push(`| ${what} | ${typeof value === 'number' ? value.toFixed(value >= 100 ? 0 : 3) : value} | ${unit} | ${note} |`);
  process.stderr.write(`${out[out.length - 1]}\n`);
};

async function main() {
  const sgemm2 = native().sgemmBenchmark(2048, 2048, 2048, 2, quick ? 2 : 5);
  row('SGEMM 2048², ours, 2 threads', sgemm2, 'GFLOP/s');
  let blas = 0;
  for (const t of [1, 2]) {
    const r = py('openblas_sgemm.py', [2048], { OPENBLAS_NUM_THREADS: String(t) });
    if (!r.error) {
      row(`SGEMM 2048², numpy/OpenBLAS, ${t} thread${t > 1 ? 's' : ''}`, r.gflops, 'GFLOP/s');
      blas = Math.max(blas, r.gflops);
    }
  }
  const sgemmRate = Math.max(sgemm2, blas);
  const data = synthetic(8192);
  const reps = quick ? 3 : 5;
  for (const batch of [128, 1024]) {
    const trainer = new Trainer({ model, optimizer: 'adamw', learningRate: 1e-3, threads: 0 });
    await trainer.train(data, { epochs: 1, batchSize: batch });
    const rates = [];
    for (let r = 0; r < reps; r++) {
      const run = await trainer.train(data, { epochs: 1, batchSize: batch });
      rates.push(run.samplesSeen / run.durationSeconds);
    }
    const ours = median(rates);
    const gflops = (ours * 6 * trainer.parameterCount) / 1e9;
    row(`b${batch}: backpropagate, 2 threads`, ours, 'samples/s', `${gflops.toFixed(1)} GFLOP/s = ${((100 * gflops) / sgemmRate).toFixed(0)} % of the SGEMM rate ${sgemmRate.toFixed(0)}`);
    let best = 0;
    for (const c of CONFIGS) {
      const r = py('pytorch_mlp.py', [batch, c.threads, 8192, reps], { ...MALLOC, OPENBLAS_NUM_THREADS: String(c.openblas) });
      if (r.error) continue;
      row(`b${batch}: PyTorch ${r.torch}, set_num_threads(${c.threads}), OPENBLAS_NUM_THREADS=${c.openblas}`, r.samplesPerSecond, 'samples/s');
      best = Math.max(best, r.samplesPerSecond);
    }
    if (best) row(`b${batch}: ours / PyTorch best`, ours / best, 'x');
  }
  if (!fs.existsSync('/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz')) {
    row('Fashion-MNIST', 'skipped', '', 'apt-get install dataset-fashion-mnist');
    return;
  }
  const train = fashion('train');
  const test = fashion('t10k');
  const trainer = new Trainer({ model, optimizer: 'adamw', learningRate: 1e-3, threads: 0, seed: 1 });
  const run = await trainer.train(train, { epochs: 10, batchSize: 128 });
  const acc = trainer.evaluate(test).accuracy;
  row('Fashion-MNIST 10 epochs: backpropagate, 2 threads', run.durationSeconds, 's', `test accuracy ${acc.toFixed(4)}`);
  let best = null;
  for (const c of CONFIGS) {
    const r = py('pytorch_fashion_mnist.py', ['/usr/share/datasets/fashion-mnist', c.threads, 10], { ...MALLOC, OPENBLAS_NUM_THREADS: String(c.openblas) });
    if (r.error) continue;
    row(`Fashion-MNIST 10 epochs: PyTorch, set_num_threads(${c.threads}), OPENBLAS_NUM_THREADS=${c.openblas}`, r.seconds, 's', `test accuracy ${r.testAccuracy.toFixed(4)}`);
    if (!best || r.seconds < best.seconds) best = r;
  }
  if (best) row('Fashion-MNIST: our time / PyTorch best', run.durationSeconds / best.seconds, 'x', `accuracy difference ${((acc - best.testAccuracy) * 100).toFixed(2)} points`);
}

main().then(() => console.log(`\n| measurement | value | unit | note |\n|---|---:|---|---|\n${out.join('\n')}`)).catch((e) => {
  console.error(e);
  process.exit(1);
});
