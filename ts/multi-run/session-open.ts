/**
 * Opening a MultiRunTrainer session: loads the data, plans its chunks, and
 * either starts a fresh session state (written at once) or reads the state
 * of an interrupted one, checks that nothing deciding the outcome changed,
 * and restores its results and start weights.
 */
import { createHash, randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { readCheckpoint } from '../checkpoint';
import type { PreparedData, TensorData } from '../data';
import { BackpropError, formatValue } from '../errors';
import { loadTrainingData } from '../training-data';
import type { RunResult } from './multi-run-trainer';
import type { ResolvedRunOptions, SessionSettings } from './options';
import { planData, type DataPlan } from './replay';
import { toRunResult } from './results';
import type { SessionControl } from './session-control';
import { settledStartCheckpoint } from './session-commit';
import {
  fingerprintDifference,
  readSessionState,
  writeSessionState,
  SESSION_STATE_FORMAT,
  SESSION_STATE_VERSION,
  type SessionState,
} from './session-state';

export interface Session {
  dir: string;
  data: PreparedData;
  plan: DataPlan;
  validation: TensorData | null;
  state: SessionState;
  /** Every run reported in this run() call's result: restored ones, then this call's. */
  runs: RunResult[];
  /** Weights the next run starts from (null: the fresh trainer's initial weights). */
  startWeights: Float32Array | null;
  startedAt: number;
  priorElapsed: number;
}

export async function openSession(settings: SessionSettings, control: SessionControl, data: TensorData | string, opts: ResolvedRunOptions): Promise<Session> {
  const cfg = settings.config;
  const prepared = await loadTrainingData(data, settings.trainerOptions.model, { label: opts.label, labels: opts.labels });
  const plan = planData(prepared.rows, cfg, settings.trainerOptions.seed);
  const validation = cfg.validationSamples > 0 ? subset(prepared, plan.validationRows) : null;
  const dir = path.resolve(cfg.checkpointDir);
  const fingerprint = sessionFingerprint(settings, prepared);
  let state: SessionState;
  let runs: RunResult[] = [];
  let startWeights: Float32Array | null = null;
  if (opts.resume) {
    state = await readSessionState(dir);
    const differs = fingerprintDifference(state.fingerprint, fingerprint);
    if (differs !== null) {
      throw new BackpropError(
        'CHECKPOINT_INCOMPATIBLE',
        `The session in ${dir} was started with a different ${differs} (${formatValue(state.fingerprint[differs])} there, ${formatValue(fingerprint[differs])} now). ` +
          `Resume with the same data, model, seed and training settings, or start a new session without { resume: true }.`,
        { path: dir, field: differs },
      );
    }
    runs = state.runs.map((r) => toRunResult(r, dir));
    if (state.startCheckpoint !== null) state.startCheckpoint = await settledStartCheckpoint(dir, state.startCheckpoint);
    // A finished session trains nothing more: its start checkpoint may since have been pruned (checkpointKeepFinal: false).
    const continues = !state.finished && state.nextRunIndex <= cfg.numRuns;
    if (continues && state.startCheckpoint !== null) {
      startWeights = (await readCheckpoint(path.join(dir, state.startCheckpoint))).params;
    }
    control.completedRuns = state.runs.length;
    control.lastRunIndex = state.runs.length > 0 ? state.runs[state.runs.length - 1]!.runIndex : 0;
  } else {
    const now = new Date().toISOString();
    state = {
      format: SESSION_STATE_FORMAT,
      version: SESSION_STATE_VERSION,
      runId: randomUUID(),
      createdAt: now,
      updatedAt: now,
      fingerprint,
      plan: {
        rngVersion: 1,
        seed: settings.trainerOptions.seed,
        rows: prepared.rows,
        validationRows: plan.validationRows.length,
        chunkSize: cfg.samplesPerRun,
        chunks: cfg.numRuns,
      },
      nextRunIndex: 1,
      finished: false,
      stopReason: null,
      startCheckpoint: null,
      acceptedRuns: 0,
      bestValidationLoss: null,
      runsWithoutImprovement: 0,
      elapsedSeconds: 0,
      runs: [],
    };
    // Written at once, so the folder never describes an older session while this one runs.
    await writeSessionState(dir, state);
  }
  control.runId = state.runId;
  return { dir, data: prepared, plan, validation, state, runs, startWeights, startedAt: Date.now(), priorElapsed: state.elapsedSeconds };
}

/** Everything that decides a session's outcome; resume requires it unchanged. */
function sessionFingerprint(settings: SessionSettings, data: PreparedData): Record<string, unknown> {
  const c = settings.config;
  const t = settings.trainerOptions;
  const hash = createHash('sha256');
  hash.update(Buffer.from(data.x.buffer, data.x.byteOffset, data.x.byteLength));
  hash.update(Buffer.from(data.y.buffer, data.y.byteOffset, data.y.byteLength));
  return {
    model: t.model,
    optimizer: t.optimizer,
    weightDecay: t.weightDecay,
    momentum: t.momentum,
    gradientClipNorm: t.gradientClipNorm,
    seed: t.seed,
    numRuns: c.numRuns,
    stepsPerRun: c.stepsPerRun,
    samplesPerRun: c.samplesPerRun,
    mergeMode: c.mergeMode,
    initialLr: c.initialLr,
    finalLr: c.finalLr,
    lrDecay: c.lrDecay,
    warmupStepsPerRun: c.warmupStepsPerRun,
    shuffleData: c.shuffleData,
    replayFraction: c.replayFraction,
    replayStrategy: c.replayStrategy,
    validationSamples: c.validationSamples,
    validateEveryRun: c.validateEveryRun,
    earlyStopping: c.earlyStopping,
    earlyStoppingPatience: c.earlyStoppingPatience,
    earlyStoppingThreshold: c.earlyStoppingThreshold,
    batchSize: c.batchSize,
    data: { rows: data.rows, sha256: hash.digest('hex') },
  };
}

/** The rows `rows` of `data`, as a fresh { x, y }. */
export function subset(data: PreparedData, rows: ArrayLike<number>): TensorData {
  const n = rows.length;
  const inW = data.inputSize;
  const x = new Float32Array(n * inW);
  const yW = data.y instanceof Int32Array ? 1 : data.outputSize;
  const y = data.y instanceof Int32Array ? new Int32Array(n) : new Float32Array(n * yW);
  for (let i = 0; i < n; i++) {
    const r = rows[i]!;
    x.set(data.x.subarray(r * inW, (r + 1) * inW), i * inW);
    y.set(data.y.subarray(r * yW, (r + 1) * yW) as never, i * yW);
  }
  return { x, y };
}
