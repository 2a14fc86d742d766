/**
 * Hyperparameter sweeps: a grid, seeded random trials, or both (every grid
 * point with every random draw), one queued job per trial. Same seed, same
 * trials: the draws come from our own seeded generator (mulberry32), in a
 * fixed order (trial by trial, parameters in the order the space lists them).
 */
import { randomUUID } from 'node:crypto';
import { formatValue, isBackpropError } from '../errors';
import {
  closestKey,
  configError,
  optionalInteger,
  optionalOneOf,
  rejectUnknownKeys,
  requireInteger,
  requireRecord,
} from '../validation';
import type { JobHandle } from './handle';
import { validateJob } from './job';
import { PRUNED_REASON } from './runner';
import type { FleetJob, SweepDirection, SweepMetric, SweepTrialInfo } from './types';

export type SweepValue = number | string | boolean | readonly number[];

export type SweepDistribution =
  | { log: readonly [number, number] }
  | { uniform: readonly [number, number] }
  | { int: readonly [number, number] }
  | { choice: readonly SweepValue[] };

export interface SweepSpec {
  base: FleetJob;
  /** Every combination of the listed values. */
  grid?: Record<string, readonly SweepValue[]>;
  /** `trials` seeded draws from `space`. */
  random?: { trials: number; space: Record<string, SweepDistribution> };
  /** Default 'validationLoss' (needs train.validationSplit > 0). */
  metric?: SweepMetric;
  /** Default 'min'. */
  direction?: SweepDirection;
  pruner?: 'median' | null;
  /** As Optuna's MedianPruner: n_startup_trials 5, n_warmup_steps 0. */
  prunerOptions?: { startupTrials?: number; warmupEpochs?: number };
  /** Default 0. */
  seed?: number;
}

export interface SweepTrial {
  readonly index: number;
  readonly params: Readonly<Record<string, SweepValue>>;
  readonly jobId: string;
  readonly status: 'completed' | 'pruned' | 'failed';
  /** The metric at the end (completed trials), or null. */
  readonly value: number | null;
  readonly result: unknown;
  readonly error: Error | null;
  /** Epochs the trial ran (a pruned trial stops early). */
  readonly epochs: number;
}

export interface SweepResult {
  readonly sweepId: string;
  readonly metric: SweepMetric;
  readonly direction: SweepDirection;
  readonly trials: readonly SweepTrial[];
  /** The completed trial with the best metric, or null if none completed. */
  readonly best: SweepTrial | null;
}

/** Parameter names without a dot, and where in the job they go. */
const PARAM_HOMES: Record<string, string> = {
  learningRate: 'trainer', weightDecay: 'trainer', momentum: 'trainer', gradientClipNorm: 'trainer', seed: 'trainer', optimizer: 'trainer',
  hiddenLayers: 'trainer.model', activation: 'trainer.model',
  epochs: 'train', batchSize: 'train', maxSteps: 'train', warmupSteps: 'train', validationSplit: 'train', shuffle: 'train',
  numRuns: 'multiRun', stepsPerRun: 'multiRun', samplesPerRun: 'multiRun', initialLr: 'multiRun', finalLr: 'multiRun',
  mergeMode: 'multiRun', replayFraction: 'multiRun', replayStrategy: 'multiRun', lrDecay: 'multiRun',
};
const SPEC_KEYS = ['base', 'grid', 'random', 'metric', 'direction', 'pruner', 'prunerOptions', 'seed'];
const METRICS: readonly SweepMetric[] = ['validationLoss', 'validationAccuracy', 'loss'];
const MAX_TRIALS = 10_000;

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function paramPath(name: string, field: string): string[] {
  if (name.includes('.')) return name.split('.');
  const home = PARAM_HOMES[name];
  if (!home) {
    const suggestion = closestKey(name, Object.keys(PARAM_HOMES));
    throw configError(field, name, `Unknown sweep parameter '${name}'.${suggestion ? ` Did you mean '${suggestion}'?` : ''} Use a known name or a dotted path into the job such as 'trainer.learningRate'.`);
  }
  return [...home.split('.'), name];
}

function draw(dist: unknown, field: string, random: () => number): SweepValue {
  const d = requireRecord(dist, field, 'Pass { log: [1e-4, 1e-1] }, { uniform: [lo, hi] }, { int: [lo, hi] } or { choice: [...] }.');
  const kinds = Object.keys(d);
  if (kinds.length !== 1) throw configError(field, dist, `${field} needs exactly one of log, uniform, int or choice (got ${formatValue(dist)}).`);
  const kind = kinds[0]!;
  rejectUnknownKeys(d, ['log', 'uniform', 'int', 'choice'], `${field}.`);
  const value = d[kind];
  if (kind === 'choice') {
    if (!Array.isArray(value) || value.length === 0) throw configError(`${field}.choice`, value, `${field}.choice must be a non-empty array of values.`);
    return value[Math.floor(random() * value.length)] as SweepValue;
  }
  if (!Array.isArray(value) || value.length !== 2 || !value.every((v) => typeof v === 'number' && Number.isFinite(v)) || !(value[0] <= value[1])) {
    throw configError(`${field}.${kind}`, value, `${field}.${kind} must be [low, high] with finite numbers, low <= high (got ${formatValue(value)}).`);
  }
  const [lo, hi] = value as [number, number];
  if (kind === 'log') {
    if (!(lo > 0)) throw configError(`${field}.log`, value, `${field}.log needs low > 0 (got ${lo}). Use uniform for ranges that include 0.`);
    return Math.exp(Math.log(lo) + random() * (Math.log(hi) - Math.log(lo)));
  }
  if (kind === 'int') return Math.floor(Math.ceil(lo) + random() * (Math.floor(hi) - Math.ceil(lo) + 1));
  return lo + random() * (hi - lo);
}

function gridPoints(grid: unknown): Record<string, SweepValue>[] {
  if (grid === undefined) return [{}];
  const g = requireRecord(grid, 'grid', 'Pass grid: { learningRate: [1e-3, 1e-2], batchSize: [16, 32] }.');
  let points: Record<string, SweepValue>[] = [{}];
  for (const [name, values] of Object.entries(g)) {
    if (!Array.isArray(values) || values.length === 0) throw configError(`grid.${name}`, values, `grid.${name} must be a non-empty array of values to try.`);
    points = points.flatMap((p) => values.map((v) => ({ ...p, [name]: v as SweepValue })));
  }
  return points;
}

/** The trials a sweep runs, each as its parameters and its complete, validated job. */
export function sweepTrials(spec: SweepSpec): { params: Record<string, SweepValue>; job: FleetJob }[] {
  const s = requireRecord(spec, 'sweep', 'Pass { base: job, random: { trials, space }, metric, direction }.');
  rejectUnknownKeys(s, SPEC_KEYS, '', { noun: 'sweep' });
  const base = validateJob(s.base);
  const seed = optionalInteger(s.seed, 'seed', 0, 2 ** 32 - 1, 'Pass an unsigned 32-bit integer such as 7.') ?? 0;
  const random = mulberry32(seed);
  const points = gridPoints(s.grid);
  let draws: Record<string, SweepValue>[] = [{}];
  if (s.random !== undefined) {
    const r = requireRecord(s.random, 'random', 'Pass random: { trials: 12, space: { learningRate: { log: [1e-4, 1e-1] } } }.');
    rejectUnknownKeys(r, ['trials', 'space'], 'random.');
    const trials = requireInteger(r.trials, 'random.trials', 1, MAX_TRIALS, 'Pass how many random trials to run, such as 12.');
    const space = requireRecord(r.space, 'random.space', 'Pass space: { learningRate: { log: [1e-4, 1e-1] } }.');
    draws = Array.from({ length: trials }, () => {
      const params: Record<string, SweepValue> = {};
      for (const [name, dist] of Object.entries(space)) params[name] = draw(dist, `random.space.${name}`, random);
      return params;
    });
  }
  if (s.grid === undefined && s.random === undefined) throw configError('grid', undefined, 'A sweep needs grid, random or both. Pass e.g. random: { trials: 12, space: {...} }.');
  const combos = points.flatMap((p) => draws.map((d) => ({ ...p, ...d })));
  if (combos.length > MAX_TRIALS) throw configError('grid', s.grid, `The sweep has ${combos.length} trials, more than ${MAX_TRIALS}. Use fewer values.`);
  return combos.map((params, index) => {
    const job = JSON.parse(JSON.stringify(base)) as Record<string, unknown>;
    for (const [name, value] of Object.entries(params)) {
      const at = paramPath(name, s.random !== undefined && name in ((s.random as { space: object }).space ?? {}) ? `random.space.${name}` : `grid.${name}`);
      let node = job;
      for (const key of at.slice(0, -1)) {
        if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
        node = node[key] as Record<string, unknown>;
      }
      node[at[at.length - 1]!] = value;
    }
    job.name = `${base.name ?? 'sweep'}-trial-${index + 1}`;
    return { params, job: validateJob(job) };
  });
}

function metricOf(result: unknown, metric: SweepMetric): number | null {
  const r = result as { finalLoss?: number | null; metadata?: { validationLoss?: number | null; validationAccuracy?: number | null }; runs?: { validationLoss?: number | null; validationAccuracy?: number | null }[] };
  if (metric === 'loss') return r?.finalLoss ?? null;
  if (r?.metadata) return r.metadata[metric] ?? null;
  const last = r?.runs?.[r.runs.length - 1];
  return last?.[metric] ?? null;
}

interface SweepQueue {
  readonly name: string;
  enqueue(job: FleetJob, sweep: SweepTrialInfo | undefined): Promise<JobHandle>;
}

export async function runSweep(queue: SweepQueue, spec: SweepSpec): Promise<SweepResult> {
  const trials = sweepTrials(spec);
  const metric = optionalOneOf(spec.metric, 'metric', METRICS) ?? 'validationLoss';
  const direction = optionalOneOf(spec.direction, 'direction', ['min', 'max'] as const) ?? 'min';
  const pruner = spec.pruner === undefined || spec.pruner === null ? null : optionalOneOf(spec.pruner, 'pruner', ['median'] as const) ?? null;
  const po = spec.prunerOptions === undefined ? {} : requireRecord(spec.prunerOptions, 'prunerOptions', 'Pass { startupTrials: 5, warmupEpochs: 0 }.');
  rejectUnknownKeys(po, ['startupTrials', 'warmupEpochs'], 'prunerOptions.');
  const startupTrials = optionalInteger(po.startupTrials, 'prunerOptions.startupTrials', 0, MAX_TRIALS, 'Pass how many trials must complete before pruning starts, such as 5.') ?? 5;
  const warmupEpochs = optionalInteger(po.warmupEpochs, 'prunerOptions.warmupEpochs', 0, 1e6, 'Pass how many epochs are never pruned, such as 0.') ?? 0;
  const base = spec.base as { kind?: string; train?: { validationSplit?: number } };
  if (metric !== 'loss' && base.kind === 'train' && !(Number(base.train?.validationSplit) > 0)) {
    throw configError('base.train.validationSplit', base.train?.validationSplit, `metric '${metric}' is measured on held-out rows: set base.train.validationSplit (such as 0.2), or use metric 'loss'.`);
  }
  const sweepId = randomUUID();
  const handles: { handle: JobHandle; epochs: number }[] = [];
  for (const [index, trial] of trials.entries()) {
    const handle = await queue.enqueue(trial.job, { sweepId, trial: index, metric, direction, pruner, startupTrials, warmupEpochs });
    const entry = { handle, epochs: 0 };
    handle.on('epoch', (epoch: number) => (entry.epochs = epoch));
    handles.push(entry);
  }
  const settled = await Promise.allSettled(handles.map((h) => h.handle.result()));
  const results: SweepTrial[] = settled.map((s, index) => {
    const common = { index, params: Object.freeze(trials[index]!.params), jobId: handles[index]!.handle.id, epochs: handles[index]!.epochs };
    if (s.status === 'fulfilled') return Object.freeze({ ...common, status: 'completed' as const, value: metricOf(s.value, metric), result: s.value, error: null });
    const error = s.reason as Error & { reason?: unknown; run?: unknown };
    const pruned = error?.name === 'AbortError' && error.reason === PRUNED_REASON;
    return Object.freeze({ ...common, status: pruned ? ('pruned' as const) : ('failed' as const), value: null, result: error?.run ?? null, error: isBackpropError(error) || error instanceof Error ? error : new Error(String(error)) });
  });
  const better = (a: number, b: number): boolean => (direction === 'min' ? a < b : a > b);
  let best: SweepTrial | null = null;
  for (const t of results) if (t.status === 'completed' && t.value !== null && (best === null || better(t.value, best.value!))) best = t;
  return Object.freeze({ sweepId, metric, direction, trials: Object.freeze(results), best });
}
