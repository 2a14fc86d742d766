/** Watching a Trainer: its step/epoch/save/complete/error events, pause and GPU events. */
import type { GPUStatus } from '../../../gpu/types';
import type { RunStatus } from '../../protocol';
import { thresholdsOf } from '../options';
import { errorSummary, finiteOrNull, type EpochInfo, type GpuReadErrorInfo, type SourceEntry } from '../model';
import type { RunBook } from '../run-book';
import type { SourceAdapter } from './adapter';

function onStep(book: RunBook, src: SourceEntry, step: number, loss: number): void {
  let run = src.run;
  if (run === null || run.status !== 'running' || step < run.step) {
    let runId: string | null = null;
    try {
      runId = (src.obj.status as { runId?: string | null } | undefined)?.runId ?? null;
    } catch {
      runId = null;
    }
    run = book.startRun(src, runId, null);
  }
  book.recordStep(src, run, step, loss);
}

function onEnd(book: RunBook, src: SourceEntry, status: RunStatus, info: Record<string, unknown> | null, error: unknown): void {
  const runId = typeof info?.runId === 'string' ? info.runId : src.run?.runId ?? null;
  let run = src.run;
  if (!run || run.status !== 'running' || (runId !== null && run.runId !== runId)) run = book.startRun(src, runId, null);
  book.flushStep(run);
  const meta = (info?.metadata ?? null) as { validationLoss?: number; validationAccuracy?: number } | null;
  run.finalLoss = finiteOrNull(info?.finalLoss) ?? run.loss;
  run.durationSeconds = finiteOrNull(info?.durationSeconds);
  if (typeof info?.steps === 'number') run.step = info.steps;
  run.validationLoss = finiteOrNull(meta?.validationLoss) ?? run.validationLoss;
  run.validationAccuracy = finiteOrNull(meta?.validationAccuracy) ?? run.validationAccuracy;
  const seen = finiteOrNull(info?.samplesSeen);
  if (seen !== null && run.step > 0 && status === 'completed') src.batchSize ??= Math.max(1, Math.round(seen / run.step));
  if (error) {
    run.error = errorSummary(error);
    run.reason = (error as { reason?: unknown }).reason !== undefined ? String((error as { reason?: unknown }).reason) : run.error.message;
  }
  book.endRun(src, run, status, { samplesSeen: seen, outputPath: typeof info?.outputPath === 'string' ? info.outputPath : null });
  book.setActivity(src, 'idle', null);
}

export const trainerAdapter: SourceAdapter = {
  kind: 'trainer',
  labelPrefix: 'trainer',
  polled: true,
  detect: (o) => typeof o.train === 'function' && typeof o.abort === 'function',
  describe: (_o, options) => ({ thresholds: thresholdsOf(null, options.gpuThresholds, null), batchSize: options.batchSize ?? null, numRuns: null }),
  subscribe({ src, book, on }) {
    on('step', (step: number, loss: number) => onStep(book, src, step, loss));
    on('epoch', (epoch: number, info: EpochInfo | undefined) => book.recordEpoch(src, epoch, info));
    on('save', (path: string) => book.recordSave(src, path));
    on('complete', (run: Record<string, unknown>) => onEnd(book, src, 'completed', run, null));
    on('error', (error: Error) => onEnd(book, src, error?.name === 'AbortError' ? 'aborted' : 'failed', (error as { run?: Record<string, unknown> })?.run ?? null, error));
    on('paused', () => book.setActivity(src, 'paused', null));
    on('resumed', () => book.setActivity(src, 'running', null));
    on('gpuStatus', (status: GPUStatus) => book.recordGpu(src, status));
    on('gpuReadError', (event: GpuReadErrorInfo) => book.recordGpuReadError(src, event));
  },
};
