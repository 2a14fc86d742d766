/**
 * Where a job's data comes from on the worker: a built-in generated data set,
 * or a file that must lie inside the worker's dataRoot. The check is on the
 * real path (symlinks resolved), so neither '..' nor a link pointing out of
 * dataRoot reaches a file outside it.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { BackpropError } from '../errors';
import { datasets, type Dataset } from '../datasets';
import type { FleetData } from './types';

export interface ResolvedJobData {
  /** In-memory rows, or the real path of the data file. */
  data: Dataset | string;
  label?: string;
  labels?: string;
}

async function insideRoot(file: string, dataRoot: string | null, field: string): Promise<string> {
  if (dataRoot === null) {
    throw new BackpropError('JOB_PATH_FORBIDDEN', `This worker has no dataRoot, so it reads no data files (${field} '${file}'). Start it with dataRoot (--data-root DIR), or use data.dataset.`, { field, path: file });
  }
  const root = await fs.realpath(dataRoot);
  const candidate = path.resolve(root, file);
  let real: string;
  try {
    real = await fs.realpath(candidate);
  } catch {
    // A missing file is reported as such only when its name stays inside dataRoot; otherwise the name itself is forbidden.
    const relative = path.relative(root, candidate);
    if (relative.startsWith('..') || path.isAbsolute(relative)) throw forbidden(file, field, dataRoot);
    throw new BackpropError('INPUT_NOT_FOUND', `${field} '${file}' does not exist under the worker's dataRoot (${dataRoot}). Copy the file there or fix the path.`, { field, path: file });
  }
  const relative = path.relative(root, real);
  if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) throw forbidden(file, field, dataRoot);
  return real;
}

function forbidden(file: string, field: string, dataRoot: string): BackpropError {
  return new BackpropError(
    'JOB_PATH_FORBIDDEN',
    `${field} '${file}' leads outside the worker's dataRoot (${dataRoot}). Name a file inside dataRoot; '..' and symbolic links out of it are refused.`,
    { field, path: file },
  );
}

export async function resolveJobData(data: FleetData, dataRoot: string | null): Promise<ResolvedJobData> {
  if ('path' in data) {
    const file = await insideRoot(data.path, dataRoot, 'data.path');
    const labels = data.labels === undefined ? undefined : await insideRoot(data.labels, dataRoot, 'data.labels');
    return { data: file, label: data.label, labels };
  }
  const { dataset, ...args } = data;
  return { data: dataset === 'spirals' ? datasets.spirals(args) : datasets.blobs(args) };
}
