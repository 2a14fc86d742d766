/**
 * The event hub: watches Trainer, MultiRunTrainer and GPUMonitor objects and
 * turns their events into versioned JSON messages (see protocol.ts), kept in
 * a bounded ring buffer for replay, folded into a current snapshot, and
 * broadcast to WebSocket clients (see server.ts for the HTTP side).
 *
 * Never slowing training: the hub only adds plain listeners, which run on the
 * JS thread after the native dispatcher has delivered an event, and does O(1)
 * work per event (no I/O, no awaiting, no native calls on the step path; JSON
 * is built once per message, and only when a client needs it).
 *
 * Step messages are rate-bounded per run (maxStepRate, default 200 per
 * second): a step that comes sooner than 1/maxStepRate after the previous
 * step message of its run is held as the run's pending step and replaced by
 * newer ones; the latest is sent when the interval has passed, and always
 * before any other message of the run (epoch, runEnd, ...), so the last step
 * of a run is never lost. A step message carries the step's own loss plus
 * `count` (steps it stands for) and `lossMean` (their mean loss). Every
 * message that is sent goes into the ring buffer, so seq numbers are
 * contiguous and a replay gives exactly the messages a client missed.
 * GPU samples are bounded the same way per device (maxGpuRate, default 10 per
 * second); a change of condition is always sent at once.
 *
 * Memory is bounded however long a session runs: the ring buffer holds
 * bufferSize messages, the snapshot keeps maxRuns runs with at most
 * historyPoints loss points each (decimated), the latest status per GPU and
 * logSize log messages.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { BackpropError } from '../errors';
import type { GPUStatus } from '../gpu/types';
import type * as http from 'node:http';
import type { Registry } from 'prom-client';
import { ClientConnection, Outgoing, type ClientInfo } from './client';
import { createMetricsRegistry } from './metrics';
import { attachHub, listenHub, type AttachOptions, type DashboardAttachment, type DashboardServer, type ListenOptions } from './server';
import { LossHistory, SeqRing } from './history';
import {
  parseClientMessage,
  PROTOCOL_VERSION,
  type ClientErrorCode,
  type CommandMessage,
  type CommandName,
  type HubMessage,
  type HubState,
  type RunStatus,
  type SourceActivity,
  type SourceKind,
} from './protocol';

export interface EventHubOptions {
  /** Messages kept for replay after a reconnect. Default 10 000. */
  bufferSize?: number;
  /** Step messages per second per run; faster steps coalesce to the latest. 0: one message per step event. Default 200. */
  maxStepRate?: number;
  /** GPU status messages per second per device (a change of condition is always sent). 0: no bound. Default 10. */
  maxGpuRate?: number;
  /** Loss points kept per run for snapshots (decimated beyond that). Default 2000. */
  historyPoints?: number;
  /** Runs kept in the snapshot. Default 200. */
  maxRuns?: number;
  /** Recent non-step messages kept in the snapshot (the page's event log). Default 200. */
  logSize?: number;
  /** How often sources' status (state, learning rate) is read. Default 250 ms. */
  pollIntervalMs?: number;
  /** Accept pause/resume/abort/setLearningRate from clients. Default true. */
  allowCommands?: boolean;
  /** Identifies this hub in every message. Default: a random UUID. */
  sessionId?: string;
}

export type ResolvedHubOptions = Required<EventHubOptions>;

export interface WatchOptions {
  /** A unique name for the source (command targets, metrics labels). Default 'trainer-1', 'multi-run-1', 'gpu-1', ... */
  label?: string;
  /** Skip duck typing. */
  kind?: SourceKind;
  /** Rows per step, for samples/s of a Trainer (a MultiRunTrainer's comes from its config). */
  batchSize?: number;
  /** Temperature thresholds shown with this source's GPU samples (default: the source's GPU config, else 80/90/95 °C). */
  gpuThresholds?: Partial<GpuThresholds>;
}

export interface GpuThresholds {
  warning: number;
  critical: number;
  emergency: number;
  /** A MultiRunTrainer pauses at this temperature (maxTempC), or null. */
  pause: number | null;
}

/** The result of a command, as sent back to the client (ack or error). */
export type CommandResult = { ok: true; targets: string[] } | { ok: false; code: ClientErrorCode; message: string };

interface CommandInput {
  command: CommandName;
  target?: string | null;
  reason?: string | null;
  learningRate?: number | null;
}

type Listener = (...args: any[]) => void; // eslint-disable-line @typescript-eslint/no-explicit-any
type Controllable = {
  pause?: () => void;
  resume?: () => void;
  abort?: (reason?: string) => void;
  setLearningRate?: (lr: number) => void;
  status?: unknown;
};

interface SourceEntry {
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
  thresholds: GpuThresholds;
  stepsTotal: number;
  runsTotal: { completed: number; aborted: number; failed: number };
  /** Set when a client aborted this source, for the runEnd reason. */
  abortedBy: string | null;
  lastRunFailed: { status: RunStatus; reason: string | null } | null;
}

interface RunEntry {
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
  history: LossHistory;
  // Step coalescing (maxStepRate)
  pendingCount: number;
  pendingLossSum: number;
  lastEmitAt: number;
  timer: NodeJS.Timeout | null;
  // Rate estimate
  rateAt: number;
  rateStep: number;
  lastStepAt: number;
}

interface GpuEntry {
  deviceIndex: number;
  source: string;
  status: GPUStatus;
  thresholds: GpuThresholds;
  lastEmitAt: number;
  pending: boolean;
  timer: NodeJS.Timeout | null;
}

/** What a connection needs from the hub; implemented by EventHub, used by server.ts. */
export interface HubInternals {
  readonly sessionId: string;
  registerClient(client: ClientConnection): void;
  unregisterClient(client: ClientConnection, code: number, reason: string): void;
  handleClientText(client: ClientConnection, data: string): void;
  helloTimeout(client: ClientConnection): void;
  noteError(error: unknown): void;
}

const DEFAULT_THRESHOLDS: GpuThresholds = Object.freeze({ warning: 80, critical: 90, emergency: 95, pause: null });
const PUMP_INTERVAL_MS = 50;

function positiveInt(options: Record<string, unknown>, key: string, fallback: number, min = 1): number {
  const v = options[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new BackpropError('CONFIG_INVALID', `createEventHub: ${key} must be an integer >= ${min} (got ${String(v)}).`, { field: key, value: v });
  }
  return v;
}

function nonNegative(options: Record<string, unknown>, key: string, fallback: number): number {
  const v = options[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || Number.isNaN(v) || v < 0) {
    throw new BackpropError('CONFIG_INVALID', `createEventHub: ${key} must be a number >= 0 (got ${String(v)}); 0 turns the bound off.`, { field: key, value: v });
  }
  return v;
}

export function resolveHubOptions(options: EventHubOptions = {}): ResolvedHubOptions {
  if (typeof options !== 'object' || options === null) {
    throw new BackpropError('CONFIG_INVALID', 'createEventHub takes an options object.', { field: 'options' });
  }
  const o = options as Record<string, unknown>;
  const known = ['bufferSize', 'maxStepRate', 'maxGpuRate', 'historyPoints', 'maxRuns', 'logSize', 'pollIntervalMs', 'allowCommands', 'sessionId'];
  for (const key of Object.keys(o)) {
    if (!known.includes(key)) throw new BackpropError('CONFIG_INVALID', `Unknown event hub option '${key}' (known: ${known.join(', ')}).`, { field: key });
  }
  if (o.allowCommands !== undefined && typeof o.allowCommands !== 'boolean') {
    throw new BackpropError('CONFIG_INVALID', 'createEventHub: allowCommands must be true or false.', { field: 'allowCommands' });
  }
  if (o.sessionId !== undefined && (typeof o.sessionId !== 'string' || o.sessionId.length === 0 || o.sessionId.length > 128)) {
    throw new BackpropError('CONFIG_INVALID', 'createEventHub: sessionId must be a non-empty string.', { field: 'sessionId' });
  }
  return {
    bufferSize: positiveInt(o, 'bufferSize', 10_000, 16),
    maxStepRate: nonNegative(o, 'maxStepRate', 200),
    maxGpuRate: nonNegative(o, 'maxGpuRate', 10),
    historyPoints: positiveInt(o, 'historyPoints', 2000, 16),
    maxRuns: positiveInt(o, 'maxRuns', 200),
    logSize: positiveInt(o, 'logSize', 200),
    pollIntervalMs: positiveInt(o, 'pollIntervalMs', 250, 10),
    allowCommands: (o.allowCommands as boolean | undefined) ?? true,
    sessionId: (o.sessionId as string | undefined) ?? randomUUID(),
  };
}

function finiteOrNull(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function detectKind(obj: object): SourceKind | null {
  const o = obj as Record<string, unknown>;
  if (typeof o.getLatestStatus === 'function' && Array.isArray(o.deviceIndices)) return 'gpuMonitor';
  if (typeof o.run === 'function' && typeof o.config === 'object' && o.config !== null && 'numRuns' in (o.config as object)) return 'multiRun';
  if (typeof o.train === 'function' && typeof o.abort === 'function') return 'trainer';
  return null;
}

function thresholdsOf(config: unknown, extra: Partial<GpuThresholds> | undefined, pause: number | null): GpuThresholds {
  const c = (config ?? {}) as { tempWarning?: number; tempCritical?: number; tempEmergency?: number };
  return Object.freeze({
    warning: extra?.warning ?? c.tempWarning ?? DEFAULT_THRESHOLDS.warning,
    critical: extra?.critical ?? c.tempCritical ?? DEFAULT_THRESHOLDS.critical,
    emergency: extra?.emergency ?? c.tempEmergency ?? DEFAULT_THRESHOLDS.emergency,
    pause: extra?.pause ?? pause,
  });
}

function gpuPayload(status: GPUStatus, source: string, thresholds: GpuThresholds): Record<string, unknown> {
  const processes = status.processes ? status.processes.slice(0, 16) : null;
  return { source, ...status, processes, thresholds };
}

/** Summaries of errors for messages (never the stack). */
function errorSummary(error: unknown): { name: string; code: string | null; message: string } {
  const e = error as { name?: unknown; code?: unknown; message?: unknown };
  return {
    name: typeof e?.name === 'string' ? e.name : 'Error',
    code: typeof e?.code === 'string' ? e.code : null,
    message: typeof e?.message === 'string' ? e.message : String(error),
  };
}

/**
 * Watches trainers and GPU monitors, keeps a bounded replay buffer and a
 * snapshot, and serves clients. Create with createEventHub().
 *
 * Events (for embedding and tests): 'message' (every broadcast message),
 * 'clientConnected' (ClientInfo), 'clientClosed' ({ id, code, reason, dropped }),
 * 'command' ({ command, result }).
 */
export class EventHub extends EventEmitter implements HubInternals {
  readonly options: Readonly<ResolvedHubOptions>;
  readonly sessionId: string;
  readonly startedAt = Date.now();
  private seqValue = 0;
  private readonly ring: SeqRing<Outgoing>;
  private readonly logRing: SeqRing<Outgoing>;
  private readonly sources = new Map<object, SourceEntry>();
  private readonly labels = new Map<string, SourceEntry>();
  private readonly runs = new Map<string, RunEntry>();
  private readonly gpus = new Map<number, GpuEntry>();
  private readonly clientSet = new Set<ClientConnection>();
  private readonly closers = new Set<() => Promise<void>>();
  private pollTimer: NodeJS.Timeout | null = null;
  private pumpTimer: NodeJS.Timeout | null = null;
  private lastOutcome: RunStatus | null = null;
  private lastState: HubState = 'idle';
  private labelCounters: Record<SourceKind, number> = { trainer: 0, multiRun: 0, gpuMonitor: 0 };
  private warned = false;
  private closedFlag = false;
  /** Counters for /metrics. */
  readonly stats = { messages: 0, droppedClients: 0, commands: 0, clientsTotal: 0 };

  constructor(options: EventHubOptions = {}) {
    super();
    this.options = Object.freeze(resolveHubOptions(options));
    this.sessionId = this.options.sessionId;
    this.ring = new SeqRing(this.options.bufferSize);
    this.logRing = new SeqRing(this.options.logSize);
  }

  /** Seq of the latest broadcast message (0 before the first). */
  get seq(): number {
    return this.seqValue;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** The overall state the page's banner shows. */
  get state(): HubState {
    let active = false;
    let allPaused = true;
    for (const s of this.sources.values()) {
      if (s.kind === 'gpuMonitor' || s.activity === 'idle') continue;
      active = true;
      if (s.activity !== 'paused') allPaused = false;
    }
    if (active) return allPaused ? 'paused' : 'running';
    if (this.lastOutcome === 'completed') return 'finished';
    if (this.lastOutcome === 'aborted' || this.lastOutcome === 'failed') return this.lastOutcome;
    return 'idle';
  }

  // ---------------------------------------------------------------------
  // Sources

  /**
   * Subscribes to a Trainer, MultiRunTrainer or GPUMonitor; returns its label.
   * Watching an object twice returns the first label.
   */
  watch(obj: object, options: WatchOptions = {}): string {
    if (this.closedFlag) throw new BackpropError('CONFIG_INVALID', 'This event hub is closed; create a new one.', { field: 'hub' });
    if (typeof obj !== 'object' || obj === null || typeof (obj as EventEmitter).on !== 'function') {
      throw new BackpropError('CONFIG_INVALID', 'hub.watch() takes a Trainer, MultiRunTrainer or GPUMonitor.', { field: 'source' });
    }
    const existing = this.sources.get(obj);
    if (existing) return existing.label;
    const kind = options.kind ?? detectKind(obj);
    if (kind !== 'trainer' && kind !== 'multiRun' && kind !== 'gpuMonitor') {
      throw new BackpropError('CONFIG_INVALID', 'hub.watch() takes a Trainer, MultiRunTrainer or GPUMonitor (or pass { kind }).', { field: 'source' });
    }
    let label = options.label;
    if (label !== undefined) {
      if (typeof label !== 'string' || label.length === 0 || label.length > 100) {
        throw new BackpropError('CONFIG_INVALID', 'watch label must be a non-empty string of at most 100 characters.', { field: 'label', value: label });
      }
      if (this.labels.has(label)) throw new BackpropError('CONFIG_INVALID', `The label '${label}' is already watched; labels must be unique.`, { field: 'label', value: label });
    } else {
      const prefix = kind === 'trainer' ? 'trainer' : kind === 'multiRun' ? 'multi-run' : 'gpu';
      do label = `${prefix}-${++this.labelCounters[kind]}`;
      while (this.labels.has(label));
    }
    if (options.batchSize !== undefined && !(Number.isInteger(options.batchSize) && options.batchSize > 0)) {
      throw new BackpropError('CONFIG_INVALID', 'watch batchSize must be an integer >= 1.', { field: 'batchSize', value: options.batchSize });
    }
    const o = obj as Record<string, unknown>;
    let thresholds: GpuThresholds;
    let batchSize: number | null = options.batchSize ?? null;
    let numRuns: number | null = null;
    if (kind === 'gpuMonitor') thresholds = thresholdsOf(o.config, options.gpuThresholds, null);
    else if (kind === 'multiRun') {
      const cfg = (o.config ?? {}) as { batchSize?: number; numRuns?: number; maxTempC?: number; pauseOnOverheat?: boolean };
      const mon = (o.gpuMonitor ?? null) as { config?: unknown } | null;
      thresholds = thresholdsOf(mon?.config, options.gpuThresholds, cfg.pauseOnOverheat === false ? null : cfg.maxTempC ?? null);
      batchSize ??= cfg.batchSize ?? null;
      numRuns = cfg.numRuns ?? null;
    } else thresholds = thresholdsOf(null, options.gpuThresholds, null);

    const src: SourceEntry = {
      label,
      kind,
      obj: obj as SourceEntry['obj'],
      listeners: [],
      activity: 'idle',
      run: null,
      runId: null,
      numRuns,
      learningRate: null,
      batchSize,
      thresholds,
      stepsTotal: 0,
      runsTotal: { completed: 0, aborted: 0, failed: 0 },
      abortedBy: null,
      lastRunFailed: null,
    };
    const on = (event: string, fn: (...args: never[]) => void): void => {
      const safe = ((...args: never[]) => {
        try {
          fn(...args);
        } catch (error) {
          this.noteError(error);
        }
      }) as Listener;
      src.listeners.push([event, safe]);
      (obj as EventEmitter).on(event, safe);
    };
    if (kind === 'trainer') {
      on('step', (step: number, loss: number) => this.onTrainerStep(src, step, loss));
      on('epoch', (epoch: number, info: { validationLoss: number | null; validationAccuracy: number | null } | undefined) => this.onEpoch(src, epoch, info));
      on('save', (path: string) => this.onSave(src, path));
      on('complete', (run: Record<string, unknown>) => this.onTrainerEnd(src, 'completed', run, null));
      on('error', (error: Error) => this.onTrainerEnd(src, error?.name === 'AbortError' ? 'aborted' : 'failed', (error as { run?: Record<string, unknown> })?.run ?? null, error));
      on('paused', () => this.setActivity(src, 'paused', null));
      on('resumed', () => this.setActivity(src, 'running', null));
      on('gpuStatus', (status: GPUStatus) => this.onGpu(src, status));
      on('gpuReadError', (event: { error?: unknown; deviceIndex?: number; consecutiveFailures?: number; thermalSafetyDisabled?: boolean }) => this.onGpuReadError(src, event));
    } else if (kind === 'multiRun') {
      on('runStart', (runIndex: number) => this.onMultiRunStart(src, runIndex));
      on('step', (runIndex: number, step: number, loss: number) => this.onMultiRunStep(src, runIndex, step, loss));
      on('runComplete', (result: Record<string, unknown>) => this.onMultiRunComplete(src, result));
      on('gpuStatus', (status: GPUStatus) => this.onGpu(src, status));
      on('paused', (status: GPUStatus | null) => this.setActivity(src, 'paused', status ? `GPU pause: ${status.conditionReason || `${status.temperatureC} °C`}` : 'GPU pause'));
      on('resumed', () => this.setActivity(src, 'running', 'GPU cooled down'));
    } else {
      on('status', (status: GPUStatus) => this.onGpu(src, status));
      on('readError', (event: { error?: unknown; deviceIndex?: number; consecutiveFailures?: number; thermalSafetyDisabled?: boolean }) => this.onGpuReadError(src, event));
      on('recovered', (event: { afterFailures?: number; deviceIndex?: number }) =>
        this.broadcast('gpuAlert', null, null, { source: src.label, kind: 'recovered', deviceIndex: event?.deviceIndex ?? 0, afterFailures: event?.afterFailures ?? 0 }),
      );
    }
    this.sources.set(obj, src);
    this.labels.set(label, src);
    this.broadcast('watch', null, null, { source: label, kind, controls: this.controlsOf(src), thresholds });
    if (kind !== 'gpuMonitor') {
      this.pollSource(src);
      this.ensurePoll();
    } else {
      const latest = (o.getLatestStatus as (i?: number) => GPUStatus | null).call(obj);
      if (latest) this.onGpu(src, latest);
    }
    return label;
  }

  /** Stops listening to a source (by object or label). Its runs stay in the snapshot. Returns false when it was not watched. */
  unwatch(objOrLabel: object | string): boolean {
    const src = typeof objOrLabel === 'string' ? this.labels.get(objOrLabel) : this.sources.get(objOrLabel);
    if (!src) return false;
    for (const run of this.runs.values()) if (run.source === src) this.flushStep(run);
    for (const [event, fn] of src.listeners) src.obj.off(event, fn);
    src.listeners = [];
    this.sources.delete(src.obj);
    this.labels.delete(src.label);
    if (!this.closedFlag) this.broadcast('unwatch', null, null, { source: src.label, hubState: this.state });
    if (![...this.sources.values()].some((s) => s.kind !== 'gpuMonitor') && this.pollTimer) {
      clearInterval(this.pollTimer);
      this.pollTimer = null;
    }
    return true;
  }

  /** Labels of the watched sources. */
  get watched(): string[] {
    return [...this.labels.keys()];
  }

  // ---------------------------------------------------------------------
  // Event handlers (hot path: O(1), no I/O)

  private onTrainerStep(src: SourceEntry, step: number, loss: number): void {
    let run = src.run;
    if (run === null || run.status !== 'running' || step < run.step) {
      let runId: string | null = null;
      try {
        runId = (src.obj.status as { runId?: string | null } | undefined)?.runId ?? null;
      } catch {
        runId = null;
      }
      run = this.startRun(src, runId, null);
    }
    this.onStep(src, run, step, loss);
  }

  private onMultiRunStart(src: SourceEntry, runIndex: number): void {
    this.readMultiStatus(src);
    if (src.activity === 'idle') this.setActivity(src, 'running', null);
    this.startRun(src, src.runId, runIndex);
  }

  private onMultiRunStep(src: SourceEntry, runIndex: number, step: number, loss: number): void {
    let run = src.run;
    if (run === null || run.runIndex !== runIndex || run.status !== 'running') {
      this.readMultiStatus(src);
      run = this.startRun(src, src.runId, runIndex);
    }
    this.onStep(src, run, step, loss);
  }

  private readMultiStatus(src: SourceEntry): void {
    try {
      const s = src.obj.status as { runId?: string | null; learningRate?: number | null; numRuns?: number } | undefined;
      if (s?.runId) src.runId = s.runId;
      if (typeof s?.learningRate === 'number') src.learningRate = s.learningRate;
      if (typeof s?.numRuns === 'number') src.numRuns = s.numRuns;
    } catch {
      // status unavailable: keep what we had
    }
  }

  private startRun(src: SourceEntry, runId: string | null, runIndex: number | null): RunEntry {
    if (src.run && src.run.status === 'running') this.flushStep(src.run);
    if (src.kind === 'trainer') {
      src.runId = runId;
      try {
        const lr = (src.obj.status as { learningRate?: number } | undefined)?.learningRate;
        if (typeof lr === 'number') src.learningRate = lr;
      } catch {
        // keep the previous value
      }
    }
    const key = runIndex === null ? runId ?? `${src.label}:${this.seqValue + 1}` : `${runId ?? src.label}:${runIndex}`;
    const now = performance.now();
    const run: RunEntry = {
      key,
      source: src,
      runId,
      runIndex,
      status: 'running',
      startedAt: Date.now(),
      endedAt: null,
      step: 0,
      loss: null,
      epoch: 0,
      learningRate: src.learningRate,
      stepsPerSecond: null,
      samplesPerSecond: null,
      validationLoss: null,
      validationAccuracy: null,
      finalLoss: null,
      durationSeconds: null,
      checkpointPath: null,
      error: null,
      reason: null,
      history: new LossHistory(this.options.historyPoints),
      pendingCount: 0,
      pendingLossSum: 0,
      lastEmitAt: -Infinity,
      timer: null,
      rateAt: now,
      rateStep: 0,
      lastStepAt: now,
    };
    this.runs.delete(key);
    this.runs.set(key, run);
    if (this.runs.size > this.options.maxRuns) {
      for (const [k, r] of this.runs) {
        if (this.runs.size <= this.options.maxRuns) break;
        if (r.status !== 'running' || r === run) {
          if (r === run) continue;
          if (r.timer) clearTimeout(r.timer);
          this.runs.delete(k);
        }
      }
    }
    src.run = run;
    src.abortedBy = null;
    if (src.kind === 'trainer') this.setActivity(src, 'running', null);
    this.broadcast('runStart', runId, runIndex, {
      source: src.label,
      kind: src.kind,
      learningRate: src.learningRate,
      numRuns: src.numRuns,
      batchSize: src.batchSize,
    });
    return run;
  }

  private onStep(src: SourceEntry, run: RunEntry, step: number, loss: number): void {
    const now = performance.now();
    src.stepsTotal += step > run.step ? step - run.step : 1;
    run.step = step;
    run.loss = loss;
    run.lastStepAt = now;
    run.history.push(step, loss);
    run.pendingCount++;
    run.pendingLossSum += loss;
    const sinceRate = now - run.rateAt;
    if (sinceRate >= 500) {
      run.stepsPerSecond = ((step - run.rateStep) * 1000) / sinceRate;
      run.samplesPerSecond = src.batchSize !== null ? run.stepsPerSecond * src.batchSize : null;
      run.rateAt = now;
      run.rateStep = step;
    }
    const rate = this.options.maxStepRate;
    if (rate === 0) {
      this.emitStep(run, now);
      return;
    }
    if (run.timer !== null) return;
    const interval = 1000 / rate;
    const wait = run.lastEmitAt + interval - now;
    if (wait <= 0) this.emitStep(run, now);
    else {
      run.timer = setTimeout(() => {
        run.timer = null;
        this.flushStep(run);
      }, Math.ceil(wait));
      run.timer.unref?.();
    }
  }

  /** Sends the run's pending step message now (if any). */
  private flushStep(run: RunEntry): void {
    if (run.timer !== null) {
      clearTimeout(run.timer);
      run.timer = null;
    }
    if (run.pendingCount > 0) this.emitStep(run, performance.now());
  }

  private emitStep(run: RunEntry, now: number): void {
    const count = run.pendingCount;
    const mean = run.pendingLossSum / count;
    run.pendingCount = 0;
    run.pendingLossSum = 0;
    run.lastEmitAt = now;
    this.broadcast(
      'step',
      run.runId,
      run.runIndex,
      {
        source: run.source.label,
        step: run.step,
        loss: run.loss,
        lossMean: mean,
        count,
        epoch: run.epoch,
        learningRate: run.learningRate,
        stepsPerSecond: run.stepsPerSecond,
        samplesPerSecond: run.samplesPerSecond,
      },
      `step:${run.key}`,
    );
  }

  private onEpoch(src: SourceEntry, epoch: number, info: { validationLoss: number | null; validationAccuracy: number | null } | undefined): void {
    const run = src.run;
    if (run) {
      this.flushStep(run);
      run.epoch = epoch;
      run.validationLoss = finiteOrNull(info?.validationLoss) ?? run.validationLoss;
      run.validationAccuracy = finiteOrNull(info?.validationAccuracy) ?? run.validationAccuracy;
    }
    this.broadcast('epoch', run?.runId ?? src.runId, run?.runIndex ?? null, {
      source: src.label,
      epoch,
      validationLoss: finiteOrNull(info?.validationLoss),
      validationAccuracy: finiteOrNull(info?.validationAccuracy),
    });
  }

  private onSave(src: SourceEntry, path: string): void {
    const run = src.run;
    if (run) {
      this.flushStep(run);
      run.checkpointPath = String(path);
    }
    this.broadcast('save', run?.runId ?? src.runId, run?.runIndex ?? null, { source: src.label, path: String(path) });
  }

  private onTrainerEnd(src: SourceEntry, status: RunStatus, info: Record<string, unknown> | null, error: unknown): void {
    const runId = typeof info?.runId === 'string' ? info.runId : src.run?.runId ?? null;
    let run = src.run;
    if (!run || run.status !== 'running' || (runId !== null && run.runId !== runId)) run = this.startRun(src, runId, null);
    this.flushStep(run);
    const meta = (info?.metadata ?? null) as { validationLoss?: number; validationAccuracy?: number } | null;
    run.finalLoss = finiteOrNull(info?.finalLoss) ?? run.loss;
    run.durationSeconds = finiteOrNull(info?.durationSeconds);
    if (typeof info?.steps === 'number') run.step = info.steps;
    run.validationLoss = finiteOrNull(meta?.validationLoss) ?? run.validationLoss;
    run.validationAccuracy = finiteOrNull(meta?.validationAccuracy) ?? run.validationAccuracy;
    const seen = finiteOrNull(info?.samplesSeen);
    if (src.kind === 'trainer' && seen !== null && run.step > 0 && status === 'completed') src.batchSize ??= Math.max(1, Math.round(seen / run.step));
    if (error) {
      run.error = errorSummary(error);
      run.reason = (error as { reason?: unknown }).reason !== undefined ? String((error as { reason?: unknown }).reason) : run.error.message;
    }
    this.endRun(src, run, status, { samplesSeen: seen, outputPath: typeof info?.outputPath === 'string' ? info.outputPath : null });
    this.setActivity(src, 'idle', null);
  }

  private onMultiRunComplete(src: SourceEntry, result: Record<string, unknown>): void {
    const runIndex = typeof result?.runIndex === 'number' ? result.runIndex : null;
    let run = src.run;
    if (!run || run.runIndex !== runIndex) {
      if (typeof result?.runId === 'string') src.runId = result.runId;
      run = this.startRun(src, src.runId, runIndex);
    }
    this.flushStep(run);
    const failed = result?.failed === true;
    const reason = typeof result?.failureReason === 'string' ? result.failureReason : null;
    // Aborts (ours or abort() in code) give the bare reason; failures 'CODE: message'.
    const status: RunStatus = !failed ? 'completed' : src.abortedBy !== null || !reason || !/^[A-Z][A-Z0-9_]+: /.test(reason) ? 'aborted' : 'failed';
    run.finalLoss = finiteOrNull(result?.finalLoss) ?? run.loss;
    run.durationSeconds = finiteOrNull(result?.durationSeconds);
    if (typeof result?.steps === 'number') run.step = result.steps;
    run.validationLoss = finiteOrNull(result?.validationLoss);
    run.validationAccuracy = finiteOrNull(result?.validationAccuracy);
    run.checkpointPath = typeof result?.checkpointPath === 'string' ? result.checkpointPath : null;
    if (typeof result?.learningRate === 'number') run.learningRate = result.learningRate;
    run.reason = reason;
    if (failed && status === 'failed' && reason) {
      const m = /^([A-Z][A-Z0-9_]+): ([\s\S]*)$/.exec(reason);
      run.error = { name: 'BackpropError', code: m ? m[1]! : null, message: m ? m[2]! : reason };
    }
    src.lastRunFailed = failed ? { status, reason } : null;
    this.endRun(src, run, status, {
      samplesSeen: finiteOrNull(result?.samplesSeen),
      gpuMaxTemp: finiteOrNull(result?.gpuMaxTemp),
      pruned: result?.pruned === true,
    });
    // The session ends after a failed run or the last one; the poll confirms it.
    setTimeout(() => this.pollSource(src), 20).unref();
  }

  private endRun(src: SourceEntry, run: RunEntry, status: RunStatus, extra: Record<string, unknown>): void {
    run.status = status;
    run.endedAt = Date.now();
    if (status !== 'running') src.runsTotal[status]++;
    this.lastOutcome = status;
    if (src.kind === 'trainer') this.setActivityQuiet(src, 'idle');
    this.broadcast('runEnd', run.runId, run.runIndex, {
      source: src.label,
      status,
      steps: run.step,
      finalLoss: run.finalLoss,
      durationSeconds: run.durationSeconds,
      validationLoss: run.validationLoss,
      validationAccuracy: run.validationAccuracy,
      learningRate: run.learningRate,
      checkpointPath: run.checkpointPath,
      error: run.error,
      reason: run.reason,
      abortedBy: src.abortedBy,
      hubState: this.state,
      ...extra,
    });
  }

  private setActivityQuiet(src: SourceEntry, activity: SourceActivity): void {
    src.activity = activity;
  }

  private setActivity(src: SourceEntry, activity: SourceActivity, reason: string | null): void {
    if (src.activity === activity && reason === null) return;
    if (src.run && src.run.status === 'running') this.flushStep(src.run);
    const was = src.activity;
    src.activity = activity;
    const hubState = this.state;
    if (was === activity && hubState === this.lastState) return;
    this.lastState = hubState;
    this.broadcast('state', src.run?.runId ?? src.runId, src.run?.runIndex ?? null, { source: src.label, state: activity, previous: was, reason, hubState });
  }

  private onGpu(src: SourceEntry, status: GPUStatus): void {
    if (!status || typeof status !== 'object') return;
    const device = typeof status.deviceIndex === 'number' ? status.deviceIndex : 0;
    let g = this.gpus.get(device);
    const previous = g?.status.condition ?? null;
    if (!g) {
      g = { deviceIndex: device, source: src.label, status, thresholds: src.thresholds, lastEmitAt: -Infinity, pending: false, timer: null };
      this.gpus.set(device, g);
    }
    g.status = status;
    g.source = src.label;
    g.thresholds = src.thresholds;
    const now = performance.now();
    if (previous !== status.condition && (previous !== null || (status.condition !== 'safe' && status.condition !== 'warm'))) {
      this.broadcast('gpuAlert', null, null, {
        source: src.label,
        kind: 'condition',
        deviceIndex: device,
        deviceName: status.deviceName,
        previous,
        condition: status.condition,
        reason: status.conditionReason,
        temperatureC: status.temperatureC,
      });
      this.emitGpu(g, now);
      return;
    }
    const rate = this.options.maxGpuRate;
    if (rate === 0) {
      this.emitGpu(g, now);
      return;
    }
    g.pending = true;
    if (g.timer !== null) return;
    const wait = g.lastEmitAt + 1000 / rate - now;
    if (wait <= 0) this.emitGpu(g, now);
    else {
      const entry = g;
      g.timer = setTimeout(() => {
        entry.timer = null;
        if (entry.pending) this.emitGpu(entry, performance.now());
      }, Math.ceil(wait));
      g.timer.unref?.();
    }
  }

  private emitGpu(g: GpuEntry, now: number): void {
    if (g.timer !== null) {
      clearTimeout(g.timer);
      g.timer = null;
    }
    g.pending = false;
    g.lastEmitAt = now;
    this.broadcast('gpu', null, null, gpuPayload(g.status, g.source, g.thresholds), `gpu:${g.deviceIndex}`);
  }

  private onGpuReadError(src: SourceEntry, event: { error?: unknown; deviceIndex?: number; consecutiveFailures?: number; thermalSafetyDisabled?: boolean }): void {
    this.broadcast('gpuAlert', null, null, {
      source: src.label,
      kind: 'readError',
      deviceIndex: event?.deviceIndex ?? 0,
      message: errorSummary(event?.error).message,
      consecutiveFailures: event?.consecutiveFailures ?? 1,
      thermalSafetyDisabled: event?.thermalSafetyDisabled === true,
    });
  }

  // ---------------------------------------------------------------------
  // Polling (state and learning rate; never on the step path)

  private ensurePoll(): void {
    if (this.pollTimer || this.closedFlag) return;
    this.pollTimer = setInterval(() => {
      for (const src of this.sources.values()) if (src.kind !== 'gpuMonitor') this.pollSource(src);
    }, this.options.pollIntervalMs);
    this.pollTimer.unref();
  }

  private pollSource(src: SourceEntry): void {
    if (!this.sources.has(src.obj)) return;
    let status: { state?: string; learningRate?: number | null; runId?: string | null } | undefined;
    try {
      status = src.obj.status as typeof status;
    } catch {
      return;
    }
    if (!status) return;
    const lr = finiteOrNull(status.learningRate);
    if (lr !== null) {
      src.learningRate = lr;
      if (src.run && src.run.status === 'running') src.run.learningRate = lr;
    }
    const now = performance.now();
    const run = src.run;
    if (run && run.status === 'running' && now - run.lastStepAt > 2000) {
      run.stepsPerSecond = 0;
      run.samplesPerSecond = src.batchSize !== null ? 0 : null;
    }
    const state = status.state as SourceActivity | undefined;
    if (state !== 'idle' && state !== 'running' && state !== 'paused' && state !== 'stopping') return;
    if (src.kind === 'trainer') {
      // Runs start with their first step and end with complete/error; the poll
      // only tracks pause/stop transitions inside a run.
      if (run && run.status === 'running' && state !== 'idle') this.setActivity(src, state, null);
      return;
    }
    if (status.runId) src.runId = status.runId;
    if (state === 'idle' && src.activity !== 'idle') {
      // The session is over: its outcome is the last run's.
      const failed = src.lastRunFailed;
      this.lastOutcome = failed ? failed.status : 'completed';
      this.setActivity(src, 'idle', failed ? failed.reason : null);
    } else if (state !== 'idle') {
      this.setActivity(src, state, null);
    }
  }

  // ---------------------------------------------------------------------
  // Messages

  /**
   * Broadcasts an application message (type must start with 'x-', e.g.
   * 'x-note'); it is logged, replayed and shown in the page's event log.
   */
  publish(type: string, payload: Record<string, unknown> = {}, ids: { runId?: string | null; runIndex?: number | null } = {}): HubMessage {
    if (typeof type !== 'string' || !/^x-[A-Za-z0-9_.-]{1,60}$/.test(type)) {
      throw new BackpropError('CONFIG_INVALID', `publish(type): application message types start with 'x-' (got ${String(type)}).`, { field: 'type', value: type });
    }
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
      throw new BackpropError('CONFIG_INVALID', 'publish(type, payload): payload must be an object.', { field: 'payload' });
    }
    return this.broadcast(type, ids.runId ?? null, ids.runIndex ?? null, payload).msg as HubMessage;
  }

  /** Adds a line to every client's event log (type 'log'). */
  log(message: string, level: 'info' | 'warning' | 'error' = 'info'): HubMessage {
    return this.broadcast('log', null, null, { level, message: String(message) }).msg as HubMessage;
  }

  private broadcast(type: string, runId: string | null, runIndex: number | null, payload: Record<string, unknown>, key: string | null = null): Outgoing {
    const seq = ++this.seqValue;
    const msg: HubMessage = { v: PROTOCOL_VERSION, type, seq, sessionId: this.sessionId, runId, runIndex, time: Date.now(), payload };
    const out = new Outgoing(msg, key);
    this.ring.push(seq, out);
    if (type !== 'step' && type !== 'gpu') this.logRing.push(this.logRing.nextSeq, out);
    this.stats.messages++;
    for (const client of this.clientSet) if (client.ready) client.offer(out);
    if (this.listenerCount('message') > 0) {
      try {
        this.emit('message', msg);
      } catch (error) {
        this.noteError(error);
      }
    }
    return out;
  }

  /** Broadcast messages with seq > afterSeq still in the ring buffer, oldest first. */
  messages(afterSeq = 0): HubMessage[] {
    return this.ring.since(afterSeq).map((o) => o.msg as HubMessage);
  }

  /** Seq of the oldest message still in the ring buffer (null when empty). */
  get oldestSeq(): number | null {
    return this.ring.firstSeq;
  }

  /** The current state as one object (what a `snapshot` message carries). */
  snapshot(): Record<string, unknown> {
    const sources = [...this.sources.values()].map((s) => ({
      source: s.label,
      kind: s.kind,
      state: s.activity,
      runId: s.run?.runId ?? s.runId,
      runIndex: s.run?.runIndex ?? null,
      numRuns: s.numRuns,
      learningRate: s.learningRate,
      batchSize: s.batchSize,
      controls: this.controlsOf(s),
      thresholds: s.thresholds,
    }));
    const runs = [...this.runs.values()].map((r) => ({
      key: r.key,
      source: r.source.label,
      runId: r.runId,
      runIndex: r.runIndex,
      status: r.status,
      startedAt: r.startedAt,
      endedAt: r.endedAt,
      step: r.step,
      loss: r.loss,
      epoch: r.epoch,
      learningRate: r.learningRate,
      stepsPerSecond: r.stepsPerSecond,
      samplesPerSecond: r.samplesPerSecond,
      validationLoss: r.validationLoss,
      validationAccuracy: r.validationAccuracy,
      finalLoss: r.finalLoss,
      durationSeconds: r.durationSeconds,
      checkpointPath: r.checkpointPath,
      error: r.error,
      reason: r.reason,
      history: r.history.toJSON(),
    }));
    const gpus = [...this.gpus.values()].map((g) => gpuPayload(g.status, g.source, g.thresholds));
    return {
      state: this.state,
      startedAt: this.startedAt,
      sources,
      runs,
      gpus,
      log: this.logRing.since(0).map((o) => o.msg),
      limits: { bufferSize: this.options.bufferSize, maxStepRate: this.options.maxStepRate, allowCommands: this.options.allowCommands },
    };
  }

  private snapshotMessage(): Outgoing {
    return new Outgoing(
      { v: PROTOCOL_VERSION, type: 'snapshot', seq: this.seqValue, sessionId: this.sessionId, runId: null, runIndex: null, time: Date.now(), payload: this.snapshot() },
      null,
    );
  }

  // ---------------------------------------------------------------------
  // Commands

  private controlsOf(src: SourceEntry): CommandName[] {
    if (src.kind === 'gpuMonitor') return [];
    const o = src.obj;
    const out: CommandName[] = [];
    if (typeof o.pause === 'function') out.push('pause');
    if (typeof o.resume === 'function') out.push('resume');
    if (typeof o.abort === 'function') out.push('abort');
    if (typeof o.setLearningRate === 'function') out.push('setLearningRate');
    return out;
  }

  /**
   * Runs a command as a client would (pause, resume, abort, setLearningRate),
   * on `target` (a label or run id) or, without one, on every running source.
   * Logged as a 'command' message. Never throws.
   */
  command(input: CommandInput, from: string = 'api'): CommandResult {
    const result = this.execute(input, from);
    this.stats.commands++;
    this.broadcast('command', null, null, {
      command: input.command,
      target: input.target ?? null,
      targets: result.ok ? result.targets : [],
      reason: input.reason ?? null,
      learningRate: input.learningRate ?? null,
      from,
      ok: result.ok,
      code: result.ok ? null : result.code,
      message: result.ok ? null : result.message,
    });
    if (this.listenerCount('command') > 0) {
      try {
        this.emit('command', { ...input, from, result });
      } catch (error) {
        this.noteError(error);
      }
    }
    return result;
  }

  private execute(input: CommandInput, from: string): CommandResult {
    if (!this.options.allowCommands) return { ok: false, code: 'COMMANDS_DISABLED', message: 'This dashboard is read-only (allowCommands: false).' };
    const command = input.command;
    let targets: SourceEntry[];
    const controllable = [...this.sources.values()].filter((s) => s.kind !== 'gpuMonitor');
    if (input.target) {
      const t = input.target;
      const match = controllable.filter((s) => s.label === t || s.runId === t || s.run?.runId === t || s.run?.key === t);
      if (match.length === 0) {
        return { ok: false, code: 'UNKNOWN_TARGET', message: `No watched trainer has the label or run id '${t}' (labels: ${controllable.map((s) => s.label).join(', ') || 'none'}).` };
      }
      targets = match;
      for (const s of targets) this.pollSource(s);
      const idle = targets.filter((s) => s.activity === 'idle' && !(s.run && s.run.status === 'running'));
      if (idle.length === targets.length) return { ok: false, code: 'NOT_RUNNING', message: `'${t}' is not training.` };
    } else {
      for (const s of controllable) this.pollSource(s);
      targets = controllable.filter((s) => s.activity !== 'idle' || (s.run !== null && s.run.status === 'running'));
      if (targets.length === 0) return { ok: false, code: 'NOT_RUNNING', message: 'Nothing is training.' };
    }
    for (const s of targets) {
      if (!this.controlsOf(s).includes(command)) {
        return { ok: false, code: 'UNSUPPORTED', message: `'${s.label}' (${s.kind}) does not support ${command}.` };
      }
    }
    if (command === 'setLearningRate') {
      const lr = input.learningRate;
      if (typeof lr !== 'number' || !Number.isFinite(lr) || lr <= 0 || lr > 10) {
        return { ok: false, code: 'INVALID_VALUE', message: `learningRate must be a finite number in (0, 10] (got ${String(lr)}).` };
      }
    }
    try {
      for (const s of targets) {
        const o = s.obj;
        switch (command) {
          case 'pause':
            o.pause!();
            break;
          case 'resume':
            o.resume!();
            break;
          case 'abort':
            s.abortedBy = from;
            o.abort!(input.reason ?? `aborted from the dashboard (${from})`);
            break;
          case 'setLearningRate':
            o.setLearningRate!(input.learningRate as number);
            s.learningRate = input.learningRate as number;
            if (s.run && s.run.status === 'running') s.run.learningRate = s.learningRate;
            break;
        }
      }
    } catch (error) {
      const e = errorSummary(error);
      return { ok: false, code: e.code === 'CONFIG_INVALID' ? 'INVALID_VALUE' : 'COMMAND_FAILED', message: e.message };
    }
    return { ok: true, targets: targets.map((s) => s.label) };
  }

  // ---------------------------------------------------------------------
  // Clients (used by server.ts)

  /** @internal */
  registerClient(client: ClientConnection): void {
    this.clientSet.add(client);
    this.stats.clientsTotal++;
    if (!this.pumpTimer) {
      this.pumpTimer = setInterval(() => this.pumpAll(), PUMP_INTERVAL_MS);
      this.pumpTimer.unref();
    }
    if (this.listenerCount('clientConnected') > 0) this.emit('clientConnected', client.info());
  }

  /** @internal */
  unregisterClient(client: ClientConnection, code: number, reason: string): void {
    if (!this.clientSet.delete(client)) return;
    client.closedByPeer();
    if (client.dropReason) this.stats.droppedClients++;
    if (this.clientSet.size === 0 && this.pumpTimer) {
      clearInterval(this.pumpTimer);
      this.pumpTimer = null;
    }
    if (this.listenerCount('clientClosed') > 0) {
      this.emit('clientClosed', { id: client.id, code, reason, dropped: client.dropReason !== null, dropReason: client.dropReason, coalesced: client.coalesced, sent: client.sent });
    }
  }

  private pumpAll(): void {
    const now = Date.now();
    for (const c of this.clientSet) {
      try {
        c.pump(now);
      } catch (error) {
        this.noteError(error);
      }
    }
  }

  /** Connected clients (for diagnostics and tests). */
  clients(): ClientInfo[] {
    return [...this.clientSet].map((c) => c.info());
  }

  /** @internal */
  handleClientText(client: ClientConnection, text: string): void {
    if (!client.takeToken()) {
      this.reply(client, { v: PROTOCOL_VERSION, type: 'error', id: null, code: 'RATE_LIMITED', message: 'Too many messages; slow down.' });
      return;
    }
    const parsed = parseClientMessage(text);
    if (!parsed.ok) {
      this.reply(client, { v: PROTOCOL_VERSION, type: 'error', id: parsed.id, code: parsed.code, message: parsed.message });
      return;
    }
    const m = parsed.message;
    if (m.type === 'hello') {
      if (client.ready) {
        this.reply(client, { v: PROTOCOL_VERSION, type: 'error', id: null, code: 'BAD_MESSAGE', message: 'hello was already received on this connection.' });
        return;
      }
      this.hello(client, m.lastSeq, m.sessionId);
      return;
    }
    if (!client.ready) this.hello(client, null, null);
    if (m.type === 'ping') {
      this.reply(client, { v: PROTOCOL_VERSION, type: 'pong', id: m.id, time: Date.now(), seq: this.seqValue });
      return;
    }
    this.clientCommand(client, m);
  }

  /** @internal A client that sent no hello in time gets a snapshot. */
  helloTimeout(client: ClientConnection): void {
    if (!client.ready && !client.closed) this.hello(client, null, null);
  }

  private clientCommand(client: ClientConnection, m: CommandMessage): void {
    const result = this.command({ command: m.command, target: m.target, reason: m.reason, learningRate: m.learningRate }, `client ${client.id} (${client.remoteAddress})`);
    if (result.ok) this.reply(client, { v: PROTOCOL_VERSION, type: 'ack', id: m.id, command: m.command, targets: result.targets });
    else this.reply(client, { v: PROTOCOL_VERSION, type: 'error', id: m.id, code: result.code, message: result.message });
  }

  private hello(client: ClientConnection, lastSeq: number | null, sessionId: string | null): void {
    if (client.helloTimer) {
      clearTimeout(client.helloTimer);
      client.helloTimer = null;
    }
    client.ready = true;
    const first = this.ring.firstSeq;
    const current = this.seqValue;
    const sameSession = sessionId === null || sessionId === this.sessionId;
    const replay = lastSeq !== null && sameSession && lastSeq <= current && (lastSeq === current || (first !== null && lastSeq >= first - 1));
    client.offer(
      new Outgoing(
        {
          v: PROTOCOL_VERSION,
          type: 'welcome',
          sessionId: this.sessionId,
          mode: replay ? 'replay' : 'snapshot',
          serverSeq: current,
          replayFrom: replay ? (lastSeq as number) + 1 : null,
          replayCount: replay ? current - (lastSeq as number) : 0,
          oldestSeq: first,
          time: Date.now(),
        },
        null,
      ),
    );
    if (replay) {
      for (const out of this.ring.since(lastSeq as number)) client.offer(out);
    } else {
      client.offer(this.snapshotMessage());
    }
  }

  private reply(client: ClientConnection, msg: Record<string, unknown>): void {
    client.offer(new Outgoing(msg, null));
  }

  // ---------------------------------------------------------------------
  // Serving

  /**
   * Starts a standalone HTTP + WebSocket server (default 127.0.0.1, a free
   * port, a random token). Resolves with { url (with ?token=), token, port, close() }.
   */
  listen(options: ListenOptions = {}): Promise<DashboardServer> {
    if (this.closedFlag) return Promise.reject(new BackpropError('CONFIG_INVALID', 'This event hub is closed; create a new one.', { field: 'hub' }));
    // Bad options reject like a failed listen rather than throwing from a promise-returning call.
    try {
      return listenHub(this, options);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Mounts the dashboard on an existing http.Server under options.path (default '/dashboard'). */
  attach(server: http.Server, options: AttachOptions = {}): DashboardAttachment {
    if (this.closedFlag) throw new BackpropError('CONFIG_INVALID', 'This event hub is closed; create a new one.', { field: 'hub' });
    return attachHub(this, server, options);
  }

  private registry: Registry | null = null;

  /** This hub's private prom-client Registry (what /metrics serves). */
  get metricsRegistry(): Registry {
    this.registry ??= createMetricsRegistry(this);
    return this.registry;
  }

  // ---------------------------------------------------------------------
  // Lifetime

  /** @internal Registers a server/attachment to close with the hub. */
  addCloser(fn: () => Promise<void>): () => void {
    this.closers.add(fn);
    return () => this.closers.delete(fn);
  }

  /** Stops watching everything, closes every server and client (1001), frees timers. */
  async close(): Promise<void> {
    if (this.closedFlag) return;
    for (const src of [...this.sources.values()]) this.unwatch(src.obj);
    this.closedFlag = true;
    for (const r of this.runs.values()) if (r.timer) clearTimeout(r.timer);
    for (const g of this.gpus.values()) if (g.timer) clearTimeout(g.timer);
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = null;
    await Promise.all([...this.closers].map((fn) => fn().catch((error) => this.noteError(error))));
    this.closers.clear();
    for (const c of this.clientSet) c.close(1001, 'dashboard closed');
    if (this.pumpTimer) clearInterval(this.pumpTimer);
    this.pumpTimer = null;
  }

  /** @internal Reports a bug in the hub without disturbing training (one warning per hub). */
  noteError(error: unknown): void {
    if (this.listenerCount('hubError') > 0) {
      this.emit('hubError', error);
      return;
    }
    if (this.warned) return;
    this.warned = true;
    process.emitWarning(`backpropagate dashboard: ${error instanceof Error ? error.message : String(error)}`, { code: 'BACKPROP_DASHBOARD_ERROR', detail: error instanceof Error ? error.stack : undefined });
  }

  // ---------------------------------------------------------------------
  // For /metrics

  /** @internal Per-source figures for metrics.ts. */
  metricsView(): {
    sources: Array<{ label: string; kind: SourceKind; activity: SourceActivity; stepsTotal: number; runsTotal: Record<string, number>; loss: number | null; validationLoss: number | null; learningRate: number | null; stepsPerSecond: number | null; samplesPerSecond: number | null }>;
    gpus: Array<{ status: GPUStatus }>;
    clients: number;
  } {
    return {
      sources: [...this.sources.values()]
        .filter((s) => s.kind !== 'gpuMonitor')
        .map((s) => ({
          label: s.label,
          kind: s.kind,
          activity: s.activity,
          stepsTotal: s.stepsTotal,
          runsTotal: s.runsTotal,
          loss: s.run?.loss ?? null,
          validationLoss: s.run?.validationLoss ?? null,
          learningRate: s.learningRate,
          stepsPerSecond: s.run?.status === 'running' ? s.run.stepsPerSecond : 0,
          samplesPerSecond: s.run?.status === 'running' ? s.run.samplesPerSecond : s.batchSize !== null ? 0 : null,
        })),
      gpus: [...this.gpus.values()].map((g) => ({ status: g.status })),
      clients: this.clientSet.size,
    };
  }
}

/** Creates an event hub (see EventHub). */
export function createEventHub(options: EventHubOptions = {}): EventHub {
  return new EventHub(options);
}
