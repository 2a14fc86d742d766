// The Fashion-MNIST row of `npm run bench`: 10 epochs of the 784-256-128-10 MLP, ours next to
// PyTorch on the same IDX files.
'use strict';
const { Trainer, datasets, fashionMnistDir } = require('../dist');
const { python, TORCH_CONFIGS, torchEnv, configName } = require('./python-baselines');

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * 10 epochs of the 784-256-128-10 MLP (AdamW 1e-3, batch 128) on the 60,000
 * Fashion-MNIST training images, then accuracy on the 10,000 test images,
 * ours next to PyTorch. The best configuration on synthetic data is not
 * always the best here (the gathers come from a 188 MB tensor), so every
 * PyTorch configuration runs once, and the fastest runs twice more; ours runs
 * three times, interleaved with those. Medians; time is the training only.
 * `add(group, what, value, unit, note)` records a table row. Returns
 * `{ ours, torch }` (each `{ seconds, accuracy }`; torch null without PyTorch),
 * or null when the data set is not installed.
 */
async function fashionMnistRow(add, torchAvailable) {
  const group = 'Fashion-MNIST 10 epochs b128';
  let train, test;
  try {
    [train, test] = await Promise.all([datasets.fashionMnist({ split: 'train' }), datasets.fashionMnist({ split: 'test' })]);
  } catch (error) {
    add(group, 'Fashion-MNIST', 'skipped', '', `(${error.code === 'INPUT_NOT_FOUND' ? 'apt-get install dataset-fashion-mnist' : error.message})`);
    return null;
  }
  const oursOnce = async (seed) => {
    const trainer = new Trainer({ model: { inputSize: 784, hiddenLayers: [256, 128], outputSize: 10 }, optimizer: 'adamw', learningRate: 1e-3, seed });
    const run = await trainer.train(train, { epochs: 10, batchSize: 128 });
    return { seconds: run.durationSeconds, accuracy: trainer.evaluate(test).accuracy };
  };
  const torchOnce = (config) => {
    const t = python('pytorch_fashion_mnist.py', [fashionMnistDir(), config.torch, 10, 128], torchEnv(config));
    return t.error ? null : { seconds: t.seconds, accuracy: t.testAccuracy, torch: t.torch };
  };
  const summary = (runs) => ({ seconds: median(runs.map((r) => r.seconds)), accuracy: median(runs.map((r) => r.accuracy)) });

  const oursRuns = [await oursOnce(1)];
  let best = null;
  for (const config of torchAvailable ? TORCH_CONFIGS : []) {
    const t = torchOnce(config);
    if (!t) {
      add(group, `PyTorch, ${configName(config)}: time`, 'n/a', '', '(pytorch_fashion_mnist.py failed)');
      continue;
    }
    add(group, `PyTorch ${t.torch}, ${configName(config)}: time, one run`, t.seconds, 's', `test accuracy ${t.accuracy.toFixed(4)}`);
    if (!best || t.seconds < best.runs[0].seconds) best = { config, runs: [t] };
  }
  for (let r = 2; r <= 3; r++) {
    oursRuns.push(await oursOnce(r));
    if (best) {
      const t = torchOnce(best.config);
      if (t) best.runs.push(t);
    }
  }
  const o = summary(oursRuns);
  add(group, 'backpropagate (2 threads): time', o.seconds, 's', `test accuracy ${o.accuracy.toFixed(4)}; runs ${oursRuns.map((r) => r.seconds.toFixed(2)).join(', ')} s`);
  if (!best) return { ours: o, torch: null };
  const t = summary(best.runs);
  add(group, `PyTorch best (${configName(best.config)}): time, ${best.runs.length} runs`, t.seconds, 's', `test accuracy ${t.accuracy.toFixed(4)}; runs ${best.runs.map((r) => r.seconds.toFixed(2)).join(', ')} s`);
  add(group, 'time ratio ours / PyTorch best', o.seconds / t.seconds, 'x', `accuracy ${((o.accuracy - t.accuracy) * 100).toFixed(2)} points apart`);
  return { ours: o, torch: t };
}

module.exports = { fashionMnistRow };
