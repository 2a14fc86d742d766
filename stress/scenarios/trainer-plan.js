'use strict';
// Random plans for the "trainers" scenario: the model, data, run options and
// what each trainer's handlers do to it (flood, throw, reject, block the
// event loop, abort/pause/resume/setLearningRate from inside, replace
// themselves, poison the weights). A plan is plain data, so a violation
// report can print it and a seed reproduces it.

const FEATURES = 4;
const CLASSES = 3;

/** The engine's split and epoch length (native/engine/trainer.cpp): validation rows, then ceil(train rows / batch). */
function stepsPerEpochFor(rows, validationSplit, batchSize) {
  let validationRows = 0;
  if (validationSplit > 0 && rows >= 2) {
    validationRows = Math.min(rows - 1, Math.max(1, Math.floor(rows * validationSplit)));
  }
  return Math.ceil((rows - validationRows) / batchSize);
}

function planAbort(random, totalSteps) {
  const roll = random.next();
  if (roll < 0.45) return null;
  if (roll < 0.65) return { via: 'onStep', at: random.int(1, totalSteps) };
  if (roll < 0.72) return { via: 'onEpoch', at: random.int(1, 3) };
  if (roll < 0.77) return { via: 'onSave' };
  if (roll < 0.85) return { via: 'timer', ms: random.int(0, 40) };
  if (roll < 0.92) return { via: 'signal', ms: random.int(0, 40) };
  if (roll < 0.96) return { via: 'immediately' };
  return { via: 'pre-aborted signal' };
}

/** One trainer's plan; `long` allows longer blocking handlers. */
function planTrainer(random, id, { long }) {
  const rows = random.int(120, 600);
  const batchSize = random.pick([8, 16, 32, 64]);
  const validationSplit = random.chance(0.3) ? 0.1 : 0;
  const stepsPerEpoch = stepsPerEpochFor(rows, validationSplit, batchSize);
  const epochs = random.int(2, 8);
  const maxSteps = random.chance(0.3) ? random.int(1, stepsPerEpoch * epochs) : undefined;
  const totalSteps = maxSteps !== undefined ? Math.min(maxSteps, stepsPerEpoch * epochs) : stepsPerEpoch * epochs;
  const stepEvents = random.chance(0.5) ? 'block' : 'coalesce';
  // Small coalesce queues make JavaScript fall behind and drop step events (the flood case).
  const queueCapacity = stepEvents === 'block' ? random.pick([undefined, 1, 2, 8]) : random.pick([undefined, 2, 4, 64]);
  const checkpoints = random.chance(0.4);
  const seed = random.int(0, 1e6);

  return {
    id,
    seed,
    rows,
    stepsPerEpoch,
    totalSteps,
    trainerOptions: {
      model: { inputSize: FEATURES, hiddenLayers: [random.pick([8, 16, 32])], outputSize: CLASSES, activation: random.pick(['relu', 'tanh', 'gelu']) },
      optimizer: random.pick(['adamw', 'sgd']),
      learningRate: 0.01,
      seed,
      threads: random.int(1, 2),
    },
    trainOptions: {
      epochs,
      ...(maxSteps !== undefined ? { maxSteps } : {}),
      batchSize,
      validationSplit,
      stepEvents,
      ...(queueCapacity !== undefined ? { queueCapacity } : {}),
    },
    checkpoints: checkpoints ? (random.chance(0.5) ? { saveEverySteps: random.int(1, Math.max(1, stepsPerEpoch * 2)) } : { saveEveryEpoch: true }) : null,
    // Handler behaviour.
    plainObjectCallback: random.chance(0.3),
    throwOnStepEvery: random.chance(0.3) ? random.int(3, 40) : 0,
    rejectOnStepEvery: random.chance(0.2) ? random.int(3, 40) : 0,
    throwingHooks: ['onEpoch', 'onSave', 'onComplete', 'onError'].filter(() => random.chance(0.25)),
    listenerThrowEvery: random.chance(0.2) ? random.int(2, 30) : 0,
    listenerChain: random.chance(0.3),
    blockEvery: random.chance(0.35) ? random.int(10, 60) : 0,
    blockMs: random.int(1, long ? 25 : 10),
    abort: planAbort(random, totalSteps),
    pause: random.chance(0.3) ? { at: random.int(1, totalSteps), resumeMs: random.int(1, 30) } : null,
    learningRateSteps: random.chance(0.3) ? [random.int(1, totalSteps), random.int(1, totalSteps)] : [],
    replaceOnStepAt: random.chance(0.3) ? random.int(1, totalSteps) : 0,
    // Huge weights make the loss non-finite (with tanh, equal logits can keep it finite: the run may then complete).
    poisonWeightsAt: random.chance(0.08) ? random.int(1, totalSteps) : 0,
    statusChecks: random.chance(0.5),
    resumeAfterAbort: random.chance(0.6),
  };
}

module.exports = { planTrainer, stepsPerEpochFor, FEATURES, CLASSES };
