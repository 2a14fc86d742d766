/**
 * Fashion-MNIST (Zalando's 28x28 grey-scale clothing images, 10 classes:
 * 60,000 for training, 10,000 for testing) read from Debian's
 * dataset-fashion-mnist package, so real-data examples, tests and benchmarks
 * need no download step. `BACKPROP_FASHION_MNIST_DIR` points at another folder
 * holding the same four files (gzip'd or not).
 */
import { access } from 'node:fs/promises';
import * as nodePath from 'node:path';
import type { Dataset } from './datasets';
import { BackpropError } from './errors';
import { loadIdxDataset } from './idx-data';

export type FashionMnistSplit = 'train' | 'test';

export interface FashionMnistOptions {
  /** 'train' (60,000 images) or 'test' (10,000). Default 'train'. */
  split?: FashionMnistSplit;
  /** Scale pixels from 0..255 to [0, 1]. Default true. */
  normalize?: boolean;
  /** Use only the first `limit` images. Default: all. */
  limit?: number;
}

/** Debian's dataset-fashion-mnist installs the files here. */
export const FASHION_MNIST_DEFAULT_DIR = '/usr/share/datasets/fashion-mnist';
export const FASHION_MNIST_CLASSES = 10;
/** Class names in label order, from the data set's documentation. */
export const FASHION_MNIST_LABELS: readonly string[] = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

const FILE_PREFIX: Readonly<Record<FashionMnistSplit, string>> = { train: 'train', test: 't10k' };

/** The folder the files are read from: BACKPROP_FASHION_MNIST_DIR, else Debian's. */
export function fashionMnistDir(): string {
  const override = process.env.BACKPROP_FASHION_MNIST_DIR;
  return override !== undefined && override !== '' ? override : FASHION_MNIST_DEFAULT_DIR;
}

/** Paths of one split's images and labels files (the .gz name, or the plain one when only that exists). */
export async function fashionMnistFiles(split: FashionMnistSplit): Promise<{ images: string; labels: string }> {
  const dir = fashionMnistDir();
  const prefix = FILE_PREFIX[split];
  return {
    images: await findFile(dir, `${prefix}-images-idx3-ubyte`),
    labels: await findFile(dir, `${prefix}-labels-idx1-ubyte`),
  };
}

/** Resolved options (checked by datasets.fashionMnist). */
export async function loadFashionMnist(split: FashionMnistSplit, normalize: boolean, limit: number): Promise<Dataset> {
  const files = await fashionMnistFiles(split);
  return loadIdxDataset({ ...files, normalize, classes: FASHION_MNIST_CLASSES, limit });
}

async function findFile(dir: string, base: string): Promise<string> {
  for (const name of [`${base}.gz`, base]) {
    const candidate = nodePath.join(dir, name);
    try {
      await access(candidate);
      return candidate;
    } catch {
      // try the next name
    }
  }
  const overridden = dir !== FASHION_MNIST_DEFAULT_DIR;
  throw new BackpropError(
    'INPUT_NOT_FOUND',
    `Fashion-MNIST file ${base}.gz not found in ${dir}. ` +
      (overridden
        ? `BACKPROP_FASHION_MNIST_DIR points there: put the four Fashion-MNIST files in that folder, or unset it to use Debian's copy (apt-get install dataset-fashion-mnist).`
        : `Install Debian's copy with: apt-get install dataset-fashion-mnist (or set BACKPROP_FASHION_MNIST_DIR to a folder holding the files).`),
    { path: nodePath.join(dir, `${base}.gz`), dir, install: 'apt-get install dataset-fashion-mnist' },
  );
}
