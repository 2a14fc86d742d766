/**
 * What the hub keeps per watched source, per run and per GPU, and the small
 * pure helpers that turn source values into message fields.
 */
import type { EventEmitter } from 'node:events';
import type { GPUStatus } from '../../gpu/types';
import type { LossHistory } from '../history';
import type { ClientErrorCode, CommandName, RunStatus, SourceActivity, SourceKind } from '../protocol';
import type { GPUThresholds } from './options';
import type { LatestWinsThrottle } from './throttle';

export type Listener = (...args: any[]) => void; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The controls a source may have (duck-typed: a command is offered when its method exists). */
export type Controllable = {
  // A remote source (a fleet job) answers with a promise: its rejection is reported, not thrown.
  pause?: () => void | Promise<void>;
  resume?: () => void | Promise<void>;
  abort?: (reason?: string) => void | Promise<void>;
  setLearningRate?: (lr: number) => void | Promise<void>;
  status?: unknown;
};

export interface SourceEntry {
  label: string;
  kind: SourceKind;
  obj: EventEmitter & Controllable;
  listeners: Array<[string, Listener]>;
  activity: SourceActivity;
  /** The run in progress (or the last one) of this source. */
  run: RunEntry | null;
  /** Multi-run session id, or the trainer's last run id. */
  runId: string | null;
  numRuns: number | null;
  learningRate: number | null;
  batchSize: number | null;
  thresholds: GPUThresholds;
  stepsTotal: number;
  runsTotal: { completed: number; aborted: number; failed: number };
  /** Set when a client aborted this source, for the runEnd reason. */
  abortedBy: string | null;
  lastRunFailed: { status: RunStatus; reason: string | null } | null;
  /** What the adapter stops when the source is unwatched (timers, child sources), or null. */
  teardown: (() => Promise<void> | void) | null;
}

/** Where a run trains, for sources spread over machines (fleet jobs). */
export interface RunOrigin {
  host: string | null;
  attempt: number | null;
}

export interface RunEntry {
  key: string;
  source: SourceEntry;
  runId: string | null;
  runIndex: number | null;
  status: RunStatus;
  startedAt: number;
  endedAt: number | null;
  step: number;
  loss: number | null;
  epoch: number;
  learningRate: number | null;
  stepsPerSecond: number | null;
  samplesPerSecond: number | null;
  validationLoss: number | null;
  validationAccuracy: number | null;
  finalLoss: number | null;
  durationSeconds: number | null;
  checkpointPath: string | null;
  error: { name: string; code: string | null; message: string } | null;
  reason: string | null;
  /** Worker host and attempt of a fleet job's run; null for local runs. */
  host: string | null;
  attempt: number | null;
  history: LossHistory;
  /** Steps since the last step message, and their loss sum (for count / lossMean). */
  pendingCount: number;
  pendingLossSum: number;
  steps: LatestWinsThrottle;
  // Rate estimate
  rateAt: number;
  rateStep: number;
  lastStepAt: number;
}

export interface GpuEntry {
  deviceIndex: number;
  source: string;
  status: GPUStatus;
  thresholds: GPUThresholds;
  samples: LatestWinsThrottle;
}

export interface CommandInput {
  command: CommandName;
  target?: string | null;
  reason?: string | null;
  learningRate?: number | null;
}

/** The result of a command, as sent back to the client (ack or error). */
export type CommandResult = { ok: true; targets: string[] } | { ok: false; code: ClientErrorCode; message: string };

/** What a source's end-of-run or end-of-epoch values look like once checked. */
export interface EpochInfo {
  validationLoss: number | null;
  validationAccuracy: number | null;
}

export interface GpuReadErrorInfo {
  error?: unknown;
  deviceIndex?: number;
  consecutiveFailures?: number;
  thermalSafetyDisabled?: boolean;
}

export function finiteOrNull(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

export function gpuPayload(status: GPUStatus, source: string, thresholds: GPUThresholds): Record<string, unknown> {
  const processes = status.processes ? status.processes.slice(0, 16) : null;
  return { source, ...status, processes, thresholds };
}

/** Summaries of errors for messages (never the stack). */
export function errorSummary(error: unknown): { name: string; code: string | null; message: string } {
  const e = error as { name?: unknown; code?: unknown; message?: unknown };
  return {
    name: typeof e?.name === 'string' ? e.name : 'Error',
    code: typeof e?.code === 'string' ? e.code : null,
    message: typeof e?.message === 'string' ? e.message : String(error),
  };
}

/** Facts read once from a source when it is watched. */
export interface SourceFacts {
  thresholds: GPUThresholds;
  batchSize: number | null;
  numRuns: number | null;
}

/** A freshly watched source: idle, no run yet. */
export function newSourceEntry(label: string, kind: SourceKind, obj: SourceEntry['obj'], facts: SourceFacts): SourceEntry {
  return {
    label,
    kind,
    obj,
    listeners: [],
    activity: 'idle',
    run: null,
    runId: null,
    numRuns: facts.numRuns,
    learningRate: null,
    batchSize: facts.batchSize,
    thresholds: facts.thresholds,
    stepsTotal: 0,
    runsTotal: { completed: 0, aborted: 0, failed: 0 },
    abortedBy: null,
    lastRunFailed: null,
    teardown: null,
  };
}
