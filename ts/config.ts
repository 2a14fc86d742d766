/**
 * Option types, defaults and validation for the trainer and for a training run.
 *
 * Everything the user passes is checked here, before any of it reaches native
 * code, and every failure is a BackpropError 'CONFIG_INVALID' whose
 * details.field is the dotted path of the offending option and details.value
 * the value that was passed.
 */
import { formatValue } from './errors';
import { resolveLabelsOption } from './idx-data';
import {
  configError,
  requireRecord,
  rejectUnknownKeys,
  requireInteger,
  optionalInteger,
  optionalNumber,
  optionalBoolean,
  optionalOneOf,
  optionalNonEmptyString,
} from './validation';

export type Activation = 'relu' | 'tanh' | 'gelu';
export type Task = 'classification' | 'regression';
export type Optimizer = 'adamw' | 'sgd';
export type DeviceSpec = 'auto' | 'cpu' | 'cuda' | `cuda:${number}`;

export interface ModelConfig {
  inputSize: number;
  hiddenLayers: number[];
  outputSize: number;
  /** Default 'relu'. */
  activation?: Activation;
  /** Default 'classification'. */
  task?: Task;
}

export interface TrainerOptions {
  model: ModelConfig;
  device?: DeviceSpec;
  seed?: number;
  optimizer?: Optimizer;
  learningRate?: number;
  weightDecay?: number;
  momentum?: number;
  gradientClipNorm?: number | null;
  threads?: number;
  /**
   * On a CUDA device, TF32 tensor-core matrix products (sm_80 and newer):
   * faster, with about 1e-3 relative error instead of float32's. Default
   * false (or `BACKPROP_CUDA_TF32=1` in the environment). No effect on the CPU.
   */
  tf32?: boolean;
}

export interface ResolvedTrainerOptions {
  model: Required<ModelConfig>;
  device: DeviceSpec;
  seed: number;
  optimizer: Optimizer;
  learningRate: number;
  weightDecay: number;
  momentum: number;
  /** 0 = off. */
  gradientClipNorm: number;
  /** 0 = auto (one per core). */
  threads: number;
  tf32: boolean;
}

export type StepEventsMode = 'coalesce' | 'block';

export interface TrainOptions {
  epochs?: number;
  maxSteps?: number;
  batchSize?: number;
  shuffle?: boolean;
  outputDir?: string;
  saveEverySteps?: number;
  saveEveryEpoch?: boolean;
  resumeFrom?: string;
  signal?: AbortSignal;
  stepEvents?: StepEventsMode;
  validationSplit?: number;
  label?: string;
  /**
   * With an IDX images file as the data (such as train-images-idx3-ubyte.gz):
   * the IDX labels file. Required for IDX data, rejected for anything else.
   */
  labels?: string;
  gpuSafety?: unknown;
  queueCapacity?: number;
  /** Linear learning-rate warm-up over the first steps of the run. Default 0 (none). */
  warmupSteps?: number;
}

export interface ResolvedTrainOptions {
  /** 0 = unbounded (maxSteps decides). */
  epochs: number;
  /** 0 = none. */
  maxSteps: number;
  batchSize: number;
  shuffle: boolean;
  outputDir: string | null;
  /** 0 = off. */
  saveEverySteps: number;
  saveEveryEpoch: boolean;
  resumeFrom: string | null;
  signal: AbortSignal | null;
  stepEvents: StepEventsMode;
  validationSplit: number;
  label: string | null;
  /** IDX labels file, for IDX images data; null otherwise. */
  labels: string | null;
  /** Passed through untouched; the GPU safety module validates it. */
  gpuSafety: unknown;
  queueCapacity: number;
  /** 0 = no warm-up. */
  warmupSteps: number;
}

const ACTIVATIONS: readonly Activation[] = ['relu', 'tanh', 'gelu'];
const TASKS: readonly Task[] = ['classification', 'regression'];
const OPTIMIZERS: readonly Optimizer[] = ['adamw', 'sgd'];
const STEP_EVENTS_MODES: readonly StepEventsMode[] = ['coalesce', 'block'];

const MAX_LAYER_WIDTH = 1e6;
const MAX_HIDDEN_LAYERS = 64;
const MAX_SEED = 2 ** 32 - 1;
const MAX_THREADS = 256;
const MAX_LEARNING_RATE = 10;
const MAX_EPOCHS = 1e6;
const MAX_BATCH_SIZE = 65536;
const MAX_VALIDATION_SPLIT = 0.9;
const MIN_QUEUE_CAPACITY = 1;
/**
 * 'coalesce': up to 1024 undelivered step events wait before the oldest are dropped.
 * 'block': the training thread runs at most this many steps ahead of the step
 * handlers; 1 means lockstep, so a handler's abort()/pause() lands on the very
 * next step boundary. Raise it to let training run ahead of slow handlers.
 */
const DEFAULT_COALESCE_QUEUE_CAPACITY = 1024;
const DEFAULT_BLOCK_QUEUE_CAPACITY = 1;
const MAX_QUEUE_CAPACITY = 1e6;

const TRAINER_KEYS: readonly (keyof TrainerOptions)[] = [
  'model',
  'device',
  'seed',
  'optimizer',
  'learningRate',
  'weightDecay',
  'momentum',
  'gradientClipNorm',
  'threads',
  'tf32',
];
const MODEL_KEYS: readonly (keyof ModelConfig)[] = ['inputSize', 'hiddenLayers', 'outputSize', 'activation', 'task'];
const TRAIN_KEYS: readonly (keyof TrainOptions)[] = [
  'epochs',
  'maxSteps',
  'batchSize',
  'shuffle',
  'outputDir',
  'saveEverySteps',
  'saveEveryEpoch',
  'resumeFrom',
  'signal',
  'stepEvents',
  'validationSplit',
  'label',
  'labels',
  'gpuSafety',
  'queueCapacity',
  'warmupSteps',
];

export function resolveTrainerOptions(options: unknown): ResolvedTrainerOptions {
  const opts = requireRecord(options, 'options', 'Pass an object such as { model: { inputSize: 2, hiddenLayers: [16], outputSize: 3 } }.');
  rejectUnknownKeys(opts, TRAINER_KEYS, '');

  const model = resolveModel(opts.model);
  const optimizer = optionalOneOf(opts.optimizer, 'optimizer', OPTIMIZERS) ?? 'adamw';

  const learningRate = optionalNumber(opts.learningRate, 'learningRate', {
    check: (v) => v > 0 && v <= MAX_LEARNING_RATE,
    rule: `a finite number > 0 and <= ${MAX_LEARNING_RATE}`,
    hint: 'Pass a positive step size such as 1e-3.',
  }) ?? 1e-3;

  const weightDecay = optionalNumber(opts.weightDecay, 'weightDecay', {
    check: (v) => v >= 0,
    rule: 'a finite number >= 0',
    hint: 'Pass 0 to turn weight decay off, or a small value such as 0.01.',
  }) ?? (optimizer === 'adamw' ? 0.01 : 0);

  const momentum = optionalNumber(opts.momentum, 'momentum', {
    check: (v) => v >= 0 && v < 1,
    rule: 'a finite number >= 0 and < 1',
    hint: 'Pass a value such as 0.9 (it only affects optimizer "sgd").',
  }) ?? 0.9;

  // null, undefined and 0 all mean "no clipping"; native code takes 0 for off.
  const gradientClipNorm =
    opts.gradientClipNorm === null || opts.gradientClipNorm === 0
      ? 0
      : optionalNumber(opts.gradientClipNorm, 'gradientClipNorm', {
          check: (v) => v > 0,
          rule: 'a finite number > 0, or null/0 for no clipping',
          hint: 'Pass a norm such as 1.0, or null to turn clipping off.',
        }) ?? 0;

  return {
    model,
    device: resolveDevice(opts.device),
    seed: optionalInteger(opts.seed, 'seed', 0, MAX_SEED, 'Pass an unsigned 32-bit integer such as 42.') ?? 42,
    optimizer,
    learningRate,
    weightDecay,
    momentum,
    gradientClipNorm,
    threads:
      optionalInteger(opts.threads, 'threads', 0, MAX_THREADS, 'Pass 0 to use one thread per CPU core, or a thread count.') ?? 0,
    tf32: optionalBoolean(opts.tf32, 'tf32') ?? process.env.BACKPROP_CUDA_TF32 === '1',
  };
}

function resolveModel(value: unknown): Required<ModelConfig> {
  const model = requireRecord(
    value,
    'model',
    'Pass model: { inputSize, hiddenLayers, outputSize }, e.g. { inputSize: 2, hiddenLayers: [16], outputSize: 3 }.',
  );
  rejectUnknownKeys(model, MODEL_KEYS, 'model.');

  const inputSize = requireInteger(model.inputSize, 'model.inputSize', 1, MAX_LAYER_WIDTH, 'Set it to the number of features per row.');
  const outputSize = requireInteger(
    model.outputSize,
    'model.outputSize',
    1,
    MAX_LAYER_WIDTH,
    'Set it to the number of classes (classification) or targets per row (regression).',
  );

  if (!Array.isArray(model.hiddenLayers)) {
    throw configError(
      'model.hiddenLayers',
      model.hiddenLayers,
      `model.hiddenLayers must be an array of layer widths (got ${formatValue(model.hiddenLayers)}). Pass e.g. [64, 64], or [] for no hidden layer.`,
    );
  }
  if (model.hiddenLayers.length > MAX_HIDDEN_LAYERS) {
    throw configError(
      'model.hiddenLayers',
      model.hiddenLayers,
      `model.hiddenLayers may have at most ${MAX_HIDDEN_LAYERS} layers (got ${model.hiddenLayers.length}). Use fewer, wider layers.`,
    );
  }
  // Copied so later changes to the caller's array cannot change a built model.
  // (A plain loop, not map(), so holes in a sparse array are checked too.)
  const hiddenLayers: number[] = [];
  for (let i = 0; i < model.hiddenLayers.length; i++) {
    const width: unknown = model.hiddenLayers[i];
    hiddenLayers.push(
      requireInteger(width, `model.hiddenLayers[${i}]`, 1, MAX_LAYER_WIDTH, 'Every hidden layer needs a whole number of units such as 64.'),
    );
  }

  const activation = optionalOneOf(model.activation, 'model.activation', ACTIVATIONS) ?? 'relu';
  const task = optionalOneOf(model.task, 'model.task', TASKS) ?? 'classification';

  if (task === 'classification' && outputSize < 2) {
    throw configError(
      'model.outputSize',
      outputSize,
      `model.outputSize must be >= 2 for classification (got ${outputSize}): it is the number of classes. ` +
        `For a single continuous target use task: 'regression'; for a yes/no label use outputSize: 2.`,
    );
  }

  return { inputSize, hiddenLayers, outputSize, activation, task };
}

function resolveDevice(value: unknown): DeviceSpec {
  if (value === undefined) return 'auto';
  if (value === 'auto' || value === 'cpu' || value === 'cuda') return value;
  // cuda:N with N written canonically (no sign, no leading zeros, no exponent).
  if (typeof value === 'string' && /^cuda:(0|[1-9][0-9]{0,8})$/.test(value)) return value as DeviceSpec;
  throw configError(
    'device',
    value,
    `device must be 'auto', 'cpu', 'cuda' or 'cuda:N' with N a GPU index such as 0 (got ${formatValue(value)}). ` +
      `Use 'auto' to pick a GPU when one is usable and the CPU otherwise.`,
  );
}

/**
 * `data`, when given, is what train() received: a file path is checked
 * against the label/labels options (labels belongs to IDX images files only).
 */
export function resolveTrainOptions(options: unknown, data?: unknown): ResolvedTrainOptions {
  // train() with no options is the common case.
  const opts = options === undefined ? {} : requireRecord(options, 'options', 'Pass an object such as { epochs: 10, batchSize: 32 }.');
  rejectUnknownKeys(opts, TRAIN_KEYS, '');

  const maxSteps =
    optionalInteger(opts.maxSteps, 'maxSteps', 1, Number.MAX_SAFE_INTEGER, 'Pass a whole number of optimizer steps such as 1000, or leave it out.') ?? 0;
  // maxSteps alone means "train for exactly that many steps": epochs then stops bounding the run.
  const epochs =
    optionalInteger(opts.epochs, 'epochs', 1, MAX_EPOCHS, 'Pass a whole number of passes over the data such as 10.') ??
    (opts.maxSteps !== undefined ? 0 : 1);

  const batchSize =
    optionalInteger(opts.batchSize, 'batchSize', 1, MAX_BATCH_SIZE, 'Pass a whole number of rows per step such as 32.') ?? 32;
  const shuffle = optionalBoolean(opts.shuffle, 'shuffle') ?? true;

  const outputDir = optionalNonEmptyString(opts.outputDir, 'outputDir', 'Pass the folder checkpoints should be written to.');
  const saveEverySteps =
    optionalInteger(opts.saveEverySteps, 'saveEverySteps', 0, Number.MAX_SAFE_INTEGER, 'Pass a step interval such as 500, or 0 for none.') ?? 0;
  const saveEveryEpoch = optionalBoolean(opts.saveEveryEpoch, 'saveEveryEpoch') ?? false;
  if ((saveEverySteps > 0 || saveEveryEpoch) && outputDir === null) {
    const asked = saveEverySteps > 0 ? 'saveEverySteps' : 'saveEveryEpoch';
    throw configError(
      'outputDir',
      opts.outputDir,
      `${asked} needs outputDir to know where to write checkpoints. Pass outputDir: './checkpoints' (or any folder), or remove ${asked}.`,
    );
  }

  const resumeFrom = optionalNonEmptyString(opts.resumeFrom, 'resumeFrom', 'Pass the path of a checkpoint folder written by an earlier run.');
  const signal = resolveSignal(opts.signal);
  const stepEvents = optionalOneOf(opts.stepEvents, 'stepEvents', STEP_EVENTS_MODES) ?? 'coalesce';

  const validationSplit = optionalNumber(opts.validationSplit, 'validationSplit', {
    check: (v) => v >= 0 && v <= MAX_VALIDATION_SPLIT,
    rule: `a number >= 0 and <= ${MAX_VALIDATION_SPLIT}`,
    hint: 'Pass the fraction of rows to hold out, such as 0.1, or 0 for none.',
  }) ?? 0;

  const label = optionalNonEmptyString(opts.label, 'label', 'Pass the name of the label column in the data file.');
  const labels = resolveLabelsOption(data, opts.labels, label);
  const queueCapacity =
    optionalInteger(
      opts.queueCapacity,
      'queueCapacity',
      MIN_QUEUE_CAPACITY,
      MAX_QUEUE_CAPACITY,
      'Pass the number of step events to buffer, such as 1024.',
    ) ?? (stepEvents === 'block' ? DEFAULT_BLOCK_QUEUE_CAPACITY : DEFAULT_COALESCE_QUEUE_CAPACITY);
  const warmupSteps =
    optionalInteger(opts.warmupSteps, 'warmupSteps', 0, Number.MAX_SAFE_INTEGER, 'Pass a whole number of warm-up steps such as 100, or 0 for none.') ?? 0;

  return {
    epochs,
    maxSteps,
    batchSize,
    shuffle,
    outputDir,
    saveEverySteps,
    saveEveryEpoch,
    resumeFrom,
    signal,
    stepEvents,
    validationSplit,
    label,
    labels,
    gpuSafety: opts.gpuSafety,
    queueCapacity,
    warmupSteps,
  };
}

function resolveSignal(value: unknown): AbortSignal | null {
  if (value === undefined || value === null) return null;
  // Duck-typed rather than instanceof so signals from other realms or polyfills work.
  const candidate = value as { aborted?: unknown; addEventListener?: unknown };
  if (typeof value === 'object' && typeof candidate.aborted === 'boolean' && typeof candidate.addEventListener === 'function') {
    return value as AbortSignal;
  }
  throw configError(
    'signal',
    value,
    `signal must be an AbortSignal (got ${formatValue(value)}). Pass controller.signal from an AbortController, or AbortSignal.timeout(ms).`,
  );
}
