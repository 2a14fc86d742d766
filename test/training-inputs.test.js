'use strict';
// Bad inputs (the promise rejects with a coded BackpropError before any step,
// and onError is not called), plus learning and seeded determinism.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const dist = process.env.BP_DIST || path.join(__dirname, '..', 'dist');
const { Trainer, TrainingCallback, datasets, BackpropError } = require(dist);
const { createSpy } = require('./helpers');

const MODEL = Object.freeze({ inputSize: 2, hiddenLayers: [16], outputSize: 3 });
const DATA = datasets.spirals({ samples: 300, classes: 3, seed: 4 });

function newTrainer(overrides = {}, model = {}) {
  return new Trainer({ model: { ...MODEL, ...model }, seed: 4, learningRate: 0.01, threads: 1, ...overrides });
}

function spyCallback() {
  return new TrainingCallback({
    onStep: createSpy('onStep'),
    onEpoch: createSpy('onEpoch'),
    onSave: createSpy('onSave'),
    onComplete: createSpy('onComplete'),
    onError: createSpy('onError'),
  });
}

/**
 * Trains with bad input and checks the contract for input errors: the promise
 * rejects with a BackpropError of `code`, no handler runs (onError included),
 * no step ran, and the trainer is free for the next run. Returns the error.
 */
async function expectInputError(trainer, data, options, code) {
  const cb = spyCallback();
  const errorEvent = createSpy('error event');
  trainer.on('error', errorEvent);
  let error;
  await assert.rejects(trainer.train(data, options, cb), (e) => {
    error = e;
    return true;
  });
  trainer.off('error', errorEvent);
  assert.ok(error instanceof BackpropError, `expected a BackpropError, got ${error && error.stack}`);
  assert.equal(error.code, code, error.message);
  assert.ok(error.message.length > 20, 'the message explains the problem');
  for (const hook of ['onStep', 'onEpoch', 'onSave', 'onComplete', 'onError']) cb[hook].assertCalled(0);
  errorEvent.assertCalled(0);
  assert.equal(trainer.status.step, 0, 'no step ran');
  assert.equal(trainer.status.state, 'idle');
  return error;
}

describe('training inputs', () => {
  let dir;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bp-inputs-'));
  });
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('bad data rejects before any step, without onError', () => {
    it('x that is not whole rows of inputSize -> INPUT_SHAPE_MISMATCH', async () => {
      const error = await expectInputError(newTrainer(), { x: new Float32Array(5), y: new Int32Array(2) }, { epochs: 1 }, 'INPUT_SHAPE_MISMATCH');
      assert.equal(error.details.field, 'x');
    });

    it('y with the wrong number of labels -> INPUT_SHAPE_MISMATCH', async () => {
      const error = await expectInputError(newTrainer(), { x: DATA.x, y: DATA.y.subarray(1) }, { epochs: 1 }, 'INPUT_SHAPE_MISMATCH');
      assert.equal(error.details.field, 'y');
      assert.equal(error.details.expected, 300);
    });

    it('float labels for classification -> INPUT_SHAPE_MISMATCH naming y', async () => {
      const error = await expectInputError(newTrainer(), { x: DATA.x, y: Float32Array.from(DATA.y) }, { epochs: 1 }, 'INPUT_SHAPE_MISMATCH');
      assert.equal(error.details.field, 'y');
    });

    it('x as a plain array -> INPUT_SHAPE_MISMATCH', async () => {
      await expectInputError(newTrainer(), { x: Array.from(DATA.x), y: DATA.y }, { epochs: 1 }, 'INPUT_SHAPE_MISMATCH');
    });

    it('a model whose inputSize does not match the data -> INPUT_SHAPE_MISMATCH', async () => {
      // 600 values are 200 rows of 3, but y has 300 labels.
      await expectInputError(newTrainer({}, { inputSize: 3 }), DATA, { epochs: 1 }, 'INPUT_SHAPE_MISMATCH');
    });

    it('NaN in x -> INPUT_NON_FINITE with the row and column', async () => {
      const x = Float32Array.from(DATA.x);
      x[2 * 17 + 1] = NaN;
      const error = await expectInputError(newTrainer(), { x, y: DATA.y }, { epochs: 1 }, 'INPUT_NON_FINITE');
      assert.equal(error.details.array, 'x');
      assert.equal(error.details.row, 17);
      assert.equal(error.details.column, 1);
    });

    it('Infinity in a regression target -> INPUT_NON_FINITE in y', async () => {
      const y = new Float32Array(300).fill(1);
      y[42] = Infinity;
      const trainer = newTrainer({}, { outputSize: 1, task: 'regression' });
      const error = await expectInputError(trainer, { x: DATA.x, y }, { epochs: 1 }, 'INPUT_NON_FINITE');
      assert.equal(error.details.array, 'y');
      assert.equal(error.details.row, 42);
    });

    it('no rows -> INPUT_EMPTY', async () => {
      await expectInputError(newTrainer(), { x: new Float32Array(0), y: new Int32Array(0) }, { epochs: 1 }, 'INPUT_EMPTY');
    });

    it('a label outside 0..outputSize-1 -> INPUT_LABEL_RANGE with the row', async () => {
      const y = Int32Array.from(DATA.y);
      y[123] = 3;
      const error = await expectInputError(newTrainer(), { x: DATA.x, y }, { epochs: 1 }, 'INPUT_LABEL_RANGE');
      assert.equal(error.details.row, 123);
      assert.equal(error.details.label, 3);
      const negative = Int32Array.from(DATA.y);
      negative[7] = -1;
      const error2 = await expectInputError(newTrainer(), { x: DATA.x, y: negative }, { epochs: 1 }, 'INPUT_LABEL_RANGE');
      assert.equal(error2.details.row, 7);
    });

    it('data that is not an object -> INPUT_SHAPE_MISMATCH', async () => {
      await expectInputError(newTrainer(), 42, { epochs: 1 }, 'INPUT_SHAPE_MISMATCH');
    });

    it('the trainer is usable after a rejected input', async () => {
      const trainer = newTrainer();
      await expectInputError(trainer, { x: new Float32Array(0), y: new Int32Array(0) }, { epochs: 1 }, 'INPUT_EMPTY');
      const run = await trainer.train(DATA, { epochs: 1, batchSize: 30 });
      assert.equal(run.steps, 10);
    });
  });

  describe('bad options', () => {
    const badTrainOptions = [
      [{ batchSize: 0 }, 'batchSize'],
      [{ epochs: 1.5 }, 'epochs'],
      [{ epochs: 0 }, 'epochs'],
      [{ maxSteps: -1 }, 'maxSteps'],
      [{ epoch: 3 }, 'epoch'],
      [{ stepEvents: 'drop' }, 'stepEvents'],
      [{ saveEverySteps: 10 }, 'outputDir'],
      [{ saveEveryEpoch: true }, 'outputDir'],
      [{ validationSplit: 0.95 }, 'validationSplit'],
      [{ queueCapacity: 0 }, 'queueCapacity'],
      [{ shuffle: 'yes' }, 'shuffle'],
      [{ signal: 'stop' }, 'signal'],
      [{ outputDir: '' }, 'outputDir'],
    ];
    for (const [options, field] of badTrainOptions) {
      it(`train option ${JSON.stringify(options)} -> CONFIG_INVALID naming '${field}'`, async () => {
        const error = await expectInputError(newTrainer(), DATA, options, 'CONFIG_INVALID');
        assert.equal(error.details.field, field, error.message);
      });
    }

    it("options that are not an object -> CONFIG_INVALID naming 'options'", async () => {
      const error = await expectInputError(newTrainer(), DATA, 'fast', 'CONFIG_INVALID');
      assert.equal(error.details.field, 'options');
    });

    const badConstructorOptions = [
      [{ model: { ...MODEL, activation: 'sigmoid' } }, 'model.activation'],
      [{ model: { ...MODEL, task: 'ranking' } }, 'model.task'],
      [{ model: { ...MODEL, hiddenLayers: [16, 0] } }, 'model.hiddenLayers[1]'],
      [{ model: { ...MODEL, hiddenLayers: 16 } }, 'model.hiddenLayers'],
      [{ model: { ...MODEL, inputSize: 0 } }, 'model.inputSize'],
      [{ model: { ...MODEL, outputSize: 1 } }, 'model.outputSize'],
      [{ model: { ...MODEL, layers: [3] } }, 'model.layers'],
      [{ model: MODEL, learningRate: 0 }, 'learningRate'],
      [{ model: MODEL, learningRate: NaN }, 'learningRate'],
      [{ model: MODEL, optimizer: 'adam' }, 'optimizer'],
      [{ model: MODEL, momentum: 1 }, 'momentum'],
      [{ model: MODEL, seed: -1 }, 'seed'],
      [{ model: MODEL, threads: 1.5 }, 'threads'],
      [{ model: MODEL, device: 'tpu' }, 'device'],
      [{ model: MODEL, lr: 0.1 }, 'lr'],
      [{}, 'model'],
    ];
    for (const [options, field] of badConstructorOptions) {
      it(`new Trainer(${JSON.stringify(options)}) throws synchronously CONFIG_INVALID naming '${field}'`, () => {
        let error;
        assert.throws(
          () => new Trainer(options),
          (e) => {
            error = e;
            return true;
          },
        );
        assert.ok(error instanceof BackpropError, `expected a BackpropError, got ${error}`);
        assert.equal(error.code, 'CONFIG_INVALID');
        assert.equal(error.details.field, field, error.message);
      });
    }
  });

  describe('data files', () => {
    function writeFile(name, text) {
      const file = path.join(dir, name);
      fs.writeFileSync(file, text);
      return file;
    }

    it('a CSV file with a bad cell -> INPUT_PARSE with details.line and details.column', async () => {
      const file = writeFile('bad-cell.csv', 'x1,x2,label\n0.1,0.2,0\n0.3,0.4,1\n0.5,abc,2\n0.7,0.8,0\n');
      const error = await expectInputError(newTrainer(), file, { epochs: 1 }, 'INPUT_PARSE');
      assert.equal(error.details.line, 4, error.message);
      assert.equal(error.details.column, 'x2', error.message);
      assert.match(error.message, /line 4/);
      assert.match(error.message, /abc/);
    });

    it('a CSV row with a missing cell -> INPUT_PARSE naming its line', async () => {
      const file = writeFile('short-row.csv', 'x1,x2,label\n0.1,0.2,0\n0.3,1\n');
      const error = await expectInputError(newTrainer(), file, { epochs: 1 }, 'INPUT_PARSE');
      assert.equal(error.details.line, 3);
    });

    it('a CSV label outside the classes -> INPUT_LABEL_RANGE', async () => {
      const file = writeFile('bad-label.csv', 'x1,x2,label\n0.1,0.2,0\n0.3,0.4,7\n');
      const error = await expectInputError(newTrainer(), file, { epochs: 1 }, 'INPUT_LABEL_RANGE');
      assert.equal(error.details.row, 1);
    });

    it('a CSV with a header and no rows -> INPUT_EMPTY', async () => {
      const file = writeFile('header-only.csv', 'x1,x2,label\n');
      await expectInputError(newTrainer(), file, { epochs: 1 }, 'INPUT_EMPTY');
    });

    it('a missing file -> INPUT_NOT_FOUND', async () => {
      const missing = path.join(dir, 'does-not-exist.csv');
      const error = await expectInputError(newTrainer(), missing, { epochs: 1 }, 'INPUT_NOT_FOUND');
      assert.equal(error.details.path, missing);
    });

    it('a CSV whose feature count differs from inputSize -> INPUT_SHAPE_MISMATCH', async () => {
      const file = writeFile('three-features.csv', 'a,b,c,label\n1,2,3,0\n4,5,6,1\n');
      await expectInputError(newTrainer(), file, { epochs: 1 }, 'INPUT_SHAPE_MISMATCH');
    });

    it('a good CSV trains like the same arrays', async () => {
      const lines = ['x1,x2,label'];
      for (let i = 0; i < DATA.rows; i++) lines.push(`${DATA.x[2 * i]},${DATA.x[2 * i + 1]},${DATA.y[i]}`);
      const file = writeFile('spirals.csv', lines.join('\n') + '\n');
      const fromFile = await newTrainer().train(file, { epochs: 2, batchSize: 30 });
      const fromArrays = await newTrainer().train(DATA, { epochs: 2, batchSize: 30 });
      assert.equal(fromFile.steps, 20);
      // The CSV holds the float32 values printed exactly, so the runs are the same.
      assert.deepStrictEqual(fromFile.lossHistory, fromArrays.lossHistory);
    });
  });

  describe('seeded determinism', () => {
    const opts = (seed) => ({ model: { inputSize: 2, hiddenLayers: [32, 32], outputSize: 3 }, seed, learningRate: 0.01 });
    const train = (options) => ({ epochs: 5, batchSize: 32, validationSplit: 0.1, ...options });

    it('two fresh trainers with the same seed and data give bit-identical loss histories and predictions', async () => {
      const a = new Trainer(opts(21));
      const b = new Trainer(opts(21));
      const ra = await a.train(DATA, train());
      const rb = await b.train(DATA, train());
      assert.deepStrictEqual(ra.lossHistory, rb.lossHistory);
      assert.equal(ra.metadata.validationLoss, rb.metadata.validationLoss);
      const probe = Float32Array.from(DATA.x.subarray(0, 40));
      assert.deepStrictEqual(a.predict(probe), b.predict(probe));
    });

    it('the same holds with one thread and with several', async () => {
      const one = await new Trainer({ ...opts(21), threads: 1 }).train(DATA, train());
      const two = await new Trainer({ ...opts(21), threads: 2 }).train(DATA, train());
      assert.deepStrictEqual(one.lossHistory, two.lossHistory);
    });

    it('each run trains on the data it was given: changed in place, larger or smaller than the last run\'s', async () => {
      // The native side copies x into the last run's storage; a stale copy would train on old rows.
      const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'bp-data-reuse-'));
      try {
        const x = Float32Array.from(DATA.x);
        const y = Int32Array.from(DATA.y);
        const larger = datasets.spirals({ samples: 600, classes: 3, seed: 9 });
        const smaller = datasets.spirals({ samples: 90, classes: 3, seed: 10 });
        const a = new Trainer(opts(21));
        await a.train({ x, y }, train());
        for (let i = 0; i < x.length; i++) x[i] = -x[i] * 0.5;  // the same array, new values
        for (const [label, data] of [['changed in place', { x, y }], ['larger', larger], ['smaller', smaller]]) {
          const checkpoint = await a.save(path.join(folder, label.replace(/ /g, '-')));
          const fresh = await Trainer.load(checkpoint);  // the same model state, storage never used
          const options = { epochs: 2, batchSize: 32, shuffle: false };
          const reused = await a.train(data, options);
          const reference = await fresh.train({ x: Float32Array.from(data.x), y: Int32Array.from(data.y) }, options);
          assert.deepStrictEqual(reused.lossHistory, reference.lossHistory, label);
        }
      } finally {
        fs.rmSync(folder, { recursive: true, force: true });
      }
    });

    it('a different seed gives a different run', async () => {
      const ra = await new Trainer(opts(21)).train(DATA, train());
      const rc = await new Trainer(opts(22)).train(DATA, train());
      assert.equal(ra.lossHistory.length, rc.lossHistory.length);
      assert.notDeepStrictEqual(ra.lossHistory, rc.lossHistory);
    });
  });

  describe('learning', () => {
    it('spirals, 3 classes, [64, 64], lr 0.01, 30 epochs -> accuracy > 0.9', async () => {
      const data = datasets.spirals({ samples: 900, classes: 3, seed: 7 });
      const trainer = new Trainer({ model: { inputSize: 2, hiddenLayers: [64, 64], outputSize: 3 }, learningRate: 0.01, seed: 7 });
      const run = await trainer.train(data, { epochs: 30, batchSize: 32 });
      const { loss, accuracy } = trainer.evaluate(data);
      assert.ok(accuracy > 0.9, `accuracy ${accuracy} (loss ${loss}) after ${run.steps} steps`);
      assert.ok(loss < run.lossHistory[0] / 4, `loss ${loss} vs first ${run.lossHistory[0]}`);
    });

    it('regression on y = sum(x) learns: the final loss is far below the first', async () => {
      const rows = 512;
      let state = 12345;
      const uniform = () => {
        state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
        return state / 2 ** 32;
      };
      const x = new Float32Array(rows * 3).map(() => uniform() * 2 - 1);
      const y = new Float32Array(rows).map((_, r) => x[3 * r] + x[3 * r + 1] + x[3 * r + 2]);
      const trainer = new Trainer({ model: { inputSize: 3, hiddenLayers: [16], outputSize: 1, task: 'regression' }, learningRate: 0.01, seed: 1 });
      const run = await trainer.train({ x, y }, { epochs: 30, batchSize: 32 });
      const first = run.lossHistory[0];
      const lastTen = run.lossHistory.slice(-10).reduce((a, b) => a + b, 0) / 10;
      assert.ok(lastTen < first * 0.05, `mean of the last 10 losses ${lastTen} vs first ${first}`);
      const { loss, accuracy } = trainer.evaluate({ x, y });
      assert.equal(accuracy, null);
      assert.ok(loss < first * 0.05);
      const pred = trainer.predict(new Float32Array([0.5, -0.25, 0.5]));
      assert.ok(Math.abs(pred[0] - 0.75) < 0.25, `predicted ${pred[0]} for a sum of 0.75`);
    });
  });
});
