/**
 * MultiRunTrainer: several short training runs in sequence, each on a fresh
 * chunk of the data, carrying the model forward (continual learning).
 *
 * Each run is one native training job: a fresh Trainer whose train() call
 * takes stepsPerRun steps (maxSteps) on the run's chunk plus its replayed
 * rows, with the run's base learning rate and warm-up. Between runs the
 * session validates, checkpoints, merges ('simple' or 'average'), prunes and
 * writes its state file, so `run(data, { resume: true })` continues an
 * interrupted session with exactly the outcome of an uninterrupted one.
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
import type { GPUStatusHandler } from '../gpu/monitor';
import { createHash, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { readCheckpoint } from '../checkpoint';
import { resolveTrainOptions, resolveTrainerOptions, type ResolvedTrainerOptions, type StepEventsMode, type TrainerOptions } from '../config';
import type { PreparedData, TensorData } from '../data';
import { loadTrainingData } from '../training-data';
import { HandlerGuard, type CallbackErrorInfo } from '../handler-guard';
import { BackpropError, formatValue, isBackpropError } from '../errors';
import { GPUSafetyConfig, type GPUSafetyConfigOptions, type GPUStatus } from '../gpu/types';
import type { GPUSource } from '../gpu/scripted-source';
import type { TrainingRun } from '../run';
import { Trainer } from '../trainer';
import { resolveMultiRunConfig, type MultiRunConfig, type MultiRunConfigOptions } from './config';
import { GpuGate } from './gpu-gate';
import { planPruning } from './pruning';
import { planData, replayCount, runSeed, sampleReplay, type DataPlan } from './replay';
import { learningRateForRun } from './schedule';
import { resolveGpuMonitorOption, resolveRunOptions } from './options';
import { buildMultiRunResult, freezeRunResult, toRunResult, toStored, type RunResultFields } from './results';
import { isStagedName, settledStartCheckpoint, stagedName, unstagedName } from './session-commit';
import {
  fingerprintDifference,
  readSessionState,
  writeSessionState,
  SESSION_STATE_FORMAT,
  SESSION_STATE_VERSION,
  type SessionState,
  type StoredRunResult,
} from './session-state';

export type RunStartHandler = (runIndex: number) => unknown;
export type RunCompleteHandler = (result: RunResult) => unknown;
export type MultiRunStepHandler = (runIndex: number, step: number, loss: number) => unknown;
/** @deprecated Use GPUStatusHandler (the same type, from the GPU module). */
export type GpuStatusHandler = GPUStatusHandler;
/** @deprecated Use GPUMonitorOption. */
export type GpuMonitorOption = GPUMonitorOption;

export interface GPUMonitorOption {
  /** scriptedGPUSource(...) for a simulated GPU; omitted: NVML. */
  source?: GPUSource;
  /** Thresholds and checkIntervalMs of the session's monitor. */
  config?: GPUSafetyConfig | GPUSafetyConfigOptions;
  /** Default 0. */
  deviceIndex?: number;
}

export interface MultiRunTrainerOptions extends Omit<TrainerOptions, 'learningRate'> {
  config?: MultiRunConfig | MultiRunConfigOptions;
  /** Before each run, with its 1-based index. A returned promise is awaited before the run starts. */
  onRunStart?: RunStartHandler | null;
  /** After each run (also a failed or aborted one). The next run starts after it returns and its promise settles. */
  onRunComplete?: RunCompleteHandler | null;
  /** Each step of each run; step numbers restart at 1 in every run. */
  onStep?: MultiRunStepHandler | null;
  /** Every GPU sample of the session's monitor (also while paused). */
  onGpuStatus?: GPUStatusHandler | null;
  gpuMonitor?: GPUMonitorOption | null;
  /**
   * How each run delivers its step events, as in Trainer.train(): 'coalesce'
   * (default; when JavaScript falls behind, the oldest pending step events are
   * dropped) or 'block' (training waits for the step handlers; nothing dropped).
   */
  stepEvents?: StepEventsMode;
  /** As in Trainer.train(): pending step events ('coalesce', default 1024) or steps training may run ahead of the handlers ('block', default 1). */
  queueCapacity?: number;
}

export interface MultiRunOptions {
  /** Continue the interrupted session recorded in checkpointDir/run_history.json. */
  resume?: boolean;
  /** Label column when `data` is a file path. */
  label?: string;
}

/** The record of one run. Frozen; an update (pruning) is a fresh object. */
export interface RunResult {
  readonly runIndex: number;
  readonly steps: number;
  /** Distinct rows trained on: the run's fresh chunk plus its replayed rows (fewer if it stopped inside its first epoch). */
  readonly samples: number;
  /** Rows consumed by its steps, counting repeats across epochs. */
  readonly samplesSeen: number;
  /** Rows replayed from earlier chunks. */
  readonly replaySamples: number;
  /** replaySources[k]: replayed rows taken from run k+1's chunk. */
  readonly replaySources: readonly number[];
  readonly finalLoss: number | null;
  readonly lossHistory: readonly number[];
  /** The run's base learning rate (after warm-up). */
  readonly learningRate: number;
  readonly durationSeconds: number;
  /** checkpointDir/run-<i> (absolute), or null when none was written. */
  readonly checkpointPath: string | null;
  /** True once the checkpoint was deleted by pruning (checkpointPath keeps its old value). */
  readonly pruned: boolean;
  readonly validationLoss: number | null;
  readonly validationAccuracy: number | null;
  readonly gpuMaxTemp: number | null;
  readonly gpuMaxVramPercent: number | null;
  readonly failed: boolean;
  readonly failureReason: string | null;
  /** The session id (shared by all runs of a session). */
  readonly runId: string;
}

export interface MultiRunResult {
  readonly totalRuns: number;
  readonly totalSteps: number;
  readonly totalSamples: number;
  readonly totalDurationSeconds: number;
  /** The last completed run's final loss. */
  readonly finalLoss: number | null;
  readonly runs: readonly RunResult[];
  readonly aggregateLossHistory: readonly number[];
  /** Index in aggregateLossHistory where each run starts. */
  readonly runBoundaries: readonly number[];
  /** The checkpoint holding the session's model (simple: the last run's; average: the accumulator), or null. */
  readonly finalCheckpointPath: string | null;
  readonly mergeMode: MultiRunConfig['mergeMode'];
  /** True when abort() or a GPU emergency ended the session. */
  readonly aborted: boolean;
  /** Why the session ended before numRuns (abort reason, GPU emergency, early stopping), or null. */
  readonly abortReason: string | null;
  readonly runId: string;
}

export type MultiRunState = 'idle' | 'running' | 'paused' | 'stopping';

export interface MultiRunStatus {
  readonly state: MultiRunState;
  /** The session id, or null before the first session. */
  readonly runId: string | null;
  /** The run in progress (or the last one); 0 before any. */
  readonly runIndex: number;
  readonly numRuns: number;
  readonly completedRuns: number;
  /** Steps taken in the current run. */
  readonly step: number;
  readonly loss: number | null;
  readonly learningRate: number | null;
  /** True while a GPU pause is in force. */
  readonly gpuPaused: boolean;
}

export interface MultiRunEvents {
  runStart: [runIndex: number];
  runComplete: [result: RunResult];
  step: [runIndex: number, step: number, loss: number];
  gpuStatus: [status: GPUStatus];
  /** A GPU pause began (the sample that caused it). */
  paused: [status: GPUStatus | null];
  resumed: [status: GPUStatus | null];
  callbackError: [error: unknown, info: CallbackErrorInfo];
}

const OWN_KEYS = ['config', 'onRunStart', 'onRunComplete', 'onStep', 'onGpuStatus', 'gpuMonitor', 'stepEvents', 'queueCapacity'] as const;
const CALLBACK_KEYS = ['onRunStart', 'onRunComplete', 'onStep', 'onGpuStatus'] as const;
const ACCUMULATOR_DIR = 'accumulator';
const LATEST_DIR = 'latest';
/** How long a session waits for the GPU monitor's first sample before it starts training anyway. */
const FIRST_SAMPLE_TIMEOUT_MS = 1000;

/** Why a session is stopping; the first cause wins. */
interface StopRequest {
  kind: 'abort' | 'emergency' | 'fatal';
  /** MultiRunResult.abortReason (and what the native run is aborted with). */
  reason: string;
  /** RunResult.failureReason of the run it stops. */
  failureReason: string;
  error: BackpropError | null;
}

interface ActiveRun {
  runIndex: number;
  trainer: Trainer | null;
  step: number;
  loss: number | null;
  learningRate: number;
  gpuMaxTemp: number | null;
  gpuMaxVramPercent: number | null;
}

interface Session {
  dir: string;
  data: PreparedData;
  plan: DataPlan;
  validation: TensorData | null;
  state: SessionState;
  /** Every run reported in this run() call's result: restored ones, then this call's. */
  runs: RunResult[];
  /** Weights the next run starts from (null: the fresh trainer's initial weights). */
  startWeights: Float32Array | null;
  startedAt: number;
  priorElapsed: number;
}

export class MultiRunTrainer extends EventEmitter {
  readonly config: Readonly<MultiRunConfig>;
  /** The validated trainer options (learningRate is the schedule's, per run). */
  readonly trainerOptions: Readonly<Omit<ResolvedTrainerOptions, 'learningRate'>>;
  readonly onRunStart: RunStartHandler | null;
  readonly onRunComplete: RunCompleteHandler | null;
  readonly onStep: MultiRunStepHandler | null;
  readonly onGpuStatus: GPUStatusHandler | null;
  readonly gpuMonitor: Readonly<GPUMonitorOption> | null;
  /** Step event delivery of every run (Trainer.train's stepEvents and queueCapacity). */
  readonly stepDelivery: Readonly<{ stepEvents: StepEventsMode; queueCapacity: number }>;

  private readonly guard: HandlerGuard;
  private active = false;
  private stopRequest: StopRequest | null = null;
  private current: ActiveRun | null = null;
  private gate: GpuGate | null = null;
  private waiters: Array<() => void> = [];
  private sessionId: string | null = null;
  private lastRunIndex = 0;
  private completedRuns = 0;

  constructor(options: MultiRunTrainerOptions) {
    super();
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      throw new BackpropError('CONFIG_INVALID', `MultiRunTrainer options must be an object (got ${formatValue(options)}), e.g. { model: { inputSize: 2, hiddenLayers: [16], outputSize: 3 }, config: { numRuns: 3 } }.`, { field: 'options', value: options });
    }
    const raw = options as unknown as Record<string, unknown>;
    if ('learningRate' in raw && raw.learningRate !== undefined) {
      throw new BackpropError(
        'CONFIG_INVALID',
        `MultiRunTrainer takes its learning rates from the schedule: set config.initialLr / config.finalLr / config.lrDecay instead of learningRate (got ${formatValue(raw.learningRate)}).`,
        { field: 'learningRate', value: raw.learningRate },
      );
    }
    this.config = resolveMultiRunConfig(raw.config);
    for (const key of CALLBACK_KEYS) {
      const fn = raw[key];
      if (fn !== undefined && fn !== null && typeof fn !== 'function') {
        throw new BackpropError('CONFIG_INVALID', `${key} must be a function (got ${formatValue(fn)}). Pass a function, or leave it out.`, { field: key, value: fn });
      }
    }
    this.onRunStart = (raw.onRunStart as RunStartHandler | undefined) ?? null;
    this.onRunComplete = (raw.onRunComplete as RunCompleteHandler | undefined) ?? null;
    this.onStep = (raw.onStep as MultiRunStepHandler | undefined) ?? null;
    this.onGpuStatus = (raw.onGpuStatus as GPUStatusHandler | undefined) ?? null;
    this.gpuMonitor = resolveGpuMonitorOption(raw.gpuMonitor);
    // Checked by train()'s own rules (CONFIG_INVALID naming stepEvents / queueCapacity), now rather than at the first run.
    const delivery = resolveTrainOptions({ stepEvents: raw.stepEvents, queueCapacity: raw.queueCapacity });
    this.stepDelivery = Object.freeze({ stepEvents: delivery.stepEvents, queueCapacity: delivery.queueCapacity });

    const trainerRaw: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(raw)) {
      if (!(OWN_KEYS as readonly string[]).includes(key) && key !== 'learningRate') trainerRaw[key] = value;
    }
    const { learningRate: _lr, ...trainerOptions } = resolveTrainerOptions({ ...trainerRaw, learningRate: this.config.initialLr });
    this.trainerOptions = Object.freeze({ ...trainerOptions, model: Object.freeze({ ...trainerOptions.model }) }) as Readonly<Omit<ResolvedTrainerOptions, 'learningRate'>>;
    this.guard = new HandlerGuard(this, 'backpropagate MultiRunTrainer');
  }

  /** Live state of the session (also from inside handlers). */
  get status(): MultiRunStatus {
    const cur = this.current;
    let step = cur?.step ?? 0;
    if (cur?.trainer) step = Math.max(step, cur.trainer.status.step);
    const state: MultiRunState = !this.active ? 'idle' : this.stopRequest ? 'stopping' : this.gate?.paused ? 'paused' : 'running';
    return Object.freeze({
      state,
      runId: this.sessionId,
      runIndex: cur?.runIndex ?? this.lastRunIndex,
      numRuns: this.config.numRuns,
      completedRuns: this.completedRuns,
      step,
      loss: cur?.loss ?? null,
      learningRate: cur?.learningRate ?? null,
      gpuPaused: this.gate?.paused ?? false,
    });
  }

  /**
   * Stops the session: the current run stops within one step (onRunComplete
   * still fires for it, failed), no further run starts, and run() resolves
   * with aborted: true. Safe from inside any handler; a no-op when idle.
   */
  abort(reason: string = 'aborted'): void {
    if (!this.active) return;
    this.requestStop({ kind: 'abort', reason: String(reason), failureReason: `aborted: ${String(reason)}`, error: null });
  }

  /**
   * Runs the session on `data` ({ x, y } typed arrays, or a CSV/JSONL path).
   * Resolves with the MultiRunResult (also after abort() or early stopping);
   * rejects with a BackpropError for bad input (before any work), a run that
   * fails (e.g. RUNTIME_NON_FINITE_LOSS) or a GPU pause that cannot end
   * (RUNTIME_GPU_TEMPERATURE_CRITICAL); such errors carry the partial result
   * in `err.result`.
   */
  async run(data: TensorData | string, options: MultiRunOptions = {}): Promise<MultiRunResult> {
    const opts = resolveRunOptions(options);
    if (this.active) {
      throw new BackpropError('TRAINER_BUSY', 'This MultiRunTrainer is already running a session. Await run(), or abort() it first.', {});
    }
    this.active = true;
    this.stopRequest = null;
    this.current = null;
    this.lastRunIndex = 0;
    this.completedRuns = 0;
    try {
      const session = await this.openSession(data, opts);
      return await this.runSession(session);
    } finally {
      this.waiters.splice(0).forEach((wake) => wake());
      const gate = this.gate;
      this.gate = null;
      if (gate) await gate.stop();
      this.current = null;
      this.active = false;
    }
  }

  // -------------------------------------------------------------------------
  // Session set-up

  private async openSession(data: TensorData | string, opts: Required<Pick<MultiRunOptions, 'resume'>> & { label: string | null }): Promise<Session> {
    const cfg = this.config;
    const prepared = await this.loadData(data, opts.label);
    const plan = planData(prepared.rows, cfg, this.trainerOptions.seed);
    const validation = cfg.validationSamples > 0 ? subset(prepared, plan.validationRows) : null;
    const dir = path.resolve(cfg.checkpointDir);
    const fingerprint = this.fingerprint(prepared);
    let state: SessionState;
    let runs: RunResult[] = [];
    let startWeights: Float32Array | null = null;
    if (opts.resume) {
      state = await readSessionState(dir);
      const differs = fingerprintDifference(state.fingerprint, fingerprint);
      if (differs !== null) {
        throw new BackpropError(
          'CHECKPOINT_INCOMPATIBLE',
          `The session in ${dir} was started with a different ${differs} (${formatValue(state.fingerprint[differs])} there, ${formatValue(fingerprint[differs])} now). ` +
            `Resume with the same data, model, seed and training settings, or start a new session without { resume: true }.`,
          { path: dir, field: differs },
        );
      }
      runs = state.runs.map((r) => toRunResult(r, dir));
      if (state.startCheckpoint !== null) state.startCheckpoint = await settledStartCheckpoint(dir, state.startCheckpoint);
      // A finished session trains nothing more: its start checkpoint may since have been pruned (checkpointKeepFinal: false).
      const continues = !state.finished && state.nextRunIndex <= cfg.numRuns;
      if (continues && state.startCheckpoint !== null) {
        startWeights = (await readCheckpoint(path.join(dir, state.startCheckpoint))).params;
      }
      this.completedRuns = state.runs.length;
      this.lastRunIndex = state.runs.length > 0 ? state.runs[state.runs.length - 1]!.runIndex : 0;
    } else {
      const now = new Date().toISOString();
      state = {
        format: SESSION_STATE_FORMAT,
        version: SESSION_STATE_VERSION,
        runId: randomUUID(),
        createdAt: now,
        updatedAt: now,
        fingerprint,
        plan: {
          rngVersion: 1,
          seed: this.trainerOptions.seed,
          rows: prepared.rows,
          validationRows: plan.validationRows.length,
          chunkSize: cfg.samplesPerRun,
          chunks: cfg.numRuns,
        },
        nextRunIndex: 1,
        finished: false,
        stopReason: null,
        startCheckpoint: null,
        acceptedRuns: 0,
        bestValidationLoss: null,
        runsWithoutImprovement: 0,
        elapsedSeconds: 0,
        runs: [],
      };
      // Written at once, so the folder never describes an older session while this one runs.
      await writeSessionState(dir, state);
    }
    this.sessionId = state.runId;
    return { dir, data: prepared, plan, validation, state, runs, startWeights, startedAt: Date.now(), priorElapsed: state.elapsedSeconds };
  }

  private loadData(data: TensorData | string, label: string | null): Promise<PreparedData> {
    return loadTrainingData(data, this.trainerOptions.model, { label });
  }

  /** Everything that decides a session's outcome; resume requires it unchanged. */
  private fingerprint(data: PreparedData): Record<string, unknown> {
    const c = this.config;
    const t = this.trainerOptions;
    const hash = createHash('sha256');
    hash.update(Buffer.from(data.x.buffer, data.x.byteOffset, data.x.byteLength));
    hash.update(Buffer.from(data.y.buffer, data.y.byteOffset, data.y.byteLength));
    return {
      model: t.model,
      optimizer: t.optimizer,
      weightDecay: t.weightDecay,
      momentum: t.momentum,
      gradientClipNorm: t.gradientClipNorm,
      seed: t.seed,
      numRuns: c.numRuns,
      stepsPerRun: c.stepsPerRun,
      samplesPerRun: c.samplesPerRun,
      mergeMode: c.mergeMode,
      initialLr: c.initialLr,
      finalLr: c.finalLr,
      lrDecay: c.lrDecay,
      warmupStepsPerRun: c.warmupStepsPerRun,
      shuffleData: c.shuffleData,
      replayFraction: c.replayFraction,
      replayStrategy: c.replayStrategy,
      validationSamples: c.validationSamples,
      validateEveryRun: c.validateEveryRun,
      earlyStopping: c.earlyStopping,
      earlyStoppingPatience: c.earlyStoppingPatience,
      earlyStoppingThreshold: c.earlyStoppingThreshold,
      batchSize: c.batchSize,
      data: { rows: data.rows, sha256: hash.digest('hex') },
    };
  }

  // -------------------------------------------------------------------------
  // The session loop

  private async runSession(session: Session): Promise<MultiRunResult> {
    const cfg = this.config;
    let stopReason: string | null = session.state.stopReason;
    const alreadyDone = session.state.finished || session.state.nextRunIndex > cfg.numRuns;
    if (!alreadyDone) {
      if (cfg.enableGpuMonitoring) {
        this.startGpu();
        await this.waitForFirstSample();
      }
      for (let i = session.state.nextRunIndex; i <= cfg.numRuns; i++) {
        await this.waitWhilePaused();
        if (this.stopRequest) break;
        const outcome = await this.runOne(session, i);
        if (outcome.earlyStop) {
          stopReason = outcome.earlyStop;
          break;
        }
        if (outcome.failed || this.pendingStop()) break;
      }
    }
    const stop = this.pendingStop();
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

  private lastRunError: BackpropError | null = null;

  private async runOne(session: Session, runIndex: number): Promise<{ failed: boolean; earlyStop: string | null }> {
    const cfg = this.config;
    const { plan, state } = session;
    const seed = this.trainerOptions.seed;
    const learningRate = learningRateForRun(cfg, runIndex);
    const chunk = plan.chunks[runIndex - 1]!;
    const replay = sampleReplay(plan.chunks, runIndex, replayCount(cfg.replayFraction, cfg.samplesPerRun, runIndex), cfg.replayStrategy, seed);
    const rows = new Int32Array(chunk.length + replay.rows.length);
    rows.set(chunk, 0);
    rows.set(replay.rows, chunk.length);
    const runData = subset(session.data, rows);

    const cur: ActiveRun = { runIndex, trainer: null, step: 0, loss: null, learningRate, gpuMaxTemp: null, gpuMaxVramPercent: null };
    this.current = cur;
    this.lastRunIndex = runIndex;
    this.lastRunError = null;
    await this.callSettled('onRunStart', this.onRunStart, 'runStart', [runIndex]);
    // The GPU may have become too hot while onRunStart ran: training starts once it is clear.
    await this.waitWhilePaused();

    let training: TrainingRun | null = null;
    let failure: string | null = null;
    let trainer: Trainer | null = null;
    if (this.stopRequest) {
      failure = this.stopRequest.failureReason;
    } else {
      trainer = new Trainer({ ...this.trainerOptions, model: { ...this.trainerOptions.model }, seed: runSeed(seed, runIndex), learningRate });
      if (session.startWeights) trainer.setParameters(session.startWeights);
      cur.trainer = trainer;
      const t = trainer;
      const promise = t.train(
        runData,
        { maxSteps: cfg.stepsPerRun, batchSize: cfg.batchSize, shuffle: true, warmupSteps: cfg.warmupStepsPerRun, gpuSafety: false, ...this.stepDelivery },
        { onStep: (step: number, loss: number) => this.forwardStep(cur, t, step, loss) },
      );
      // The native run starts a few microtasks after train() is called; a pause
      // or abort requested in between is applied again once it has started.
      setImmediate(() => this.applyControls(cur, t));
      try {
        training = await promise;
      } catch (error) {
        training = ((error as { run?: TrainingRun }).run as TrainingRun | undefined) ?? null;
        if ((error as Error).name === 'AbortError') {
          failure = this.pendingStop()?.failureReason ?? `aborted: ${String((error as { reason?: unknown }).reason)}`;
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
      this.current = null;
      await this.callSettled('onRunComplete', this.onRunComplete, 'runComplete', [result]);
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
      this.current = null;
      await this.callSettled('onRunComplete', this.onRunComplete, 'runComplete', [result]);
      return { failed: true, earlyStop: null };
    }
    this.completedRuns += 1;
    try {
      await this.tidyAfterCommit(session);
    } catch (error) {
      // The run is committed and stands; the session cannot safely go on.
      const e = asBackpropError(error);
      this.requestStop({ kind: 'fatal', reason: `${e.code}: ${e.message}`, failureReason: `${e.code}: ${e.message}`, error: e });
    }
    this.current = null;
    await this.callSettled('onRunComplete', this.onRunComplete, 'runComplete', [outcome.result]);
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
    const cfg = this.config;
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
    const cfg = this.config;
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

  // -------------------------------------------------------------------------
  // Control: abort, GPU pauses

  /** Read through a method so TypeScript does not keep a narrowing across awaits. */
  private pendingStop(): StopRequest | null {
    return this.stopRequest;
  }

  private requestStop(request: StopRequest): void {
    if (this.stopRequest) return;
    this.stopRequest = request;
    const trainer = this.current?.trainer;
    if (trainer) trainer.abort(request.reason);
    this.waiters.splice(0).forEach((wake) => wake());
  }

  private applyControls(cur: ActiveRun, trainer: Trainer): void {
    if (cur.trainer !== trainer) return;
    if (this.stopRequest) trainer.abort(this.stopRequest.reason);
    else if (this.gate?.paused) trainer.pause();
  }

  private forwardStep(cur: ActiveRun, trainer: Trainer, step: number, loss: number): void {
    cur.step = step;
    cur.loss = loss;
    if (this.stopRequest) trainer.abort(this.stopRequest.reason);
    this.guard.call('onStep', this, this.onStep, [cur.runIndex, step, loss]);
    if (this.listenerCount('step') > 0) this.guard.emit('step', [cur.runIndex, step, loss]);
  }

  private waitWhilePaused(): Promise<void> {
    if (!this.gate?.paused || this.stopRequest) return Promise.resolve();
    return new Promise((resolve) => {
      const check = (): void => {
        if (!this.gate?.paused || this.stopRequest) resolve();
        else this.waiters.push(check);
      };
      check();
    });
  }

  private waitForFirstSample(): Promise<void> {
    const gate = this.gate;
    if (!gate || this.stopRequest) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      void gate.ready(FIRST_SAMPLE_TIMEOUT_MS).then(resolve);
    });
  }

  private startGpu(): void {
    const cfg = this.config;
    const settings = this.gpuMonitor ?? {};
    this.gate = new GpuGate({
      monitor: settings,
      maxTempC: cfg.maxTempC,
      pauseOnOverheat: cfg.pauseOnOverheat,
      cooldownMs: cfg.cooldownMs,
      maxPauseMs: cfg.maxPauseMs,
      onSample: (status) => {
        const cur = this.current;
        if (cur) {
          if (status.temperatureC !== null) cur.gpuMaxTemp = Math.max(cur.gpuMaxTemp ?? -Infinity, status.temperatureC);
          if (status.vramPercent !== null) cur.gpuMaxVramPercent = Math.max(cur.gpuMaxVramPercent ?? -Infinity, status.vramPercent);
        }
        this.guard.call('onGpuStatus', this, this.onGpuStatus, [status]);
        this.guard.emit('gpuStatus', [status]);
      },
      onPauseChange: (paused, status) => {
        const trainer = this.current?.trainer;
        if (paused) {
          trainer?.pause();
          this.guard.emit('paused', [status]);
        } else {
          trainer?.resume();
          this.guard.emit('resumed', [status]);
          this.waiters.splice(0).forEach((wake) => wake());
        }
      },
      onEmergency: (status) => {
        const reason = `RUNTIME_GPU_TEMPERATURE_CRITICAL: GPU ${status.deviceIndex} reached the emergency condition (${status.conditionReason || `${status.temperatureC} °C`}); the session was stopped`;
        this.requestStop({ kind: 'emergency', reason, failureReason: reason, error: null });
      },
      onFatal: (error) => {
        const reason = `${error.code}: ${error.message}`;
        this.requestStop({ kind: 'fatal', reason, failureReason: reason, error });
      },
    });
    this.gate.start();
  }

  // -------------------------------------------------------------------------
  // Handlers

  /** Calls a hook and the event's listeners, awaiting any promise they return; never throws. */
  private async callSettled(hook: string, fn: unknown, event: string, args: unknown[]): Promise<void> {
    await this.settle(hook, fn, args);
    for (const listener of this.listeners(event)) await this.settle(`listener:${event}`, listener, args);
  }

  private async settle(hook: string, fn: unknown, args: unknown[]): Promise<void> {
    if (typeof fn !== 'function') return;
    try {
      const result = (fn as (...a: unknown[]) => unknown).apply(this, args);
      if (result !== null && typeof result === 'object' && typeof (result as Promise<unknown>).then === 'function') {
        await (result as Promise<unknown>).then(undefined, (error: unknown) => this.guard.report(hook, error));
      }
    } catch (error) {
      this.guard.report(hook, error);
    }
  }
}

// ---------------------------------------------------------------------------
// Helpers

/** The rows `rows` of `data`, as a fresh { x, y }. */
function subset(data: PreparedData, rows: ArrayLike<number>): TensorData {
  const n = rows.length;
  const inW = data.inputSize;
  const x = new Float32Array(n * inW);
  const yW = data.y instanceof Int32Array ? 1 : data.outputSize;
  const y = data.y instanceof Int32Array ? new Int32Array(n) : new Float32Array(n * yW);
  for (let i = 0; i < n; i++) {
    const r = rows[i]!;
    x.set(data.x.subarray(r * inW, (r + 1) * inW), i * inW);
    y.set(data.y.subarray(r * yW, (r + 1) * yW) as never, i * yW);
  }
  return { x, y };
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
