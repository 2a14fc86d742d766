'use strict';
// Scenario "multi-run": several MultiRunTrainer sessions at once (random
// merge modes, replay, schedules, some with a scripted GPU monitor), aborted
// at random points: from onStep, onRunStart, onRunComplete, a timer, or not
// at all. An aborted session is then resumed to the end.
//
// Checked per session: runStart(i) / steps of run i / runComplete(i) nest
// and come in run order, run indices are 1, 2, ... with no gap; step numbers
// restart at 1 in every run, strictly increase and end at the run's step
// count; a session that was not aborted trains numRuns runs of stepsPerRun
// steps, none failed; an aborted one stops (only its last run may be failed,
// "aborted: <reason>") with aborted/abortReason set; the result's aggregate
// loss history is the runs' histories end to end; every checkpoint in the
// session folder reads back; the resumed session completes, keeps the
// session id and the loss histories of the runs it did not redo.

const { DIST, withTimeout, sleep, validateCheckpointsUnder } = require('../lib/util');

const { MultiRunTrainer, scriptedGpuSource, datasets, readCheckpoint } = require(DIST);

const SESSION_TIMEOUT_MS = 180000;
const MODEL = Object.freeze({ inputSize: 2, hiddenLayers: [8], outputSize: 3 });

function planSession(random, id) {
  const numRuns = random.int(2, 5);
  const stepsPerRun = random.int(10, 60);
  const roll = random.next();
  let abort = null;
  if (roll < 0.3) abort = { via: 'onStep', run: random.int(1, numRuns), step: random.int(1, stepsPerRun) };
  else if (roll < 0.45) abort = { via: 'onRunStart', run: random.int(1, numRuns) };
  else if (roll < 0.6) abort = { via: 'onRunComplete', run: random.int(1, numRuns) };
  else if (roll < 0.75) abort = { via: 'timer', ms: random.int(0, 200) };
  return {
    id,
    seed: random.int(1, 1e6),
    abort,
    gpu: random.chance(0.3),
    throwInOnStep: random.chance(0.2),
    config: {
      numRuns,
      stepsPerRun,
      samplesPerRun: random.int(60, 100),
      validationSamples: 30,
      mergeMode: random.pick(['simple', 'average']),
      lrDecay: random.pick(['linear', 'cosine', 'constant']),
      initialLr: 0.01,
      finalLr: 0.002,
      warmupStepsPerRun: random.int(0, 3),
      replayFraction: random.pick([0, 0.2, 0.5]),
      replayStrategy: random.pick(['recent', 'random', 'all_previous']),
      enableGpuMonitoring: false,
      checkpointKeepBestN: random.int(0, 3),
      checkpointMaxTotal: random.int(1, 5),
      batchSize: random.pick([8, 16, 32]),
    },
  };
}

/** Records a session's events and checks their nesting as they come. */
function createSessionLog(fail) {
  const log = { events: 0, current: null, lastStep: 0, nextRun: 1, completed: [], stepsByRun: new Map() };
  return {
    log,
    runStart(i) {
      log.events++;
      if (log.current !== null) fail(`runStart(${i}) while run ${log.current} has not completed`);
      if (i !== log.nextRun) fail(`runStart(${i}), expected run ${log.nextRun}`);
      log.current = i;
      log.lastStep = 0;
      log.nextRun = i + 1;
    },
    step(i, step) {
      log.events++;
      if (log.current !== i) fail(`a step of run ${i} outside it (current run ${log.current})`);
      if (!Number.isInteger(step) || step <= log.lastStep) fail(`run ${i}: step ${step} after step ${log.lastStep}`);
      log.lastStep = step;
      log.stepsByRun.set(i, step);
    },
    runComplete(r) {
      log.events++;
      if (log.current !== r.runIndex) fail(`runComplete(${r.runIndex}) while the current run is ${log.current}`);
      if (!r.failed && r.steps > 0 && log.lastStep !== r.steps) fail(`run ${r.runIndex}: last step delivered ${log.lastStep}, the run took ${r.steps}`);
      if (r.lossHistory.length !== r.steps) fail(`run ${r.runIndex}: ${r.lossHistory.length} losses for ${r.steps} steps`);
      log.completed.push(r.runIndex);
      log.current = null;
    },
  };
}

function checkResult(plan, result, seen, aborted, fail) {
  const c = plan.config;
  const indices = result.runs.map((r) => r.runIndex);
  if (JSON.stringify(indices) !== JSON.stringify(indices.map((_, k) => k + 1))) fail(`result runs ${indices.join(',')} are not 1..${indices.length}`);
  if (result.totalRuns !== result.runs.length) fail(`totalRuns ${result.totalRuns} for ${result.runs.length} runs`);
  const aggregate = result.runs.flatMap((r) => [...r.lossHistory]);
  if (aggregate.length !== result.aggregateLossHistory.length || aggregate.some((v, k) => !Object.is(v, result.aggregateLossHistory[k]))) {
    fail('aggregateLossHistory is not the runs\' loss histories end to end');
  }
  if (!aborted) {
    if (result.aborted) fail(`aborted: true but nothing aborted it (${result.abortReason})`);
    if (result.runs.length !== c.numRuns) fail(`${result.runs.length} runs, numRuns ${c.numRuns}`);
  } else if (result.aborted) {
    if (result.abortReason !== aborted) fail(`abortReason '${result.abortReason}', aborted with '${aborted}'`);
  }
  result.runs.forEach((r, k) => {
    const last = k === result.runs.length - 1;
    if (r.failed && !(result.aborted && last)) fail(`run ${r.runIndex} failed: ${r.failureReason}`);
    if (r.failed && r.failureReason !== `aborted: ${result.abortReason}`) fail(`run ${r.runIndex} failureReason '${r.failureReason}'`);
    if (!r.failed && r.steps !== c.stepsPerRun) fail(`run ${r.runIndex} completed with ${r.steps} steps, stepsPerRun ${c.stepsPerRun}`);
    if (r.runId !== result.runId) fail(`run ${r.runIndex} has runId ${r.runId}, the session ${result.runId}`);
  });
  if (seen && JSON.stringify(seen.completed) !== JSON.stringify(indices.slice(indices.length - seen.completed.length))) {
    fail(`onRunComplete for runs ${seen.completed.join(',')}, the result has ${indices.join(',')}`);
  }
}

async function runSession(ctx, plan) {
  const label = `session#${plan.id}(seed ${plan.seed})`;
  const fail = (m) => ctx.fail(`${label}: ${m}`);
  const dir = ctx.tmpDir(`s${plan.id}`);
  const data = datasets.blobs({ samples: plan.config.numRuns * 100 + 40, classes: 3, seed: plan.seed });
  const config = { ...plan.config, checkpointDir: dir };
  const gpuMonitor = plan.gpu ? { source: scriptedGpuSource([{ temperatureC: 55 }, { temperatureC: 60 }], { loop: true }), config: { checkIntervalMs: 5, logWarnings: false } } : undefined;
  if (plan.gpu) config.enableGpuMonitoring = true;
  const seen = createSessionLog(fail);
  let abortedWith = null;
  let thrown = 0;
  let reported = 0;
  let multi;
  const abort = (reason) => {
    if (abortedWith === null) abortedWith = reason;
    multi.abort(reason);
  };
  multi = new MultiRunTrainer({
    model: MODEL,
    seed: plan.seed,
    threads: 1,
    config,
    ...(gpuMonitor ? { gpuMonitor } : {}),
    onRunStart: (i) => {
      seen.runStart(i);
      if (plan.abort && plan.abort.via === 'onRunStart' && plan.abort.run === i) abort(`abort in onRunStart(${i})`);
    },
    onStep: (i, step) => {
      seen.step(i, step);
      if (plan.abort && plan.abort.via === 'onStep' && plan.abort.run === i && step >= plan.abort.step) abort(`abort in onStep(${i})`);
      if (plan.throwInOnStep && step % 7 === 0) {
        thrown++;
        throw new Error(`planned failure ${label}`);
      }
    },
    onRunComplete: (r) => {
      seen.runComplete(r);
      if (plan.abort && plan.abort.via === 'onRunComplete' && plan.abort.run === r.runIndex) abort(`abort in onRunComplete(${r.runIndex})`);
    },
  });
  multi.on('callbackError', (error, info) => {
    reported++;
    if (info.hook !== 'onStep' || !String(error && error.message).includes(label)) fail(`unexpected callbackError in ${info.hook}: ${error && error.message}`);
  });
  let timer = null;
  if (plan.abort && plan.abort.via === 'timer') timer = setTimeout(() => abort('abort from a timer'), plan.abort.ms);

  let result;
  try {
    result = await withTimeout(multi.run(data), SESSION_TIMEOUT_MS, `${label} run()`);
  } catch (error) {
    fail(`run() rejected: ${error.code || error.name} ${error.message}`);
    return;
  } finally {
    if (timer) clearTimeout(timer);
  }
  await sleep(10);
  if (multi.status.state !== 'idle') fail(`status.state '${multi.status.state}' after run() settled`);
  if (reported !== thrown) fail(`${thrown} onStep throws, ${reported} reported to 'callbackError'`);
  checkResult(plan, result, seen.log, result.aborted ? abortedWith : null, fail);
  ctx.count('events', seen.log.events);
  ctx.count('runs', result.runs.length);
  if (result.aborted) ctx.count('aborts');
  ctx.count('checkpoints', await validateCheckpointsUnder(dir, readCheckpoint, fail, label));

  if (result.aborted) {
    const resumer = new MultiRunTrainer({ model: MODEL, seed: plan.seed, threads: 1, config, ...(gpuMonitor ? { gpuMonitor } : {}) });
    let resumed;
    try {
      resumed = await withTimeout(resumer.run(data, { resume: true }), SESSION_TIMEOUT_MS, `${label} resume`);
    } catch (error) {
      fail(`resume rejected: ${error.code || error.name} ${error.message}`);
      return;
    }
    checkResult(plan, resumed, null, null, (m) => fail(`resumed: ${m}`));
    if (resumed.runId !== result.runId) fail(`the resumed session has id ${resumed.runId}, the original ${result.runId}`);
    for (const r of result.runs) {
      if (r.failed) continue;
      const again = resumed.runs[r.runIndex - 1];
      if (!again || again.lossHistory.some((v, k) => !Object.is(v, r.lossHistory[k]))) fail(`run ${r.runIndex}'s loss history changed on resume`);
    }
    ctx.count('runs', resumed.runs.length - result.runs.filter((r) => !r.failed).length);
    ctx.count('checkpoints', await validateCheckpointsUnder(dir, readCheckpoint, fail, `${label} resumed`));
  }
}

module.exports = {
  name: 'multi-run',
  description: 'MultiRunTrainer sessions aborted at random points (inside handlers or from outside), then resumed',
  weight: 0.2,
  async run(ctx) {
    let id = 0;
    while (ctx.nextRound()) {
      const sessions = [];
      for (let i = 0; i < 3; i++) sessions.push(runSession(ctx, planSession(ctx.random, ++id)));
      await Promise.all(sessions);
    }
  },
};
