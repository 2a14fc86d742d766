/**
 * The live side of one MultiRunTrainer session: the run in progress, stop
 * requests (abort, GPU emergency, fatal errors; the first cause wins), GPU
 * pauses, and the user's hooks and listeners.
 *
 * One SessionControl exists per run() call. MultiRunTrainer reads it for
 * `status` and writes to it through abort(); the session runner waits on it
 * between runs and forwards each run's steps through it.
 */
import type { EventEmitter } from 'node:events';
import type { BackpropError } from '../errors';
import type { HandlerGuard } from '../handler-guard';
import type { GPUStatusHandler } from '../gpu/monitor';
import type { Trainer } from '../trainer';
import { GpuGate } from './gpu-gate';
import type { SessionSettings } from './options';
import type { MultiRunStepHandler, RunCompleteHandler, RunStartHandler } from './multi-run-trainer';

/** How long a session waits for the GPU monitor's first sample before it starts training anyway. */
const FIRST_SAMPLE_TIMEOUT_MS = 1000;

/** Why a session is stopping; the first cause wins. */
export interface StopRequest {
  kind: 'abort' | 'emergency' | 'fatal';
  /** MultiRunResult.abortReason (and what the native run is aborted with). */
  reason: string;
  /** RunResult.failureReason of the run it stops. */
  failureReason: string;
  error: BackpropError | null;
}

export interface ActiveRun {
  runIndex: number;
  trainer: Trainer | null;
  step: number;
  loss: number | null;
  learningRate: number;
  gpuMaxTemp: number | null;
  gpuMaxVramPercent: number | null;
}

/** Where the session's handlers live: the MultiRunTrainer (the `this` of every hook) and its options. */
export interface SessionHooks {
  emitter: EventEmitter;
  guard: HandlerGuard;
  onRunStart: RunStartHandler | null;
  onRunComplete: RunCompleteHandler | null;
  onStep: MultiRunStepHandler | null;
  onGpuStatus: GPUStatusHandler | null;
}

export class SessionControl {
  /** The run in progress, or null between runs. */
  current: ActiveRun | null = null;
  /** The session id, once the session is open (the previous session's until then). */
  runId: string | null;
  /** The run in progress or the last one; 0 before any. */
  lastRunIndex = 0;
  completedRuns = 0;

  private stopRequest: StopRequest | null = null;
  private gate: GpuGate | null = null;
  private waiters: Array<() => void> = [];

  constructor(readonly hooks: SessionHooks, previousRunId: string | null) {
    this.runId = previousRunId;
  }

  /** The stop in force, or null. A method, so TypeScript does not keep a narrowing across awaits. */
  pendingStop(): StopRequest | null {
    return this.stopRequest;
  }

  get gpuPaused(): boolean {
    return this.gate?.paused ?? false;
  }

  requestStop(request: StopRequest): void {
    if (this.stopRequest) return;
    this.stopRequest = request;
    const trainer = this.current?.trainer;
    if (trainer) trainer.abort(request.reason);
    this.wakeWaiters();
  }

  /** Applies a stop or pause requested before `trainer`'s native run had started. */
  applyControls(cur: ActiveRun, trainer: Trainer): void {
    if (cur.trainer !== trainer) return;
    if (this.stopRequest) trainer.abort(this.stopRequest.reason);
    else if (this.gate?.paused) trainer.pause();
  }

  forwardStep(cur: ActiveRun, trainer: Trainer, step: number, loss: number): void {
    cur.step = step;
    cur.loss = loss;
    if (this.stopRequest) trainer.abort(this.stopRequest.reason);
    const { guard, emitter, onStep } = this.hooks;
    guard.call('onStep', emitter, onStep, [cur.runIndex, step, loss]);
    if (emitter.listenerCount('step') > 0) guard.emit('step', [cur.runIndex, step, loss]);
  }

  waitWhilePaused(): Promise<void> {
    if (!this.gate?.paused || this.stopRequest) return Promise.resolve();
    return new Promise((resolve) => {
      const check = (): void => {
        if (!this.gate?.paused || this.stopRequest) resolve();
        else this.waiters.push(check);
      };
      check();
    });
  }

  /** Starts the session's GPU monitor and waits (bounded) for its first sample. */
  async startGpu(settings: SessionSettings): Promise<void> {
    const cfg = settings.config;
    const { guard, emitter } = this.hooks;
    this.gate = new GpuGate({
      monitor: settings.gpuMonitor ?? {},
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
        guard.call('onGpuStatus', emitter, this.hooks.onGpuStatus, [status]);
        guard.emit('gpuStatus', [status]);
      },
      onPauseChange: (paused, status) => {
        const trainer = this.current?.trainer;
        if (paused) {
          trainer?.pause();
          guard.emit('paused', [status]);
        } else {
          trainer?.resume();
          guard.emit('resumed', [status]);
          this.wakeWaiters();
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
    await this.waitForFirstSample();
  }

  /** Ends the session's controls: wakes every waiter and stops the GPU monitor. */
  async close(): Promise<void> {
    this.wakeWaiters();
    const gate = this.gate;
    this.gate = null;
    if (gate) await gate.stop();
    this.current = null;
  }

  /** Calls a hook and the event's listeners, awaiting any promise they return; never throws. */
  async callSettled(hook: 'onRunStart' | 'onRunComplete', event: string, args: unknown[]): Promise<void> {
    await this.settle(hook, this.hooks[hook], args);
    for (const listener of this.hooks.emitter.listeners(event)) await this.settle(`listener:${event}`, listener, args);
  }

  private waitForFirstSample(): Promise<void> {
    const gate = this.gate;
    if (!gate || this.stopRequest) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      void gate.ready(FIRST_SAMPLE_TIMEOUT_MS).then(resolve);
    });
  }

  private wakeWaiters(): void {
    this.waiters.splice(0).forEach((wake) => wake());
  }

  private async settle(hook: string, fn: unknown, args: unknown[]): Promise<void> {
    if (typeof fn !== 'function') return;
    const { guard, emitter } = this.hooks;
    try {
      const result = (fn as (...a: unknown[]) => unknown).apply(emitter, args);
      if (result !== null && typeof result === 'object' && typeof (result as Promise<unknown>).then === 'function') {
        await (result as Promise<unknown>).then(undefined, (error: unknown) => guard.report(hook, error));
      }
    } catch (error) {
      guard.report(hook, error);
    }
  }
}
