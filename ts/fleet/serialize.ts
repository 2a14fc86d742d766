/**
 * Errors across the wire: a worker sends name, code, message and details; a
 * listener rebuilds a BackpropError with the same code, or an AbortError of
 * the same shape as a local run's (`name`, `code: 'ABORT_ERR'`, `reason`).
 */
import { BackpropError, createAbortError, isBackpropError, type BackpropErrorCode } from '../errors';
import type { SerializedError } from './types';

export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error && error.name === 'AbortError') {
    const e = error as Error & { reason?: unknown; run?: unknown };
    return { name: 'AbortError', code: 'ABORT_ERR', message: e.message, reason: plain(e.reason), run: plain(e.run) };
  }
  if (isBackpropError(error)) {
    const run = (error as { run?: unknown }).run;
    return { name: 'BackpropError', code: error.code, message: error.message, details: plain(error.details) as Record<string, unknown>, ...(run ? { run: plain(run) } : {}) };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { name: 'BackpropError', code: 'RUNTIME_FAILED', message, details: {} };
}

function plain(value: unknown): unknown {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(JSON.stringify(value)) as unknown;
  } catch {
    return String(value);
  }
}

export function deserializeError(e: SerializedError | undefined, jobId: string): Error {
  if (!e) return new BackpropError('RUNTIME_FAILED', `Job ${jobId} failed without saying why. Look at the worker's log.`, { jobId });
  if (e.name === 'AbortError') return createAbortError(e.reason, e.run ?? null);
  const error = new BackpropError(e.code as BackpropErrorCode, e.message, { ...(e.details ?? {}), jobId });
  if (e.run !== undefined) Object.defineProperty(error, 'run', { value: e.run, enumerable: false });
  return error;
}
