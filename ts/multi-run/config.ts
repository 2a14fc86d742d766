/**
 * MultiRunConfig: the settings of a multi-run (continual learning) session,
 * with every default filled in and every value checked.
 *
 * Like GPUSafetyConfig, `new MultiRunConfig({ numRuns: 3 })` validates and
 * fills defaults; its fields stay assignable, so MultiRunTrainer validates
 * the object again (resolveMultiRunConfig) and keeps a frozen copy.
 * Every failure is a BackpropError 'CONFIG_INVALID' with details.field set to
 * the option's name (e.g. 'replayFraction').
 */
import { formatValue } from '../errors';
import { configError, rejectUnknownKeys } from '../validation';

export type MergeMode = 'simple' | 'average';
export type LrDecay = 'linear' | 'cosine' | 'constant';
export type ReplayStrategy = 'recent' | 'random' | 'all_previous';

export interface MultiRunConfigOptions {
  /** Number of training runs in the session. Default 5. */
  numRuns?: number;
  /** Optimizer steps per run. Default 100. */
  stepsPerRun?: number;
  /** Fresh rows each run trains on (its chunk). Default 1000. */
  samplesPerRun?: number;
  /** 'simple': a run starts from the previous run's weights; 'average': from the running average of all accepted runs' weights. Default 'simple'. */
  mergeMode?: MergeMode;
  /** Base learning rate of run 1. Default 2e-4. */
  initialLr?: number;
  /** Base learning rate of the last run (linear, cosine). Default 5e-5. */
  finalLr?: number;
  /** How the base learning rate moves from initialLr to finalLr across runs. Default 'linear'. */
  lrDecay?: LrDecay;
  /** Linear learning-rate warm-up at the start of every run. Default 10. */
  warmupStepsPerRun?: number;
  /** Shuffle the rows (seeded) before cutting them into chunks; false keeps data order. Default true. */
  shuffleData?: boolean;
  /** Rows replayed from earlier chunks, as a fraction of samplesPerRun, 0 to 0.5. Default 0. */
  replayFraction?: number;
  /** Where replayed rows come from. Default 'recent'. */
  replayStrategy?: ReplayStrategy;
  /** Write a checkpoint after every run (checkpointDir/run-<i>/). Default true. */
  saveEveryRun?: boolean;
  /** Session folder: run checkpoints, the accumulator and run_history.json. Default './output/multi_run'. */
  checkpointDir?: string;
  /** Watch the GPU during the session. Default true. */
  enableGpuMonitoring?: boolean;
  /** Pause training while the GPU is too hot. Default true. */
  pauseOnOverheat?: boolean;
  /** A sample at or above this temperature (°C) pauses training. Default 85. */
  maxTempC?: number;
  /** Interval between re-checks of the GPU while paused (ms). Default 60000. */
  cooldownMs?: number;
  /** Longest pause before the session fails with RUNTIME_GPU_TEMPERATURE_CRITICAL (ms); 0 = unbounded. Default 1800000. */
  maxPauseMs?: number;
  /** Rows held out (once, seeded) to validate after each run. Default 100. */
  validationSamples?: number;
  /** Compute the validation loss after every run. Default true. */
  validateEveryRun?: boolean;
  /** Stop when the validation loss stops improving. Default false. */
  earlyStopping?: boolean;
  /** Runs without an improvement over the best validation loss before stopping. Default 2. */
  earlyStoppingPatience?: number;
  /** Smallest decrease of the validation loss that counts as an improvement (absolute). Default 0. */
  earlyStoppingThreshold?: number;
  /** Run checkpoints kept for their validation loss. Default 3. */
  checkpointKeepBestN?: number;
  /** Keep the last run's checkpoint. Default true. */
  checkpointKeepFinal?: boolean;
  /** Upper bound on run checkpoints kept (the accumulator is not counted). Default 10. */
  checkpointMaxTotal?: number;
  /** Delete run checkpoints beyond the keep rules after each run. Default true. */
  checkpointAutoPrune?: boolean;
  /** Rows per optimizer step. Default 32. */
  batchSize?: number;
}

const MERGE_MODES: readonly MergeMode[] = ['simple', 'average'];
const LR_DECAYS: readonly LrDecay[] = ['linear', 'cosine', 'constant'];
const REPLAY_STRATEGIES: readonly ReplayStrategy[] = ['recent', 'random', 'all_previous'];
const MAX_COUNT = 1e9;
const MAX_LEARNING_RATE = 10;
const MAX_BATCH_SIZE = 65536;

export const MULTI_RUN_CONFIG_KEYS = [
  'numRuns', 'stepsPerRun', 'samplesPerRun', 'mergeMode', 'initialLr', 'finalLr', 'lrDecay', 'warmupStepsPerRun', 'shuffleData',
  'replayFraction', 'replayStrategy', 'saveEveryRun', 'checkpointDir', 'enableGpuMonitoring', 'pauseOnOverheat', 'maxTempC',
  'cooldownMs', 'maxPauseMs', 'validationSamples', 'validateEveryRun', 'earlyStopping', 'earlyStoppingPatience',
  'earlyStoppingThreshold', 'checkpointKeepBestN', 'checkpointKeepFinal', 'checkpointMaxTotal', 'checkpointAutoPrune', 'batchSize',
] as const;

/** Settings of a multi-run session; every field has the documented default. */
export class MultiRunConfig {
  numRuns = 5;
  stepsPerRun = 100;
  samplesPerRun = 1000;
  mergeMode: MergeMode = 'simple';
  initialLr = 2e-4;
  finalLr = 5e-5;
  lrDecay: LrDecay = 'linear';
  warmupStepsPerRun = 10;
  shuffleData = true;
  replayFraction = 0;
  replayStrategy: ReplayStrategy = 'recent';
  saveEveryRun = true;
  checkpointDir = './output/multi_run';
  enableGpuMonitoring = true;
  pauseOnOverheat = true;
  maxTempC = 85;
  cooldownMs = 60000;
  maxPauseMs = 1800000;
  validationSamples = 100;
  validateEveryRun = true;
  earlyStopping = false;
  earlyStoppingPatience = 2;
  earlyStoppingThreshold = 0;
  checkpointKeepBestN = 3;
  checkpointKeepFinal = true;
  checkpointMaxTotal = 10;
  checkpointAutoPrune = true;
  batchSize = 32;

  constructor(options: MultiRunConfigOptions = {}) {
    const opts = requireRecord(options);
    rejectUnknownKeys(opts, MULTI_RUN_CONFIG_KEYS, '', { noun: 'MultiRunConfig' });
    for (const key of Object.keys(opts)) {
      if (opts[key] !== undefined) (this as Record<string, unknown>)[key] = opts[key];
    }
    checkConfig(this);
  }
}

/** A frozen, validated MultiRunConfig from a MultiRunConfig or a plain partial object (undefined = all defaults). */
export function resolveMultiRunConfig(value: unknown): Readonly<MultiRunConfig> {
  if (value === undefined || value === null) return Object.freeze(new MultiRunConfig());
  if (value instanceof MultiRunConfig) {
    // Fields may have been assigned since construction: copy, then check again.
    const copy = Object.create(MultiRunConfig.prototype) as MultiRunConfig;
    for (const key of MULTI_RUN_CONFIG_KEYS) (copy as unknown as Record<string, unknown>)[key] = value[key];
    checkConfig(copy);
    return Object.freeze(copy);
  }
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw configError('config', value, `config must be a MultiRunConfig or an object of its options (got ${formatValue(value)}), e.g. { numRuns: 3 }.`);
  }
  return Object.freeze(new MultiRunConfig(value as MultiRunConfigOptions));
}

function checkConfig(c: MultiRunConfig): void {
  integer(c, 'numRuns', 1, MAX_COUNT, 'Pass the number of training runs, such as 5.');
  integer(c, 'stepsPerRun', 1, MAX_COUNT, 'Pass the number of optimizer steps per run, such as 100.');
  integer(c, 'samplesPerRun', 1, MAX_COUNT, 'Pass the number of fresh rows per run, such as 1000.');
  oneOf(c, 'mergeMode', MERGE_MODES);
  number(c, 'initialLr', (v) => v > 0 && v <= MAX_LEARNING_RATE, `a finite number > 0 and <= ${MAX_LEARNING_RATE}`, 'Pass a learning rate such as 2e-4.');
  number(c, 'finalLr', (v) => v > 0 && v <= MAX_LEARNING_RATE, `a finite number > 0 and <= ${MAX_LEARNING_RATE}`, 'Pass a learning rate such as 5e-5.');
  oneOf(c, 'lrDecay', LR_DECAYS);
  integer(c, 'warmupStepsPerRun', 0, MAX_COUNT, 'Pass a number of warm-up steps such as 10, or 0 for none.');
  boolean(c, 'shuffleData');
  number(c, 'replayFraction', (v) => v >= 0 && v <= 0.5, 'a number from 0 to 0.5', 'Pass the fraction of samplesPerRun to replay from earlier chunks, such as 0.2, or 0 for none.');
  oneOf(c, 'replayStrategy', REPLAY_STRATEGIES);
  boolean(c, 'saveEveryRun');
  if (typeof c.checkpointDir !== 'string' || c.checkpointDir.trim() === '') {
    throw configError('checkpointDir', c.checkpointDir, `checkpointDir must be a non-empty folder path (got ${formatValue(c.checkpointDir)}). Pass e.g. './output/multi_run'.`);
  }
  boolean(c, 'enableGpuMonitoring');
  boolean(c, 'pauseOnOverheat');
  number(c, 'maxTempC', (v) => v > 0 && v <= 200, 'a temperature in °C above 0 and at most 200', 'Pass e.g. 85.');
  number(c, 'cooldownMs', (v) => v >= 1, 'a number of milliseconds >= 1', 'Pass the interval between GPU re-checks while paused, such as 60000.');
  number(c, 'maxPauseMs', (v) => v >= 0, 'a number of milliseconds >= 0', 'Pass the longest pause allowed, such as 1800000, or 0 for no bound.');
  integer(c, 'validationSamples', 0, MAX_COUNT, 'Pass the number of rows to hold out for validation, such as 100.');
  boolean(c, 'validateEveryRun');
  boolean(c, 'earlyStopping');
  integer(c, 'earlyStoppingPatience', 1, MAX_COUNT, 'Pass the number of runs without improvement to allow, such as 2.');
  number(c, 'earlyStoppingThreshold', (v) => v >= 0, 'a finite number >= 0', 'Pass the smallest loss decrease that counts as an improvement, such as 0.001, or 0.');
  integer(c, 'checkpointKeepBestN', 0, MAX_COUNT, 'Pass the number of best checkpoints to keep, such as 3.');
  boolean(c, 'checkpointKeepFinal');
  integer(c, 'checkpointMaxTotal', 1, MAX_COUNT, 'Pass the most run checkpoints to keep, such as 10.');
  boolean(c, 'checkpointAutoPrune');
  integer(c, 'batchSize', 1, MAX_BATCH_SIZE, 'Pass a whole number of rows per step such as 32.');

  // Combinations.
  if (c.validateEveryRun && c.validationSamples < 1) {
    throw configError('validationSamples', c.validationSamples, 'validateEveryRun needs validationSamples >= 1 rows to validate on. Set validationSamples (e.g. 100) or validateEveryRun: false.');
  }
  if (c.earlyStopping && !c.validateEveryRun) {
    throw configError('earlyStopping', c.earlyStopping, 'earlyStopping needs validateEveryRun: true (it stops on the validation loss). Turn validateEveryRun on or earlyStopping off.');
  }
}

// ---------------------------------------------------------------------------

function requireRecord(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw configError('config', value, `MultiRunConfig takes an object of options (got ${formatValue(value)}), e.g. new MultiRunConfig({ numRuns: 3 }).`);
  }
  return value as Record<string, unknown>;
}

function integer(c: MultiRunConfig, field: keyof MultiRunConfig, min: number, max: number, hint: string): void {
  const v = c[field] as unknown;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw configError(field, v, `${field} must be an integer >= ${min}${max < MAX_COUNT ? ` and <= ${max}` : ''} (got ${formatValue(v)}). ${hint}`);
  }
}

function number(c: MultiRunConfig, field: keyof MultiRunConfig, check: (v: number) => boolean, rule: string, hint: string): void {
  const v = c[field] as unknown;
  if (typeof v !== 'number' || !Number.isFinite(v) || !check(v)) {
    throw configError(field, v, `${field} must be ${rule} (got ${formatValue(v)}). ${hint}`);
  }
}

function boolean(c: MultiRunConfig, field: keyof MultiRunConfig): void {
  const v = c[field] as unknown;
  if (typeof v !== 'boolean') throw configError(field, v, `${field} must be true or false (got ${formatValue(v)}).`);
}

function oneOf(c: MultiRunConfig, field: keyof MultiRunConfig, allowed: readonly string[]): void {
  const v = c[field] as unknown;
  if (typeof v !== 'string' || !allowed.includes(v)) {
    throw configError(field, v, `${field} must be one of ${allowed.map((a) => `'${a}'`).join(', ')} (got ${formatValue(v)}).`);
  }
}
