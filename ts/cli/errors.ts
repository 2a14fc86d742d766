/**
 * How failures are shown and which exit code they give:
 * 1 for a failure (a BackpropError's code, what went wrong and what to do),
 * 2 for a usage error (handled in main.ts, with the command's help),
 * 130 for Ctrl-C (signals.ts).
 */
import { isBackpropError } from '../errors';
import type { Output } from './output';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** A next step for codes where the library's message alone may not say what to do from the command line. */
const HINTS: Partial<Record<string, string | ((details: Readonly<Record<string, unknown>>) => string | null)>> = {
  INPUT_PARSE: (d) =>
    Array.isArray(d.available)
      ? 'Name the label column with --label (one of the columns listed).'
      : typeof d.line === 'number'
        ? 'Lines count from 1 and the header is line 1. Fix that line, or remove the row.'
        : null,
  INPUT_LABEL_RANGE: 'Pick the label column with --label, set the task with --task, or the number of classes with --classes.',
  INPUT_SHAPE_MISMATCH: 'The data needs the same feature columns as the model; `backprop inspect <checkpoint>` shows its input size.',
  DEVICE_UNAVAILABLE: '`backprop gpu` shows the GPUs this machine has; --device auto falls back to the CPU.',
  CHECKPOINT_CORRUPT: 'Use another checkpoint (`backprop inspect <folder>` checks one), or retrain.',
  CHECKPOINT_NOT_FOUND: 'Pass a checkpoint folder (it holds trainer_state.json) or a training --output folder.',
  CHECKPOINT_INCOMPATIBLE: 'Resume with the same data shape and settings, or start a new run without --resume.',
  RUNTIME_GPU_TEMPERATURE_CRITICAL: 'Let the GPU cool down and check its cooling (`backprop gpu --watch`), then resume from the last checkpoint.',
};

/** Prints `error` and returns the exit code. */
export function reportError(out: Output, error: unknown): number {
  if (isBackpropError(error)) {
    out.event('error', { code: error.code, message: error.message, details: error.details });
    const c = out.ce;
    out.notice(`${c.red(c.bold('error'))} ${c.bold(error.code)}: ${error.message}`);
    const entry = HINTS[error.code];
    const hint = typeof entry === 'function' ? entry(error.details) : entry;
    if (hint && out.mode !== 'json') out.notice(c.dim(`  ${hint}`));
    return EXIT_FAILURE;
  }
  const e = error instanceof Error ? error : new Error(String(error));
  const code = (e as { code?: unknown }).code;
  out.event('error', { code: typeof code === 'string' ? code : 'UNEXPECTED', message: e.message });
  out.notice(`${out.ce.red(out.ce.bold('error'))}: ${e.message}`);
  if (out.verbose && e.stack) out.notice(out.ce.dim(e.stack));
  else if (!(e.name === 'AbortError')) out.notice(out.ce.dim('  This looks like a bug in backprop; run with --verbose for the stack trace and report it.'));
  return EXIT_FAILURE;
}
