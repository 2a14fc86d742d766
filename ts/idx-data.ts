/**
 * Turns an IDX images file and an IDX labels file into training data: the
 * package's Dataset (datasets.idx) or the LoadedFile that loadDataFile gives
 * for CSV/JSONL, so `train('train-images-idx3-ubyte.gz', { labels })` works
 * like a CSV file.
 *
 * Images: an IDX file of n x d1 x d2 ... values; each of the n items becomes
 * one row of d1*d2*... features, in file order (row-major pixels).
 * Labels: an IDX file of n values (or n x k for k regression targets).
 *
 * `normalize` scales integer pixels into [0, 1] (uint8: / 255) or [-1, 1]
 * (signed types: / their largest magnitude), which is what a network wants
 * from raw pixel bytes; float files are already scaled by whoever wrote them
 * and are left as they are.
 */
import * as nodePath from 'node:path';
import type { LoadedFile } from './data-files/load';
import type { Dataset } from './datasets';
import { BackpropError, formatValue } from './errors';
import { readIdx, valueOffset, type IdxArray, type IdxType } from './idx';
import { configError, optionalNonEmptyString } from './validation';

export interface IdxDatasetOptions {
  /** Path of the IDX images file (n x ...), plain or gzip'd. */
  images: string;
  /** Path of the IDX labels file (n class indices), plain or gzip'd. */
  labels: string;
  /** Scale integer pixels into [0, 1] (uint8) or [-1, 1] (signed types). Default true. */
  normalize?: boolean;
  /** Number of classes; labels must be below it. Default: the largest label + 1 (at least 2). */
  classes?: number;
  /** Use only the first `limit` items. Default: all. */
  limit?: number;
}

/**
 * IDX files by name: MNIST's `train-images-idx3-ubyte`, `name.idx3-ubyte`,
 * `name.idx`, each optionally `.gz`.
 */
export function isIdxPath(path: string): boolean {
  const name = nodePath.basename(path).toLowerCase().replace(/\.gz$/, '');
  return /(?:^|[.\-_])idx[1-9]?(?:-(?:ubyte|byte|short|int|float|double))?$/.test(name);
}

/**
 * The labels option belongs to IDX images files only, which keep their labels
 * in a second file and have no label column to pick.
 */
export function checkLabelsFile(path: string, labels: unknown, label: string | null | undefined): void {
  const idx = isIdxPath(path);
  if (labels !== undefined && labels !== null && (typeof labels !== 'string' || labels === '')) {
    throw new BackpropError('CONFIG_INVALID', `labels must be the path of an IDX labels file (got ${formatValue(labels)}). Pass e.g. 'train-labels-idx1-ubyte.gz'.`, {
      field: 'labels',
      value: labels,
    });
  }
  const given = typeof labels === 'string';
  if (idx && !given) {
    throw new BackpropError(
      'CONFIG_INVALID',
      `${nodePath.basename(path)} is an IDX images file, which keeps its labels in a separate file. ` +
        `Pass that file as the labels option, e.g. { labels: 'train-labels-idx1-ubyte.gz' }.`,
      { field: 'labels', value: labels ?? null, path },
    );
  }
  if (!idx && given) {
    throw new BackpropError(
      'CONFIG_INVALID',
      `labels names a separate IDX labels file, but ${nodePath.basename(path)} is not an IDX images file (such as train-images-idx3-ubyte.gz). ` +
        `For CSV/JSONL pick the label column with label instead, and remove labels.`,
      { field: 'labels', value: labels, path },
    );
  }
  if (idx && label !== null && label !== undefined) {
    throw new BackpropError(
      'CONFIG_INVALID',
      `label picks a column of a CSV/JSONL file, but ${nodePath.basename(path)} is an IDX file with no columns. Remove label; the labels option names its labels file.`,
      { field: 'label', value: label, path },
    );
  }
}

/**
 * The labels option of train() and MultiRunTrainer.run(), checked against
 * the data before anything is read: the path of an IDX images file needs it,
 * any other path and in-memory data (whose labels are in y) refuse it.
 * Returns the labels file, or null.
 */
export function resolveLabelsOption(data: unknown, labels: unknown, label: string | null): string | null {
  const resolved = optionalNonEmptyString(labels, 'labels', "Pass the path of the IDX labels file, such as 'train-labels-idx1-ubyte.gz'.");
  if (typeof data === 'string') checkLabelsFile(data, resolved, label);
  else if (data !== undefined && resolved !== null) {
    throw configError(
      'labels',
      labels,
      'labels names the labels file of an IDX images file, but the data given is not a file path. Remove labels; in-memory data carries its labels in y.',
    );
  }
  return resolved;
}

const SCALE: Readonly<Record<IdxType, number>> = {
  uint8: 1 / 255,
  int8: 1 / 128,
  int16: 1 / 32768,
  int32: 1 / 2147483648,
  float32: 1,
  float64: 1,
};

/** Images as rows x features float32, checked to have at least two dimensions. */
export function imagesToRows(images: IdxArray, path: string, normalize: boolean, limit: number): { x: Float32Array; rows: number; features: number } {
  if (images.dims.length < 2) {
    throw new BackpropError(
      'INPUT_SHAPE_MISMATCH',
      `${nodePath.basename(path)} is a 1-D IDX file (${images.dims[0]} values), which holds labels, not images. ` +
        `Pass the images file (such as train-images-idx3-ubyte.gz) as the data and this file as labels.`,
      { path, offset: 3, dims: images.dims },
    );
  }
  const features = images.dims.slice(1).reduce((a, b) => a * b, 1);
  const rows = Math.min(images.dims[0]!, limit);
  if (rows === 0 || features === 0) {
    throw new BackpropError('INPUT_EMPTY', `${nodePath.basename(path)} holds no values (dimensions ${images.dims.join(' x ')}). Pass a file with at least one image.`, {
      path,
      offset: 4,
      dims: images.dims,
    });
  }
  const scale = normalize ? SCALE[images.type] : 1;
  const count = rows * features;
  const x = new Float32Array(count);
  const values = images.values;
  if (scale === 1) x.set(values.subarray(0, count));
  else for (let i = 0; i < count; i++) x[i] = values[i]! * scale;
  return { x, rows, features };
}

/** Labels for `rows` images: a 1-D file of n values, or n x k for k targets per row. */
export function labelsForRows(
  labels: IdxArray,
  labelsPath: string,
  imageCount: number,
  imagesPath: string,
  rows: number,
  perRow: number,
): Float32Array {
  const name = nodePath.basename(labelsPath);
  const width = labels.dims.slice(1).reduce((a, b) => a * b, 1);
  if (labels.dims.length > 2 || width !== perRow) {
    throw new BackpropError(
      'INPUT_SHAPE_MISMATCH',
      `${name} has dimensions ${labels.dims.join(' x ')}, but labels need ${perRow === 1 ? 'one value per image (a 1-D file)' : `${perRow} values per image (n x ${perRow})`}. ` +
        `Pass the labels file that belongs to ${nodePath.basename(imagesPath)}.`,
      { path: labelsPath, offset: 3, dims: labels.dims, expected: perRow },
    );
  }
  if (labels.dims[0] !== imageCount) {
    throw new BackpropError(
      'INPUT_SHAPE_MISMATCH',
      `${name} holds ${labels.dims[0]} labels but ${nodePath.basename(imagesPath)} holds ${imageCount} images. ` +
        `Pass the labels file that belongs to these images (train with train, t10k with t10k).`,
      { path: labelsPath, offset: 4, labels: labels.dims[0], images: imageCount },
    );
  }
  const y = new Float32Array(rows * perRow);
  y.set(labels.values.subarray(0, rows * perRow));
  return y;
}

/** Class indices, each an integer below `classes` (or any integer >= 0 when classes is null); offsets name the bad byte. */
function classIndices(y: Float32Array, labels: IdxArray, path: string, classes: number | null): { labels: Int32Array; largest: number } {
  const out = new Int32Array(y.length);
  let largest = 0;
  for (let i = 0; i < y.length; i++) {
    const v = y[i]!;
    if (!Number.isInteger(v) || v < 0 || (classes !== null && v >= classes)) {
      const range = classes === null ? 'a class index 0, 1, 2, ...' : `a class index 0..${classes - 1}`;
      throw new BackpropError(
        'INPUT_LABEL_RANGE',
        `${nodePath.basename(path)}: label ${formatValue(v)} of item ${i} (byte ${valueOffset(labels, i)}) is not ${range}. ` +
          `Pass the matching labels file${classes === null ? '' : `, or raise classes to at least ${Math.floor(v) + 1}`}.`,
        { path, offset: valueOffset(labels, i), row: i, label: v, ...(classes === null ? {} : { outputSize: classes }) },
      );
    }
    out[i] = v;
    if (v > largest) largest = v;
  }
  return { labels: out, largest };
}

/** datasets.idx(): both files read, checked against each other, and turned into a Dataset. */
export async function loadIdxDataset(options: Required<Pick<IdxDatasetOptions, 'images' | 'labels' | 'normalize'>> & {
  classes: number | null;
  limit: number;
}): Promise<Dataset> {
  const [images, labels] = await Promise.all([readIdx(options.images), readIdx(options.labels)]);
  const { x, rows, features } = imagesToRows(images, options.images, options.normalize, options.limit);
  const y = labelsForRows(labels, options.labels, images.dims[0]!, options.images, rows, 1);
  const checked = classIndices(y, labels, options.labels, options.classes);
  const outputSize = options.classes ?? Math.max(2, checked.largest + 1);
  return { x, y: checked.labels, inputSize: features, outputSize, rows };
}

/**
 * loadDataFile() for an IDX images file: pixels normalized as datasets.idx
 * does by default, labels as floats for the caller to turn into classes or
 * targets, like a CSV label column.
 */
export async function loadIdxFile(imagesPath: string, labelsPath: string, labelCount: number): Promise<LoadedFile> {
  const [images, labels] = await Promise.all([readIdx(imagesPath), readIdx(labelsPath)]);
  const { x, rows, features } = imagesToRows(images, imagesPath, true, Infinity);
  const y = labelsForRows(labels, labelsPath, images.dims[0]!, imagesPath, rows, labelCount);
  const labelNames = labelCount === 1 ? ['label'] : Array.from({ length: labelCount }, (_, i) => `label${i}`);
  return {
    x,
    y,
    rows,
    featureNames: Array.from({ length: features }, (_, i) => `pixel${i}`),
    labelName: labelNames[0]!,
    labelNames,
    format: 'idx',
  };
}
