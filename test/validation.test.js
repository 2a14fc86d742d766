'use strict';
// Every public entry point checks its options through one module: a bad
// option is a CONFIG_INVALID BackpropError whose details name the field and
// the value given, and an unknown key (a typo) comes with the key it most
// likely meant, in the message and in details.suggestion.
const assert = require('node:assert/strict');
const bp = require('../dist');

function configError(fn) {
  try {
    fn();
  } catch (error) {
    assert.ok(bp.isBackpropError(error), `not a BackpropError: ${error}`);
    assert.equal(error.code, 'CONFIG_INVALID');
    return error;
  }
  assert.fail('expected a CONFIG_INVALID error');
}

async function configErrorAsync(fn) {
  try {
    await fn();
  } catch (error) {
    assert.ok(bp.isBackpropError(error), `not a BackpropError: ${error}`);
    assert.equal(error.code, 'CONFIG_INVALID');
    return error;
  }
  assert.fail('expected a CONFIG_INVALID error');
}

const model = { inputSize: 2, hiddenLayers: [8], outputSize: 3 };

// [entry point, call with a typo'd key, the field expected, the suggestion expected]
const typoCases = [
  ['new Trainer()', () => new bp.Trainer({ model, learningrate: 0.1 }), 'learningrate', 'learningRate'],
  ['new Trainer() model', () => new bp.Trainer({ model: { ...model, hiddenLayer: [4] } }), 'model.hiddenLayer', 'hiddenLayers'],
  ['datasets.spirals()', () => bp.datasets.spirals({ sample: 10 }), 'sample', 'samples'],
  ['datasets.blobs()', () => bp.datasets.blobs({ classs: 3 }), 'classs', 'classes'],
  ['createEventHub()', () => bp.createEventHub({ maxStepRat: 10 }), 'maxStepRat', 'maxStepRate'],
  ['new GPUSafetyConfig()', () => new bp.GPUSafetyConfig({ tempCritcal: 85 }), 'gpuSafety.tempCritcal', 'tempCritical'],
  ['new GPUMonitor()', () => new bp.GPUMonitor({ deviceIndicies: [0] }), 'deviceIndicies', 'deviceIndices'],
  ['new GPUMonitor() handler', () => new bp.GPUMonitor({ onstatus: () => undefined }), 'onstatus', 'onStatus'],
  ['new MultiRunConfig()', () => new bp.MultiRunConfig({ numRun: 3 }), 'numRun', 'numRuns'],
  ['new MultiRunTrainer() gpuMonitor', () => new bp.MultiRunTrainer({ model, gpuMonitor: { deviceIdx: 0 } }), 'gpuMonitor.deviceIdx', 'deviceIndex'],
];

describe('option validation: one module, the same details everywhere', () => {
  for (const [where, call, field, suggestion] of typoCases) {
    it(`${where}: an unknown key names the field, the value and the key it most likely meant`, () => {
      const error = configError(call);
      assert.equal(error.details.field, field);
      assert.ok('value' in error.details, 'details.value is missing');
      assert.equal(error.details.suggestion, suggestion);
      assert.match(error.message, new RegExp(`Did you mean '${suggestion}'\\?`));
    });
  }

  it('train(): an unknown option is refused before any training, with a suggestion', async () => {
    const trainer = new bp.Trainer({ model });
    const data = bp.datasets.spirals({ samples: 30, classes: 3, seed: 1 });
    const error = await configErrorAsync(() => trainer.train(data, { epoch: 1 }));
    assert.equal(error.details.field, 'epoch');
    assert.equal(error.details.value, 1);
    assert.equal(error.details.suggestion, 'epochs');
  });

  it('hub.listen(): an unknown server option rejects with the field and a suggestion', async () => {
    const hub = bp.createEventHub();
    try {
      const error = await configErrorAsync(() => hub.listen({ tokn: 'abcdefghij' }));
      assert.equal(error.details.field, 'tokn');
      assert.equal(error.details.value, 'abcdefghij');
      assert.equal(error.details.suggestion, 'token');
    } finally {
      await hub.close();
    }
  });

  it('a key far from every known one gets no suggestion, but still names field and value', () => {
    const error = configError(() => new bp.Trainer({ model, zzzzzzzz: true }));
    assert.equal(error.details.field, 'zzzzzzzz');
    assert.equal(error.details.value, true);
    assert.equal(error.details.suggestion, undefined);
    assert.doesNotMatch(error.message, /Did you mean/);
  });

  it('a wrong value (not a key) names the field and carries the value', () => {
    const cases = [
      [() => new bp.Trainer({ model, learningRate: -1 }), 'learningRate', -1],
      [() => bp.datasets.spirals({ samples: 'many' }), 'samples', 'many'],
      [() => new bp.GPUSafetyConfig({ tempWarning: 99, tempCritical: 90 }), 'gpuSafety.tempCritical', 90],
    ];
    for (const [call, field, value] of cases) {
      const error = configError(call);
      assert.equal(error.details.field, field);
      assert.deepEqual(error.details.value, value);
    }
  });

  it('new GPUMonitor(): an unknown key is refused before any native monitor starts, naming the entry point', () => {
    const error = configError(() => new bp.GPUMonitor({ source: bp.scriptedGPUSource([{ temperatureC: 50 }]), checkIntervalMs: 10 }));
    assert.equal(error.details.field, 'checkIntervalMs');
    assert.equal(error.details.value, 10);
    assert.match(error.message, /new GPUMonitor\(\)/);
    assert.match(error.message, /not one of: .*deviceIndices/);
  });

  it('new GPUMonitor(): a wrong value names the field and carries the value', () => {
    const cases = [
      [{ deviceIndex: -1 }, 'deviceIndex', -1],
      [{ deviceIndices: [] }, 'deviceIndices', []],
      [{ onWarning: 'x' }, 'onWarning', 'x'],
      [{ libraryPath: 7 }, 'libraryPath', 7],
      [{ logger: 'console' }, 'logger', 'console'],
    ];
    for (const [options, field, value] of cases) {
      const error = configError(() => new bp.GPUMonitor(options));
      assert.equal(error.details.field, field, JSON.stringify(options));
      assert.deepEqual(error.details.value, value);
    }
  });

  it('MultiRunTrainer.run(): an unknown option rejects with the field and a suggestion', async () => {
    const trainer = new bp.MultiRunTrainer({ model, config: { numRuns: 1, enableGpuMonitoring: false } });
    const data = bp.datasets.spirals({ samples: 30, classes: 3, seed: 1 });
    const error = await configErrorAsync(() => trainer.run(data, { resum: true }));
    assert.equal(error.details.field, 'resum');
    assert.equal(error.details.value, true);
    assert.equal(error.details.suggestion, 'resume');
  });
});
