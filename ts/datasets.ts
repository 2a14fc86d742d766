/**
 * Small synthetic classification datasets for demos, tests and benchmarks,
 * and the real ones read from files (datasets.idx, datasets.fashionMnist; see
 * idx-data.ts and fashion-mnist.ts).
 *
 * The synthetic sets are
 * generated from a seed with our own PRNG (mulberry32 + Box-Muller), so the
 * same options give bit-identical arrays on every platform and Node version.
 * Rows are interleaved class by class (class 0, 1, 2, 0, 1, 2, ...) with each
 * class's points shuffled first, so even unshuffled minibatches, and a
 * validation split taken from the end, see every class.
 */
import { BackpropError, formatValue } from './errors';
import { loadFashionMnist, type FashionMnistOptions } from './fashion-mnist';
import { loadIdxDataset, type IdxDatasetOptions } from './idx-data';
import { optionalBoolean, optionalOneOf, rejectUnknownKeys } from './validation';

export interface Dataset {
  /** rows x inputSize features, row by row. */
  x: Float32Array;
  /** One class index per row, 0..outputSize-1. */
  y: Int32Array;
  inputSize: number;
  /** Number of classes. */
  outputSize: number;
  rows: number;
}

export interface SpiralsOptions {
  /** Total number of points, split evenly across classes. Default 1000. */
  samples?: number;
  /** Number of spiral arms. Default 3. */
  classes?: number;
  /** Standard deviation of the angle noise. Default 0.2. */
  noise?: number;
  /** Default 0. */
  seed?: number;
}

export interface BlobsOptions {
  /** Total number of points, split evenly across classes. Default 1000. */
  samples?: number;
  /** Number of clusters. Default 3. */
  classes?: number;
  /** Dimensions of each point. Default 2. */
  features?: number;
  /** Standard deviation of each cluster. Default 1.0. */
  spread?: number;
  /** Default 0. */
  seed?: number;
}

const MAX_SAMPLES = 1e7;
const MAX_CLASSES = 1000;
const MAX_FEATURES = 1e4;
/** Blob centres are drawn uniformly from this box in every dimension (as scikit-learn's make_blobs does). */
const CENTRE_BOX = 10;

export const datasets = {
  /**
   * Interleaved 2-D spirals, the classic CS231n toy problem: not linearly
   * separable, so it shows whether hidden layers are learning.
   * Class k's arm: radius r in [0, 1], angle = k*4 + 4r + noise.
   */
  spirals(options: SpiralsOptions = {}): Dataset {
    const opts = checkOptions(options, ['samples', 'classes', 'noise', 'seed'], 'spirals');
    const classes = integerOption(opts, 'classes', 3, 2, MAX_CLASSES);
    const samples = integerOption(opts, 'samples', 1000, classes, MAX_SAMPLES);
    const noise = numberOption(opts, 'noise', 0.2);
    const random = new SeededRandom(integerOption(opts, 'seed', 0, 0, 2 ** 32 - 1));

    return buildInterleaved(samples, classes, 2, random, (cls, i, count, out) => {
      // Same parametrisation as CS231n: r = linspace(0, 1, N), t = linspace(4k, 4(k+1), N) + noise.
      const fraction = count > 1 ? i / (count - 1) : 0;
      const radius = fraction;
      const angle = cls * 4 + fraction * 4 + random.normal() * noise;
      out[0] = radius * Math.sin(angle);
      out[1] = radius * Math.cos(angle);
    });
  },

  /** Gaussian clusters around random centres: an easy, linearly separable problem for smoke tests. */
  blobs(options: BlobsOptions = {}): Dataset {
    const opts = checkOptions(options, ['samples', 'classes', 'features', 'spread', 'seed'], 'blobs');
    const classes = integerOption(opts, 'classes', 3, 2, MAX_CLASSES);
    const samples = integerOption(opts, 'samples', 1000, classes, MAX_SAMPLES);
    const features = integerOption(opts, 'features', 2, 1, MAX_FEATURES);
    const spread = numberOption(opts, 'spread', 1.0);
    const random = new SeededRandom(integerOption(opts, 'seed', 0, 0, 2 ** 32 - 1));

    const centres = new Float64Array(classes * features);
    for (let i = 0; i < centres.length; i++) centres[i] = (random.uniform() * 2 - 1) * CENTRE_BOX;

    return buildInterleaved(samples, classes, features, random, (cls, _i, _count, out) => {
      for (let f = 0; f < features; f++) out[f] = centres[cls * features + f]! + random.normal() * spread;
    });
  },

  /**
   * An IDX images file and its labels file (MNIST's format, plain or gzip'd),
   * one row per image. Rejects with INPUT_PARSE (details.offset: the byte) for
   * a damaged or truncated file, INPUT_SHAPE_MISMATCH when the two files do
   * not belong together, INPUT_LABEL_RANGE for a label that is not a class.
   */
  async idx(options: IdxDatasetOptions): Promise<Dataset> {
    const opts = checkOptions(options, ['images', 'labels', 'normalize', 'classes', 'limit'], 'idx');
    const images = pathOption(opts, 'images', 'train-images-idx3-ubyte.gz');
    const labels = pathOption(opts, 'labels', 'train-labels-idx1-ubyte.gz');
    const normalize = optionalBoolean(opts.normalize, 'normalize') ?? true;
    const classes = opts.classes === undefined ? null : integerOption(opts, 'classes', 0, 2, MAX_CLASSES);
    const limit = integerOption(opts, 'limit', Infinity, 1, Number.MAX_SAFE_INTEGER);
    return loadIdxDataset({ images, labels, normalize, classes, limit });
  },

  /**
   * Fashion-MNIST from Debian's dataset-fashion-mnist package (or the folder
   * in BACKPROP_FASHION_MNIST_DIR): 784 pixels per row, 10 classes. Rejects
   * with INPUT_NOT_FOUND, naming the package to install, when the files are missing.
   */
  async fashionMnist(options: FashionMnistOptions = {}): Promise<Dataset> {
    const opts = checkOptions(options, ['split', 'normalize', 'limit'], 'fashionMnist');
    const split = optionalOneOf(opts.split, 'split', ['train', 'test'] as const) ?? 'train';
    const normalize = optionalBoolean(opts.normalize, 'normalize') ?? true;
    const limit = integerOption(opts, 'limit', Infinity, 1, Number.MAX_SAFE_INTEGER);
    return loadFashionMnist(split, normalize, limit);
  },
};

function pathOption(options: Record<string, unknown>, field: string, example: string): string {
  const value = options[field];
  if (typeof value !== 'string' || value === '') {
    throw new BackpropError('CONFIG_INVALID', `${field} must be the path of an IDX file (got ${formatValue(value)}). Pass e.g. '${example}'.`, {
      field,
      value,
    });
  }
  return value;
}

/**
 * Generates `samples` points split as evenly as possible over the classes
 * (the first samples % classes classes get one extra), shuffles each class's
 * points, then writes rows round-robin over the classes.
 */
function buildInterleaved(
  samples: number,
  classes: number,
  features: number,
  random: SeededRandom,
  generate: (cls: number, index: number, count: number, out: Float64Array) => void,
): Dataset {
  const perClass: Float32Array[] = [];
  const point = new Float64Array(features);
  for (let cls = 0; cls < classes; cls++) {
    const count = Math.floor(samples / classes) + (cls < samples % classes ? 1 : 0);
    const points = new Float32Array(count * features);
    for (let i = 0; i < count; i++) {
      generate(cls, i, count, point);
      points.set(point, i * features);
    }
    shuffleRows(points, features, random);
    perClass.push(points);
  }

  const x = new Float32Array(samples * features);
  const y = new Int32Array(samples);
  const taken = new Int32Array(classes);
  let row = 0;
  while (row < samples) {
    for (let cls = 0; cls < classes; cls++) {
      const points = perClass[cls]!;
      const index = taken[cls]!;
      if (index * features >= points.length) continue; // this class is used up
      x.set(points.subarray(index * features, (index + 1) * features), row * features);
      y[row] = cls;
      taken[cls] = index + 1;
      row++;
    }
  }
  return { x, y, inputSize: features, outputSize: classes, rows: samples };
}

/** Fisher-Yates over rows of `width` values. */
function shuffleRows(values: Float32Array, width: number, random: SeededRandom): void {
  const rows = values.length / width;
  const scratch = new Float32Array(width);
  for (let i = rows - 1; i > 0; i--) {
    const j = Math.floor(random.uniform() * (i + 1));
    if (j === i) continue;
    scratch.set(values.subarray(i * width, (i + 1) * width));
    values.copyWithin(i * width, j * width, (j + 1) * width);
    values.set(scratch, j * width);
  }
}

/** mulberry32: tiny, fast, and good enough for toy data; identical on every platform. */
class SeededRandom {
  private state: number;
  private spareNormal: number | null = null;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Standard normal via Box-Muller; the second value of each pair is kept for the next call. */
  normal(): number {
    if (this.spareNormal !== null) {
      const spare = this.spareNormal;
      this.spareNormal = null;
      return spare;
    }
    const u1 = 1 - this.uniform(); // (0, 1], so log() is finite
    const u2 = this.uniform();
    const radius = Math.sqrt(-2 * Math.log(u1));
    this.spareNormal = radius * Math.sin(2 * Math.PI * u2);
    return radius * Math.cos(2 * Math.PI * u2);
  }
}

// ---------------------------------------------------------------------------
// Option checks: CONFIG_INVALID with details.field naming the option.

function checkOptions(options: unknown, known: readonly string[], generator: string): Record<string, unknown> {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new BackpropError(
      'CONFIG_INVALID',
      `datasets.${generator}() options must be an object (got ${formatValue(options)}). Pass e.g. { samples: 1000, seed: 1 }.`,
      { field: 'options', value: options },
    );
  }
  const record = options as Record<string, unknown>;
  rejectUnknownKeys(record, known, '', { where: `for datasets.${generator}()` });
  return record;
}

function integerOption(options: Record<string, unknown>, field: string, fallback: number, min: number, max: number): number {
  const value = options[field];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const why = field === 'samples' && typeof value === 'number' && value < min ? ' (at least one per class)' : '';
    throw new BackpropError(
      'CONFIG_INVALID',
      `${field} must be an integer between ${min} and ${max}${why} (got ${formatValue(value)}). Pass a whole number in that range.`,
      { field, value },
    );
  }
  return value;
}

function numberOption(options: Record<string, unknown>, field: string, fallback: number): number {
  const value = options[field];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new BackpropError('CONFIG_INVALID', `${field} must be a finite number >= 0 (got ${formatValue(value)}). Pass e.g. 0.2.`, {
      field,
      value,
    });
  }
  return value;
}
