/**
 * The BackpropError for a data file that could not be read, shared by the
 * CSV/JSONL loader and the IDX reader: a missing path or a folder is
 * INPUT_NOT_FOUND with what to check, anything else INPUT_PARSE with the
 * system's reason and errno.
 */
import * as nodePath from 'node:path';
import { BackpropError } from './errors';

export interface FileKind {
  /** How messages name the file: 'Data file', 'IDX file'. */
  noun: string;
  /** The same with its article, mid-sentence: 'a data file', 'an IDX file'. */
  withArticle: string;
  /** The advice when the path is a folder. */
  folderHint: string;
  /** Extra details on INPUT_PARSE (e.g. the byte offset of an IDX read). */
  parseDetails?: Record<string, unknown>;
}

export function fileReadError(path: string, error: unknown, kind: FileKind): BackpropError {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return new BackpropError(
      'INPUT_NOT_FOUND',
      `${kind.noun} not found: ${path} (resolved to ${nodePath.resolve(path)}). Check the path and the working directory.`,
      { path },
      { cause: error },
    );
  }
  if (code === 'EISDIR') {
    return new BackpropError('INPUT_NOT_FOUND', `${path} is a folder, not ${kind.withArticle}. ${kind.folderHint}`, { path }, { cause: error });
  }
  return new BackpropError(
    'INPUT_PARSE',
    `Could not read ${path}: ${error instanceof Error ? error.message : String(error)}. Check that the file is readable.`,
    { path, ...kind.parseDetails, errno: typeof code === 'string' ? code : null },
    { cause: error },
  );
}
