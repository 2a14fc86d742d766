'use strict';
// Real data end to end: Fashion-MNIST from Debian's dataset-fashion-mnist
// package. Skipped, with the reason, where the files are not installed;
// under CI (CI=true) a missing package is a failure, since .ci/run installs it.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const dist = process.env.BP_DIST || path.join(__dirname, '..', 'dist');
const { datasets, Trainer, fashionMnistDir, FASHION_MNIST_LABELS } = require(dist);
const { runCli, parseNdjson } = require('./fixtures/cli-harness');

const FILES = ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'];

describe('Fashion-MNIST', function () {
  this.timeout(120000);

  describe('with the Debian files', () => {
    let train;
    let test;

    before(async function () {
      const dir = fashionMnistDir();
      const missing = FILES.filter((f) => !fs.existsSync(path.join(dir, f)) && !fs.existsSync(path.join(dir, f.replace(/\.gz$/, ''))));
      if (missing.length > 0) {
        const reason = `Fashion-MNIST not installed (${missing.join(', ')} missing in ${dir}): apt-get install dataset-fashion-mnist`;
        if (process.env.CI === 'true') throw new Error(`${reason}. CI must have it (.ci/run installs it).`);
        console.log(`      skipped: ${reason}`);
        this.skip();
      }
      [train, test] = await Promise.all([datasets.fashionMnist({ split: 'train' }), datasets.fashionMnist({ split: 'test' })]);
    });

    it('reads 60,000 training and 10,000 test images of 784 pixels in [0, 1], 10 classes, all present', () => {
      assert.equal(train.rows, 60000);
      assert.equal(test.rows, 10000);
      for (const split of [train, test]) {
        assert.equal(split.inputSize, 784);
        assert.equal(split.outputSize, 10);
        assert.equal(split.x.length, split.rows * 784);
        let min = Infinity;
        let max = -Infinity;
        for (let i = 0; i < split.x.length; i += 97) {
          min = Math.min(min, split.x[i]);
          max = Math.max(max, split.x[i]);
        }
        assert.ok(min === 0 && max === 1, `pixels span ${min}..${max}`);
        const counts = new Array(10).fill(0);
        for (const label of split.y) counts[label]++;
        // The data set is balanced: 6,000 (train) or 1,000 (test) images per class.
        assert.deepEqual(counts, new Array(10).fill(split.rows / 10));
      }
      assert.equal(FASHION_MNIST_LABELS.length, 10);
    });

    it('normalize: false keeps pixel bytes, and limit takes the first images', async () => {
      const raw = await datasets.fashionMnist({ split: 'test', normalize: false, limit: 100 });
      assert.equal(raw.rows, 100);
      assert.deepEqual(Array.from(raw.y), Array.from(test.y.subarray(0, 100)));
      for (let i = 0; i < raw.x.length; i++) assert.equal(raw.x[i], Math.round(test.x[i] * 255));
    });

    it('a 784-256-128-10 MLP (AdamW 1e-3, batch 128) clears 0.84 test accuracy in 3 epochs', async () => {
      const trainer = new Trainer({ model: { inputSize: 784, hiddenLayers: [256, 128], outputSize: 10 }, optimizer: 'adamw', learningRate: 1e-3, device: 'cpu' });
      const run = await trainer.train(train, { epochs: 3, batchSize: 128 });
      assert.equal(run.steps, 3 * Math.ceil(60000 / 128));
      const { accuracy } = trainer.evaluate(test);
      assert.ok(accuracy > 0.84, `test accuracy ${accuracy}`);
    });

    it('backprop train --demo fashion-mnist trains 784-256-128-10 at batch 128 on all 60,000 images and reports the test accuracy', async () => {
      const r = await runCli(['train', '--demo', 'fashion-mnist', '--epochs', '1', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const events = parseNdjson(r.stdout);
      const start = events.find((e) => e.event === 'start');
      assert.deepEqual(start.model.hiddenLayers, [256, 128]);
      assert.equal(start.batchSize, 128);
      assert.equal(start.trainRows, 60000);
      const test = events.find((e) => e.event === 'test');
      assert.equal(test.rows, 10000);
      assert.ok(test.accuracy > 0.8, `one epoch: test accuracy ${test.accuracy}`);
    });
  });

  it('missing files reject with INPUT_NOT_FOUND naming the package to install', async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'bp-fmnist-'));
    const saved = process.env.BACKPROP_FASHION_MNIST_DIR;
    try {
      process.env.BACKPROP_FASHION_MNIST_DIR = empty;
      await assert.rejects(datasets.fashionMnist({ split: 'test' }), (error) => {
        assert.equal(error.code, 'INPUT_NOT_FOUND');
        assert.match(error.message, /apt-get install dataset-fashion-mnist/);
        assert.equal(error.details.dir, empty);
        return true;
      });
    } finally {
      if (saved === undefined) delete process.env.BACKPROP_FASHION_MNIST_DIR;
      else process.env.BACKPROP_FASHION_MNIST_DIR = saved;
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });

  it('checks its options', async () => {
    for (const [options, field] of [[{ split: 'validation' }, 'split'], [{ normalize: 'yes' }, 'normalize'], [{ limit: -1 }, 'limit'], [{ splt: 'test' }, 'splt']]) {
      await assert.rejects(datasets.fashionMnist(options), (error) => error.code === 'CONFIG_INVALID' && error.details.field === field);
    }
  });
});
