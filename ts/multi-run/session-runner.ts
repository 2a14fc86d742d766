/**
 * The session loop of MultiRunTrainer: runs one run after another, each on a
 * fresh Trainer, and commits each completed run (validation, checkpoint,
 * merge, early stopping, pruning, session state) before the next starts.
 *
 * Why a fresh Trainer per run: the native trainer derives each train() call's
 * shuffle stream from how many runs that object has done (runOrdinal), so a
 * long-lived Trainer would give run k a different minibatch order in a
 * resumed session than in the original one. A fresh Trainer seeded with
 * runSeed(seed, k) trains run k identically however the session got there.
 *
 * Optimizer state: every run starts with a fresh optimizer (a new Trainer's
 * AdamW moments / SGD momentum are zero). Each run has its own base learning
 * rate and warm-up, trains on a different chunk, and in 'average' mode starts
 * from averaged weights the old moments do not describe; carrying moments
 * across those boundaries would apply stale, mismatched updates. It also keeps
 * resume exact: a run's outcome depends only on its start weights, its rows,
 * its seed and its learning rate, all of which the session state records.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { BackpropError, isBackpropError } from '../errors';
import type { TrainingRun } from '../run';
import { Trainer } from '../trainer';
import type { MultiRunResult, RunResult } from './multi-run-trainer';
import type { SessionSettings } from './options';
import { planPruning } from './pruning';
import { replayCount, runSeed, sampleReplay } from './replay';
import { buildMultiRunResult, freezeRunResult, toStored, type RunResultFields } from './results';
import { learningRateForRun } from './schedule';
import type { ActiveRun, SessionControl } from './session-control';
import { isStagedName, stagedName, unstagedName } from './session-commit';
import { subset, type Session } from './session-open';
import { writeSessionState } from './session-state';

const ACCUMULATOR_DIR = 'accumulator';
const LATEST_DIR = 'latest';

export class SessionRunner {
  /** The error of the run that failed on its own (not stopped), reported as the session's failure. */
  private lastRunError: BackpropError | null = null;

  constructor(private readonly settings: SessionSettings, private readonly control: SessionControl) {}

  /**
   * Runs the session's remaining runs and resolves with its result; rejects
   * (the partial result in `err.result`) for a fatal stop, a run that failed
   * on its own, or a session state that could not be written.
   */
  async run(session: Session): Promise<MultiRunResult> {
    const cfg = this.settings.config;
    let stopReason: string | null = session.state.stopReason;
    const alreadyDone = session.state.finished || session.state.nextRunIndex > cfg.numRuns;
    if (!alreadyDone) {
      if (cfg.enableGpuMonitoring) {
        await this.control.startGpu(this.settings);
      }
      for (let i = session.state.nextRunIndex; i <= cfg.numRuns; i++) {
        await this.control.waitWhilePaused();
        if (this.control.pendingStop()) break;
        const outcome = await this.runOne(session, i);
        if (outcome.earlyStop) {
          stopReason = outcome.earlyStop;
          break;
        }
        if (outcome.failed || this.control.pendingStop()) break;
      }
    }
    const stop = this.control.pendingStop();
    let writeError: unknown = null;
    if (!alreadyDone) {
      try {
        await this.writeState(session);
      } catch (error) {
        writeError = error;
      }
    }
    const result = buildMultiRunResult(session, {
      aborted: stop !== null && stop.kind !== 'fatal',
      abortReason: stop ? stop.reason : stopReason,
    });
    if (stop?.kind === 'fatal' && stop.error) throw withResult(stop.error, result);
    const last = session.runs[session.runs.length - 1];
    if (last && last.failed && stop === null) {
      // A run failed on its own (not aborted): that is the session's failure.
      throw withResult(this.lastRunError ?? new BackpropError('RUNTIME_FAILED', last.failureReason ?? 'run failed', {}), result);
    }
    if (writeError) throw isBackpropError(writeError) ? withResult(writeError, result) : writeError;
    return result;
  }

  private async runOne(session: Session, runIndex: number): Promise<{ failed: boolean; earlyStop: string | null }> {
    const cfg = this.settings.config;
    const { plan, state } = session;
    const seed = this.settings.trainerOptions.seed;
    const learningRate = learningRateForRun(cfg, runIndex);
    const chunk = plan.chunks[runIndex - 1]!;
    const replay = sampleReplay(plan.chunks, runIndex, replayCount(cfg.replayFraction, cfg.samplesPerRun, runIndex), cfg.replayStrategy, seed);
    const rows = new Int32Array(chunk.length + replay.rows.length);
    rows.set(chunk, 0);
    rows.set(replay.rows, chunk.length);
    const runData = subset(session.data, rows);

    const cur: ActiveRun = { runIndex, trainer: null, step: 0, loss: null, learningRate, gpuMaxTemp: null, gpuMaxVramPercent: null };
    this.control.current = cur;
    this.control.lastRunIndex = runIndex;
    this.lastRunError = null;
    await this.control.callSettled('onRunStart', 'runStart', [runIndex]);
    // The GPU may have become too hot while onRunStart ran: training starts once it is clear.
    await this.control.waitWhilePaused();

    let training: TrainingRun | null = null;
    let failure: string | null = null;
    let trainer: Trainer | null = null;
    const stopBefore = this.control.pendingStop();
    if (stopBefore) {
      failure = stopBefore.failureReason;
    } else {
      trainer = new Trainer({ ...this.settings.trainerOptions, model: { ...this.settings.trainerOptions.model }, seed: runSeed(seed, runIndex), learningRate });
      if (session.startWeights) trainer.setParameters(session.startWeights);
      cur.trainer = trainer;
      const t = trainer;
      const promise = t.train(
        runData,
        { maxSteps: cfg.stepsPerRun, batchSize: cfg.batchSize, shuffle: true, warmupSteps: cfg.warmupStepsPerRun, gpuSafety: false, ...this.settings.stepDelivery },
        { onStep: (step: number, loss: number) => this.control.forwardStep(cur, t, step, loss) },
      );
      // The native run starts a few microtasks after train() is called; a pause
      // or abort requested in between is applied again once it has started.
      setImmediate(() => this.control.applyControls(cur, t));
      try {
        training = await promise;
      } catch (error) {
        training = ((error as { run?: TrainingRun }).run as TrainingRun | undefined) ?? null;
        if ((error as Error).name === 'AbortError') {
          failure = this.control.pendingStop()?.failureReason ?? `aborted: ${String((error as { reason?: unknown }).reason)}`;
        } else {
          const e = isBackpropError(error) ? error : new BackpropError('RUNTIME_FAILED', (error as Error)?.message ?? String(error), {}, { cause: error });
          this.lastRunError = e;
          failure = `${e.code}: ${e.message}`;
        }
      }
      cur.trainer = null;
      if (training) {
        cur.step = training.steps;
        cur.loss = training.finalLoss;
      }
    }

    const base = {
      runIndex,
      steps: training?.steps ?? 0,
      samples: Math.min(rows.length, training?.samplesSeen ?? 0),
      samplesSeen: training?.samplesSeen ?? 0,
      replaySamples: replay.rows.length,
      replaySources: replay.counts,
      finalLoss: training?.finalLoss ?? null,
      lossHistory: training ? [...training.lossHistory] : [],
      learningRate,
      durationSeconds: training?.durationSeconds ?? 0,
      runId: state.runId,
    };
    // Samples up to the moment the result is built (validation and saving included).
    const gpu = (): { gpuMaxTemp: number | null; gpuMaxVramPercent: number | null } => ({ gpuMaxTemp: cur.gpuMaxTemp, gpuMaxVramPercent: cur.gpuMaxVramPercent });

    if (failure !== null || trainer === null) {
      const result = freezeRunResult({ ...base, ...gpu(), checkpointPath: null, pruned: false, validationLoss: null, validationAccuracy: null, failed: true, failureReason: failure });
      session.runs.push(result);
      // onRunComplete reports the run whatever happens here; the session writes its state again as it ends, and fails then.
      await this.writeState(session).catch(() => undefined);
      this.control.current = null;
      await this.control.callSettled('onRunComplete', 'runComplete', [result]);
      return { failed: true, earlyStop: null };
    }

    // Validation, checkpoint, merge, state: if any of it fails (e.g. a full
    // disk), the session state is rolled back and the run reported failed, so
    // a resume redoes it.
    const snapshot = structuredClone(state);
    const priorWeights = session.startWeights;
    const priorRuns = [...session.runs];
    let outcome: { result: RunResult; earlyStop: string | null };
    try {
      outcome = await this.commitRun(session, runIndex, trainer, { ...base, ...gpu() });
    } catch (error) {
      const e = asBackpropError(error);
      this.lastRunError = e;
      session.state = snapshot;
      session.startWeights = priorWeights;
      session.runs = priorRuns;
      const result = freezeRunResult({ ...base, ...gpu(), checkpointPath: null, pruned: false, validationLoss: null, validationAccuracy: null, failed: true, failureReason: `${e.code}: ${e.message}` });
      session.runs.push(result);
      this.control.current = null;
      await this.control.callSettled('onRunComplete', 'runComplete', [result]);
      return { failed: true, earlyStop: null };
    }
    this.control.completedRuns += 1;
    try {
      await this.tidyAfterCommit(session);
    } catch (error) {
      // The run is committed and stands; the session cannot safely go on.
      const e = asBackpropError(error);
      this.control.requestStop({ kind: 'fatal', reason: `${e.code}: ${e.message}`, failureReason: `${e.code}: ${e.message}`, error: e });
    }
    this.control.current = null;
    await this.control.callSettled('onRunComplete', 'runComplete', [outcome.result]);
    return { failed: false, earlyStop: outcome.earlyStop };
  }

  /**
   * After a completed run: validation, checkpoint, merge, early stopping and
   * pruning decisions, then the session state. Writing the state is the
   * commit point: nothing a resume could need is overwritten or deleted
   * before it. The merged weights ('average', or 'simple' without run
   * checkpoints) go to a staged folder first, and pruned folders are deleted
   * only once the state no longer refers to them; so a crash or a failed
   * write at any point leaves a state file whose start checkpoint exists and
   * holds exactly the weights it names.
   */
  private async commitRun(
    session: Session,
    runIndex: number,
    trainer: Trainer,
    base: Omit<RunResultFields, 'checkpointPath' | 'pruned' | 'validationLoss' | 'validationAccuracy' | 'failed' | 'failureReason'>,
  ): Promise<{ result: RunResult; earlyStop: string | null }> {
    const cfg = this.settings.config;
    const { state, dir } = session;
    // On the run's own weights first.
    const weights = trainer.getParameters();
    let validationLoss: number | null = null;
    let validationAccuracy: number | null = null;
    if (cfg.validateEveryRun && session.validation) {
      const evaluation = trainer.evaluate(session.validation);
      validationLoss = evaluation.loss;
      validationAccuracy = evaluation.accuracy;
    }
    let checkpointPath: string | null = null;
    if (cfg.saveEveryRun) checkpointPath = await trainer.save(path.join(dir, `run-${runIndex}`));
    if (cfg.mergeMode === 'simple') {
      if (checkpointPath) {
        state.startCheckpoint = `run-${runIndex}`;
      } else {
        await trainer.save(path.join(dir, stagedName(LATEST_DIR)));
        state.startCheckpoint = stagedName(LATEST_DIR);
      }
      session.startWeights = weights;
    } else {
      const accumulator = runningAverage(session.startWeights, weights, state.acceptedRuns);
      trainer.setParameters(accumulator);
      await trainer.save(path.join(dir, stagedName(ACCUMULATOR_DIR)));
      state.acceptedRuns += 1;
      state.startCheckpoint = stagedName(ACCUMULATOR_DIR);
      session.startWeights = accumulator;
    }

    // Early stopping against the best validation loss so far.
    let earlyStop: string | null = null;
    if (validationLoss !== null) {
      if (state.bestValidationLoss === null || validationLoss < state.bestValidationLoss - cfg.earlyStoppingThreshold) {
        state.bestValidationLoss = validationLoss;
        state.runsWithoutImprovement = 0;
      } else {
        state.runsWithoutImprovement += 1;
      }
      if (cfg.earlyStopping && state.runsWithoutImprovement >= cfg.earlyStoppingPatience && runIndex < cfg.numRuns) {
        earlyStop =
          `early stopping after run ${runIndex}: the validation loss did not improve on the best (${state.bestValidationLoss}) ` +
          `by more than ${cfg.earlyStoppingThreshold} for ${state.runsWithoutImprovement} run(s) (earlyStoppingPatience ${cfg.earlyStoppingPatience})`;
      }
    }

    const result = freezeRunResult({ ...base, checkpointPath, pruned: false, validationLoss, validationAccuracy, failed: false, failureReason: null });
    session.runs.push(result);
    state.runs.push(toStored(result, dir));
    state.nextRunIndex = runIndex + 1;
    if (earlyStop !== null || runIndex === cfg.numRuns) {
      state.finished = true;
      state.stopReason = earlyStop;
    }
    this.markPruned(session);
    await this.writeState(session);
    // markPruned() may have replaced it with a fresh object (pruned: true) already.
    return { result: session.runs.find((r) => r.runIndex === runIndex && !r.failed) ?? result, earlyStop };
  }

  /**
   * After the commit: deletes the folders of pruned runs, moves the staged
   * merge folder to its place and records that. A failure here leaves a
   * resumable session (the committed state names folders that still exist).
   */
  private async tidyAfterCommit(session: Session): Promise<void> {
    const { state, dir } = session;
    for (const r of session.runs) {
      // Also folders left behind by a session that stopped between its commit and this step.
      if (r.pruned && r.checkpointPath !== null) await fsp.rm(r.checkpointPath, { recursive: true, force: true });
    }
    const staged = state.startCheckpoint;
    if (staged === null || !isStagedName(staged)) return;
    const final = unstagedName(staged);
    await fsp.rm(path.join(dir, final), { recursive: true, force: true });
    await fsp.rename(path.join(dir, staged), path.join(dir, final));
    state.startCheckpoint = final;
    await this.writeState(session);
  }

  /**
   * Marks run checkpoints beyond the keep rules as pruned (checkpointAutoPrune),
   * in the results and the state; tidyAfterCommit() deletes them once the
   * state is written.
   */
  private markPruned(session: Session): void {
    const cfg = this.settings.config;
    if (!cfg.checkpointAutoPrune || !cfg.saveEveryRun) return;
    const { state, dir } = session;
    const candidates = session.runs.filter((r) => !r.failed && r.checkpointPath !== null && !r.pruned);
    // The checkpoint the next run starts from is never pruned while the session can continue.
    const protectedRun = cfg.mergeMode === 'simple' && !state.finished && state.startCheckpoint?.startsWith('run-') ? Number(state.startCheckpoint.slice(4)) : null;
    const { prune } = planPruning(
      candidates.map((r) => ({ runIndex: r.runIndex, validationLoss: r.validationLoss })),
      { keepBestN: cfg.checkpointKeepBestN, keepFinal: cfg.checkpointKeepFinal, maxTotal: cfg.checkpointMaxTotal },
      protectedRun,
    );
    for (const runIndex of prune) {
      const at = session.runs.findIndex((r) => r.runIndex === runIndex && !r.failed);
      const updated = freezeRunResult({ ...session.runs[at]!, pruned: true });
      session.runs[at] = updated;
      const stored = state.runs.findIndex((r) => r.runIndex === runIndex);
      if (stored >= 0) state.runs[stored] = toStored(updated, dir);
    }
  }

  private async writeState(session: Session): Promise<void> {
    const { state } = session;
    state.updatedAt = new Date().toISOString();
    state.elapsedSeconds = session.priorElapsed + (Date.now() - session.startedAt) / 1000;
    await writeSessionState(session.dir, state);
  }
}

/** The average of `accepted` runs' weights plus `next`, in float32 (as saved, so a resume continues from identical values). */
function runningAverage(average: Float32Array | null, next: Float32Array, accepted: number): Float32Array {
  if (average === null || accepted === 0) return Float32Array.from(next);
  const out = new Float32Array(next.length);
  const k = accepted + 1;
  for (let i = 0; i < next.length; i++) out[i] = average[i]! + (next[i]! - average[i]!) / k;
  return out;
}

function asBackpropError(error: unknown): BackpropError {
  return isBackpropError(error) ? error : new BackpropError('RUNTIME_FAILED', (error as Error)?.message ?? String(error), {}, { cause: error });
}

function withResult(error: BackpropError, result: MultiRunResult): BackpropError {
  Object.defineProperty(error, 'result', { value: result, enumerable: false, configurable: true });
  return error;
}
