/**
 * Watching a fleet JobHandle: one job of a TrainingQueue, trained on some
 * worker host. Its events arrive as they travelled (the handle's 'event'),
 * so each run knows its host and attempt. A train job is one run (a retry on
 * another host starts it again); a multi-run job is one run per session run.
 * Commands go to the handle, which sends them to the worker: a multi-run job
 * takes abort only.
 */
import type { RunStatus } from '../../protocol';
import { thresholdsOf } from '../options';
import { finiteOrNull, type RunEntry, type RunOrigin, type SourceEntry } from '../model';
import type { RunBook } from '../run-book';
import type { SourceAdapter } from './adapter';

/** What the adapter reads of a FleetEvent (ts/fleet/types.ts), without loading fleet mode. */
interface JobEvent {
  type: string;
  attempt: number;
  host: string;
  data: Readonly<Record<string, unknown>>;
}

interface WireError {
  name?: string;
  code?: string;
  message?: string;
  reason?: unknown;
}

const origin = (e: JobEvent): RunOrigin => ({ host: e.host || null, attempt: e.attempt });

function jobId(src: SourceEntry): string {
  return String((src.obj as unknown as { id: unknown }).id);
}

function isMultiRun(src: SourceEntry): boolean {
  return (src.obj as unknown as { kind?: unknown }).kind === 'multi-run';
}

/** The run an event belongs to: the one in progress, or a new one (also for events replayed after attach()). */
function runFor(book: RunBook, src: SourceEntry, e: JobEvent, runIndex: number | null): RunEntry {
  const run = src.run;
  if (run && run.status === 'running' && run.runIndex === runIndex && run.attempt === e.attempt) return run;
  if (src.activity !== 'running' && src.activity !== 'paused') book.setActivity(src, 'running', null);
  return book.startRun(src, jobId(src), runIndex, origin(e));
}

/** Final figures from a TrainingRun (train job) or a RunResult (one run of a multi-run job). */
function applyResult(run: RunEntry, result: Record<string, unknown> | undefined): void {
  const meta = (result?.metadata ?? null) as { validationLoss?: unknown; validationAccuracy?: unknown } | null;
  run.finalLoss = finiteOrNull(result?.finalLoss) ?? run.loss;
  run.durationSeconds = finiteOrNull(result?.durationSeconds);
  if (typeof result?.steps === 'number') run.step = result.steps;
  run.validationLoss = finiteOrNull(result?.validationLoss) ?? finiteOrNull(meta?.validationLoss) ?? run.validationLoss;
  run.validationAccuracy = finiteOrNull(result?.validationAccuracy) ?? finiteOrNull(meta?.validationAccuracy) ?? run.validationAccuracy;
  if (typeof result?.checkpointPath === 'string') run.checkpointPath = result.checkpointPath;
}

function endRun(book: RunBook, src: SourceEntry, run: RunEntry, status: RunStatus, finished: boolean): void {
  book.flushStep(run);
  // A finished job is idle before its runEnd, so the message carries the hub's state after it.
  if (finished) src.activity = 'idle';
  book.endRun(src, run, status, {});
}

function onTerminal(book: RunBook, src: SourceEntry, e: JobEvent): void {
  const run = src.run && src.run.status === 'running' ? src.run : isMultiRun(src) ? null : runFor(book, src, e, null);
  if (e.type === 'complete') {
    if (run) {
      if (!isMultiRun(src)) applyResult(run, e.data.result as Record<string, unknown> | undefined);
      endRun(book, src, run, 'completed', true);
    } else book.lastOutcome = 'completed';
    book.setActivity(src, 'idle', null);
    return;
  }
  const error = (e.data.error ?? {}) as WireError;
  const aborted = error.name === 'AbortError';
  const status: RunStatus = aborted ? 'aborted' : 'failed';
  const reason = aborted ? String(error.reason ?? 'aborted') : `${error.code ?? 'RUNTIME_FAILED'}: ${error.message ?? 'failed'}`;
  if (run) {
    run.error = { name: error.name ?? 'BackpropError', code: error.code ?? null, message: error.message ?? reason };
    run.reason = reason;
    endRun(book, src, run, status, true);
  } else book.lastOutcome = status;
  book.setActivity(src, 'idle', reason);
}

function onEvent(book: RunBook, src: SourceEntry, e: JobEvent): void {
  const d = e.data;
  switch (e.type) {
    case 'attempt':
      book.setActivity(src, 'running', e.attempt > 1 ? `attempt ${e.attempt} on ${e.host}` : null);
      if (!isMultiRun(src)) runFor(book, src, e, null);
      break;
    case 'step': {
      const runIndex = typeof d.runIndex === 'number' ? d.runIndex : null;
      const loss = Number(d.loss);
      book.recordStep(src, runFor(book, src, e, runIndex), Number(d.step), loss);
      break;
    }
    case 'epoch':
      if (!isMultiRun(src)) runFor(book, src, e, null);
      book.recordEpoch(src, Number(d.epoch), d as { validationLoss?: number; validationAccuracy?: number });
      break;
    case 'save':
      if (!isMultiRun(src)) runFor(book, src, e, null);
      book.recordSave(src, String(d.path));
      break;
    case 'runStart':
      runFor(book, src, e, Number(d.runIndex));
      break;
    case 'runComplete': {
      const result = (d.result ?? {}) as Record<string, unknown>;
      const run = runFor(book, src, e, typeof result.runIndex === 'number' ? result.runIndex : src.run?.runIndex ?? null);
      applyResult(run, result);
      const failed = result.failed === true;
      if (failed && typeof result.failureReason === 'string') run.reason = result.failureReason;
      endRun(book, src, run, failed ? (src.abortedBy !== null ? 'aborted' : 'failed') : 'completed', false);
      break;
    }
    case 'paused':
      book.setActivity(src, 'paused', null);
      break;
    case 'resumed':
      book.setActivity(src, 'running', null);
      break;
    case 'learningRate': {
      const lr = finiteOrNull(d.learningRate);
      src.learningRate = lr;
      if (src.run && src.run.status === 'running') src.run.learningRate = lr;
      break;
    }
    case 'retry': {
      const run = src.run && src.run.status === 'running' ? src.run : null;
      const error = (d.error ?? {}) as WireError;
      const reason = `attempt ${e.attempt} failed on ${e.host} (${error.code ?? 'RUNTIME_FAILED'}: ${error.message ?? 'failed'}); it will be retried`;
      if (run) {
        run.error = { name: error.name ?? 'BackpropError', code: error.code ?? null, message: error.message ?? reason };
        run.reason = reason;
        endRun(book, src, run, 'failed', true);
      }
      book.setActivity(src, 'idle', reason);
      break;
    }
    case 'complete':
    case 'error':
      onTerminal(book, src, e);
      break;
  }
}

export const fleetJobAdapter: SourceAdapter = {
  kind: 'fleetJob',
  labelPrefix: 'job',
  polled: false,
  detect: (o) => typeof o.result === 'function' && typeof o.abort === 'function' && typeof o.id === 'string' && 'kind' in o,
  describe: (_o, options) => ({ thresholds: thresholdsOf(null, options.gpuThresholds, null), batchSize: options.batchSize ?? null, numRuns: null }),
  subscribe({ src, book, on }) {
    src.runId = jobId(src);
    on('event', (e: JobEvent) => onEvent(book, src, e));
  },
  controls: (o) => (o.kind === 'multi-run' ? ['abort'] : ['pause', 'resume', 'abort', 'setLearningRate']),
};
