/**
 * Runs user handlers for native event batches, in production order, on the
 * JS thread that owns the trainer, and keeps every handler failure away from
 * training: a throw or a rejected promise becomes a 'callbackError' event (or
 * one process warning per hook when nobody listens).
 */
import type { EventEmitter } from 'node:events';

export type HookName = 'onStep' | 'onEpoch' | 'onSave' | 'onComplete' | 'onError' | `listener:${string}` | string;

export interface CallbackErrorInfo {
  /** The hook or listener that failed, e.g. 'onStep' or 'listener:step'. */
  hook: HookName;
  error: unknown;
}

export class HandlerGuard {
  private readonly warned = new Set<string>();

  constructor(private readonly emitter: EventEmitter, private readonly label: string) {}

  /** Calls fn(...args) if it is a function; never throws. */
  call(hook: HookName, target: unknown, fn: unknown, args: unknown[]): void {
    if (typeof fn !== 'function') return;
    try {
      const result = (fn as (...a: unknown[]) => unknown).apply(target, args);
      if (result !== null && typeof result === 'object' && typeof (result as Promise<unknown>).then === 'function') {
        (result as Promise<unknown>).then(undefined, (error: unknown) => this.report(hook, error));
      }
    } catch (error) {
      this.report(hook, error);
    }
  }

  /** emitter.emit(event, ...args) with each listener isolated from the others. */
  emit(event: string, args: unknown[]): void {
    const listeners = this.emitter.listeners(event);
    for (const listener of listeners) this.call(`listener:${event}`, this.emitter, listener, args);
  }

  report(hook: HookName, error: unknown): void {
    if (this.emitter.listenerCount('callbackError') > 0) {
      const info: CallbackErrorInfo = Object.freeze({ hook, error });
      for (const listener of this.emitter.listeners('callbackError')) {
        try {
          (listener as (e: unknown, i: CallbackErrorInfo) => void).call(this.emitter, error, info);
        } catch {
          // A failing error listener has nowhere further to report to.
        }
      }
      return;
    }
    if (this.warned.has(hook)) return;
    this.warned.add(hook);
    const message = error instanceof Error ? error.message : String(error);
    process.emitWarning(
      `${this.label}: the ${hook} handler threw: ${message}. Training continues. ` +
        `Listen for 'callbackError' to handle handler errors (this warning is shown once per handler).`,
      { code: 'BACKPROP_CALLBACK_ERROR', detail: error instanceof Error ? error.stack : undefined },
    );
  }
}
