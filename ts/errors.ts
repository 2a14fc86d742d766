/**
 * The one error type the library throws or rejects with.
 *
 * Every failure carries a stable `code` (programs branch on it) and a message
 * that says what went wrong and what to do about it (people read it). The
 * native engine uses the same codes, so its failures convert without guessing.
 */

export type BackpropErrorCode =
  | 'CONFIG_INVALID'
  | 'INPUT_EMPTY'
  | 'INPUT_SHAPE_MISMATCH'
  | 'INPUT_NON_FINITE'
  | 'INPUT_LABEL_RANGE'
  | 'INPUT_PARSE'
  | 'INPUT_NOT_FOUND'
  | 'DEVICE_UNAVAILABLE'
  | 'CHECKPOINT_CORRUPT'
  | 'CHECKPOINT_NOT_FOUND'
  | 'CHECKPOINT_INCOMPATIBLE'
  | 'RUNTIME_NON_FINITE_LOSS'
  | 'RUNTIME_GPU_OOM'
  | 'RUNTIME_GPU_TEMPERATURE_CRITICAL'
  | 'RUNTIME_FAILED'
  | 'TRAINER_BUSY'
  | 'NATIVE_LOAD_FAILED'
  | 'GPU_READ_FAILED'
  /** Fleet mode: a job named a data path outside the worker's dataRoot. */
  | 'JOB_PATH_FORBIDDEN'
  /** Fleet mode: no job with that id in the queue. */
  | 'JOB_NOT_FOUND'
  /** Fleet mode: BullMQ failed the job because it stalled more than maxStalledCount times. */
  | 'JOB_STALLED'
  /** Fleet mode: the job's kind does not take that command (pause, resume, setLearningRate on a multi-run job). */
  | 'JOB_COMMAND_UNSUPPORTED';

export class BackpropError extends Error {
  readonly code: BackpropErrorCode;
  /** Machine-readable facts about the failure (field, value, row, line, ...). Frozen. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: BackpropErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    // Only forward `cause` when given, so errors without one have no `cause` property at all.
    super(message, options !== undefined && 'cause' in options ? { cause: options.cause } : undefined);
    this.code = code;
    this.details = Object.freeze({ ...details });
  }

  // Set on the prototype below (not per instance), so it is in place before
  // V8 captures the stack header and is not an own enumerable property.
  declare readonly name: 'BackpropError';

  /** JSON.stringify(error) would otherwise give `{}` (message and name are not own enumerable). */
  toJSON(): { name: 'BackpropError'; code: BackpropErrorCode; message: string; details: Readonly<Record<string, unknown>> } {
    return { name: this.name, code: this.code, message: this.message, details: this.details };
  }
}

Object.defineProperty(BackpropError.prototype, 'name', {
  value: 'BackpropError',
  writable: true,
  configurable: true,
  enumerable: false,
});

/**
 * True for errors thrown by this library. Checks the shape as well as the
 * class, so it still works if two copies of the package are loaded.
 */
export function isBackpropError(e: unknown): e is BackpropError {
  if (e instanceof BackpropError) return true;
  return (
    e instanceof Error &&
    e.name === 'BackpropError' &&
    typeof (e as { code?: unknown }).code === 'string' &&
    typeof (e as { details?: unknown }).details === 'object' &&
    (e as { details?: unknown }).details !== null
  );
}

/**
 * The error a run rejects with when it was aborted. Shaped like the DOM/Node
 * AbortError (`name`, `code`) so existing `err.name === 'AbortError'` checks work.
 */
export interface AbortError<Run = unknown> extends Error {
  name: 'AbortError';
  code: 'ABORT_ERR';
  /** Whatever was passed to abort() (or the signal's reason). */
  reason: unknown;
  /** The partial run up to the abort; the trainer fills it in. */
  run: Run;
}

/** Generic in the run's type only so callers keep it typed; `AbortError` alone means `run: unknown`. */
export function createAbortError<Run = unknown>(reason: unknown, run: Run): AbortError<Run> {
  const error = new Error(`Training aborted: ${String(reason)}`) as AbortError<Run>;
  error.name = 'AbortError';
  error.code = 'ABORT_ERR';
  error.reason = reason;
  error.run = run;
  return error;
}

/**
 * Formats a user-supplied value for an error message: strings quoted, numbers
 * as JavaScript prints them (NaN, Infinity), objects as short JSON. Long values
 * are cut so a bad 1e6-element array does not produce a megabyte message.
 */
export function formatValue(value: unknown, maxLength = 60): string {
  let text: string;
  if (typeof value === 'string') text = JSON.stringify(value);
  else if (typeof value === 'number') text = Object.is(value, -0) ? '-0' : String(value);
  else if (typeof value === 'bigint') text = `${value}n`;
  else if (value === undefined || value === null || typeof value === 'boolean' || typeof value === 'symbol') {
    text = String(value);
  } else if (typeof value === 'function') text = `function ${value.name || '(anonymous)'}`;
  else if (ArrayBuffer.isView(value)) {
    text = `${value.constructor.name}(${(value as unknown as { length?: number }).length ?? value.byteLength})`;
  } else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = Object.prototype.toString.call(value); // cyclic objects
    }
  }
  return text.length > maxLength ? `${text.slice(0, maxLength - 3)}...` : text;
}
