#!/usr/bin/env node
// `npm run demo`: trains a classifier on the built-in spirals data and prints
// step/loss progress and the final accuracy.
'use strict';
const { Trainer, TrainingCallback, datasets } = require('..');

async function main() {
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
