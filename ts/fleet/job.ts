/**
 * Job validation, shared by queue.submit() (a bad job rejects and nothing is
 * enqueued) and the worker (which trusts nothing it reads from Redis). The
 * checks are the library's own: the trainer, train and multi-run options go
 * through the same resolvers as a local run, with the failing field prefixed
 * by where it sits in the job ('trainer.model.inputSize', 'train.epochs').
 */
import { resolveTrainerOptions, resolveTrainOptions } from '../config';
import { BackpropError, formatValue, isBackpropError } from '../errors';
import { resolveMultiRunConfig } from '../multi-run/config';
import {
  configError,
  optionalInteger,
  optionalNonEmptyString,
  rejectUnknownKeys,
  requireRecord,
} from '../validation';
import type { FleetJob } from './types';

const JOB_KEYS = ['kind', 'trainer', 'train', 'multiRun', 'data', 'name', 'priority', 'attempts'] as const;
const KINDS = ['train', 'multi-run'] as const;
/** Train options the worker sets itself. */
const WORKER_OWNED_TRAIN_KEYS = ['outputDir', 'resumeFrom', 'signal', 'gpuSafety', 'label', 'labels'];
const DATASETS = ['spirals', 'blobs'] as const;
const PATH_DATA_KEYS = ['path', 'label', 'labels'];
export const MAX_PRIORITY = 2 ** 21;
const MAX_ATTEMPTS = 100;

/** Re-throws a resolver's CONFIG_INVALID with its field placed inside the job. */
function within<T>(prefix: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (!isBackpropError(error) || error.code !== 'CONFIG_INVALID') throw error;
    const field = typeof error.details.field === 'string' && error.details.field !== 'options' ? `${prefix}.${error.details.field}` : prefix;
    throw new BackpropError('CONFIG_INVALID', `In the job's ${prefix}: ${error.message}`, { ...error.details, field });
  }
}

/** Checks a job and returns a plain JSON copy of it (what is enqueued). */
export function validateJob(value: unknown): FleetJob {
  const job = requireRecord(value, 'job', "Pass a job such as { kind: 'train', trainer: { model: {...} }, data: { dataset: 'spirals' } }.");
  rejectUnknownKeys(job, JOB_KEYS, '', { noun: 'job' });
  if (job.kind === undefined) throw configError('kind', undefined, "A job needs kind: 'train' or 'multi-run'.");
  if (!KINDS.includes(job.kind as (typeof KINDS)[number])) {
    throw configError('kind', job.kind, `kind must be 'train' or 'multi-run' (got ${formatValue(job.kind)}).`);
  }
  let copy: unknown;
  try {
    copy = JSON.parse(JSON.stringify(job));
  } catch {
    throw configError('job', value, 'A job must be plain JSON (no cycles, no BigInt). Pass numbers, strings, arrays and objects only.');
  }
  const plain = copy as Record<string, unknown>;

  within('trainer', () => {
    const trainer = requireRecord(plain.trainer, 'options', 'Pass trainer: { model: { inputSize, hiddenLayers, outputSize }, ... }.');
    if (job.kind === 'multi-run' && trainer.learningRate !== undefined) {
      throw configError('learningRate', trainer.learningRate, 'A multi-run job takes its learning rates from multiRun.initialLr and finalLr. Remove trainer.learningRate.');
    }
    resolveTrainerOptions(trainer);
  });

  if (job.kind === 'train') {
    if (plain.multiRun !== undefined) throw configError('multiRun', plain.multiRun, "multiRun belongs to kind 'multi-run' jobs. Remove it, or set kind: 'multi-run'.");
    if (plain.train !== undefined) {
      const train = requireRecord(plain.train, 'train', 'Pass train options such as { epochs: 10, batchSize: 32 }.');
      for (const key of WORKER_OWNED_TRAIN_KEYS) {
        if (train[key] !== undefined) {
          const hint = key === 'label' || key === 'labels' ? `put ${key} in data instead` : 'the worker sets it (checkpoints go to checkpointRoot/<jobId>/)';
          throw configError(`train.${key}`, train[key], `train.${key} cannot be set in a fleet job: ${hint}. Remove it.`);
        }
      }
      // saveEverySteps needs an outputDir locally; on a worker it is always there.
      within('train', () => resolveTrainOptions({ ...train, outputDir: '/fleet-checkpoints' }));
    }
  } else {
    if (plain.train !== undefined) throw configError('train', plain.train, "train belongs to kind 'train' jobs; a multi-run job is configured by multiRun.");
    if (plain.multiRun !== undefined) {
      const multiRun = requireRecord(plain.multiRun, 'multiRun', 'Pass multi-run settings such as { numRuns: 3, stepsPerRun: 100 }.');
      if (multiRun.checkpointDir !== undefined) {
        throw configError('multiRun.checkpointDir', multiRun.checkpointDir, 'multiRun.checkpointDir is set by the worker (checkpointRoot/<jobId>/). Remove it.');
      }
      within('multiRun', () => resolveMultiRunConfig(multiRun));
    }
  }

  validateData(plain.data);
  optionalNonEmptyString(plain.name, 'name', 'Pass a short label for the job, or leave it out.');
  optionalInteger(plain.priority, 'priority', 1, MAX_PRIORITY, 'Pass 1 for the most urgent jobs, larger numbers for less urgent ones.');
  optionalInteger(plain.attempts, 'attempts', 1, MAX_ATTEMPTS, 'Pass how many times the job may run in all, such as 3.');
  return plain as unknown as FleetJob;
}

function validateData(value: unknown): void {
  const data = requireRecord(value, 'data', "Pass data: { path: 'train.csv' } (a file under the worker's dataRoot) or { dataset: 'spirals', samples: 1000 }.");
  if (data.path !== undefined && data.dataset !== undefined) {
    throw configError('data', data, 'data takes either path or dataset, not both. Remove one.');
  }
  if (data.path !== undefined) {
    rejectUnknownKeys(data, PATH_DATA_KEYS, 'data.');
    if (typeof data.path !== 'string' || data.path.trim() === '' || data.path.includes('\0')) {
      throw configError('data.path', data.path, `data.path must be a non-empty file path (got ${formatValue(data.path)}). Name a file under the worker's dataRoot.`);
    }
    optionalNonEmptyString(data.label, 'data.label', 'Pass the label column of the data file.');
    optionalNonEmptyString(data.labels, 'data.labels', "Pass the IDX labels file, under the worker's dataRoot.");
    return;
  }
  if (data.dataset === undefined) {
    throw configError('data', data, "data needs path or dataset. Pass { path: 'train.csv' } or { dataset: 'spirals' }.");
  }
  if (!DATASETS.includes(data.dataset as (typeof DATASETS)[number])) {
    throw configError('data.dataset', data.dataset, `data.dataset must be 'spirals' or 'blobs' (got ${formatValue(data.dataset)}). For your own data use data.path.`);
  }
}

/** Codes that a retry cannot fix: the job fails at once instead of being run again. */
const PERMANENT_CODES = new Set([
  'CONFIG_INVALID',
  'INPUT_EMPTY',
  'INPUT_SHAPE_MISMATCH',
  'INPUT_NON_FINITE',
  'INPUT_LABEL_RANGE',
  'INPUT_PARSE',
  'INPUT_NOT_FOUND',
  'CHECKPOINT_INCOMPATIBLE',
  'JOB_PATH_FORBIDDEN',
]);

export function isPermanentFailure(error: unknown): boolean {
  if ((error as { name?: unknown })?.name === 'AbortError') return true;
  return isBackpropError(error) && PERMANENT_CODES.has(error.code);
}
