/**
 * GPUMonitor: samples GPU health on a native thread and calls handlers on the
 * JS thread, in order, each sample with the time it was taken.
 *
 * Samples keep being taken while JavaScript is blocked and are delivered
 * afterwards. A monitor alone does not keep the process alive (like a daemon
 * thread); call stop() when done.
 */
import { EventEmitter } from 'node:events';
import type { GpuMonitorHandle, NativeGpuGuardPolicy, NativeGpuGuardStats, NativeGpuSample, TrainingSession } from '../../binding';
import { BackpropError, formatValue } from '../errors';
import { HandlerGuard } from '../handler-guard';
import { callNative, native } from '../native';
import { materialise, type GPUSource } from './scripted-source';
import { isSimulatedSource, simulatedHandleOf } from './simulated-source';
import { nativeConfig, toStatus } from './status';
import { GPUSafetyConfig, type GPUSafetyConfigOptions, type GPUStatus } from './types';
import { rejectUnknownKeys, requireRecord } from '../validation';

export type GPUStatusHandler = (status: GPUStatus) => unknown;

export interface GPUMonitorOptions {
  config?: GPUSafetyConfig | GPUSafetyConfigOptions;
  /** The device to watch (default 0). */
  deviceIndex?: number;
  /** Several devices at once (overrides deviceIndex). */
  deviceIndices?: number[];
  /** NVML (default), a scriptedGPUSource() simulation, or a live simulatedGPU(). */
  source?: GPUSource;
  /** NVML library path (default: BACKPROP_NVML_LIBRARY, then libnvidia-ml.so.1). */
  libraryPath?: string;
  onStatus?: GPUStatusHandler;
  onWarning?: GPUStatusHandler;
  onCritical?: GPUStatusHandler;
  onEmergency?: GPUStatusHandler;
  /** Where logWarnings writes (default console.warn). */
  logger?: (message: string) => void;
}

export interface GPUReadErrorEvent {
  error: BackpropError;
  consecutiveFailures: number;
  /** From the third failure in a row: no reading means no thermal protection. */
  thermalSafetyDisabled: boolean;
  deviceIndex: number;
}

export interface GPUMonitorEvents {
  status: [GPUStatus];
  warning: [GPUStatus];
  critical: [GPUStatus];
  emergency: [GPUStatus];
  readError: [GPUReadErrorEvent];
  recovered: [{ afterFailures: number; deviceIndex: number }];
  callbackError: [unknown, { hook: string; error: unknown }];
}

const HISTORY_LIMIT = 100;
const GPU_MONITOR_KEYS: readonly (keyof GPUMonitorOptions)[] = [
  'config', 'deviceIndex', 'deviceIndices', 'source', 'libraryPath', 'onStatus', 'onWarning', 'onCritical', 'onEmergency', 'logger',
];

export class GPUMonitor extends EventEmitter {
  onStatus: GPUStatusHandler | undefined;
  onWarning: GPUStatusHandler | undefined;
  onCritical: GPUStatusHandler | undefined;
  onEmergency: GPUStatusHandler | undefined;
  readonly deviceIndices: readonly number[];
  private configValue: GPUSafetyConfig;
  private readonly source: GPUSource;
  private readonly libraryPath: string;
  private readonly guard: HandlerGuard;
  private readonly log: (message: string) => void;
  private handle: GpuMonitorHandle | null = null;
  private paused = false;
  private stopped = true;
  private pending: NativeGpuSample[] = [];
  private dispatching = false;
  private latest = new Map<number, GPUStatus>();
  private history: GPUStatus[] = [];
  private loggedThird = new Set<number>();
  private failing = new Set<number>();

  constructor(options: GPUMonitorOptions = {}) {
    super();
    requireRecord(options, 'options', 'Pass GPUMonitor options such as { deviceIndex: 0, config: { checkIntervalMs: 1000 } }, or none.');
    rejectUnknownKeys(options as unknown as Record<string, unknown>, GPU_MONITOR_KEYS, '', { where: 'for new GPUMonitor()' });
    this.configValue = options.config instanceof GPUSafetyConfig ? options.config : new GPUSafetyConfig(options.config ?? {});
    const indices = options.deviceIndices ?? [options.deviceIndex ?? 0];
    if (!Array.isArray(indices) || indices.length === 0 || !indices.every((i) => Number.isInteger(i) && i >= 0)) {
      const field = options.deviceIndices !== undefined ? 'deviceIndices' : 'deviceIndex';
      const value = options.deviceIndices ?? options.deviceIndex;
      throw new BackpropError(
        'CONFIG_INVALID',
        `${field} must be ${field === 'deviceIndices' ? 'a non-empty list of integers >= 0' : 'an integer >= 0'} (got ${formatValue(value)}). Pass e.g. deviceIndex: 0 or deviceIndices: [0, 1].`,
        { field, value },
      );
    }
    this.deviceIndices = Object.freeze([...indices]);
    this.source = options.source ?? { kind: 'nvml' };
    const source = this.source as unknown;
    const known =
      typeof source === 'object' && source !== null &&
      ((source as GPUSource).kind === 'nvml' || ((source as GPUSource).kind === 'scripted' && (!(source as { live?: unknown }).live || isSimulatedSource(source))));
    if (!known) {
      throw new BackpropError('CONFIG_INVALID', 'source must come from scriptedGPUSource() or simulatedGPU(), or be omitted for NVML.', { field: 'source', value: options.source });
    }
    if (options.libraryPath !== undefined && typeof options.libraryPath !== 'string') {
      throw new BackpropError('CONFIG_INVALID', `libraryPath must be a file path string (got ${formatValue(options.libraryPath)}). Pass e.g. '/usr/lib/libnvidia-ml.so.1', or leave it out.`, { field: 'libraryPath', value: options.libraryPath });
    }
    if (options.logger !== undefined && typeof options.logger !== 'function') {
      throw new BackpropError('CONFIG_INVALID', `logger must be a function (got ${formatValue(options.logger)}). Pass e.g. (message) => console.warn(message), or leave it out.`, { field: 'logger', value: options.logger });
    }
    this.libraryPath = options.libraryPath ?? (this.source.kind === 'nvml' ? this.source.libraryPath ?? '' : '');
    for (const name of ['onStatus', 'onWarning', 'onCritical', 'onEmergency'] as const) {
      const fn = options[name];
      if (fn !== undefined && fn !== null && typeof fn !== 'function') {
        throw new BackpropError('CONFIG_INVALID', `GPUMonitor ${name} must be a function (got ${formatValue(fn)}). Pass a function, or leave it out.`, { field: name, value: fn });
      }
      this[name] = fn ?? undefined;
    }
    this.guard = new HandlerGuard(this, 'backpropagate GPUMonitor');
    this.log = options.logger ?? ((m) => console.warn(m));
  }

  get config(): GPUSafetyConfig {
    return this.configValue;
  }

  /** Changes thresholds from the next sample on (the sampling interval stays). */
  set config(value: GPUSafetyConfig) {
    this.configValue = value instanceof GPUSafetyConfig ? value : new GPUSafetyConfig(value);
    this.handle?.setConfig(nativeConfig(this.configValue));
  }

  get running(): boolean {
    return !this.stopped;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** True when the latest sample of any watched device is 'emergency'. */
  get isEmergency(): boolean {
    for (const s of this.latest.values()) if (s.condition === 'emergency') return true;
    return false;
  }

  /** Starts sampling (the first sample at once). Safe to call when running. */
  start(): this {
    if (!this.stopped) return this;
    const handle = this.nativeHandle();
    this.stopped = false;
    handle.start((samples) => {
      if (!this.stopped) this.dispatch(samples);
    });
    return this;
  }

  /** The native monitor, created on first use (not started). */
  private nativeHandle(): GpuMonitorHandle {
    if (!this.handle) {
      const source = this.source;
      const simulated = source.kind === 'scripted' && source.live === true;
      const scripted = source.kind === 'scripted' && source.live !== true;
      this.handle = callNative(
        () =>
          new (native().GpuMonitorHandle)({
            source: simulated ? 'simulated' : scripted ? 'scripted' : 'nvml',
            simulated: simulated ? simulatedHandleOf(source) : undefined,
            libraryPath: this.libraryPath,
            readings: scripted ? (materialise(source, this.configValue.checkIntervalMs) as never) : [],
            loop: scripted ? source.loop : false,
            deviceIndices: [...this.deviceIndices],
            intervalMs: this.configValue.checkIntervalMs,
            config: nativeConfig(this.configValue),
          }),
      );
    }
    return this.handle;
  }

  /**
   * Stops sampling; resolves once the native thread has joined. Samples taken
   * before the stop are dispatched first. Safe inside a callback and twice.
   */
  stop(): Promise<void> {
    if (this.stopped || !this.handle) return Promise.resolve();
    const rest = this.handle.stop();
    this.dispatch(rest);
    this.stopped = true;
    return Promise.resolve();
  }

  /** Sampling, history and getLatestStatus() continue; callbacks and events are skipped. */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
  }

  getLatestStatus(deviceIndex?: number): GPUStatus | null {
    if (deviceIndex !== undefined) return this.latest.get(deviceIndex) ?? null;
    let newest: GPUStatus | null = null;
    for (const s of this.latest.values()) if (!newest || s.timestamp >= newest.timestamp) newest = s;
    return newest;
  }

  /** The last 100 statuses, oldest first. */
  getStatusHistory(): readonly GPUStatus[] {
    return Object.freeze([...this.history]);
  }

  /** @internal Lets the trainer's safety guard act on samples natively. */
  attachTrainer(session: TrainingSession, deviceIndex: number, policy: NativeGpuGuardPolicy): number {
    return this.nativeHandle().attachTrainer(session, deviceIndex, policy);
  }

  /** @internal */
  detachTrainer(id: number): NativeGpuGuardStats | null {
    return this.handle ? this.handle.detachTrainer(id) : null;
  }

  /**
   * Queues samples and delivers them in order. A callback that calls stop()
   * (which hands back the samples taken but not yet delivered) or start()
   * only adds to the queue: no callback ever runs inside another, and the
   * samples of a batch that was being delivered when stop() was called are
   * still delivered, since they were taken before the stop.
   */
  private dispatch(samples: NativeGpuSample[]): void {
    for (const s of samples) this.pending.push(s);
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      for (let i = 0; i < this.pending.length; i++) this.deliver(this.pending[i] as NativeGpuSample);
    } finally {
      this.pending = [];
      this.dispatching = false;
    }
  }

  private deliver(s: NativeGpuSample): void {
    {
      if (!s.ok) {
        this.failing.add(s.deviceIndex);
        const event: GPUReadErrorEvent = Object.freeze({
          error: new BackpropError('GPU_READ_FAILED', `GPU ${s.deviceIndex} could not be read: ${s.error}`, { deviceIndex: s.deviceIndex, consecutiveFailures: s.consecutiveFailures }),
          consecutiveFailures: s.consecutiveFailures,
          thermalSafetyDisabled: s.consecutiveFailures >= 3,
          deviceIndex: s.deviceIndex,
        });
        if (this.configValue.logWarnings) {
          if (s.consecutiveFailures === 1) this.log(`backpropagate GPUMonitor: GPU ${s.deviceIndex} read failed: ${s.error}`);
          if (s.consecutiveFailures === 3 && !this.loggedThird.has(s.deviceIndex)) {
            this.loggedThird.add(s.deviceIndex);
            this.log(`backpropagate GPUMonitor: GPU ${s.deviceIndex} failed 3 reads in a row; thermal safety is disabled until it recovers.`);
          }
        }
        if (!this.paused) this.guard.emit('readError', [event]);
        return;
      }
      if (s.recovered || this.failing.has(s.deviceIndex)) {
        this.failing.delete(s.deviceIndex);
        this.loggedThird.delete(s.deviceIndex);
        if (this.configValue.logWarnings) this.log(`backpropagate GPUMonitor: GPU ${s.deviceIndex} readable again after ${s.afterFailures} failed reads.`);
        if (!this.paused) this.guard.emit('recovered', [Object.freeze({ afterFailures: s.afterFailures, deviceIndex: s.deviceIndex })]);
      }
      const status = toStatus(s);
      this.latest.set(status.deviceIndex, status);
      this.history.push(status);
      if (this.history.length > HISTORY_LIMIT) this.history.shift();
      if (this.paused) return;
      this.guard.call('onStatus', this, this.onStatus, [status]);
      this.guard.emit('status', [status]);
      switch (status.condition) {
        case 'warning':
          this.guard.call('onWarning', this, this.onWarning, [status]);
          this.guard.emit('warning', [status]);
          break;
        case 'critical':
          this.guard.call('onCritical', this, this.onCritical, [status]);
          this.guard.emit('critical', [status]);
          break;
        case 'emergency':
          this.guard.call('onEmergency', this, this.onEmergency, [status]);
          this.guard.emit('emergency', [status]);
          break;
        default:
          break;
      }
    }
  }
}
