/**
 * Result assembly for MultiRunTrainer: frozen RunResults, their stored form
 * in the session state (checkpoint paths relative to the session folder),
 * and the MultiRunResult of a whole session.
 */
import * as path from 'node:path';
import type { MultiRunConfig } from './config';
import type { MultiRunResult, RunResult } from './multi-run-trainer';
import type { SessionState, StoredRunResult } from './session-state';

/** What the session result is built from. */
export interface SessionRuns {
  dir: string;
  state: SessionState;
  runs: RunResult[];
}

export type RunResultFields = { -readonly [K in keyof RunResult]: RunResult[K] extends readonly number[] ? readonly number[] : RunResult[K] };

export function freezeRunResult(fields: RunResultFields): RunResult {
  return Object.freeze({
    runIndex: fields.runIndex,
    steps: fields.steps,
    samples: fields.samples,
    samplesSeen: fields.samplesSeen,
    replaySamples: fields.replaySamples,
    replaySources: Object.freeze([...fields.replaySources]),
    finalLoss: fields.finalLoss,
    lossHistory: Object.freeze([...fields.lossHistory]),
    learningRate: fields.learningRate,
    durationSeconds: fields.durationSeconds,
    checkpointPath: fields.checkpointPath,
    pruned: fields.pruned,
    validationLoss: fields.validationLoss,
    validationAccuracy: fields.validationAccuracy,
    gpuMaxTemp: fields.gpuMaxTemp,
    gpuMaxVramPercent: fields.gpuMaxVramPercent,
    failed: fields.failed,
    failureReason: fields.failureReason,
    runId: fields.runId,
  });
}

export function toStored(r: RunResult, dir: string): StoredRunResult {
  return { ...r, replaySources: [...r.replaySources], lossHistory: [...r.lossHistory], checkpointPath: r.checkpointPath === null ? null : path.relative(dir, r.checkpointPath) };
}

export function toRunResult(r: StoredRunResult, dir: string): RunResult {
  return freezeRunResult({ ...r, checkpointPath: r.checkpointPath === null ? null : path.resolve(dir, r.checkpointPath) });
}

export function buildMultiRunResult(session: SessionRuns, end: { aborted: boolean; abortReason: string | null }): MultiRunResult {
  const { runs, state, dir } = session;
  const aggregate: number[] = [];
  const boundaries: number[] = [];
  let totalSteps = 0;
  let totalSamples = 0;
  for (const r of runs) {
    boundaries.push(aggregate.length);
    for (const loss of r.lossHistory) aggregate.push(loss);
    totalSteps += r.steps;
    totalSamples += r.samples;
  }
  const lastCompleted = [...runs].reverse().find((r) => !r.failed) ?? null;
  let finalCheckpointPath: string | null = null;
  if (state.startCheckpoint !== null) {
    const stored = state.startCheckpoint.startsWith('run-') ? runs.find((r) => !r.failed && r.checkpointPath === path.join(dir, state.startCheckpoint as string)) : null;
    finalCheckpointPath = stored && stored.pruned ? null : path.join(dir, state.startCheckpoint);
  }
  return Object.freeze({
    totalRuns: runs.length,
    totalSteps,
    totalSamples,
    totalDurationSeconds: state.elapsedSeconds,
    finalLoss: lastCompleted?.finalLoss ?? null,
    runs: Object.freeze([...runs]),
    aggregateLossHistory: Object.freeze(aggregate),
    runBoundaries: Object.freeze(boundaries),
    finalCheckpointPath,
    mergeMode: (state.fingerprint.mergeMode as MultiRunConfig['mergeMode']) ?? 'simple',
    aborted: end.aborted,
    abortReason: end.abortReason,
    runId: state.runId,
  });
}

