/**
 * The session state file, checkpointDir/run_history.json: what a resumed
 * session needs to continue exactly where an interrupted one stopped.
 *
 * It is replaced atomically after every run (temp file, fsync, rename, fsync
 * of the folder), so a crash leaves either the previous or the new state,
 * never a torn one. Paths inside are relative to checkpointDir, so a session
 * folder can be moved.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { BackpropError } from '../errors';

export const SESSION_STATE_FILE = 'run_history.json';
export const SESSION_STATE_FORMAT = 'backpropagate-multi-run';
export const SESSION_STATE_VERSION = 1;

/** A RunResult as stored (checkpointPath relative to checkpointDir). */
export interface StoredRunResult {
  runIndex: number;
  steps: number;
  samples: number;
  samplesSeen: number;
  replaySamples: number;
  replaySources: number[];
  finalLoss: number | null;
  lossHistory: number[];
  learningRate: number;
  durationSeconds: number;
  checkpointPath: string | null;
  pruned: boolean;
  validationLoss: number | null;
  validationAccuracy: number | null;
  gpuMaxTemp: number | null;
  gpuMaxVramPercent: number | null;
  failed: boolean;
  failureReason: string | null;
  runId: string;
}

export interface SessionState {
  format: typeof SESSION_STATE_FORMAT;
  version: typeof SESSION_STATE_VERSION;
  /** The session id, shared by every run (a UUID). */
  runId: string;
  createdAt: string;
  updatedAt: string;
  /** Everything that decides the outcome; a resume must match it exactly. */
  fingerprint: Record<string, unknown>;
  /** The data plan's positions: seeded streams (see replay.ts), so no generator state is needed. */
  plan: { rngVersion: 1; seed: number; rows: number; validationRows: number; chunkSize: number; chunks: number };
  /** The run the session continues with (numRuns + 1 when all are done). */
  nextRunIndex: number;
  /** True once the session ended normally (all runs, or early stopping). */
  finished: boolean;
  /** Why it ended before numRuns (early stopping), or null. */
  stopReason: string | null;
  /** The checkpoint the next run starts from (simple: the last run's; average: the accumulator), relative; null before run 1. */
  startCheckpoint: string | null;
  /** Runs merged into the accumulator ('average' mode). */
  acceptedRuns: number;
  bestValidationLoss: number | null;
  runsWithoutImprovement: number;
  /** Wall time of the session so far, over all its run() calls. */
  elapsedSeconds: number;
  /** Completed runs only, in order (a failed attempt is redone on resume). */
  runs: StoredRunResult[];
}

/** Writes `value` as JSON to `file` atomically. */
export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  const dir = path.dirname(file);
  await fsp.mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const text = JSON.stringify(value, null, 2) + '\n';
  try {
    const handle = await fsp.open(tmp, 'w');
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fsp.rename(tmp, file);
  } catch (error) {
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw new BackpropError('RUNTIME_FAILED', `Could not write the session state ${file}: ${(error as Error).message}. Check that checkpointDir is writable.`, { path: file }, { cause: error });
  }
  // Make the rename itself durable. Not every file system supports syncing a folder.
  try {
    const d = await fsp.open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    // best effort
  }
}

export async function writeSessionState(checkpointDir: string, state: SessionState): Promise<void> {
  await writeJsonAtomic(path.join(checkpointDir, SESSION_STATE_FILE), state);
}

export async function readSessionState(checkpointDir: string): Promise<SessionState> {
  const file = path.join(checkpointDir, SESSION_STATE_FILE);
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new BackpropError(
        'CHECKPOINT_NOT_FOUND',
        `No session to resume: ${file} does not exist. Run without { resume: true } to start a session, or point checkpointDir at the interrupted session's folder.`,
        { path: file },
      );
    }
    throw new BackpropError('CHECKPOINT_CORRUPT', `Cannot read the session state ${file}: ${(error as Error).message}.`, { path: file });
  }
  let state: SessionState;
  try {
    state = JSON.parse(text) as SessionState;
  } catch (error) {
    throw new BackpropError('CHECKPOINT_CORRUPT', `The session state ${file} is not valid JSON (${(error as Error).message}). Start a new session.`, { path: file });
  }
  const ok =
    typeof state === 'object' && state !== null && state.format === SESSION_STATE_FORMAT && state.version === SESSION_STATE_VERSION &&
    typeof state.runId === 'string' && Array.isArray(state.runs) && Number.isInteger(state.nextRunIndex) && typeof state.fingerprint === 'object' &&
    state.fingerprint !== null && typeof state.plan === 'object' && state.plan !== null;
  if (!ok) {
    throw new BackpropError('CHECKPOINT_CORRUPT', `The session state ${file} is not a version ${SESSION_STATE_VERSION} backpropagate multi-run session. Start a new session.`, { path: file });
  }
  return state;
}

/** The first key whose value differs between two fingerprints, or null when they are equal. */
export function fingerprintDifference(a: Record<string, unknown>, b: Record<string, unknown>): string | null {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const key of keys) {
    if (JSON.stringify(a[key]) !== JSON.stringify(b[key])) return key;
  }
  return null;
}
