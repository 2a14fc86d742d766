'use strict';
// Property tests (fast-check) for option validation: every valid trainer,
// run and multi-run configuration is accepted with its values kept, and a
// valid configuration with any one field made invalid is refused with
// CONFIG_INVALID naming exactly that field (details.field).
const assert = require('node:assert/strict');
const path = require('node:path');
const fc = require('fast-check');

const dist = process.env.BP_DIST || path.join(__dirname, '..', 'dist');
const { resolveTrainerOptions, resolveTrainOptions } = require(path.join(dist, 'config'));
const { MultiRunConfig } = require(path.join(dist, 'multi-run'));

const RUNS = 300;

/** Calls fn and returns the error it throws (fails if it does not throw). */
function thrownBy(fn) {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return assert.fail('expected a CONFIG_INVALID error, nothing was thrown');
}

function assertRefusedNaming(fn, field, what) {
  const error = thrownBy(fn);
  assert.equal(error.code, 'CONFIG_INVALID', `${what}: ${error.stack}`);
  assert.equal(error.details.field, field, `${what}: ${error.message}`);
}

// ---------------------------------------------------------------------------
// Values: valid ones per field, and values each field must refuse.

// A negative bound of -Number.MIN_VALUE, not `max: 0, maxExcluded`: the latter still yields -0, which is zero.
const notANumber = fc.constantFrom(NaN, Infinity, -Infinity, '1', null, true, [], {});
const nonInteger = fc.double({ noNaN: true, noDefaultInfinity: true }).filter((v) => !Number.isInteger(v));
/** An integer (or not) outside [min, max], or not a number at all. */
const outsideIntegerRange = (min, max) =>
  fc.oneof(
    fc.integer({ min: Number.MIN_SAFE_INTEGER, max: min - 1 }),
    ...(max < Number.MAX_SAFE_INTEGER ? [fc.integer({ min: max + 1, max: Number.MAX_SAFE_INTEGER })] : []),
    nonInteger,
    notANumber,
  );
const notOneOf = (allowed) => fc.oneof(fc.string().filter((s) => !allowed.includes(s)), fc.constantFrom(null, 1, true, {}));

const activation = fc.constantFrom('relu', 'tanh', 'gelu');
const device = fc.oneof(fc.constantFrom('auto', 'cpu', 'cuda'), fc.nat({ max: 999999999 }).map((n) => `cuda:${n}`));

const validModel = fc
  .record({
    inputSize: fc.integer({ min: 1, max: 1e6 }),
    hiddenLayers: fc.array(fc.integer({ min: 1, max: 1e6 }), { maxLength: 64 }),
    task: fc.option(fc.constantFrom('classification', 'regression'), { nil: undefined }),
    activation: fc.option(activation, { nil: undefined }),
  })
  .chain((m) => fc.integer({ min: m.task === 'regression' ? 1 : 2, max: 1e6 }).map((outputSize) => ({ ...m, outputSize })))
  .map(dropUndefined);

const validTrainerOptions = fc
  .record(
    {
      model: validModel,
      device,
      seed: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      optimizer: fc.constantFrom('adamw', 'sgd'),
      learningRate: fc.double({ min: Number.MIN_VALUE, max: 10, noNaN: true }),
      weightDecay: fc.double({ min: 0, max: 1e6, noNaN: true }),
      momentum: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      gradientClipNorm: fc.oneof(fc.constant(null), fc.double({ min: 0, max: 1e6, noNaN: true })),
      threads: fc.integer({ min: 0, max: 256 }),
    },
    { requiredKeys: ['model'] },
  );

/** Each trainer field with values it must refuse; model fields use their dotted path. */
const INVALID_TRAINER_FIELDS = {
  device: fc.oneof(fc.string().filter((s) => !/^(auto|cpu|cuda|cuda:(0|[1-9][0-9]{0,8}))$/.test(s)), fc.constantFrom(null, 0, {})),
  seed: outsideIntegerRange(0, 2 ** 32 - 1),
  optimizer: notOneOf(['adamw', 'sgd']),
  learningRate: fc.oneof(fc.double({ max: 0, noNaN: true }), fc.double({ min: 10, minExcluded: true, noNaN: true }), notANumber),
  weightDecay: fc.oneof(fc.double({ max: -Number.MIN_VALUE, noNaN: true }), notANumber),
  momentum: fc.oneof(fc.double({ max: -Number.MIN_VALUE, noNaN: true }), fc.double({ min: 1, noNaN: true }), notANumber),
  gradientClipNorm: fc.oneof(fc.double({ max: -Number.MIN_VALUE, noNaN: true }), fc.constantFrom(NaN, Infinity, '1', true, {})),
  threads: outsideIntegerRange(0, 256),
  'model.inputSize': outsideIntegerRange(1, 1e6),
  'model.activation': notOneOf(['relu', 'tanh', 'gelu']),
  'model.task': notOneOf(['classification', 'regression']),
};

function dropUndefined(o) {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/** Sets a dotted field ('model.inputSize') on a deep copy of options. */
function withField(options, field, value) {
  const copy = { ...options, model: { ...options.model, hiddenLayers: [...options.model.hiddenLayers] } };
  const [head, tail] = field.split('.');
  if (tail) copy[head][tail] = value;
  else copy[head] = value;
  return copy;
}

// ---------------------------------------------------------------------------
// Run options

const validTrainOptions = fc
  .record(
    {
      epochs: fc.integer({ min: 1, max: 1e6 }),
      maxSteps: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      batchSize: fc.integer({ min: 1, max: 65536 }),
      shuffle: fc.boolean(),
      outputDir: fc.string({ minLength: 1 }).filter((s) => s.trim() !== ''),
      saveEverySteps: fc.integer({ min: 0, max: 1e9 }),
      saveEveryEpoch: fc.boolean(),
      validationSplit: fc.double({ min: 0, max: 0.9, noNaN: true }),
      stepEvents: fc.constantFrom('coalesce', 'block'),
      queueCapacity: fc.integer({ min: 1, max: 1e6 }),
      warmupSteps: fc.integer({ min: 0, max: 1e9 }),
      label: fc.string({ minLength: 1 }).filter((s) => s.trim() !== ''),
    },
    { requiredKeys: [] },
  )
  // Checkpoint schedules need somewhere to write.
  .filter((o) => o.outputDir !== undefined || (!o.saveEverySteps && !o.saveEveryEpoch));

const INVALID_TRAIN_FIELDS = {
  epochs: outsideIntegerRange(1, 1e6),
  maxSteps: outsideIntegerRange(1, Number.MAX_SAFE_INTEGER),
  batchSize: outsideIntegerRange(1, 65536),
  shuffle: fc.constantFrom(0, 1, 'true', null, {}),
  outputDir: fc.oneof(fc.constantFrom('', '   ', '\t'), fc.constantFrom(0, true, {})),
  saveEverySteps: outsideIntegerRange(0, Number.MAX_SAFE_INTEGER),
  saveEveryEpoch: fc.constantFrom(0, 1, 'yes', null),
  validationSplit: fc.oneof(fc.double({ max: -Number.MIN_VALUE, noNaN: true }), fc.double({ min: 0.9, minExcluded: true, noNaN: true }), notANumber),
  stepEvents: notOneOf(['coalesce', 'block']),
  queueCapacity: outsideIntegerRange(1, 1e6),
  warmupSteps: outsideIntegerRange(0, Number.MAX_SAFE_INTEGER),
  label: fc.oneof(fc.constantFrom('', ' '), fc.constantFrom(0, true, {})),
  signal: fc.constantFrom(true, 'signal', {}, { aborted: 'no' }, 1),
};

// ---------------------------------------------------------------------------
// Multi-run configuration

const validMultiRunConfig = fc
  .record(
    {
      numRuns: fc.integer({ min: 1, max: 1e9 }),
      stepsPerRun: fc.integer({ min: 1, max: 1e9 }),
      samplesPerRun: fc.integer({ min: 1, max: 1e9 }),
      mergeMode: fc.constantFrom('simple', 'average'),
      initialLr: fc.double({ min: Number.MIN_VALUE, max: 10, noNaN: true }),
      finalLr: fc.double({ min: Number.MIN_VALUE, max: 10, noNaN: true }),
      lrDecay: fc.constantFrom('linear', 'cosine', 'constant'),
      warmupStepsPerRun: fc.integer({ min: 0, max: 1e9 }),
      replayFraction: fc.double({ min: 0, max: 0.5, noNaN: true }),
      replayStrategy: fc.constantFrom('recent', 'random', 'all_previous'),
      maxTempC: fc.double({ min: Number.MIN_VALUE, max: 200, noNaN: true }),
      cooldownMs: fc.double({ min: 1, max: 1e9, noNaN: true }),
      batchSize: fc.integer({ min: 1, max: 65536 }),
      checkpointMaxTotal: fc.integer({ min: 1, max: 1e9 }),
    },
    { requiredKeys: [] },
  );

const INVALID_MULTI_RUN_FIELDS = {
  numRuns: outsideIntegerRange(1, 1e9),
  stepsPerRun: outsideIntegerRange(1, 1e9),
  mergeMode: notOneOf(['simple', 'average']),
  initialLr: fc.oneof(fc.double({ max: 0, noNaN: true }), fc.double({ min: 10, minExcluded: true, noNaN: true }), notANumber),
  lrDecay: notOneOf(['linear', 'cosine', 'constant']),
  replayFraction: fc.oneof(fc.double({ max: -Number.MIN_VALUE, noNaN: true }), fc.double({ min: 0.5, minExcluded: true, noNaN: true }), notANumber),
  maxTempC: fc.oneof(fc.double({ max: 0, noNaN: true }), fc.double({ min: 200, minExcluded: true, noNaN: true }), notANumber),
  batchSize: outsideIntegerRange(1, 65536),
  checkpointDir: fc.oneof(fc.constantFrom('', '  '), fc.constantFrom(0, null, true)),
};

/** One field name of `table` and a value it must refuse. */
const invalidFieldOf = (table) => fc.constantFrom(...Object.keys(table)).chain((field) => table[field].map((value) => ({ field, value })));

describe('property: configuration validation', () => {
  it('accepts every valid trainer configuration and keeps its values', () => {
    fc.assert(
      fc.property(validTrainerOptions, (options) => {
        const r = resolveTrainerOptions(options);
        assert.equal(r.model.inputSize, options.model.inputSize);
        assert.equal(r.model.outputSize, options.model.outputSize);
        assert.deepEqual(r.model.hiddenLayers, options.model.hiddenLayers);
        assert.notEqual(r.model.hiddenLayers, options.model.hiddenLayers, 'hiddenLayers is copied');
        for (const key of ['device', 'seed', 'optimizer', 'learningRate', 'weightDecay', 'momentum', 'threads']) {
          if (options[key] !== undefined) assert.equal(r[key], options[key], key);
        }
        assert.equal(r.gradientClipNorm, options.gradientClipNorm ?? 0);
      }),
      { numRuns: RUNS },
    );
  });

  it('refuses a valid trainer configuration with any one field made invalid, naming that field', () => {
    fc.assert(
      fc.property(validTrainerOptions, invalidFieldOf(INVALID_TRAINER_FIELDS), (options, { field, value }) => {
        assertRefusedNaming(() => resolveTrainerOptions(withField(options, field, value)), field, `${field} = ${String(value)}`);
      }),
      { numRuns: RUNS },
    );
  });

  it('names the hidden layer whose width is invalid, and a classifier with fewer than 2 outputs', () => {
    fc.assert(
      fc.property(validTrainerOptions, fc.nat(), outsideIntegerRange(1, 1e6), (options, at, width) => {
        const layers = [...options.model.hiddenLayers];
        const i = at % (layers.length + 1);
        layers.splice(i, 0, width);
        const bad = { ...options, model: { ...options.model, hiddenLayers: layers.slice(0, 64) } };
        if (i < 64) assertRefusedNaming(() => resolveTrainerOptions(bad), `model.hiddenLayers[${i}]`, `width ${String(width)} at ${i}`);
        const classifier = { ...options, model: { ...options.model, task: 'classification', outputSize: 1 } };
        assertRefusedNaming(() => resolveTrainerOptions(classifier), 'model.outputSize', 'classification with outputSize 1');
      }),
      { numRuns: RUNS },
    );
  });

  it('refuses any unknown option, naming it with its dotted path', () => {
    const known = new Set(['model', 'device', 'seed', 'optimizer', 'learningRate', 'weightDecay', 'momentum', 'gradientClipNorm', 'threads']);
    const knownModel = new Set(['inputSize', 'hiddenLayers', 'outputSize', 'activation', 'task']);
    fc.assert(
      fc.property(validTrainerOptions, fc.string({ minLength: 1 }), fc.boolean(), (options, key, inModel) => {
        if (inModel && !knownModel.has(key) && key !== '__proto__') {
          assertRefusedNaming(() => resolveTrainerOptions({ ...options, model: { ...options.model, [key]: 1 } }), `model.${key}`, `model.${key}`);
        } else if (!inModel && !known.has(key) && key !== '__proto__') {
          assertRefusedNaming(() => resolveTrainerOptions({ ...options, [key]: 1 }), key, key);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('accepts every valid run configuration and keeps its values', () => {
    fc.assert(
      fc.property(validTrainOptions, (options) => {
        const r = resolveTrainOptions(options);
        for (const [key, value] of Object.entries(options)) assert.equal(r[key], value, key);
      }),
      { numRuns: RUNS },
    );
  });

  it('refuses a valid run configuration with any one field made invalid, naming that field', () => {
    fc.assert(
      fc.property(validTrainOptions, invalidFieldOf(INVALID_TRAIN_FIELDS), (options, { field, value }) => {
        // An invalid outputDir with a checkpoint schedule is still reported as outputDir.
        assertRefusedNaming(() => resolveTrainOptions({ ...options, [field]: value }), field, `${field} = ${String(value)}`);
      }),
      { numRuns: RUNS },
    );
  });

  it('a checkpoint schedule without outputDir is refused naming outputDir', () => {
    fc.assert(
      fc.property(validTrainOptions, fc.oneof(fc.record({ saveEverySteps: fc.integer({ min: 1, max: 1e9 }) }), fc.constant({ saveEveryEpoch: true })), (options, schedule) => {
        const { outputDir: _dropped, ...rest } = options;
        assertRefusedNaming(() => resolveTrainOptions({ ...rest, ...schedule }), 'outputDir', JSON.stringify(schedule));
      }),
      { numRuns: 100 },
    );
  });

  it('accepts every valid multi-run configuration and refuses any one invalid field, naming it', () => {
    fc.assert(
      fc.property(validMultiRunConfig, invalidFieldOf(INVALID_MULTI_RUN_FIELDS), (config, { field, value }) => {
        const accepted = new MultiRunConfig(config);
        for (const [key, v] of Object.entries(config)) assert.equal(accepted[key], v, key);
        assertRefusedNaming(() => new MultiRunConfig({ ...config, [field]: value }), field, `${field} = ${String(value)}`);
      }),
      { numRuns: RUNS },
    );
  });
});
