'use strict';
const assert = require('node:assert/strict');
const path = require('node:path');

const dist = process.env.BP_DIST || path.join(__dirname, '..', 'dist');
const { resolveTrainerOptions, resolveTrainOptions } = require(path.join(dist, 'config'));

const MODEL = Object.freeze({ inputSize: 2, hiddenLayers: [16], outputSize: 3 });

/** Asserts fn throws CONFIG_INVALID for `field` (and `value`, when given). Returns the error. */
function assertConfigInvalid(fn, field, value) {
  let caught;
  assert.throws(fn, (error) => {
    caught = error;
    return true;
  });
  assert.equal(caught.name, 'BackpropError', `expected a BackpropError, got ${caught}`);
  assert.equal(caught.code, 'CONFIG_INVALID');
  assert.equal(caught.details.field, field, caught.message);
  if (arguments.length > 2) assert.deepEqual(caught.details.value, value);
  return caught;
}

function trainer(overrides = {}, modelOverrides = {}) {
  return resolveTrainerOptions({ model: { ...MODEL, ...modelOverrides }, ...overrides });
}

describe('config', () => {
  describe('resolveTrainerOptions', () => {
    it('fills every default', () => {
      assert.deepEqual(trainer(), {
        model: { inputSize: 2, hiddenLayers: [16], outputSize: 3, activation: 'relu', task: 'classification' },
        device: 'auto',
        seed: 42,
        optimizer: 'adamw',
        learningRate: 1e-3,
        weightDecay: 0.01,
        momentum: 0.9,
        gradientClipNorm: 0,
        threads: 0,
        tf32: false,
      });
    });

    it('keeps explicit values', () => {
      const resolved = resolveTrainerOptions({
        model: { inputSize: 4, hiddenLayers: [], outputSize: 1, activation: 'gelu', task: 'regression' },
        device: 'cuda:1',
        seed: 2 ** 32 - 1,
        optimizer: 'sgd',
        learningRate: 10,
        weightDecay: 0,
        momentum: 0,
        gradientClipNorm: 1.5,
        threads: 256,
        tf32: true,
      });
      assert.deepEqual(resolved, {
        model: { inputSize: 4, hiddenLayers: [], outputSize: 1, activation: 'gelu', task: 'regression' },
        device: 'cuda:1',
        seed: 2 ** 32 - 1,
        optimizer: 'sgd',
        learningRate: 10,
        weightDecay: 0,
        momentum: 0,
        gradientClipNorm: 1.5,
        threads: 256,
        tf32: true,
      });
    });

    it('tf32: a boolean, default false, or BACKPROP_CUDA_TF32=1', () => {
      assert.throws(() => trainer({ tf32: 'yes' }), (e) => e.code === 'CONFIG_INVALID' && e.details.field === 'tf32');
      const before = process.env.BACKPROP_CUDA_TF32;
      process.env.BACKPROP_CUDA_TF32 = '1';
      try {
        assert.equal(trainer().tf32, true);
        assert.equal(trainer({ tf32: false }).tf32, false);
      } finally {
        if (before === undefined) delete process.env.BACKPROP_CUDA_TF32;
        else process.env.BACKPROP_CUDA_TF32 = before;
      }
    });

    it('defaults weightDecay by optimizer: 0.01 for adamw, 0 for sgd', () => {
      assert.equal(trainer({ optimizer: 'adamw' }).weightDecay, 0.01);
      assert.equal(trainer({ optimizer: 'sgd' }).weightDecay, 0);
      assert.equal(trainer({ optimizer: 'sgd', weightDecay: 0.5 }).weightDecay, 0.5);
    });

    it('treats undefined options as not given', () => {
      assert.equal(trainer({ seed: undefined, learningRate: undefined }).seed, 42);
      assert.equal(trainer({}, { activation: undefined }).model.activation, 'relu');
    });

    it('copies hiddenLayers instead of keeping the caller array', () => {
      const hiddenLayers = [8, 8];
      const resolved = resolveTrainerOptions({ model: { ...MODEL, hiddenLayers } });
      hiddenLayers.push(4);
      assert.deepEqual(resolved.model.hiddenLayers, [8, 8]);
    });

    it('accepts every activation, task, optimizer and device form', () => {
      for (const activation of ['relu', 'tanh', 'gelu']) assert.equal(trainer({}, { activation }).model.activation, activation);
      assert.equal(trainer({}, { task: 'regression', outputSize: 1 }).model.task, 'regression');
      for (const device of ['auto', 'cpu', 'cuda', 'cuda:0', 'cuda:7', 'cuda:12']) assert.equal(trainer({ device }).device, device);
    });

    it('turns gradient clipping off for null, undefined and 0', () => {
      assert.equal(trainer({ gradientClipNorm: null }).gradientClipNorm, 0);
      assert.equal(trainer({ gradientClipNorm: undefined }).gradientClipNorm, 0);
      assert.equal(trainer({ gradientClipNorm: 0 }).gradientClipNorm, 0);
      assert.equal(trainer({ gradientClipNorm: 2 }).gradientClipNorm, 2);
    });

    it('rejects non-object options and a missing or malformed model', () => {
      for (const options of [undefined, null, 42, 'x', []]) assertConfigInvalid(() => resolveTrainerOptions(options), 'options');
      assertConfigInvalid(() => resolveTrainerOptions({}), 'model', undefined);
      assertConfigInvalid(() => resolveTrainerOptions({ model: [] }), 'model');
      assertConfigInvalid(() => resolveTrainerOptions({ model: null }), 'model', null);
    });

    it('rejects bad layer sizes, naming the exact field', () => {
      assertConfigInvalid(() => trainer({}, { inputSize: 0 }), 'model.inputSize', 0);
      assertConfigInvalid(() => trainer({}, { inputSize: 1.5 }), 'model.inputSize', 1.5);
      assertConfigInvalid(() => trainer({}, { inputSize: 1e6 + 1 }), 'model.inputSize');
      assertConfigInvalid(() => trainer({}, { inputSize: '2' }), 'model.inputSize', '2');
      assertConfigInvalid(() => trainer({}, { inputSize: undefined }), 'model.inputSize');
      assertConfigInvalid(() => trainer({}, { outputSize: 0 }), 'model.outputSize', 0);
      assertConfigInvalid(() => trainer({}, { outputSize: NaN }), 'model.outputSize');
      assertConfigInvalid(() => trainer({}, { hiddenLayers: 16 }), 'model.hiddenLayers', 16);
      assertConfigInvalid(() => trainer({}, { hiddenLayers: undefined }), 'model.hiddenLayers');
      assertConfigInvalid(() => trainer({}, { hiddenLayers: [16, 0] }), 'model.hiddenLayers[1]', 0);
      assertConfigInvalid(() => trainer({}, { hiddenLayers: [16, 2.5] }), 'model.hiddenLayers[1]', 2.5);
      // eslint-disable-next-line no-sparse-arrays
      assertConfigInvalid(() => trainer({}, { hiddenLayers: [16, , 8] }), 'model.hiddenLayers[1]', undefined);
      assertConfigInvalid(() => trainer({}, { hiddenLayers: new Array(65).fill(4) }), 'model.hiddenLayers');
      assert.equal(trainer({}, { hiddenLayers: new Array(64).fill(4) }).model.hiddenLayers.length, 64);
    });

    it('rejects unknown activation and task values', () => {
      assertConfigInvalid(() => trainer({}, { activation: 'sigmoid' }), 'model.activation', 'sigmoid');
      assertConfigInvalid(() => trainer({}, { activation: 'RELU' }), 'model.activation', 'RELU');
      assertConfigInvalid(() => trainer({}, { task: 'ranking' }), 'model.task', 'ranking');
    });

    it('requires at least two classes for classification', () => {
      const error = assertConfigInvalid(() => trainer({}, { outputSize: 1 }), 'model.outputSize', 1);
      assert.match(error.message, /regression/);
      assert.equal(trainer({}, { outputSize: 1, task: 'regression' }).model.outputSize, 1);
    });

    it('rejects bad devices', () => {
      for (const device of ['gpu', 'cuda:', 'cuda:-1', 'cuda:1.5', 'cuda:01', 'CPU', 0, null]) {
        assertConfigInvalid(() => trainer({ device }), 'device', device);
      }
    });

    it('checks seed, learningRate, weightDecay, momentum, gradientClipNorm and threads', () => {
      assertConfigInvalid(() => trainer({ seed: -1 }), 'seed', -1);
      assertConfigInvalid(() => trainer({ seed: 2 ** 32 }), 'seed');
      assertConfigInvalid(() => trainer({ seed: 0.5 }), 'seed');
      assert.equal(trainer({ seed: 0 }).seed, 0);

      const lr = assertConfigInvalid(() => trainer({ learningRate: -1 }), 'learningRate', -1);
      assert.match(lr.message, /learningRate must be a finite number > 0/);
      assert.match(lr.message, /\(got -1\)/);
      assert.match(lr.message, /Pass a positive step size such as 1e-3/);
      for (const learningRate of [0, 10.5, NaN, Infinity, '0.1', null]) assertConfigInvalid(() => trainer({ learningRate }), 'learningRate');

      for (const weightDecay of [-0.1, NaN, Infinity, null]) assertConfigInvalid(() => trainer({ weightDecay }), 'weightDecay');
      for (const momentum of [1, -0.1, 1.5, NaN]) assertConfigInvalid(() => trainer({ momentum }), 'momentum');
      for (const gradientClipNorm of [-1, NaN, Infinity, 'big']) assertConfigInvalid(() => trainer({ gradientClipNorm }), 'gradientClipNorm');
      for (const threads of [-1, 257, 1.5, '4']) assertConfigInvalid(() => trainer({ threads }), 'threads');
      assertConfigInvalid(() => trainer({ optimizer: 'adam' }), 'optimizer', 'adam');
    });

    it('rejects unknown top-level keys and suggests the intended one', () => {
      const error = assertConfigInvalid(() => trainer({ learningrate: 0.1 }), 'learningrate', 0.1);
      assert.match(error.message, /Unknown option 'learningrate'/);
      assert.match(error.message, /Did you mean 'learningRate'\?/);
      const typo = assertConfigInvalid(() => trainer({ optimiser: 'sgd' }), 'optimiser', 'sgd');
      assert.match(typo.message, /Did you mean 'optimizer'\?/);
      const unrelated = assertConfigInvalid(() => trainer({ colour: 'red' }), 'colour');
      assert.doesNotMatch(unrelated.message, /Did you mean/);
    });

    it('rejects unknown model keys with a dotted field', () => {
      const error = assertConfigInvalid(() => trainer({}, { hiddenLayer: [4] }), 'model.hiddenLayer', [4]);
      assert.match(error.message, /Did you mean 'hiddenLayers'\?/);
      assertConfigInvalid(() => trainer({}, { dropout: 0.5 }), 'model.dropout', 0.5);
    });
  });

  describe('resolveTrainOptions', () => {
    const DEFAULTS = {
      epochs: 1,
      maxSteps: 0,
      batchSize: 32,
      shuffle: true,
      outputDir: null,
      saveEverySteps: 0,
      saveEveryEpoch: false,
      resumeFrom: null,
      signal: null,
      stepEvents: 'coalesce',
      validationSplit: 0,
      label: null,
      labels: null,
      gpuSafety: undefined,
      queueCapacity: 1024,
      warmupSteps: 0,
    };

    it('fills every default, with or without an options object', () => {
      assert.deepEqual(resolveTrainOptions(undefined), DEFAULTS);
      assert.deepEqual(resolveTrainOptions({}), DEFAULTS);
    });

    it('keeps explicit values', () => {
      const controller = new AbortController();
      const gpuSafety = { maxTemperatureC: 85 };
      const options = {
        epochs: 5,
        maxSteps: 100,
        batchSize: 65536,
        shuffle: false,
        outputDir: '/tmp/ckpt',
        saveEverySteps: 10,
        saveEveryEpoch: true,
        resumeFrom: '/tmp/ckpt/step-10',
        signal: controller.signal,
        stepEvents: 'block',
        validationSplit: 0.9,
        label: 'target',
        labels: 'train-labels-idx1-ubyte.gz',
        gpuSafety,
        queueCapacity: 16,
        warmupSteps: 10,
      };
      const resolved = resolveTrainOptions(options);
      assert.deepEqual(resolved, options);
      assert.equal(resolved.signal, controller.signal);
      assert.equal(resolved.gpuSafety, gpuSafety, 'gpuSafety is passed through untouched');
    });

    it("defaults queueCapacity by mode: 1024 for 'coalesce', 1 (lockstep) for 'block'", () => {
      assert.equal(resolveTrainOptions({}).queueCapacity, 1024);
      assert.equal(resolveTrainOptions({ stepEvents: 'block' }).queueCapacity, 1);
      assert.equal(resolveTrainOptions({ stepEvents: 'block', queueCapacity: 64 }).queueCapacity, 64);
    });

    it('makes epochs unbounded (0) when only maxSteps is given', () => {
      assert.deepEqual([resolveTrainOptions({ maxSteps: 50 }).epochs, resolveTrainOptions({ maxSteps: 50 }).maxSteps], [0, 50]);
      assert.equal(resolveTrainOptions({ maxSteps: 50, epochs: 3 }).epochs, 3);
      assert.equal(resolveTrainOptions({ maxSteps: undefined }).epochs, 1);
    });

    it('accepts null for the nullable options', () => {
      const resolved = resolveTrainOptions({ outputDir: null, resumeFrom: null, signal: null, label: null });
      assert.deepEqual([resolved.outputDir, resolved.resumeFrom, resolved.signal, resolved.label], [null, null, null, null]);
    });

    it('accepts AbortSignal.timeout() and signal-shaped objects', () => {
      const signal = AbortSignal.timeout(10_000);
      assert.equal(resolveTrainOptions({ signal }).signal, signal);
      const lookalike = { aborted: false, addEventListener() {}, removeEventListener() {} };
      assert.equal(resolveTrainOptions({ signal: lookalike }).signal, lookalike);
    });

    it('rejects bad values, naming the field', () => {
      const cases = [
        ['epochs', 0], ['epochs', 1.5], ['epochs', 1e6 + 1], ['epochs', '3'], ['epochs', null],
        ['maxSteps', 0], ['maxSteps', -5], ['maxSteps', 2.5],
        ['batchSize', 0], ['batchSize', 65537], ['batchSize', 8.5],
        ['shuffle', 'yes'], ['shuffle', 1],
        ['validationSplit', -0.1], ['validationSplit', 0.95], ['validationSplit', NaN],
        ['stepEvents', 'drop'],
        ['queueCapacity', 0], ['queueCapacity', 1e6 + 1], ['queueCapacity', 100.5],
        ['saveEverySteps', -1], ['saveEverySteps', 1.5],
        ['saveEveryEpoch', 'true'],
        ['outputDir', ''], ['outputDir', 42],
        ['resumeFrom', ''], ['resumeFrom', {}],
        ['label', ''], ['label', 3],
        ['signal', {}], ['signal', { aborted: 'no', addEventListener() {} }], ['signal', { aborted: false }], ['signal', true],
      ];
      for (const [field, value] of cases) {
        assertConfigInvalid(() => resolveTrainOptions({ [field]: value }), field, value);
      }
    });

    it('rejects non-object options', () => {
      for (const options of [null, 5, 'fast', []]) assertConfigInvalid(() => resolveTrainOptions(options), 'options');
    });

    it('requires outputDir for saveEverySteps and saveEveryEpoch', () => {
      const steps = assertConfigInvalid(() => resolveTrainOptions({ saveEverySteps: 100 }), 'outputDir');
      assert.match(steps.message, /saveEverySteps needs outputDir/);
      const epoch = assertConfigInvalid(() => resolveTrainOptions({ saveEveryEpoch: true }), 'outputDir');
      assert.match(epoch.message, /saveEveryEpoch needs outputDir/);
      // Off values need no folder.
      assert.equal(resolveTrainOptions({ saveEverySteps: 0, saveEveryEpoch: false }).outputDir, null);
      assert.equal(resolveTrainOptions({ saveEverySteps: 100, outputDir: 'ckpt' }).saveEverySteps, 100);
    });

    it('rejects unknown keys and suggests the intended one', () => {
      const error = assertConfigInvalid(() => resolveTrainOptions({ batchsize: 64 }), 'batchsize', 64);
      assert.match(error.message, /Did you mean 'batchSize'\?/);
      const epoch = assertConfigInvalid(() => resolveTrainOptions({ epoch: 3 }), 'epoch', 3);
      assert.match(epoch.message, /Did you mean 'epochs'\?/);
    });

    it('says what to do in every message', () => {
      for (const options of [{ batchSize: 0 }, { stepEvents: 'x' }, { shuffle: 'x' }, { signal: {} }, { foo: 1 }]) {
        assert.throws(() => resolveTrainOptions(options), (error) => {
          assert.match(error.message, /\b(Pass|Remove|Use)\b/, error.message);
          return true;
        });
      }
    });
  });
});
