/**
 * The event hub: watches Trainer, MultiRunTrainer and GPUMonitor objects and
 * turns their events into versioned JSON messages (see ../protocol.ts), kept
 * in a bounded ring for replay, folded into a current snapshot, and
 * broadcast to WebSocket clients (see ../server for the HTTP side).
 *
 * Never slowing training: the hub only adds plain listeners, which run on the
 * JS thread after the native dispatcher has delivered an event, and does O(1)
 * work per event (no I/O, no awaiting, no native calls on the step path; JSON
 * is built once per message, and only when a client needs it).
 *
 * Step messages are rate-bounded per run (maxStepRate, default 200 per
 * second) and GPU samples per device (maxGpuRate, default 10), both by one
 * latest-wins throttle (throttle.ts): a sample that comes too soon is held
 * and replaced by newer ones, and the latest is sent when the interval has
 * passed, and always before any other message of its run, so the last step
 * of a run is never lost. A step message carries the step's own loss plus
 * `count` (steps it stands for) and `lossMean` (their mean loss). A change of
 * GPU condition is always sent at once. Every message that is sent goes into
 * the replay ring, so seq numbers are contiguous and a replay gives exactly
 * the messages a client missed.
 *
 * Memory is bounded however long a session runs: the ring holds bufferSize
 * messages, the snapshot keeps maxRuns runs with at most historyPoints loss
 * points each (decimated), the latest status per GPU and logSize log messages.
 *
 * The rooms: options.ts (checked options), sources/ (one adapter per source
 * kind), labels.ts (source labels), run-book.ts (what the sources are doing),
 * throttle.ts, replay.ts and snapshot.ts (seq numbers, replay, snapshots),
 * commands.ts, client-session.ts (the per-client protocol), metrics-view.ts.
 */
import { EventEmitter } from 'node:events';
import type * as http from 'node:http';
import type { Registry } from 'prom-client';
import { BackpropError } from '../../errors';
import type { ClientConnection, ClientInfo, Outgoing } from '../client';
import { createMetricsRegistry, type MetricsSource, type MetricsView } from '../metrics';
import type { HubMessage, HubState } from '../protocol';
import { attachHub, listenHub, type AttachOptions, type DashboardAttachment, type DashboardServer, type HubForServer, type ListenOptions } from '../server';
import { ClientSessions } from './client-session';
import { controlsOf, executeCommand } from './commands';
import { resolveHubOptions, type EventHubOptions, type ResolvedHubOptions, type WatchOptions } from './options';
import { errorSummary, newSourceEntry, type CommandInput, type CommandResult, type Listener, type SourceEntry } from './model';
import { SourceLabels } from './labels';
import { metricsViewOf } from './metrics-view';
import { MessageLog } from './replay';
import { RunBook } from './run-book';
import { buildSnapshot } from './snapshot';
import { adapterFor, detectAdapter } from './sources';

/**
 * Watches trainers and GPU monitors, keeps a bounded replay buffer and a
 * snapshot, and serves clients. Create with createEventHub().
 *
 * Events (for embedding and tests): 'message' (every broadcast message),
 * 'clientConnected' (ClientInfo), 'clientClosed' ({ id, code, reason, dropped }),
 * 'command' ({ command, result }), 'hubError' (a bug in the hub, which never
 * disturbs training).
 */
export class EventHub extends EventEmitter implements HubForServer, MetricsSource {
  readonly options: Readonly<ResolvedHubOptions>;
  readonly sessionId: string;
  readonly startedAt = Date.now();
  private readonly messageLog: MessageLog;
  private readonly book: RunBook;
  private readonly sessions: ClientSessions;
  private readonly closers = new Set<() => Promise<void>>();
  /** Adapter teardowns still running (hub.close() waits for them). */
  private readonly teardowns = new Set<Promise<void>>();
  private pollTimer: NodeJS.Timeout | null = null;
  private readonly labels: SourceLabels;
  private warned = false;
  private closedFlag = false;
  private registry: Registry | null = null;
  private counters = { messages: 0, commands: 0 };
  /** Counters for /metrics. */
  readonly stats: { readonly messages: number; readonly commands: number; readonly droppedClients: number; readonly clientsTotal: number };

  constructor(options: EventHubOptions = {}) {
    super();
    this.options = Object.freeze(resolveHubOptions(options));
    this.sessionId = this.options.sessionId;
    this.labels = new SourceLabels((label) => this.book.labels.has(label));
    this.messageLog = new MessageLog(this.options.bufferSize, this.options.logSize, this.sessionId);
    this.book = new RunBook(this.options, (type, runId, runIndex, payload, key) => this.broadcast(type, runId, runIndex, payload, key ?? null), () => this.messageLog.seq);
    const hub = this;
    this.sessions = new ClientSessions({
      events: this,
      log: this.messageLog,
      snapshot: () => this.snapshot(),
      command: (input, from) => this.command(input, from),
      noteError: (error) => this.noteError(error),
    });
    const counters = this.counters;
    this.stats = {
      get messages() {
        return counters.messages;
      },
      get commands() {
        return counters.commands;
      },
      get droppedClients() {
        return hub.sessions.stats.droppedClients;
      },
      get clientsTotal() {
        return hub.sessions.stats.clientsTotal;
      },
    };
  }

  /** Seq of the latest broadcast message (0 before the first). */
  get seq(): number {
    return this.messageLog.seq;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** The overall state the page's banner shows. */
  get state(): HubState {
    return this.book.state;
  }

  // ---------------------------------------------------------------------
  // Sources

  /**
   * Subscribes to a Trainer, MultiRunTrainer, GPUMonitor, fleet TrainingQueue
   * (every job of the queue, live) or JobHandle; returns its label.
   * Watching an object twice returns the first label.
   */
  watch(obj: object, options: WatchOptions = {}): string {
    if (this.closedFlag) throw new BackpropError('CONFIG_INVALID', 'This event hub is closed; create a new one.', { field: 'hub' });
    const takes = 'hub.watch() takes a Trainer, MultiRunTrainer or GPUMonitor, or a fleet TrainingQueue or JobHandle';
    if (typeof obj !== 'object' || obj === null) throw new BackpropError('CONFIG_INVALID', `${takes}.`, { field: 'source', value: obj });
    const existing = this.book.sources.get(obj);
    if (existing) return existing.label;
    const adapter = options.kind !== undefined ? adapterFor(options.kind) : detectAdapter(obj);
    if (!adapter || (adapter.eventSource !== false && typeof (obj as EventEmitter).on !== 'function')) {
      throw new BackpropError('CONFIG_INVALID', `${takes} (or pass { kind }).`, { field: 'source', value: options.kind ?? obj });
    }
    const label = this.labels.choose(adapter.labelPrefix, options.label);
    if (options.batchSize !== undefined && !(Number.isInteger(options.batchSize) && options.batchSize > 0)) {
      throw new BackpropError('CONFIG_INVALID', 'watch batchSize must be an integer >= 1.', { field: 'batchSize', value: options.batchSize });
    }
    const o = obj as Record<string, unknown>;
    const facts = adapter.describe(o, options);
    const src = newSourceEntry(label, adapter.kind, obj as SourceEntry['obj'], facts);
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
    const teardown = adapter.subscribe({
      src,
      book: this.book,
      on,
      broadcast: (type, runId, runIndex, payload, key) => this.broadcast(type, runId, runIndex, payload, key ?? null),
      watch: (child, childOptions) => this.watch(child, childOptions),
      unwatch: (child) => void this.unwatch(child),
    });
    src.teardown = teardown ?? null;
    this.book.sources.set(obj, src);
    this.book.labels.set(label, src);
    this.broadcast('watch', null, null, { source: label, kind: adapter.kind, controls: controlsOf(src), thresholds: facts.thresholds });
    if (adapter.polled) {
      this.book.pollSource(src);
      this.ensurePoll();
    }
    const latest = adapter.initialGpuStatus?.(o) ?? null;
    if (latest) this.book.recordGpu(src, latest);
    return label;
  }

  /** Stops listening to a source (by object or label). Its runs stay in the snapshot. Returns false when it was not watched. */
  unwatch(objOrLabel: object | string): boolean {
    const src = typeof objOrLabel === 'string' ? this.book.labels.get(objOrLabel) : this.book.sources.get(objOrLabel);
    if (!src) return false;
    for (const run of this.book.runs.values()) if (run.source === src) this.book.flushStep(run);
    for (const [event, fn] of src.listeners) src.obj.off(event, fn);
    src.listeners = [];
    const teardown = src.teardown;
    src.teardown = null;
    if (teardown) {
      const stopped: Promise<void> = Promise.resolve()
        .then(teardown)
        .catch((error: unknown) => this.noteError(error))
        .finally(() => this.teardowns.delete(stopped));
      this.teardowns.add(stopped);
    }
    this.book.sources.delete(src.obj);
    this.book.labels.delete(src.label);
    if (!this.closedFlag) this.broadcast('unwatch', null, null, { source: src.label, hubState: this.state });
    if (this.book.controllable().length === 0 && this.pollTimer) {
      clearInterval(this.pollTimer);
      this.pollTimer = null;
    }
    return true;
  }

  /** Labels of the watched sources. */
  get watched(): string[] {
    return [...this.book.labels.keys()];
  }

  private ensurePoll(): void {
    if (this.pollTimer || this.closedFlag) return;
    this.pollTimer = setInterval(() => {
      for (const src of this.book.controllable()) this.book.pollSource(src);
    }, this.options.pollIntervalMs);
    this.pollTimer.unref();
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
      throw new BackpropError('CONFIG_INVALID', 'publish(type, payload): payload must be an object.', { field: 'payload', value: payload });
    }
    return this.broadcast(type, ids.runId ?? null, ids.runIndex ?? null, payload).msg as HubMessage;
  }

  /** Adds a line to every client's event log (type 'log'). */
  log(message: string, level: 'info' | 'warning' | 'error' = 'info'): HubMessage {
    return this.broadcast('log', null, null, { level, message: String(message) }).msg as HubMessage;
  }

  private broadcast(type: string, runId: string | null, runIndex: number | null, payload: Record<string, unknown>, key: string | null = null): Outgoing {
    const out = this.messageLog.append(type, runId, runIndex, payload, key);
    this.counters.messages++;
    this.sessions.offer(out);
    if (this.listenerCount('message') > 0) {
      try {
        this.emit('message', out.msg);
      } catch (error) {
        this.noteError(error);
      }
    }
    return out;
  }

  /** Broadcast messages with seq > afterSeq still in the ring buffer, oldest first. */
  messages(afterSeq = 0): HubMessage[] {
    return this.messageLog.since(afterSeq).map((o) => o.msg as HubMessage);
  }

  /** Seq of the oldest message still in the ring buffer (null when empty). */
  get oldestSeq(): number | null {
    return this.messageLog.oldestSeq;
  }

  /** The current state as one object (what a `snapshot` message carries). */
  snapshot(): Record<string, unknown> {
    return buildSnapshot(this.book, this.messageLog, this.options, this.startedAt);
  }

  // ---------------------------------------------------------------------
  // Commands

  /**
   * Runs a command as a client would (pause, resume, abort, setLearningRate),
   * on `target` (a label or run id) or, without one, on every running source.
   * Logged as a 'command' message. Never throws.
   */
  command(input: CommandInput, from: string = 'api'): CommandResult {
    const result = executeCommand(this.book, input, from, this.options.allowCommands, (label, command, error) => {
      if (!this.closedFlag) this.log(`${command} on ${label} failed: ${errorSummary(error).message}`, 'error');
    });
    this.counters.commands++;
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

  // ---------------------------------------------------------------------
  // Clients (used by the server)

  /** @internal */
  registerClient(client: ClientConnection): void {
    this.sessions.register(client);
  }

  /** @internal */
  unregisterClient(client: ClientConnection, code: number, reason: string): void {
    this.sessions.unregister(client, code, reason);
  }

  /** @internal */
  handleClientText(client: ClientConnection, text: string): void {
    this.sessions.handleText(client, text);
  }

  /** @internal A client that sent no hello in time gets a snapshot. */
  helloTimeout(client: ClientConnection): void {
    this.sessions.helloTimeout(client);
  }

  /** Connected clients (for diagnostics and tests). */
  clients(): ClientInfo[] {
    return this.sessions.info();
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
    for (const src of [...this.book.sources.values()]) this.unwatch(src.obj);
    this.closedFlag = true;
    this.book.stopTimers();
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = null;
    await Promise.all([...this.teardowns]);
    await Promise.all([...this.closers].map((fn) => fn().catch((error) => this.noteError(error))));
    this.closers.clear();
    this.sessions.closeAll(1001, 'dashboard closed');
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

  /** @internal Per-source figures for metrics.ts. */
  metricsView(): MetricsView {
    return metricsViewOf(this.book, this.sessions.size);
  }
}

/** Creates an event hub (see EventHub). */
export function createEventHub(options: EventHubOptions = {}): EventHub {
  return new EventHub(options);
}
