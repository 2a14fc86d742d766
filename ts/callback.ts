/**
 * TrainingCallback: the handlers a training run calls, one object per run.
 *
 * Handlers are plain, writable properties read at the moment each event is
 * dispatched, so replacing `callback.onStep` on a live run takes effect from
 * the next event. A handler may return a promise; it is not awaited (training
 * never waits for JavaScript), but a rejection is reported like a throw.
 */
import { BackpropError } from './errors';
import type { TrainingRun } from './run';

export type StepHandler = (step: number, loss: number) => unknown;
export type EpochHandler = (epoch: number) => unknown;
export type SaveHandler = (path: string) => unknown;
export type CompleteHandler = (run: TrainingRun) => unknown;
export type ErrorHandler = (error: Error) => unknown;

export interface TrainingCallbackHandlers {
  /** Each optimizer step: its 1-based number and that minibatch's mean loss. */
  onStep?: StepHandler;
  /** After the last step of each epoch (1-based). */
  onEpoch?: EpochHandler;
  /** After a checkpoint folder is complete on disk. */
  onSave?: SaveHandler;
  /** Once, last, when the run finished normally. */
  onComplete?: CompleteHandler;
  /** Once, last, when the run failed or was aborted (an AbortError). */
  onError?: ErrorHandler;
}

export const callbackHookNames = ['onStep', 'onEpoch', 'onSave', 'onComplete', 'onError'] as const;
export type CallbackHookName = (typeof callbackHookNames)[number];

export class TrainingCallback implements TrainingCallbackHandlers {
  onStep: StepHandler | undefined = undefined;
  onEpoch: EpochHandler | undefined = undefined;
  onSave: SaveHandler | undefined = undefined;
  onComplete: CompleteHandler | undefined = undefined;
  onError: ErrorHandler | undefined = undefined;

  constructor(handlers: TrainingCallbackHandlers = {}) {
    if (typeof handlers !== 'object' || handlers === null) {
      throw new BackpropError('CONFIG_INVALID', 'TrainingCallback takes an object of handlers, e.g. new TrainingCallback({ onStep: (step, loss) => {} }).', { field: 'callback' });
    }
    for (const key of Object.keys(handlers)) {
      if (!(callbackHookNames as readonly string[]).includes(key)) {
        throw new BackpropError('CONFIG_INVALID', `Unknown TrainingCallback handler '${key}'. Use one of: ${callbackHookNames.join(', ')}.`, { field: `callback.${key}` });
      }
    }
    for (const name of callbackHookNames) {
      const fn = handlers[name];
      if (fn !== undefined && fn !== null && typeof fn !== 'function') {
        throw new BackpropError('CONFIG_INVALID', `TrainingCallback.${name} must be a function or undefined (got ${typeof fn}).`, { field: `callback.${name}` });
      }
      if (typeof fn === 'function') (this as Record<CallbackHookName, unknown>)[name] = fn;
    }
  }
}

/** Accepts a TrainingCallback or a plain object of handlers (used as is, so later edits still apply). */
export function asCallback(callback: unknown): TrainingCallbackHandlers | null {
  if (callback === undefined || callback === null) return null;
  if (callback instanceof TrainingCallback) return callback;
  if (typeof callback !== 'object') {
    throw new BackpropError('CONFIG_INVALID', `callback must be a TrainingCallback or an object of handlers (got ${typeof callback}).`, { field: 'callback' });
  }
  for (const name of callbackHookNames) {
    const fn = (callback as Record<string, unknown>)[name];
    if (fn !== undefined && fn !== null && typeof fn !== 'function') {
      throw new BackpropError('CONFIG_INVALID', `callback.${name} must be a function or undefined (got ${typeof fn}).`, { field: `callback.${name}` });
    }
  }
  return callback as TrainingCallbackHandlers;
}
