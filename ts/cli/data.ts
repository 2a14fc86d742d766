/**
 * Data for the CLI: a CSV/TSV/JSONL file or a built-in demo set turned into
 * tensors, with the model's input and output sizes inferred from it.
 */
import { createReadStream } from 'node:fs';
import * as path from 'node:path';
import type { Task } from '../config';
import { loadDataFile, type LoadedFile } from '../data-files/load';
import { datasets } from '../datasets';
import { BackpropError, formatValue } from '../errors';

export type DemoName = 'spirals' | 'blobs' | 'fashion-mnist';
export const DEMOS: readonly DemoName[] = ['spirals', 'blobs', 'fashion-mnist'];
/** Demo sets read from files (Fashion-MNIST) rather than generated; they come with a test split. */
export const FILE_DEMOS: readonly DemoName[] = ['fashion-mnist'];

/** Above this many classes a label column is almost certainly a continuous target. */
const MAX_INFERRED_CLASSES = 100_000;

export interface CliData {
  x: Float32Array;
  y: Int32Array | Float32Array;
  rows: number;
  inputSize: number;
  /** Classes (classification) or targets per row (regression). */
  outputSize: number;
  task: Task;
  featureNames: string[];
  labelNames: string[];
  /** For messages: the file name or "spirals (demo)". */
  source: string;
  /** A separate test split, for demo sets that have one (Fashion-MNIST's 10,000 test images). */
  test?: { x: Float32Array; y: Int32Array; rows: number };
}

export interface TrainingDataOptions {
  file?: string;
  demo?: DemoName;
  samples?: number;
  seed?: number;
  label?: string;
  /** IDX labels file, for an IDX images file. */
  labels?: string;
  task: Task;
  /** Classification: number of classes (default: largest label + 1). */
  classes?: number;
  /** Regression: target columns per row (default 1). */
  outputs?: number;
}

export async function loadTrainingData(options: TrainingDataOptions): Promise<CliData> {
  if (options.demo === 'fashion-mnist') return fashionMnistData(options.samples);
  if (options.demo) return demoData(options.demo, options.samples ?? 3000, options.classes ?? 3, options.seed ?? 42);
  const file = options.file!;
  const labelCount = options.task === 'regression' ? (options.outputs ?? 1) : 1;
  const loaded = await loadDataFile(file, { label: options.label ?? null, labels: options.labels ?? null, labelCount });
  return fromFile(file, loaded, options.task, options.classes);
}

function demoData(name: DemoName, samples: number, classes: number, seed: number): CliData {
  const d = name === 'spirals' ? datasets.spirals({ samples, classes, seed }) : datasets.blobs({ samples, classes, seed });
  const featureNames = Array.from({ length: d.inputSize }, (_, i) => `x${i}`);
  return { x: d.x, y: d.y, rows: d.rows, inputSize: d.inputSize, outputSize: d.outputSize, task: 'classification', featureNames, labelNames: ['label'], source: `${name} (built-in demo)` };
}

/** All 60,000 training images (or the first --samples), and the 10,000 test images for the final score. */
async function fashionMnistData(samples: number | undefined): Promise<CliData> {
  const [train, test] = await Promise.all([datasets.fashionMnist({ split: 'train', limit: samples }), datasets.fashionMnist({ split: 'test' })]);
  const featureNames = Array.from({ length: train.inputSize }, (_, i) => `pixel${i}`);
  return {
    x: train.x,
    y: train.y,
    rows: train.rows,
    inputSize: train.inputSize,
    outputSize: train.outputSize,
    task: 'classification',
    featureNames,
    labelNames: ['label'],
    source: 'Fashion-MNIST training images (built-in demo)',
    test: { x: test.x, y: test.y, rows: test.rows },
  };
}

function fromFile(file: string, loaded: LoadedFile, task: Task, classes: number | undefined): CliData {
  const base = {
    x: loaded.x,
    rows: loaded.rows,
    inputSize: loaded.featureNames.length,
    featureNames: loaded.featureNames,
    labelNames: loaded.labelNames,
    source: file,
  };
  if (task === 'regression') return { ...base, y: loaded.y, outputSize: loaded.labelNames.length, task };
  const { labels, largest } = classLabels(file, loaded, classes);
  return { ...base, y: labels, outputSize: classes ?? Math.max(2, largest + 1), task };
}

/** Class indices from a label column, with a message that names the row and says what to do. */
function classLabels(file: string, loaded: LoadedFile, classes: number | undefined): { labels: Int32Array; largest: number } {
  const y = loaded.y;
  const labels = new Int32Array(y.length);
  let largest = 0;
  const name = path.basename(file);
  for (let i = 0; i < y.length; i++) {
    const v = y[i]!;
    if (!Number.isInteger(v) || v < 0) {
      throw new BackpropError(
        'INPUT_LABEL_RANGE',
        `${name}: label column "${loaded.labelName}" holds ${formatValue(v)} in data row ${i + 1}, which is not a class index (0, 1, 2, ...). ` +
          `For a continuous target pass --task regression; otherwise number the classes from 0, or pick another column with --label.`,
        { path: file, row: i, label: v, column: loaded.labelName },
      );
    }
    if (classes !== undefined && v >= classes) {
      throw new BackpropError(
        'INPUT_LABEL_RANGE',
        `${name}: label ${v} in data row ${i + 1} is not below --classes ${classes}. Raise --classes to at least ${v + 1}, or leave it out to infer it.`,
        { path: file, row: i, label: v, column: loaded.labelName },
      );
    }
    if (v > largest) largest = v;
    labels[i] = v;
  }
  if (classes === undefined && largest + 1 > MAX_INFERRED_CLASSES) {
    throw new BackpropError(
      'INPUT_LABEL_RANGE',
      `${name}: label column "${loaded.labelName}" goes up to ${largest}, which would mean ${largest + 1} classes. ` +
        `For a continuous target pass --task regression; for that many classes pass --classes explicitly.`,
      { path: file, label: largest, column: loaded.labelName },
    );
  }
  return { labels, largest };
}

export interface ModelShape {
  inputSize: number;
  outputSize: number;
  task: Task;
}

/** Labelled data for a trained model (evaluate): the feature count must match the model's input. */
export async function loadLabelledFor(file: string, model: ModelShape, label: string | undefined): Promise<CliData> {
  const labelCount = model.task === 'regression' ? model.outputSize : 1;
  const loaded = await loadDataFile(file, { label: label ?? null, labelCount });
  checkFeatureCount(file, loaded.featureNames.length, model, `${loaded.featureNames.length} feature columns (${loaded.featureNames.join(', ')})`, ' Pick the label column with --label.');
  if (model.task === 'regression') return fromFile(file, loaded, 'regression', undefined);
  const data = fromFile(file, loaded, 'classification', model.outputSize);
  return { ...data, outputSize: model.outputSize };
}

/**
 * Features for a trained model (predict): the file may hold exactly the
 * model's inputs, or the inputs plus the label column(s), which are dropped.
 */
export async function loadFeaturesFor(file: string, model: ModelShape, label: string | undefined): Promise<{ x: Float32Array; rows: number; featureNames: string[] }> {
  const labelCount = model.task === 'regression' ? model.outputSize : 1;
  if (label !== undefined) {
    const loaded = await loadDataFile(file, { label, labelCount });
    checkFeatureCount(file, loaded.featureNames.length, model, `${loaded.featureNames.length} feature columns besides "${label}"`, '');
    return { x: loaded.x, rows: loaded.rows, featureNames: loaded.featureNames };
  }
  // Read it once with the default (last) label column to learn the column count.
  let loaded = await loadDataFile(file, { labelCount: 1 });
  const columns = loaded.featureNames.length + loaded.labelNames.length;
  if (columns === model.inputSize) {
    // No label: the "label" column is the last input. JSONL may have picked a
    // 'label' key from the middle; then read again with the last key.
    const last = await lastColumnName(file, loaded);
    if (last !== loaded.labelName) loaded = await loadDataFile(file, { label: last, labelCount: 1 });
    return { x: appendColumn(loaded.x, loaded.y, loaded.rows, model.inputSize - 1), rows: loaded.rows, featureNames: [...loaded.featureNames, loaded.labelName] };
  }
  if (columns === model.inputSize + labelCount) {
    if (labelCount !== 1) loaded = await loadDataFile(file, { labelCount });
    return { x: loaded.x, rows: loaded.rows, featureNames: loaded.featureNames };
  }
  return checkFeatureCount(file, columns, model, `${columns} columns`, ` (or ${model.inputSize + labelCount} with the label${labelCount > 1 ? 's' : ''}, which are ignored)`) as never;
}

function checkFeatureCount(file: string, actual: number, model: ModelShape, has: string, hint: string): void {
  if (actual === model.inputSize) return;
  throw new BackpropError(
    'INPUT_SHAPE_MISMATCH',
    `${path.basename(file)} has ${has}, but the model takes ${model.inputSize} input${model.inputSize === 1 ? '' : 's'}.${hint ? ` ${hint.trim()}` : ''} ` +
      `Use data with the same columns the model was trained on.`,
    { path: file, expected: model.inputSize, actual },
  );
}

function appendColumn(x: Float32Array, column: Float32Array, rows: number, width: number): Float32Array {
  const out = new Float32Array(rows * (width + 1));
  for (let r = 0; r < rows; r++) {
    out.set(x.subarray(r * width, (r + 1) * width), r * (width + 1));
    out[r * (width + 1) + width] = column[r]!;
  }
  return out;
}

/** The last column of the file: the CSV header's last name, or the first JSONL object's last key. */
async function lastColumnName(file: string, loaded: LoadedFile): Promise<string> {
  if (loaded.format === 'csv') return loaded.labelName; // the default label is the last column
  const first = await firstLine(file);
  try {
    const keys = Object.keys(JSON.parse(first) as Record<string, unknown>);
    return keys[keys.length - 1] ?? loaded.labelName;
  } catch {
    return loaded.labelName;
  }
}

async function firstLine(file: string): Promise<string> {
  const stream = createReadStream(file, { encoding: 'utf8', highWaterMark: 64 * 1024 });
  let text = '';
  try {
    for await (const chunk of stream as AsyncIterable<string>) {
      text += chunk;
      const lines = text.split('\n');
      const found = lines.slice(0, -1).find((l) => l.trim() !== '');
      if (found !== undefined) return found;
      text = lines[lines.length - 1]!;
    }
  } finally {
    stream.destroy();
  }
  return text;
}
