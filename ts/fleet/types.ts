/**
 * The public vocabulary of fleet mode: jobs, events on the wire, commands.
 * Everything a job or an event holds is plain JSON, because it crosses Redis.
 */
import type { TrainerOptions, TrainOptions } from '../config';
import type { MultiRunConfigOptions } from '../multi-run/config';
import type { BlobsOptions, SpiralsOptions } from '../datasets';
import type { GPUSource } from '../gpu/scripted-source';
import type { GPUSafetyConfigOptions } from '../gpu/types';

/**
 * Redis connection options, passed to ioredis as they are (so every ioredis
 * option works); the common ones are typed here, so the public types do not
 * depend on ioredis's own declarations.
 */
export interface FleetRedisOptions {
  host?: string;
  port?: number;
  username?: string;
  password?: string;
  db?: number;
  /** TLS options (node:tls connect options); `{}` for TLS with the defaults. */
  tls?: Record<string, unknown>;
  connectTimeout?: number;
  family?: number;
  [option: string]: unknown;
}

/** Redis options, or a `redis://` / `rediss://` URL (user, password, db and TLS in the URL). */
export type FleetConnection = FleetRedisOptions | string;

/** A worker's GPU watch: GPU safety thresholds, and a simulated source for tests and demos. */
export interface WorkerGPUSafety extends GPUSafetyConfigOptions {
  source?: GPUSource;
}

export type SweepMetric = 'validationLoss' | 'validationAccuracy' | 'loss';
export type SweepDirection = 'min' | 'max';

/** Carried in a sweep trial's queue entry (not in the user's job). */
export interface SweepTrialInfo {
  sweepId: string;
  trial: number;
  metric: SweepMetric;
  direction: SweepDirection;
  pruner: 'median' | null;
  startupTrials: number;
  warmupEpochs: number;
}

/** A data file under the worker's dataRoot (relative to it, or absolute inside it). */
export interface FleetPathData {
  path: string;
  /** Label column of a CSV/JSONL file. */
  label?: string;
  /** IDX labels file, also under dataRoot. */
  labels?: string;
}

export type FleetDatasetData =
  | ({ dataset: 'spirals' } & SpiralsOptions)
  | ({ dataset: 'blobs' } & BlobsOptions);

export type FleetData = FleetPathData | FleetDatasetData;

/** Train options a job may set: the worker owns outputDir, resumeFrom, signal and gpuSafety. */
export type FleetTrainOptions = Omit<TrainOptions, 'outputDir' | 'resumeFrom' | 'signal' | 'gpuSafety' | 'label' | 'labels'>;

/** Multi-run settings a job may set: the worker owns checkpointDir. */
export type FleetMultiRunConfig = Omit<MultiRunConfigOptions, 'checkpointDir'>;

interface FleetJobBase {
  trainer: TrainerOptions;
  data: FleetData;
  name?: string;
  /** BullMQ priority: 1 is the most urgent; no priority runs after prioritised jobs, first in first out. */
  priority?: number;
  /** Attempts in all (retries after a worker crash, a GPU emergency or a runtime failure). Default 3. */
  attempts?: number;
}

export interface FleetTrainJob extends FleetJobBase {
  kind: 'train';
  train?: FleetTrainOptions;
}

export interface FleetMultiRunJob extends FleetJobBase {
  kind: 'multi-run';
  multiRun?: FleetMultiRunConfig;
}

export type FleetJob = FleetTrainJob | FleetMultiRunJob;

/** Events that are never coalesced or dropped. */
export type CriticalEventType = 'epoch' | 'save' | 'complete' | 'error' | 'runStart' | 'runComplete';

export type FleetEventType =
  | CriticalEventType
  | 'step'
  | 'attempt'
  | 'retry'
  | 'paused'
  | 'resumed'
  | 'learningRate'
  | 'gpuStatus';

/** One event as it travels: what happened, and where and when. */
export interface FleetEvent {
  readonly type: FleetEventType;
  readonly jobId: string;
  /** 1 for the first attempt, 2 for the first retry, ... */
  readonly attempt: number;
  /** Strictly increasing per job, across attempts. */
  readonly seq: number;
  /** The worker's host name. */
  readonly host: string;
  /** Milliseconds since the epoch, on the worker. */
  readonly time: number;
  /** The Redis stream id of the event (resume point for a reader). */
  readonly id: string;
  readonly data: Readonly<Record<string, unknown>>;
}

export const CRITICAL_EVENTS: readonly CriticalEventType[] = ['epoch', 'save', 'complete', 'error', 'runStart', 'runComplete'];

export type FleetCommand =
  | { type: 'abort'; reason: string }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'setLearningRate'; learningRate: number };

export type JobState = 'waiting' | 'running' | 'paused' | 'completed' | 'failed';

export interface JobStatus {
  readonly jobId: string;
  readonly state: JobState;
  readonly attempt: number;
  /** Host of the worker running (or that ran) the job, or null before it started. */
  readonly host: string | null;
  readonly step: number;
  readonly epoch: number;
  readonly loss: number | null;
  readonly learningRate: number | null;
  /** multi-run: the run in progress. */
  readonly runIndex: number | null;
  /** The last event's seq (0 before any). */
  readonly seq: number;
}

/** An error as it crosses the wire. */
export interface SerializedError {
  name: string;
  code: string;
  message: string;
  details?: Record<string, unknown>;
  reason?: unknown;
  run?: unknown;
}
