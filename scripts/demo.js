#!/usr/bin/env node
// `npm run demo`: trains a classifier on the built-in spirals data and prints
// step/loss progress and the final accuracy.
// `npm run demo -- --fashion-mnist`: trains a 784-256-128-10 MLP (AdamW 1e-3,
// batch 128, 10 epochs) on Fashion-MNIST's 60,000 training images and prints
// the accuracy on its 10,000 test images (apt-get install dataset-fashion-mnist).
'use strict';
const { Trainer, TrainingCallback, datasets } = require('..');

async function fashionMnist() {
  const [train, test] = await Promise.all([datasets.fashionMnist({ split: 'train' }), datasets.fashionMnist({ split: 'test' })]);
  const trainer = new Trainer({
    model: { inputSize: train.inputSize, hiddenLayers: [256, 128], outputSize: train.outputSize },
    optimizer: 'adamw',
    learningRate: 1e-3,
  });
  const epochs = 10;
  const started = Date.now();
  let lastLoss = NaN;
  const callback = new TrainingCallback({
    onStep(_step, loss) {
      lastLoss = loss;
    },
    onEpoch(epoch) {
      console.log(`epoch ${String(epoch).padStart(2)}/${epochs}  loss ${lastLoss.toFixed(4)}  ${((Date.now() - started) / 1000).toFixed(1)} s`);
    },
  });
  console.log(`Fashion-MNIST: ${train.rows} training and ${test.rows} test images, 784-256-128-10 MLP, AdamW 1e-3, batch 128`);
  const run = await trainer.train(train, { epochs, batchSize: 128 }, callback);
  const { accuracy, loss } = trainer.evaluate(test);
  console.log(`\ntrained ${run.steps} steps in ${run.durationSeconds.toFixed(2)} s on ${run.metadata.device} (${run.metadata.kernel})`);
  console.log(`test accuracy ${(accuracy * 100).toFixed(2)}% on ${test.rows} test images (loss ${loss.toFixed(4)})`);
}

async function main() {
  if (process.argv.includes('--fashion-mnist')) return fashionMnist();
  const data = datasets.spirals({ samples: 3000, classes: 3, seed: 7 });
  const trainer = new Trainer({
    model: { inputSize: data.inputSize, hiddenLayers: [64, 64], outputSize: data.outputSize, activation: 'relu' },
    learningRate: 0.01,
    seed: 7,
  });
  const epochs = 40;
  let lastPrinted = 0;
  const callback = new TrainingCallback({
    onStep(step, loss) {
      const now = Date.now();
      if (now - lastPrinted >= 100) {
        lastPrinted = now;
        console.log(`step ${String(step).padStart(5)}  loss ${loss.toFixed(4)}`);
      }
    },
    onEpoch(epoch) {
      if (epoch % 10 === 0) console.log(`epoch ${epoch}/${epochs} done`);
    },
  });
  const run = await trainer.train(data, { epochs, batchSize: 32, validationSplit: 0.2 }, callback);
  const { accuracy } = trainer.evaluate(data);
  console.log(`\ntrained ${run.steps} steps in ${run.durationSeconds.toFixed(2)} s on ${run.metadata.device} (${run.metadata.kernel})`);
  console.log(`final loss ${run.finalLoss.toFixed(4)}, validation loss ${run.metadata.validationLoss.toFixed(4)}`);
  console.log(`validation accuracy ${(run.metadata.validationAccuracy * 100).toFixed(1)}%, accuracy on all data ${(accuracy * 100).toFixed(1)}%`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
