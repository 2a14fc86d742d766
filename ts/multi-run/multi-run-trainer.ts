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
 * This module is the public face: options, events, status, abort() and
 * run(). Opening a session is session-open.ts, the run loop and its commits
 * session-runner.ts, stops, pauses and hooks session-control.ts.
 */
import type { GPUStatusHandler } from '../gpu/monitor';
import { EventEmitter } from 'node:events';
import { resolveTrainOptions, resolveTrainerOptions, type ResolvedTrainerOptions, type StepEventsMode, type TrainerOptions } from '../config';
import type { TensorData } from '../data';
import { HandlerGuard, type CallbackErrorInfo } from '../handler-guard';
import { BackpropError, formatValue } from '../errors';
import type { GPUSafetyConfig, GPUSafetyConfigOptions, GPUStatus } from '../gpu/types';
import type { GPUSource } from '../gpu/scripted-source';
import { resolveMultiRunConfig, type MultiRunConfig, type MultiRunConfigOptions } from './config';
import { resolveGpuMonitorOption, resolveRunOptions, type SessionSettings } from './options';
import { SessionControl } from './session-control';
import { openSession } from './session-open';
import { SessionRunner } from './session-runner';

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
  /** Label column when `data` is a CSV/JSONL path. */
  label?: string;
  /**
   * The IDX labels file when `data` is an IDX images file, as in
   * Trainer.train('train-images-idx3-ubyte.gz', { labels: 'train-labels-idx1-ubyte.gz' }).
   * Required there, rejected for any other data.
   */
  labels?: string;
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

export class MultiRunTrainer extends EventEmitter implements SessionSettings {
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
  /** The session in progress, or the last one (for status); null before the first. */
  private control: SessionControl | null = null;

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
    const control = this.control;
    const cur = control?.current ?? null;
    let step = cur?.step ?? 0;
    if (cur?.trainer) step = Math.max(step, cur.trainer.status.step);
    const gpuPaused = control?.gpuPaused ?? false;
    const state: MultiRunState = !this.active ? 'idle' : control?.pendingStop() ? 'stopping' : gpuPaused ? 'paused' : 'running';
    return Object.freeze({
      state,
      runId: control?.runId ?? null,
      runIndex: cur?.runIndex ?? control?.lastRunIndex ?? 0,
      numRuns: this.config.numRuns,
      completedRuns: control?.completedRuns ?? 0,
      step,
      loss: cur?.loss ?? null,
      learningRate: cur?.learningRate ?? null,
      gpuPaused,
    });
  }

  /**
   * Stops the session: the current run stops within one step (onRunComplete
   * still fires for it, failed), no further run starts, and run() resolves
   * with aborted: true. Safe from inside any handler; a no-op when idle.
   */
  abort(reason: string = 'aborted'): void {
    if (!this.active || !this.control) return;
    this.control.requestStop({ kind: 'abort', reason: String(reason), failureReason: `aborted: ${String(reason)}`, error: null });
  }

  /**
   * Runs the session on `data` ({ x, y } typed arrays, or a CSV/JSONL/IDX path).
   * Resolves with the MultiRunResult (also after abort() or early stopping);
   * rejects with a BackpropError for bad input (before any work), a run that
   * fails (e.g. RUNTIME_NON_FINITE_LOSS) or a GPU pause that cannot end
   * (RUNTIME_GPU_TEMPERATURE_CRITICAL); such errors carry the partial result
   * in `err.result`.
   */
  async run(data: TensorData | string, options: MultiRunOptions = {}): Promise<MultiRunResult> {
    const opts = resolveRunOptions(options, data);
    if (this.active) {
      throw new BackpropError('TRAINER_BUSY', 'This MultiRunTrainer is already running a session. Await run(), or abort() it first.', {});
    }
    this.active = true;
    const control = new SessionControl(
      { emitter: this, guard: this.guard, onRunStart: this.onRunStart, onRunComplete: this.onRunComplete, onStep: this.onStep, onGpuStatus: this.onGpuStatus },
      this.control?.runId ?? null,
    );
    this.control = control;
    try {
      const session = await openSession(this, control, data, opts);
      return await new SessionRunner(this, control).run(session);
    } finally {
      await control.close();
      this.active = false;
    }
  }
}
