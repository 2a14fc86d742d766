'use strict';
// Scenario "trainers": more trainers than CPU cores train at once on the CPU
// engine, each with handlers that misbehave in a planned way (trainer-plan.js).
// Per run the RunRecorder checks the dispatch contract on both the callback
// and the EventEmitter streams; this file adds what the handlers themselves
// can observe: every throw and rejection reaches 'callbackError' exactly
// once, a replaced handler is never called again, setLearningRate() is read
// back at once, an abort from a lockstep handler lands within queueCapacity
// steps, the only failure is the one a handler caused, checkpoints read
// back, and an aborted run resumes with the same loss history.

const os = require('node:os');
const { DIST, blockEventLoop, sleep, withTimeout, validateCheckpointsUnder } = require('../lib/util');
const { RunRecorder } = require('../lib/recorder');
const { planTrainer, FEATURES, CLASSES } = require('./trainer-plan');
const { createErrorLedger } = require('../lib/handler-error-ledger');

const { Trainer, TrainingCallback, datasets, readCheckpoint } = require(DIST);

/** A hung run is a violation, not a hung suite. */
const RUN_TIMEOUT_MS = 120000;
/** Inside a handler the native run may already be over ('idle'): training never waits for JavaScript. */
const TRAINER_STATES = new Set(['idle', 'running', 'paused', 'stopping']);

function makeData(plan) {
  return datasets.blobs({ samples: plan.rows, classes: CLASSES, features: FEATURES, seed: plan.seed });
}

/** Trains one planned trainer and checks everything about it; resolves when done (never rejects). */
async function runPlannedTrainer(ctx, plan) {
  const label = `trainer#${plan.id}(seed ${plan.seed})`;
  const fail = (message) => ctx.fail(`${label}: ${message}`);
  const token = `T${plan.id}-${plan.seed}`;
  const ledger = createErrorLedger(token, fail);
  const data = makeData(plan);
  const outputDir = plan.checkpoints ? ctx.tmpDir(`t${plan.id}`) : undefined;
  const trainOptions = { ...plan.trainOptions, ...(plan.checkpoints ? { outputDir, ...plan.checkpoints } : {}) };

  const trainer = new Trainer(plan.trainerOptions);
  const recorder = new RunRecorder({
    label,
    stepEvents: plan.trainOptions.stepEvents,
    stepsPerEpoch: plan.stepsPerEpoch,
    outputDir,
    views: ['callback', 'listener'],
  });
  const stopListening = recorder.listen(trainer);
  trainer.on('callbackError', (error, info) => ledger.onCallbackError(error, info));

  // Listeners that throw, and a chain of step listeners that each replace themselves.
  let listenerSteps = 0;
  if (plan.listenerThrowEvery) {
    trainer.on('step', () => {
      listenerSteps++;
      if (listenerSteps % plan.listenerThrowEvery === 0) throw ledger.make('listener:step');
    });
  }
  let chainCalls = 0;
  const chainLink = () => {
    const link = () => {
      chainCalls++;
      trainer.off('step', link);
      trainer.on('step', chainLink());
    };
    return link;
  };
  if (plan.listenerChain) trainer.on('step', chainLink());

  const timers = [];
  const later = (ms, fn) => timers.push(setTimeout(fn, ms));
  let abortRequestedAtStep = null;
  let abortRequested = false;
  let pauseDone = false;
  let poisonedAtStep = null;
  const learningRatesSet = [];
  const lrSteps = [...plan.learningRateSteps].sort((a, b) => a - b);
  let replaced = false;
  let oldStepCallsAfterReplace = 0;
  let stepsSeen = 0;
  const huge = new Float32Array(trainer.parameterCount).fill(1e30);

  const requestAbort = (why, step) => {
    if (abortRequested) return;
    abortRequested = true;
    if (step !== undefined) abortRequestedAtStep = step;
    trainer.abort(why);
  };

  const stepBehaviour = (step) => {
    stepsSeen++;
    if (plan.statusChecks) {
      const s = trainer.status;
      if (!TRAINER_STATES.has(s.state)) fail(`status.state '${s.state}' inside onStep(${step})`);
      if (s.step < step) fail(`status.step ${s.step} behind the delivered step ${step}`);
    }
    if (plan.blockEvery && stepsSeen % plan.blockEvery === 0) blockEventLoop(plan.blockMs);
    while (learningRatesSet.length < lrSteps.length && step >= lrSteps[learningRatesSet.length]) {
      const lr = 0.001 + ((step + learningRatesSet.length) % 97) / 1000;
      trainer.setLearningRate(lr);
      learningRatesSet.push(lr);
      const readBack = trainer.status.learningRate;
      if (readBack !== lr) fail(`setLearningRate(${lr}) inside onStep, status.learningRate reads ${readBack}`);
    }
    if (plan.pause && !pauseDone && step >= plan.pause.at) {
      pauseDone = true;
      trainer.pause();
      later(plan.pause.resumeMs, () => trainer.resume());
    }
    if (plan.abort && plan.abort.via === 'onStep' && step >= plan.abort.at) requestAbort('abort from onStep', step);
    if (plan.poisonWeightsAt && poisonedAtStep === null && step >= plan.poisonWeightsAt) {
      poisonedAtStep = step;
      trainer.setParameters(huge);
    }
    if (plan.throwOnStepEvery && stepsSeen % plan.throwOnStepEvery === 0) throw ledger.make('onStep');
    if (plan.rejectOnStepEvery && stepsSeen % plan.rejectOnStepEvery === 0) return Promise.reject(ledger.make('onStep'));
    return undefined;
  };

  const callbackObject = plan.plainObjectCallback ? {} : new TrainingCallback();
  const handlers = recorder.handlers('callback', {
    onStep: (step) => {
      if (replaced) oldStepCallsAfterReplace++;
      if (plan.replaceOnStepAt && !replaced && step >= plan.replaceOnStepAt) {
        replaced = true;
        // From the next event on, only the replacement may run.
        callbackObject.onStep = (s, loss) => {
          recorder.record('callback', 'step', { step: s, loss });
          return stepBehaviour(s);
        };
      }
      return stepBehaviour(step);
    },
    onEpoch: (epoch) => {
      if (plan.abort && plan.abort.via === 'onEpoch' && epoch >= plan.abort.at) requestAbort('abort from onEpoch');
      if (plan.throwingHooks.includes('onEpoch')) throw ledger.make('onEpoch');
    },
    onSave: () => {
      if (plan.abort && plan.abort.via === 'onSave') requestAbort('abort from onSave');
      if (plan.throwingHooks.includes('onSave')) throw ledger.make('onSave');
    },
    onComplete: () => {
      if (plan.throwingHooks.includes('onComplete')) throw ledger.make('onComplete');
    },
    onError: () => {
      if (plan.throwingHooks.includes('onError')) throw ledger.make('onError');
    },
  });
  Object.assign(callbackObject, handlers);

  let signal;
  if (plan.abort && plan.abort.via === 'signal') {
    const controller = new AbortController();
    signal = controller.signal;
    later(plan.abort.ms, () => controller.abort(new Error('abort by signal')));
  } else if (plan.abort && plan.abort.via === 'pre-aborted signal') {
    signal = AbortSignal.abort(new Error('aborted before the start'));
  }
  const promise = trainer.train(data, { ...trainOptions, ...(signal ? { signal } : {}) }, callbackObject);
  if (plan.abort && plan.abort.via === 'immediately') requestAbort('abort right after train()');
  if (plan.abort && plan.abort.via === 'timer') later(plan.abort.ms, () => requestAbort('abort from a timer'));

  await recorder.settle(withTimeout(promise, RUN_TIMEOUT_MS, `${label} train()`));
  for (const t of timers) clearTimeout(t);
  await sleep(20); // anything delivered after the terminal event would show up now
  stopListening();

  ctx.count('events', recorder.check(ctx.fail.bind(ctx)));
  ctx.count('runs');
  ctx.count('handlerErrors', ledger.check());
  const run = recorder.run;
  const error = recorder.settledWith.error;
  if (run && run.metadata.outcome === 'aborted') ctx.count('aborts');
  if (run) ctx.count('droppedSteps', run.metadata.droppedStepEvents);

  if (error && error.name !== 'AbortError') {
    const poisoned = poisonedAtStep !== null && error.code === 'RUNTIME_NON_FINITE_LOSS';
    if (!poisoned) fail(`the run failed although no handler broke it: ${error.code} ${error.message}`);
  }
  if (replaced && oldStepCallsAfterReplace > 0) fail(`the replaced onStep handler ran ${oldStepCallsAfterReplace} more time(s)`);
  if (plan.listenerChain) {
    const listenerSteps2 = recorder.views.listener.events.filter((e) => e.type === 'step').length;
    if (chainCalls !== listenerSteps2) fail(`self-replacing step listeners ran ${chainCalls} times for ${listenerSteps2} step events`);
  }
  if (run && learningRatesSet.length > 0) {
    const allowed = [plan.trainerOptions.learningRate, ...learningRatesSet];
    if (!allowed.includes(run.metadata.learningRate)) fail(`run.metadata.learningRate ${run.metadata.learningRate} is none of the rates set (${allowed.join(', ')})`);
  }
  // Lockstep: "an abort() from a handler lands on the very next step" (within queueCapacity steps in general).
  if (run && abortRequestedAtStep !== null && plan.trainOptions.stepEvents === 'block' && run.metadata.outcome === 'aborted') {
    const ahead = plan.trainOptions.queueCapacity || 1;
    if (run.steps > abortRequestedAtStep + ahead) fail(`block mode, queueCapacity ${ahead}: abort() in onStep(${abortRequestedAtStep}) but the run took ${run.steps} steps`);
  }
  if (outputDir) ctx.count('checkpoints', await validateCheckpointsUnder(outputDir, readCheckpoint, fail, label));

  // A run whose weights a handler poisoned checkpointed those weights: resuming it would diverge, as it should.
  if (plan.resumeAfterAbort && poisonedAtStep === null && run && run.metadata.outcome === 'aborted' && run.outputPath) {
    await resumeAbortedRun(ctx, plan, data, run, label);
  }
}

/** Resumes an aborted run from its last checkpoint: the contract again, and the same loss history up to the checkpoint. */
async function resumeAbortedRun(ctx, plan, data, aborted, label) {
  const rlabel = `${label} resumed`;
  const fail = (message) => ctx.fail(`${rlabel}: ${message}`);
  let checkpoint;
  try {
    checkpoint = await readCheckpoint(aborted.outputPath);
  } catch (error) {
    fail(`the aborted run's checkpoint ${aborted.outputPath} does not read back: ${error.code} ${error.message}`);
    return;
  }
  if (checkpoint.run.step !== aborted.steps) fail(`the aborted run took ${aborted.steps} steps but its checkpoint is at step ${checkpoint.run.step}`);
  const outputDir = ctx.tmpDir(`t${plan.id}-resumed`);
  const recorder = new RunRecorder({
    label: rlabel,
    stepEvents: plan.trainOptions.stepEvents,
    stepsPerEpoch: plan.stepsPerEpoch,
    outputDir,
    startStep: checkpoint.run.step,
    startEpoch: checkpoint.run.epoch - 1,
  });
  const trainer = new Trainer(plan.trainerOptions);
  const options = { ...plan.trainOptions, outputDir, resumeFrom: aborted.outputPath, ...(plan.checkpoints || {}) };
  await recorder.settle(withTimeout(trainer.train(data, options, recorder.handlers('callback')), RUN_TIMEOUT_MS, `${rlabel} train()`));
  await sleep(20);
  ctx.count('events', recorder.check(ctx.fail.bind(ctx)));
  ctx.count('runs');
  const run = recorder.run;
  if (recorder.settledWith.error) fail(`the resumed run failed: ${recorder.settledWith.error.code} ${recorder.settledWith.error.message}`);
  if (run) {
    const k = checkpoint.run.step;
    for (let i = 0; i < k; i++) {
      if (!Object.is(run.lossHistory[i], aborted.lossHistory[i])) {
        fail(`lossHistory[${i}] is ${run.lossHistory[i]} after resuming, ${aborted.lossHistory[i]} in the aborted run`);
        break;
      }
    }
  }
  ctx.count('checkpoints', await validateCheckpointsUnder(outputDir, readCheckpoint, fail, rlabel));
}

module.exports = {
  name: 'trainers',
  description: 'more CPU trainers than cores at once, handlers that flood, throw, block, control the run and replace themselves',
  weight: 0.34,
  async run(ctx) {
    const concurrency = Math.max(6, os.availableParallelism() * (ctx.long ? 4 : 3));
    let id = 0;
    while (ctx.nextRound()) {
      const plans = [];
      for (let i = 0; i < concurrency; i++) plans.push(planTrainer(ctx.random, ++id, { long: ctx.long }));
      await Promise.all(plans.map((plan) => runPlannedTrainer(ctx, plan)));
    }
  },
};
