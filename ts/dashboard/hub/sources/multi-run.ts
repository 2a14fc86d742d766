/** Watching a MultiRunTrainer: runStart/step/runComplete, GPU pauses, the session's end. */
import type { GPUStatus } from '../../../gpu/types';
import type { RunStatus } from '../../protocol';
import { thresholdsOf } from '../options';
import { finiteOrNull, type SourceEntry } from '../model';
import type { RunBook } from '../run-book';
import type { SourceAdapter } from './adapter';

function readStatus(src: SourceEntry): void {
  try {
    const s = src.obj.status as { runId?: string | null; learningRate?: number | null; numRuns?: number } | undefined;
    if (s?.runId) src.runId = s.runId;
    if (typeof s?.learningRate === 'number') src.learningRate = s.learningRate;
    if (typeof s?.numRuns === 'number') src.numRuns = s.numRuns;
  } catch {
    // status unavailable: keep what we had
  }
}

function onRunStart(book: RunBook, src: SourceEntry, runIndex: number): void {
  readStatus(src);
  if (src.activity === 'idle') book.setActivity(src, 'running', null);
  book.startRun(src, src.runId, runIndex);
}

function onStep(book: RunBook, src: SourceEntry, runIndex: number, step: number, loss: number): void {
  let run = src.run;
  if (run === null || run.runIndex !== runIndex || run.status !== 'running') {
    readStatus(src);
    run = book.startRun(src, src.runId, runIndex);
  }
  book.recordStep(src, run, step, loss);
}

function onRunComplete(book: RunBook, src: SourceEntry, result: Record<string, unknown>): void {
  const runIndex = typeof result?.runIndex === 'number' ? result.runIndex : null;
  let run = src.run;
  if (!run || run.runIndex !== runIndex) {
    if (typeof result?.runId === 'string') src.runId = result.runId;
    run = book.startRun(src, src.runId, runIndex);
  }
  book.flushStep(run);
  const failed = result?.failed === true;
  const reason = typeof result?.failureReason === 'string' ? result.failureReason : null;
  // Aborts (ours or abort() in code) give the bare reason; failures 'CODE: message'.
  const status: RunStatus = !failed ? 'completed' : src.abortedBy !== null || !reason || !/^[A-Z][A-Z0-9_]+: /.test(reason) ? 'aborted' : 'failed';
  run.finalLoss = finiteOrNull(result?.finalLoss) ?? run.loss;
  run.durationSeconds = finiteOrNull(result?.durationSeconds);
  if (typeof result?.steps === 'number') run.step = result.steps;
  run.validationLoss = finiteOrNull(result?.validationLoss);
  run.validationAccuracy = finiteOrNull(result?.validationAccuracy);
  run.checkpointPath = typeof result?.checkpointPath === 'string' ? result.checkpointPath : null;
  if (typeof result?.learningRate === 'number') run.learningRate = result.learningRate;
  run.reason = reason;
  if (failed && status === 'failed' && reason) {
    const m = /^([A-Z][A-Z0-9_]+): ([\s\S]*)$/.exec(reason);
    run.error = { name: 'BackpropError', code: m ? m[1]! : null, message: m ? m[2]! : reason };
  }
  src.lastRunFailed = failed ? { status, reason } : null;
  book.endRun(src, run, status, {
    samplesSeen: finiteOrNull(result?.samplesSeen),
    gpuMaxTemp: finiteOrNull(result?.gpuMaxTemp),
    pruned: result?.pruned === true,
  });
  // The session ends after a failed run or the last one; the poll confirms it.
  setTimeout(() => book.pollSource(src), 20).unref();
}

export const multiRunAdapter: SourceAdapter = {
  kind: 'multiRun',
  labelPrefix: 'multi-run',
  polled: true,
  detect: (o) => typeof o.run === 'function' && typeof o.config === 'object' && o.config !== null && 'numRuns' in (o.config as object),
  describe(o, options) {
    const cfg = (o.config ?? {}) as { batchSize?: number; numRuns?: number; maxTempC?: number; pauseOnOverheat?: boolean };
    const monitor = (o.gpuMonitor ?? null) as { config?: unknown } | null;
    return {
      thresholds: thresholdsOf(monitor?.config, options.gpuThresholds, cfg.pauseOnOverheat === false ? null : cfg.maxTempC ?? null),
      batchSize: options.batchSize ?? cfg.batchSize ?? null,
      numRuns: cfg.numRuns ?? null,
    };
  },
  subscribe({ src, book, on }) {
    on('runStart', (runIndex: number) => onRunStart(book, src, runIndex));
    on('step', (runIndex: number, step: number, loss: number) => onStep(book, src, runIndex, step, loss));
    on('runComplete', (result: Record<string, unknown>) => onRunComplete(book, src, result));
    on('gpuStatus', (status: GPUStatus) => book.recordGpu(src, status));
    on('paused', (status: GPUStatus | null) => book.setActivity(src, 'paused', status ? `GPU pause: ${status.conditionReason || `${status.temperatureC} °C`}` : 'GPU pause'));
    on('resumed', () => book.setActivity(src, 'running', 'GPU cooled down'));
  },
};
