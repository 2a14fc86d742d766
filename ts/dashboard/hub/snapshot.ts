/**
 * The current state as one object: what a `snapshot` message carries and
 * what hub.snapshot() returns (sources, runs with their loss history, the
 * latest status per GPU, the event log and the hub's limits).
 */
import type { ResolvedHubOptions } from './options';
import { controlsOf } from './commands';
import { gpuPayload } from './model';
import type { MessageLog } from './replay';
import type { RunBook } from './run-book';

export function buildSnapshot(book: RunBook, log: MessageLog, options: Readonly<ResolvedHubOptions>, startedAt: number): Record<string, unknown> {
  const sources = [...book.sources.values()].map((s) => ({
    source: s.label,
    kind: s.kind,
    state: s.activity,
    runId: s.run?.runId ?? s.runId,
    runIndex: s.run?.runIndex ?? null,
    numRuns: s.numRuns,
    learningRate: s.learningRate,
    batchSize: s.batchSize,
    controls: controlsOf(s),
    thresholds: s.thresholds,
  }));
  const runs = [...book.runs.values()].map((r) => ({
    key: r.key,
    source: r.source.label,
    runId: r.runId,
    runIndex: r.runIndex,
    status: r.status,
    startedAt: r.startedAt,
    endedAt: r.endedAt,
    step: r.step,
    loss: r.loss,
    epoch: r.epoch,
    learningRate: r.learningRate,
    stepsPerSecond: r.stepsPerSecond,
    samplesPerSecond: r.samplesPerSecond,
    validationLoss: r.validationLoss,
    validationAccuracy: r.validationAccuracy,
    finalLoss: r.finalLoss,
    durationSeconds: r.durationSeconds,
    checkpointPath: r.checkpointPath,
    error: r.error,
    reason: r.reason,
    host: r.host,
    attempt: r.attempt,
    history: r.history.toJSON(),
  }));
  const gpus = [...book.gpus.values()].map((g) => gpuPayload(g.status, g.source, g.thresholds));
  return {
    state: book.state,
    startedAt,
    sources,
    runs,
    gpus,
    log: log.eventLog(),
    limits: { bufferSize: options.bufferSize, maxStepRate: options.maxStepRate, allowCommands: options.allowCommands },
  };
}
