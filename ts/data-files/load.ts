/**
 * Loads training data from CSV/TSV and JSON Lines files into typed arrays
 * (IDX image files go to idx-data.ts): picks the parser by the file's
 * extension and feeds it the file line by line.
 *
 * The file is streamed in 1 MiB chunks and parsed line by line into typed
 * arrays that grow by doubling, so time and memory stay linear in the file
 * size (a 100 MB file never exists as one string). Every rejection names the
 * line (1-based, counting the CSV header as line 1) and column, because the
 * person fixing the file needs to find the cell.
 */
import * as nodePath from 'node:path';
import { BackpropError, formatValue } from '../errors';
import { checkLabelsFile, isIdxPath, loadIdxFile } from '../idx-data';
import { CsvParser } from './csv';
import { JsonlParser } from './jsonl';
import { forEachLine } from './lines';

export interface LoadedFile {
  /** rows x featureNames.length values, row by row. */
  x: Float32Array;
  /** Raw label column values, rows x labelNames.length (the caller turns them into classes or targets). */
  y: Float32Array;
  rows: number;
  featureNames: string[];
  /** The (first) label column. */
  labelName: string;
  /** All label columns, in order; one unless labelCount > 1. */
  labelNames: string[];
  format: 'csv' | 'jsonl' | 'idx';
}

export interface LoadDataFileOptions {
  /** Label column (CSV header name or JSONL key). Default: CSV the last column; JSONL 'label', else the last key. */
  label?: string | null;
  /**
   * Number of label columns, for multi-output regression: that many columns
   * starting at `label`, or by default the trailing ones. Default 1.
   */
  labelCount?: number;
  /** For an IDX images file (such as train-images-idx3-ubyte.gz): the IDX labels file. Required there, rejected elsewhere. */
  labels?: string | null;
}

interface FileFormat {
  format: 'csv' | 'jsonl';
  /** Cell separator for CSV-like files. */
  separator: ',' | '\t';
}

const FORMATS_BY_EXTENSION: Readonly<Record<string, FileFormat>> = {
  '.csv': { format: 'csv', separator: ',' },
  '.tsv': { format: 'csv', separator: '\t' },
  '.jsonl': { format: 'jsonl', separator: ',' },
  '.ndjson': { format: 'jsonl', separator: ',' },
};

export async function loadDataFile(path: string, options: LoadDataFileOptions = {}): Promise<LoadedFile> {
  if (typeof path !== 'string' || path === '') {
    throw new BackpropError('CONFIG_INVALID', `The data file path must be a non-empty string (got ${formatValue(path)}). Pass e.g. './data.csv'.`, {
      field: 'path',
      value: path,
    });
  }
  const { label, labelCount } = checkLoadOptions(options);
  checkLabelsFile(path, options.labels, label);
  if (isIdxPath(path)) return loadIdxFile(path, options.labels!, labelCount);
  const extension = nodePath.extname(path).toLowerCase();
  const fileFormat = FORMATS_BY_EXTENSION[extension];
  if (fileFormat === undefined) {
    throw new BackpropError(
      'INPUT_PARSE',
      `Cannot tell the format of ${path} from its extension ${extension ? `"${extension}"` : '(none)'}. ` +
        `Use a file ending in .csv, .tsv, .jsonl or .ndjson, or an IDX images file (such as train-images-idx3-ubyte.gz) with the labels option.`,
      { path, extension, supported: Object.keys(FORMATS_BY_EXTENSION) },
    );
  }

  const parser =
    fileFormat.format === 'csv'
      ? new CsvParser(path, fileFormat.separator, label, labelCount)
      : new JsonlParser(path, label, labelCount);
  await forEachLine(path, (line, lineNumber) => parser.line(line, lineNumber));
  return parser.finish();
}

function checkLoadOptions(options: LoadDataFileOptions): { label: string | null; labelCount: number } {
  if (typeof options !== 'object' || options === null) {
    throw new BackpropError('CONFIG_INVALID', `loadDataFile options must be an object (got ${formatValue(options)}).`, {
      field: 'options',
      value: options,
    });
  }
  const { label = null, labelCount = 1 } = options;
  if (label !== null && (typeof label !== 'string' || label === '')) {
    throw new BackpropError('CONFIG_INVALID', `label must be a column name (got ${formatValue(label)}). Pass the header of the label column.`, {
      field: 'label',
      value: label,
    });
  }
  if (typeof labelCount !== 'number' || !Number.isInteger(labelCount) || labelCount < 1 || labelCount > 1e6) {
    throw new BackpropError(
      'CONFIG_INVALID',
      `labelCount must be an integer >= 1 (got ${formatValue(labelCount)}). Pass the number of target columns, usually 1.`,
      { field: 'labelCount', value: labelCount },
    );
  }
  return { label, labelCount };
}
