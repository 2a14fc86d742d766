/**
 * Trainer: trains an MLP on a native thread and reports progress through a
 * TrainingCallback and EventEmitter events.
 *
 * How events travel (the dispatch contract, README "Events"): the native
 * thread appends to a bounded queue and asks Node for one delivery whenever
 * none is pending; the JS thread then drains everything pending in one batch
 * and runs the handlers here, in order. Training never waits for JavaScript
 * unless stepEvents is 'block'.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import * as path from 'node:path';
import type { NativeStatus, NativeTrainOptions, TrainingSession } from '../binding';
import { asCallback, type TrainingCallbackHandlers } from './callback';
import { readCheckpoint } from './checkpoint';
import { resolveTrainerOptions, resolveTrainOptions, type ResolvedTrainerOptions, type ResolvedTrainOptions, type TrainerOptions, type TrainOptions } from './config';
import { prepareData, prepareFeatures, type PreparedData, type TensorData } from './data';
import { BackpropError, createAbortError } from './errors';
import { gpuSafetyObserver } from './gpu/trainer-safety';
import { HandlerGuard } from './handler-guard';
import { callNative, fromNativeError, native, publicCode } from './native';
import { nativeEventDecoder, type NativeRunEnd } from './native-events';
import { loadResumePoint, type ResumePoint } from './resume';
import { buildRun, type DeviceKind, type RunContext, type TrainingRun } from './run';
import { resolveDevice, type ResolvedDevice } from './device';
import { loadTrainingData } from './training-data';

export type TrainerState = NativeStatus['state'];

export interface TrainerStatus {
  readonly state: TrainerState;
  /** Steps taken in the current (or last) run. */
  readonly step: number;
  readonly epoch: number;
  /** The last step's loss. */
  readonly loss: number;
  readonly learningRate: number;
  readonly runId: string | null;
}

export interface EvaluationResult {
  loss: number;
  /** Fraction of rows classified correctly; null for regression. */
  accuracy: number | null;
}

export interface TrainerEvents {
  step: [step: number, loss: number];
  epoch: [epoch: number, info: { validationLoss: number | null; validationAccuracy: number | null }];
  save: [path: string];
  complete: [run: TrainingRun];
  error: [error: Error];
  callbackError: [error: unknown, info: { hook: string; error: unknown }];
  paused: [];
  resumed: [];
}

export class Trainer extends EventEmitter {
  /** The validated options, with every default filled in. */
  readonly options: Readonly<ResolvedTrainerOptions>;
  readonly device: DeviceKind;
  /** The CUDA device index when training on a GPU ('cuda:N'); null on the CPU. */
  readonly deviceIndex: number | null;
  readonly deviceReason: string | null;
  private readonly session: TrainingSession;
  private readonly guard: HandlerGuard;
  private activeRunId: string | null = null;
  private running = false;
  private pendingAbortReason: string | null = null;

  constructor(options: TrainerOptions) {
    super();
    this.options = Object.freeze(resolveTrainerOptions(options));
    const device = resolveDevice(this.options.device);
    const o = this.options;
    const create = (d: ResolvedDevice): TrainingSession =>
      callNative(
        () =>
          new (native().TrainingSession)({
            model: { ...o.model, hiddenLayers: [...o.model.hiddenLayers] },
            optimizer: o.optimizer,
            learningRate: o.learningRate,
            weightDecay: o.weightDecay,
            momentum: o.momentum,
            gradientClipNorm: o.gradientClipNorm,
            seed: o.seed,
            threads: o.threads,
            device: d.kind,
            deviceIndex: d.index,
            // TF32 tensor cores trade float32 results for speed: opt-in only.
            tf32: d.kind === 'cuda' && o.tf32,
          }),
      );
    let session: TrainingSession;
    let chosen = device;
    try {
      session = create(device);
    } catch (error) {
      // 'auto' saw a GPU but could not set up on it (memory, exclusive mode): use the CPU, saying why.
      const code = (error as { code?: unknown }).code;
      if (o.device !== 'auto' || device.kind !== 'cuda' || (code !== 'DEVICE_UNAVAILABLE' && code !== 'RUNTIME_GPU_OOM')) throw error;
      chosen = { kind: 'cpu', index: 0, reason: `the GPU could not be used: ${(error as Error).message}` };
      session = create(chosen);
    }
    this.session = session;
    this.device = chosen.kind;
    this.deviceIndex = chosen.kind === 'cuda' ? chosen.index : null;
    this.deviceReason = chosen.reason;
    this.guard = new HandlerGuard(this, 'backpropagate Trainer');
  }

  /** Number of trainable parameters. */
  get parameterCount(): number {
    return this.session.parameterCount;
  }

  /** Live state, read from the native side (also from inside handlers). */
  get status(): TrainerStatus {
    const s = this.session.status();
    return Object.freeze({ ...s, runId: this.activeRunId });
  }

  /**
   * Trains on `data` ({ x, y } typed arrays, or a CSV/JSONL file path).
   * Resolves with the finished run; rejects with a BackpropError (bad input,
   * before any step: onError is not called), a runtime BackpropError (after
   * onError), or an AbortError carrying the partial run in `err.run`.
   */
  train(data: TensorData | string, options: TrainOptions = {}, callback?: TrainingCallbackHandlers): Promise<TrainingRun> {
    let opts: ResolvedTrainOptions;
    let handlers: TrainingCallbackHandlers | null;
    try {
      opts = resolveTrainOptions(options, data);
      handlers = asCallback(callback);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.running) {
      return Promise.reject(new BackpropError('TRAINER_BUSY', 'This trainer is already training. Await the running train() call, or abort() it first.', {}));
    }
    this.running = true;
    this.pendingAbortReason = null;
    const release = <T>(p: Promise<T>): Promise<T> =>
      p.finally(() => {
        this.running = false;
      });
    // In-memory data without a checkpoint to read starts the native thread
    // before train() returns, so training is under way even if the caller
    // then blocks the event loop. Files and checkpoints are read first.
    if (typeof data !== 'string' && !opts.resumeFrom) {
      try {
        return release(this.startRun(prepareData(data, this.options.model), opts, handlers, null));
      } catch (error) {
        this.running = false;
        return Promise.reject(error);
      }
    }
    return release(
      (async () => {
        const prepared = await loadTrainingData(data, this.options.model, opts);
        const resume = opts.resumeFrom ? await loadResumePoint(opts.resumeFrom, this.options, opts) : null;
        return this.startRun(prepared, opts, handlers, resume);
      })(),
    );
  }

  /** Stops the run at the next step boundary; train() rejects with an AbortError. */
  abort(reason: string = 'aborted'): void {
    if (!this.running) return;
    this.pendingAbortReason ??= String(reason);
    this.session.abort(String(reason));
  }

  /** Holds training at the next step boundary until resume(). */
  pause(): void {
    this.session.pause();
  }

  resume(): void {
    this.session.resume();
  }

  /** Changes the learning rate from the next step on (also mid-run). */
  setLearningRate(learningRate: number): void {
    if (typeof learningRate !== 'number' || !Number.isFinite(learningRate) || learningRate <= 0 || learningRate > 10) {
      throw new BackpropError('CONFIG_INVALID', `learningRate must be a finite number in (0, 10] (got ${String(learningRate)}). Pass a positive step size such as 1e-3.`, { field: 'learningRate', value: learningRate });
    }
    this.session.setLearningRate(learningRate);
  }

  /** Outputs for each row of x: class probabilities (classification) or values; rows x outputSize. */
  predict(x: Float32Array): Float32Array {
    const { x: checked } = prepareFeatures(x, this.options.model.inputSize);
    return callNative(() => this.session.predict(checked));
  }

  /** Mean loss and (classification) accuracy on labelled data. */
  evaluate(data: TensorData): EvaluationResult {
    const prepared = prepareData(data, this.options.model);
    const r = callNative(() => this.session.evaluate(prepared.x, prepared.y));
    return { loss: r.loss, accuracy: Number.isFinite(r.accuracy) ? r.accuracy : null };
  }

  /** A copy of all weights as one flat vector (per layer: weight [out x in] row-major, then bias). */
  getParameters(): Float32Array {
    return this.session.getParameters();
  }

  /** Replaces all weights (same layout as getParameters()). Applies from the next step if a run is active. */
  setParameters(params: Float32Array): void {
    if (!(params instanceof Float32Array) || params.length !== this.parameterCount) {
      throw new BackpropError('INPUT_SHAPE_MISMATCH', `setParameters needs a Float32Array of ${this.parameterCount} values (got ${params instanceof Float32Array ? params.length + ' values' : typeof params}).`, { field: 'params', expected: this.parameterCount });
    }
    for (let i = 0; i < params.length; i++) {
      if (!Number.isFinite(params[i])) {
        throw new BackpropError('INPUT_NON_FINITE', `setParameters: value ${i} is ${params[i]}. Pass finite weights.`, { field: 'params', index: i });
      }
    }
    callNative(() => this.session.setParameters(params));
  }

  /** Forgets the optimizer's moments (AdamW) or momentum (SGD), as a fresh optimizer. */
  resetOptimizerState(): void {
    const current = this.session.getOptimizerState();
    callNative(() =>
      this.session.setOptimizerState({
        optimizerM: new Float32Array(current.optimizerM.length),
        optimizerV: new Float32Array(current.optimizerV.length),
        optimizerStep: 0,
      }),
    );
  }

  /** Writes the model and optimizer state as a checkpoint folder (atomically). Resolves with its absolute path. */
  async save(folder: string): Promise<string> {
    if (typeof folder !== 'string' || folder.length === 0) {
      throw new BackpropError('CONFIG_INVALID', 'save(folder) needs a folder path.', { field: 'folder' });
    }
    const target = path.resolve(folder);
    try {
      await this.session.saveCheckpoint(target);
    } catch (error) {
      throw fromNativeError(error, { path: target });
    }
    return target;
  }

  /** Loads a checkpoint folder (from save() or a training run) into a new trainer. */
  static async load(folder: string, options: Partial<Pick<TrainerOptions, 'device' | 'threads'>> = {}): Promise<Trainer> {
    const ckpt = await readCheckpoint(folder);
    const c = ckpt.config;
    const trainer = new Trainer({
      model: c.model,
      optimizer: c.optimizer,
      learningRate: c.learningRate,
      weightDecay: c.weightDecay,
      momentum: c.momentum,
      gradientClipNorm: c.gradientClipNorm > 0 ? c.gradientClipNorm : undefined,
      seed: c.seed,
      ...options,
    });
    callNative(() => {
      trainer.session.setParameters(ckpt.params);
      trainer.session.setOptimizerState({ optimizerM: ckpt.optimizerM, optimizerV: ckpt.optimizerV, optimizerStep: ckpt.optimizerStep });
    });
    return trainer;
  }

  /**
   * Starts the native run and turns its event batches into handler calls
   * (decoded by native-events.ts; each handler isolated by the HandlerGuard).
   */
  private startRun(data: PreparedData, opts: ResolvedTrainOptions, handlers: TrainingCallbackHandlers | null, resume: ResumePoint | null): Promise<TrainingRun> {
    const runId = resume?.checkpoint.run?.runId || randomUUID();
    // GPU safety is part of every run: off unless the run trains on a GPU or
    // asks for it (gpuSafety), see gpu/trainer-safety.ts.
    const observer = gpuSafetyObserver(this, opts);
    const ctx: RunContext = {
      runId,
      device: this.device,
      deviceReason: this.deviceReason,
      stepEvents: opts.stepEvents,
      resumedFrom: resume ? resume.checkpoint.path : null,
      kernel: this.device === 'cuda' ? (this.session.deviceDescription.includes('tf32') ? 'cuda-tf32' : 'cuda-fp32') : native().cpuInfo().gemmKernel,
      deviceName: this.device === 'cuda' ? this.session.deviceDescription : 'cpu',
      gpuMaxTemp: null,
      gpuMaxVramPercent: null,
    };
    const guard = this.guard;
    const signal = opts.signal;

    // Aborted before the native run began (an aborted signal, or abort()
    // while a data file or checkpoint was being read): no thread starts.
    if (signal?.aborted || this.pendingAbortReason !== null) {
      const run = buildRun(null, ctx, 'aborted');
      const error = createAbortError(signal?.aborted ? signal.reason : this.pendingAbortReason, run);
      guard.call('onError', handlers, handlers?.onError, [error]);
      this.emitError(error);
      return Promise.reject(error);
    }

    return new Promise<TrainingRun>((resolve, reject) => {
      let settled = false;
      const onAbortSignal = (): void => this.abort(abortReasonText(signal?.reason));
      const finish = (end: NativeRunEnd): void => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbortSignal);
        this.activeRunId = runId;
        const summary = this.session.summary();
        const extra = observer?.onRunEnd?.();
        if (extra) {
          ctx.gpuMaxTemp = extra.gpuMaxTemp;
          ctx.gpuMaxVramPercent = extra.gpuMaxVramPercent;
        }
        if (end.kind === 'complete') {
          const run = buildRun(summary, ctx, 'completed');
          guard.call('onComplete', handlers, handlers?.onComplete, [run]);
          guard.emit('complete', [run]);
          resolve(run);
          return;
        }
        let error: Error;
        const safetyFailure = extra?.failure ?? null;
        if (end.kind === 'error') {
          error = new BackpropError(publicCode(end.code), end.message, { step: summary.steps, nativeCode: end.code });
          Object.defineProperty(error, 'run', { value: buildRun(summary, ctx, 'failed'), enumerable: false });
        } else if (safetyFailure) {
          // The GPU guard stopped the run: a failure with the guard's code, not an abort.
          error = new BackpropError(safetyFailure.code, safetyFailure.message, { ...safetyFailure.details, step: summary.steps });
          Object.defineProperty(error, 'run', { value: buildRun(summary, ctx, 'failed'), enumerable: false });
        } else {
          const reason = this.pendingAbortReason ?? end.reason ?? 'aborted';
          error = createAbortError(signal?.aborted ? signal.reason : reason, buildRun(summary, ctx, 'aborted'));
        }
        guard.call('onError', handlers, handlers?.onError, [error]);
        this.emitError(error);
        reject(error);
      };

      const onEvents = nativeEventDecoder({
        step: (step, loss) => {
          guard.call('onStep', handlers, handlers?.onStep, [step, loss]);
          if (this.listenerCount('step') > 0) guard.emit('step', [step, loss]);
        },
        epoch: (epoch, validationLoss, validationAccuracy) => {
          guard.call('onEpoch', handlers, handlers?.onEpoch, [epoch]);
          guard.emit('epoch', [epoch, Object.freeze({ validationLoss, validationAccuracy })]);
        },
        save: (_step, folder) => {
          guard.call('onSave', handlers, handlers?.onSave, [folder]);
          guard.emit('save', [folder]);
        },
        stateChange: (paused) => guard.emit(paused ? 'paused' : 'resumed', []),
        end: finish,
      });

      const nativeOptions: NativeTrainOptions = {
        epochs: opts.epochs,
        maxSteps: opts.maxSteps,
        batchSize: opts.batchSize,
        shuffle: opts.shuffle,
        outputDir: opts.outputDir ? path.resolve(opts.outputDir) : '',
        saveEverySteps: opts.saveEverySteps,
        saveEveryEpoch: opts.saveEveryEpoch,
        stepEvents: opts.stepEvents,
        queueCapacity: opts.queueCapacity,
        validationSplit: opts.validationSplit,
        warmupSteps: opts.warmupSteps,
        runId,
        resumedFrom: resume ? resume.checkpoint.path : '',
        resume: resume ? resume.state : null,
      };
      try {
        this.activeRunId = runId;
        this.session.start(data.x, data.y, nativeOptions, onEvents);
      } catch (error) {
        settled = true;
        reject(fromNativeError(error));
        return;
      }
      observer?.onRunStart?.(this, this.session);
      signal?.addEventListener('abort', onAbortSignal, { once: true });
    });
  }

  private emitError(error: Error): void {
    // EventEmitter throws on an unlistened 'error'; the promise already carries it.
    if (this.listenerCount('error') > 0) this.guard.emit('error', [error]);
  }
}

function abortReasonText(reason: unknown): string {
  if (reason instanceof Error) return reason.message;
  return reason === undefined ? 'aborted' : String(reason);
}
