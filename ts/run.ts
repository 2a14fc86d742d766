/**
 * TrainingRun: the record of one call to train(), handed to onComplete, put
 * on errors (`err.run`) and returned by the promise. Always a fresh, deeply
 * frozen object: later events never change a run a handler already holds.
 */
import type { NativeRunSummary } from '../binding';
import type { StepEventsMode } from './config';

export type DeviceKind = 'cpu' | 'cuda';

export interface TrainingRunMetadata {
  /** The device the run trained on. */
  readonly device: DeviceKind;
  /** Why 'auto' picked this device (e.g. no CUDA backend), or null. */
  readonly deviceReason: string | null;
  /** 'cpu', or the GPU trained on, e.g. "NVIDIA H100 80GB HBM3 (cuda:0, sm_90, fp32)". */
  readonly deviceName: string;
  /** Step events dropped by 'coalesce' while JavaScript was behind (0 in 'block' mode). */
  readonly droppedStepEvents: number;
  readonly stepEvents: StepEventsMode;
  /** Epochs completed. */
  readonly epochs: number;
  readonly trainSamples: number;
  readonly validationSamples: number;
  /** Loss on the held-out split after the last step, or null without validationSplit. */
  readonly validationLoss: number | null;
  readonly validationAccuracy: number | null;
  /** The learning rate in force at the end. */
  readonly learningRate: number;
  readonly resumedFrom: string | null;
  /** Matrix kernel in use: on the CPU "avx512", "avx2-fma" or "generic", on a GPU "cuda-fp32" or "cuda-tf32". */
  readonly kernel: string;
  /** Hottest GPU temperature seen by the run's GPU monitor, or null without one. */
  readonly gpuMaxTemp: number | null;
  readonly gpuMaxVramPercent: number | null;
  /** 'completed', 'failed' or 'aborted'. */
  readonly outcome: 'completed' | 'failed' | 'aborted';
}

export interface TrainingRun {
  /** Random UUID; a resumed run keeps the id of the run it continues. */
  readonly runId: string;
  readonly steps: number;
  /** The last step's minibatch loss (null when no step ran). */
  readonly finalLoss: number | null;
  readonly lossHistory: readonly number[];
  /** The last checkpoint folder written by this run, or null. */
  readonly outputPath: string | null;
  readonly durationSeconds: number;
  readonly samplesSeen: number;
  readonly metadata: TrainingRunMetadata;
}

export interface RunContext {
  runId: string;
  device: DeviceKind;
  deviceReason: string | null;
  deviceName: string;
  stepEvents: StepEventsMode;
  resumedFrom: string | null;
  kernel: string;
  gpuMaxTemp: number | null;
  gpuMaxVramPercent: number | null;
}

const finiteOrNull = (v: number): number | null => (Number.isFinite(v) ? v : null);

export function buildRun(summary: NativeRunSummary | null, ctx: RunContext, outcome: TrainingRunMetadata['outcome']): TrainingRun {
  const s = summary;
  const metadata: TrainingRunMetadata = Object.freeze({
    device: ctx.device,
    deviceReason: ctx.deviceReason,
    deviceName: ctx.deviceName,
    droppedStepEvents: s ? s.droppedStepEvents : 0,
    stepEvents: ctx.stepEvents,
    epochs: s ? s.epochs : 0,
    trainSamples: s ? s.trainSamples : 0,
    validationSamples: s ? s.validationSamples : 0,
    validationLoss: s ? finiteOrNull(s.validationLoss) : null,
    validationAccuracy: s ? finiteOrNull(s.validationAccuracy) : null,
    learningRate: s ? s.learningRate : 0,
    resumedFrom: ctx.resumedFrom,
    kernel: ctx.kernel,
    gpuMaxTemp: ctx.gpuMaxTemp,
    gpuMaxVramPercent: ctx.gpuMaxVramPercent,
    outcome,
  });
  return Object.freeze({
    runId: ctx.runId,
    steps: s ? s.steps : 0,
    finalLoss: s ? finiteOrNull(s.finalLoss) : null,
    lossHistory: Object.freeze(s ? Array.from(s.lossHistory) : []),
    outputPath: s && s.lastCheckpoint ? s.lastCheckpoint : null,
    durationSeconds: s ? s.durationSeconds : 0,
    samplesSeen: s ? s.samplesSeen : 0,
    metadata,
  });
}
