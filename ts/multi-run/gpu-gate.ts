/**
 * The session's GPU watch: one GPUMonitor for the whole session, and the
 * pause logic on top of it.
 *
 *  - every sample goes to onSample (also while paused);
 *  - a sample at or above maxTempC, or with condition 'critical', starts a
 *    pause (with pauseOnOverheat);
 *  - while paused the latest sample is re-checked every cooldownMs; the pause
 *    ends when it is 'safe' or 'warm' and below maxTempC;
 *  - a pause longer than maxPauseMs (0 = no bound), or a monitor that dies
 *    while a pause is active (three failed reads in a row, or stopped), is
 *    fatal: onFatal with RUNTIME_GPU_TEMPERATURE_CRITICAL;
 *  - an 'emergency' sample calls onEmergency (when the config's
 *    abortOnEmergency is on, the default).
 * A GPU that cannot be read at all ('unknown' samples) never pauses anything.
 */
import { BackpropError } from '../errors';
import { GPUMonitor, type GPUReadErrorEvent } from '../gpu/monitor';
import type { GPUSource } from '../gpu/scripted-source';
import type { GPUSafetyConfig, GPUSafetyConfigOptions, GPUStatus } from '../gpu/types';

export interface GpuMonitorSettings {
  source?: GPUSource;
  config?: GPUSafetyConfig | GPUSafetyConfigOptions;
  deviceIndex?: number;
}

export interface GpuGateOptions {
  monitor: GpuMonitorSettings;
  maxTempC: number;
  pauseOnOverheat: boolean;
  cooldownMs: number;
  maxPauseMs: number;
  onSample(status: GPUStatus): void;
  onPauseChange(paused: boolean, status: GPUStatus | null): void;
  onEmergency(status: GPUStatus): void;
  onFatal(error: BackpropError): void;
}

export class GpuGate {
  private readonly monitor: GPUMonitor;
  private pausedSince: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private fatal = false;
  private firstSeen = false;
  private readyWaiters: Array<() => void> = [];

  constructor(private readonly options: GpuGateOptions) {
    this.monitor = new GPUMonitor({ config: options.monitor.config, source: options.monitor.source, deviceIndex: options.monitor.deviceIndex });
    this.monitor.on('status', (status: GPUStatus) => this.onStatus(status));
    this.monitor.on('readError', (event: GPUReadErrorEvent) => this.onReadError(event));
    // A throwing session hook must not reach the monitor's own warning path.
    this.monitor.on('callbackError', () => undefined);
  }

  get paused(): boolean {
    return this.pausedSince !== null;
  }

  /** Milliseconds the current pause has lasted, or 0. */
  get pausedForMs(): number {
    return this.pausedSince === null ? 0 : Date.now() - this.pausedSince;
  }

  start(): void {
    this.monitor.start();
  }

  /**
   * Resolves once the first sample (or failed read) has been handled, so a
   * session does not start training on a GPU that is already too hot; or
   * after timeoutMs, whichever comes first.
   */
  ready(timeoutMs: number): Promise<void> {
    if (this.firstSeen || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.readyWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private markSeen(): void {
    if (this.firstSeen) return;
    this.firstSeen = true;
    this.readyWaiters.splice(0).forEach((wake) => wake());
  }

  async stop(): Promise<void> {
    this.closed = true;
    this.clearTimer();
    this.readyWaiters.splice(0).forEach((wake) => wake());
    await this.monitor.stop();
  }

  private onStatus(status: GPUStatus): void {
    if (this.closed) return;
    this.options.onSample(status);
    if (this.closed || this.fatal) return;
    try {
      this.react(status);
    } finally {
      this.markSeen();
    }
  }

  private react(status: GPUStatus): void {
    if (status.condition === 'emergency') {
      if (this.monitor.config.abortOnEmergency) this.options.onEmergency(status);
      return;
    }
    if (this.pausedSince === null && this.options.pauseOnOverheat && this.isHot(status)) {
      this.pausedSince = Date.now();
      this.options.onPauseChange(true, status);
      this.schedule();
    }
  }

  private onReadError(event: GPUReadErrorEvent): void {
    this.markSeen();
    if (this.closed || this.pausedSince === null || !event.thermalSafetyDisabled) return;
    this.die(
      `the GPU monitor stopped delivering readings while training was paused for heat (${event.consecutiveFailures} failed reads in a row: ${event.error.message}), ` +
        'so the GPU could not be confirmed cool. Check the GPU and driver, then resume the session.',
      { consecutiveFailures: event.consecutiveFailures },
    );
  }

  private isHot(s: GPUStatus): boolean {
    return (s.temperatureC !== null && s.temperatureC >= this.options.maxTempC) || s.condition === 'critical';
  }

  private isClear(s: GPUStatus | null): boolean {
    return s !== null && (s.condition === 'safe' || s.condition === 'warm') && (s.temperatureC === null || s.temperatureC < this.options.maxTempC);
  }

  private schedule(): void {
    this.clearTimer();
    const { cooldownMs, maxPauseMs } = this.options;
    let delay = cooldownMs;
    if (maxPauseMs > 0) delay = Math.min(delay, Math.max(0, maxPauseMs - this.pausedForMs));
    this.timer = setTimeout(() => this.recheck(), delay);
  }

  private recheck(): void {
    this.timer = null;
    if (this.closed || this.pausedSince === null) return;
    if (!this.monitor.running) {
      this.die('the GPU monitor stopped while training was paused for heat, so the GPU could not be confirmed cool.', {});
      return;
    }
    const latest = this.monitor.getLatestStatus();
    if (this.isClear(latest)) {
      this.pausedSince = null;
      this.options.onPauseChange(false, latest);
      return;
    }
    const { maxPauseMs, maxTempC } = this.options;
    if (maxPauseMs > 0 && this.pausedForMs >= maxPauseMs) {
      const t = latest?.temperatureC;
      this.die(
        `the GPU stayed too hot for ${this.pausedForMs} ms, past maxPauseMs (${maxPauseMs} ms): latest reading ` +
          `${t === null || t === undefined ? 'without a temperature' : `${t} °C`} (${latest?.condition ?? 'no sample'}${latest?.conditionReason ? `: ${latest.conditionReason}` : ''}), limit ${maxTempC} °C. ` +
          'Improve cooling, lower the load, or raise maxPauseMs, then resume the session.',
        { temperatureC: t ?? null, condition: latest?.condition ?? null, maxPauseMs },
      );
      return;
    }
    this.schedule();
  }

  private die(why: string, details: Record<string, unknown>): void {
    if (this.fatal) return;
    this.fatal = true;
    this.clearTimer();
    const pausedMs = this.pausedForMs;
    this.options.onFatal(new BackpropError('RUNTIME_GPU_TEMPERATURE_CRITICAL', `Multi-run session stopped: ${why}`, { ...details, pausedMs }));
  }

  private clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
