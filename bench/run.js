#!/usr/bin/env node
// `npm run bench`: every number measured side by side in this one run, on
// this machine, printed as one table (medians). See bench/README.md.
'use strict';
const { spawnSync } = require('node:child_process');
const os = require('node:os');
const path = require('node:path');
const { Trainer } = require('../dist');
const { native } = require('../dist/internal');
const { hasPython, TORCH_CONFIGS, configName, torchTraining, openblasSgemm } = require('./python-baselines');
const { fashionMnistRow } = require('./fashion-mnist-row');
const { pairedEpochs } = require('./paired-epochs');

const quick = process.argv.includes('--quick');
const rows = [];
const add = (group, what, value, unit, note = '') => {
  rows.push({ group, what, value, unit, note });
  process.stderr.write(`  ${group}: ${what} = ${typeof value === 'number' ? value.toFixed(value >= 100 ? 0 : 2) : value} ${unit} ${note}\n`);
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function syntheticMnistLike(samples, seed = 1) {
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0) / 4294967296);
  const x = new Float32Array(samples * 784);
  for (let i = 0; i < x.length; i++) x[i] = rand() * 2 - 1;
  const y = new Int32Array(samples);
  for (let i = 0; i < samples; i++) y[i] = Math.floor(rand() * 10);
  return { x, y };
}

let synthetic = null;
async function trainingThroughput(batchSize, threads) {
  const data = (synthetic ??= syntheticMnistLike(8192));
  const trainer = new Trainer({ model: { inputSize: 784, hiddenLayers: [256, 128], outputSize: 10 }, optimizer: 'adamw', learningRate: 1e-3, threads });
  await trainer.train(data, { epochs: 1, batchSize }); // warm-up
  const rates = [];
  for (let r = 0; r < (quick ? 2 : 5); r++) {
    const run = await trainer.train(data, { epochs: 1, batchSize });
    rates.push(run.samplesSeen / run.durationSeconds);
  }
  return { samplesPerSecond: median(rates) };
}

/** One warmed-up trainer; each call trains one epoch of the synthetic task and resolves with samples/s. */
async function ourEpochRunner(batchSize) {
  const data = (synthetic ??= syntheticMnistLike(8192));
  const trainer = new Trainer({ model: { inputSize: 784, hiddenLayers: [256, 128], outputSize: 10 }, optimizer: 'adamw', learningRate: 1e-3 });
  await trainer.train(data, { epochs: 1, batchSize }); // warm-up
  return async () => {
    const run = await trainer.train(data, { epochs: 1, batchSize });
    return run.samplesSeen / run.durationSeconds;
  };
}

async function dispatchRate(mode, count) {
  const b = native();
  let delivered = 0;
  const t0 = process.hrtime.bigint();
  await new Promise((resolve) => {
    if (mode === 'naive') {
      b.dispatchBenchmark(count, 'naive', () => { delivered++; }, resolve);
    } else {
      // The same loop the trainer's dispatcher runs: one handler call per record.
      const onStep = () => { delivered++; };
      b.dispatchBenchmark(count, 'batched', (records) => {
        for (let i = 0; i < records.length; i += 4) if (records[i] === 1) onStep(records[i + 1], records[i + 2]);
      }, resolve);
    }
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (delivered !== count) throw new Error(`${mode}: delivered ${delivered} of ${count}`);
  return count / seconds;
}

async function onStepOverhead() {
  // A small model where a step takes microseconds, so per-event cost shows.
  const { datasets } = require('../dist');
  const data = datasets.spirals({ samples: 8192, classes: 3, seed: 1 });
  const make = () => new Trainer({ model: { inputSize: 2, hiddenLayers: [64, 64], outputSize: 3 }, threads: 1, seed: 1 });
  const none = make();
  const withHook = make();
  let calls = 0;
  const cb = { onStep: () => { calls++; } };
  await none.train(data, { epochs: 1 });
  await withHook.train(data, { epochs: 1 }, cb);
  const a = [], b = [];
  for (let r = 0; r < (quick ? 3 : 9); r++) {
    // Interleaved so drift in machine load hits both alike.
    a.push((await none.train(data, { epochs: 3 })).durationSeconds);
    b.push((await withHook.train(data, { epochs: 3 }, cb)).durationSeconds);
  }
  return { none: median(a), hook: median(b), stepsPerRun: Math.ceil(8192 / 32) * 3, calls };
}

function stubNvmlPath() {
  // The stub NVML library the tests build (native/stub-nvml), standing in for
  // the driver on machines without a GPU.
  const dir = path.join(__dirname, '..', 'build', 'stub-nvml-bench');
  const lib = path.join(dir, 'stub-nvml', 'modern', 'libnvidia-ml.so.1');
  if (require('node:fs').existsSync(lib)) return lib;
  const cfg = spawnSync('cmake', ['-S', path.join(__dirname, '..', 'native', 'stub-nvml'), '-B', dir], { encoding: 'utf8' });
  const build = cfg.status === 0 ? spawnSync('cmake', ['--build', dir], { encoding: 'utf8' }) : cfg;
  return build.status === 0 && require('node:fs').existsSync(lib) ? lib : null;
}

async function gpuBench() {
  const { GPUMonitor, nvmlInfo } = require('../dist');
  const real = nvmlInfo();
  let lib = '';
  let label = 'real NVML';
  if (!real.available || real.deviceCount === 0) {
    const stub = stubNvmlPath();
    if (!stub) {
      add('GPU sampling', 'NVML sample', 'skipped', '', '(no NVML and the stub library could not be built)');
      return;
    }
    const fs = require('node:fs');
    const script = path.join(os.tmpdir(), `bp-bench-nvml-${process.pid}.txt`);
    fs.writeFileSync(script, 'init=ok\ndevices=1\n0.name=Stub GPU\n0.temp=55\n0.temp_shutdown=95\n0.mem_total_mb=81920\n0.mem_used_mb=1024\n0.power_mw=120000\n0.power_limit_mw=700000\n0.util_gpu=30\n0.util_mem=10\n0.clock_sm=1500\n0.clock_mem=2600\n0.fan=40\n0.throttle=0x1\n0.procs=1234:512\n');
    process.env.BACKPROP_STUB_NVML_SCRIPT = script;
    // The failed probe of the system library above is cached: start over.
    native().resetNvmlState();
    lib = stub;
    label = 'stub NVML (no GPU here)';
  }
  const us = native().nvmlSampleCost(0, quick ? 200 : 2000, lib);
  add('GPU sampling', `one full device read, ${label}`, us, 'µs');
  const smi = spawnSync('nvidia-smi', ['--query-gpu=temperature.gpu,memory.used,memory.total,power.draw', '--format=csv,noheader'], { encoding: 'utf8' });
  if (!smi.error && smi.status === 0) {
    const times = [];
    for (let i = 0; i < 5; i++) {
      const t0 = process.hrtime.bigint();
      spawnSync('nvidia-smi', ['--query-gpu=temperature.gpu,memory.used,memory.total,power.draw', '--format=csv,noheader']);
      times.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
    add('GPU sampling', 'one nvidia-smi --query-gpu call', median(times), 'µs');
  } else add('GPU sampling', 'nvidia-smi', 'skipped', '', '(not installed here)');
  // Monitor CPU use at a 10 ms interval, measured on this process.
  const monitor = new GPUMonitor({ libraryPath: lib, config: { checkIntervalMs: 10, logWarnings: false } });
  let samples = 0;
  monitor.on('status', () => samples++);
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  monitor.start();
  await new Promise((r) => setTimeout(r, quick ? 1000 : 3000));
  await monitor.stop();
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  if (samples === 0) throw new Error('the GPU monitor delivered no status: the NVML sampling numbers above are not valid');
  add('GPU sampling', `monitor at 10 ms interval (${samples} samples)`, ((cpu.user + cpu.system) / 1e6 / wall) * 100, '% of one core', 'sampling thread + JS dispatch');
}

async function main() {
  const cpu = native().cpuInfo();
  process.stderr.write(`backpropagate bench: ${os.cpus()[0].model}, ${os.cpus().length} cores, kernel ${cpu.gemmKernel}\n`);

  const ourSgemm = (threads) => native().sgemmBenchmark(2048, 2048, 2048, threads, quick ? 2 : 5);
  for (const threads of [1, 2]) add('SGEMM 2048²', `ours, ${threads} thread${threads > 1 ? 's' : ''}`, ourSgemm(threads), 'GFLOP/s');
  const numpy = hasPython('numpy');
  let openblasBest = null;
  if (numpy) {
    for (const threads of [1, 2]) {
      const r = openblasSgemm(2048, threads);
      if (r.error) add('SGEMM 2048²', `numpy/OpenBLAS, ${threads} threads`, 'n/a', '', r.error);
      else {
        add('SGEMM 2048²', `numpy/OpenBLAS, ${threads} thread${threads > 1 ? 's' : ''}`, r.gflops, 'GFLOP/s');
        openblasBest = Math.max(openblasBest ?? 0, r.gflops);
      }
    }
  } else add('SGEMM 2048²', 'numpy/OpenBLAS', 'skipped', '', '(/usr/bin/python3 has no numpy)');
  // Debian's numpy and PyTorch take whichever libblas.so.3 is installed: without OpenBLAS that is
  // the reference BLAS, some 30x slower, and a ratio against it would mean nothing.
  const oursOneThread = rows.find((r) => r.group === 'SGEMM 2048²' && r.what === 'ours, 1 thread').value;
  const referenceBlas = openblasBest !== null && openblasBest < 0.25 * oursOneThread;
  if (referenceBlas) add('SGEMM 2048²', 'numpy/PyTorch BLAS', 'reference BLAS', '', '(not OpenBLAS: apt-get install libopenblas0-pthread; PyTorch rows skipped)');
  const torchUsable = hasPython('torch') && !referenceBlas;

  const BATCHES = [128, 1024];
  // The customary count, 6 x parameters per sample (forward, weight gradients, input gradients),
  // in which the targets are set. Like PyTorch, the engine skips the first layer's input gradient
  // (nothing needs it), so it executes 6P - 2 x 784 x 256 = 0.715 of that count: the share rows
  // also give the rate of the arithmetic actually run.
  const flopsPerSample = 6 * 235146;
  const executedFraction = (6 * 235146 - 2 * 784 * 256) / (6 * 235146);
  const gflops = (samplesPerSecond) => (samplesPerSecond * flopsPerSample) / 1e9;
  for (const batch of BATCHES) {
    const r = await trainingThroughput(batch, 0);
    add(`train 784-256-128-10 b${batch}`, 'backpropagate (2 threads), screening', r.samplesPerSecond, 'samples/s', `${gflops(r.samplesPerSecond).toFixed(1)} GFLOP/s`);
  }
  // Screening: PyTorch in every configuration that could be its best (see python-baselines.js).
  // Every configuration is reported; the ratios below use the best one only.
  const torchBestConfig = {};
  if (torchUsable) {
    for (const batch of BATCHES) {
      let best = 0;
      for (const config of TORCH_CONFIGS) {
        const r = torchTraining(batch, config, quick ? 2 : 5);
        if (r.error) {
          add(`train 784-256-128-10 b${batch}`, `PyTorch, ${configName(config)}`, 'n/a', '', r.error);
          continue;
        }
        add(`train 784-256-128-10 b${batch}`, `PyTorch ${r.torch}, ${configName(config)}`, r.samplesPerSecond, 'samples/s');
        if (r.samplesPerSecond > best) {
          best = r.samplesPerSecond;
          torchBestConfig[batch] = config;
        }
      }
    }
  } else if (!referenceBlas) add('train 784-256-128-10', 'PyTorch', 'skipped', '', '(/usr/bin/python3 cannot import torch; apt-get install python3-torch)');

  // Side by side. This machine's speed moves in bursts (a neighbour on the host can halve the rate
  // of a 2-thread run for seconds at a time), so a ratio of two numbers measured minutes apart can
  // be off by 2x either way. The ratios come from rounds instead: in each, the 2-thread SGEMM
  // reference, then per batch size ours and PyTorch's best configuration, back to back. A ratio is
  // the median of its per-round ratios.
  const rounds = [];
  for (let r = 0; r < (quick ? 1 : 3); r++) {
    const openblas = numpy && !referenceBlas ? openblasSgemm(2048, 2) : null;
    const round = { sgemm: Math.max(ourSgemm(2), openblas && !openblas.error ? openblas.gflops : 0) };
    for (const batch of BATCHES) {
      const mine = (await trainingThroughput(batch, 0)).samplesPerSecond;
      const theirs = torchBestConfig[batch] ? torchTraining(batch, torchBestConfig[batch], quick ? 2 : 5) : null;
      round[batch] = { ours: mine, torch: theirs && !theirs.error ? theirs.samplesPerSecond : null };
    }
    rounds.push(round);
  }
  const perRound = (f) => rounds.map(f).filter((v) => v !== null && Number.isFinite(v));
  const listed = (xs, digits) => xs.map((v) => v.toFixed(digits)).join(', ');
  add('side by side', `2-thread SGEMM reference (max of ours and OpenBLAS), ${rounds.length} round${rounds.length > 1 ? 's' : ''}`, median(perRound((r) => r.sgemm)), 'GFLOP/s', `rounds: ${listed(perRound((r) => r.sgemm), 0)}`);
  const sideBySide = {};
  for (const batch of BATCHES) {
    const group = `train 784-256-128-10 b${batch}`;
    const oursRates = perRound((r) => r[batch].ours);
    const share = perRound((r) => gflops(r[batch].ours) / r.sgemm);
    const ratio = perRound((r) => (r[batch].torch ? r[batch].ours / r[batch].torch : null));
    sideBySide[batch] = { share: median(share), ratio: ratio.length ? median(ratio) : null };
    add(group, 'side by side: backpropagate (2 threads)', median(oursRates), 'samples/s', `rounds: ${listed(oursRates, 0)}`);
    add(group, 'side by side: share of the 2-thread SGEMM rate', median(share) * 100, '%', `rounds: ${listed(share.map((v) => v * 100), 0)} % (6 x parameters per sample; of the arithmetic executed: ${(median(share) * executedFraction * 100).toFixed(0)} %)`);
    if (ratio.length) {
      add(group, `side by side: PyTorch best (${configName(torchBestConfig[batch])})`, median(perRound((r) => r[batch].torch)), 'samples/s', `rounds: ${listed(perRound((r) => r[batch].torch), 0)}`);
      add(group, 'ratio ours / PyTorch best', median(ratio), 'x', `median of the rounds' ratios: ${listed(ratio, 2)}`);
    }
  }

  // Paired epochs (see paired-epochs.js): the ratio the targets use, as each pair spans well under
  // a second and the rounds' measurements several seconds each.
  const quartiles = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return [s[Math.floor((s.length - 1) / 4)], s[Math.ceil((3 * (s.length - 1)) / 4)]];
  };
  for (const batch of BATCHES) {
    if (!torchBestConfig[batch]) continue;
    const group = `train 784-256-128-10 b${batch}`;
    const p = await pairedEpochs({ batch, config: torchBestConfig[batch], samples: 8192, pairs: quick ? 7 : 21, ourEpoch: await ourEpochRunner(batch) });
    if (p.error) {
      add(group, 'paired epochs', 'n/a', '', p.error);
      continue;
    }
    const [q1, q3] = quartiles(p.ratios);
    sideBySide[batch].pairedRatio = median(p.ratios);
    add(group, `paired epochs: ratio ours / PyTorch best, ${p.ratios.length} pairs`, median(p.ratios), 'x', `quartiles ${q1.toFixed(2)}-${q3.toFixed(2)}; medians ours ${median(p.ours).toFixed(0)}, PyTorch ${median(p.theirs).toFixed(0)} samples/s`);
  }

  const fashion = quick ? null : await fashionMnistRow(add, torchUsable);

  const batched = [], naive = [];
  const n = quick ? 200000 : 1000000;
  for (let r = 0; r < 3; r++) {
    batched.push(await dispatchRate('batched', n));
    naive.push(await dispatchRate('naive', n / 10));
  }
  add('dispatch', 'batched queue (training path)', median(batched), 'events/s');
  add('dispatch', 'naive: one TSFN call per event', median(naive), 'events/s');
  add('dispatch', 'ratio batched / naive', median(batched) / median(naive), 'x');

  const o = await onStepOverhead();
  add('onStep cost', 'no handler, 2-64-64-3 spirals', o.stepsPerRun / o.none, 'steps/s');
  add('onStep cost', 'no-op onStep', o.stepsPerRun / o.hook, 'steps/s');
  add('onStep cost', 'slowdown', ((o.hook - o.none) / o.none) * 100, '%');

  await gpuBench();

  console.log('\n| group | measurement | value | unit | note |\n|---|---|---:|---|---|');
  for (const r of rows) console.log(`| ${r.group} | ${r.what} | ${typeof r.value === 'number' ? r.value.toFixed(r.value >= 100 ? 0 : 2) : r.value} | ${r.unit} | ${r.note} |`);
  console.log(`\nTargets (ratios against PyTorch's best configuration from the paired epochs, SGEMM shares from the ${rounds.length} side-by-side round${rounds.length > 1 ? 's' : ''}):`);
  const line = (ok, text) => console.log(`- [${ok === null ? '?' : ok ? 'x' : ' '}] ${text}`);
  const vsTorch = (batch, factor) => {
    const ratio = sideBySide[batch].pairedRatio ?? null;
    const fromRounds = sideBySide[batch].ratio;
    const also = fromRounds === null ? "" : `; the rounds' median: ${fromRounds.toFixed(2)}x`;
    line(ratio === null ? null : ratio >= factor, `batch ${batch} at least ${factor}x PyTorch's best (${ratio === null ? 'not measured' : `${ratio.toFixed(2)}x, paired epochs${also}`})`);
  };
  const vsSgemm = (batch, share) =>
    line(sideBySide[batch].share >= share, `batch ${batch} at least ${share * 100}% of the 2-thread SGEMM rate (${(sideBySide[batch].share * 100).toFixed(0)}%)`);
  vsTorch(128, 1.5);
  vsSgemm(128, 0.7);
  vsTorch(1024, 1.3);
  vsSgemm(1024, 0.85);
  if (fashion && fashion.torch) {
    const ratio = fashion.ours.seconds / fashion.torch.seconds;
    // "At equal accuracy": within half a point, or better.
    const accurate = fashion.ours.accuracy >= fashion.torch.accuracy - 0.005;
    line(ratio <= 0.67 && accurate, `Fashion-MNIST 10 epochs in at most 0.67x PyTorch's time at equal test accuracy, within 0.5 points or better (${ratio.toFixed(2)}x; accuracy ${fashion.ours.accuracy.toFixed(4)} vs ${fashion.torch.accuracy.toFixed(4)})`);
  } else line(null, 'Fashion-MNIST 10 epochs in at most 0.67x PyTorch\'s time (not measured in this run)');
  line(median(batched) >= 10e6, `at least 10 million step events/s (${(median(batched) / 1e6).toFixed(2)} M)`);
  line(median(batched) >= 4 * median(naive), `at least 4x the naive baseline (${(median(batched) / median(naive)).toFixed(1)}x)`);
  line(o.hook - o.none < 0.02 * o.none, `no-op onStep costs under 2% (${(((o.hook - o.none) / o.none) * 100).toFixed(2)}%)`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
