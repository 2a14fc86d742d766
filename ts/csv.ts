/**
 * Loads training data from CSV/TSV and JSON Lines files into typed arrays.
 *
 * The file is streamed in 1 MiB chunks and parsed line by line into typed
 * arrays that grow by doubling, so time and memory stay linear in the file
 * size (a 100 MB file never exists as one string). Every rejection names the
 * line (1-based, counting the CSV header as line 1) and column, because the
 * person fixing the file needs to find the cell.
 */
import { createReadStream } from 'node:fs';
import * as nodePath from 'node:path';
import { BackpropError, formatValue, isBackpropError } from './errors';
import { checkLabelsFile, isIdxPath, loadIdxFile } from './idx-data';

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

const READ_CHUNK_BYTES = 1 << 20;

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

// ---------------------------------------------------------------------------
// Reading lines

/**
 * Calls onLine for every line of the file (without its \n or \r\n), numbered
 * from 1. Errors thrown by onLine stop the read and close the file.
 */
async function forEachLine(path: string, onLine: (line: string, lineNumber: number) => void): Promise<void> {
  const stream = createReadStream(path, { encoding: 'utf8', highWaterMark: READ_CHUNK_BYTES });
  // Pieces of a line that spans chunks, joined once the line ends (avoids repeated concatenation).
  let pending: string[] = [];
  let lineNumber = 0;
  const emit = (line: string): void => {
    lineNumber++;
    if (lineNumber === 1 && line.charCodeAt(0) === 0xfeff) line = line.slice(1); // UTF-8 byte order mark
    onLine(line.endsWith('\r') ? line.slice(0, -1) : line, lineNumber);
  };
  try {
    for await (const chunk of stream as AsyncIterable<string>) {
      let start = 0;
      for (let newline = chunk.indexOf('\n'); newline >= 0; newline = chunk.indexOf('\n', start)) {
        const piece = chunk.slice(start, newline);
        if (pending.length > 0) {
          pending.push(piece);
          emit(pending.join(''));
          pending = [];
        } else {
          emit(piece);
        }
        start = newline + 1;
      }
      if (start < chunk.length) pending.push(chunk.slice(start));
    }
  } catch (error) {
    if (isBackpropError(error)) throw error;
    throw fileReadError(path, error);
  } finally {
    stream.destroy();
  }
  if (pending.length > 0) emit(pending.join(''));
}

function fileReadError(path: string, error: unknown): BackpropError {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return new BackpropError(
      'INPUT_NOT_FOUND',
      `Data file not found: ${path} (resolved to ${nodePath.resolve(path)}). Check the path and the working directory.`,
      { path },
      { cause: error },
    );
  }
  if (code === 'EISDIR') {
    return new BackpropError('INPUT_NOT_FOUND', `${path} is a folder, not a data file. Pass the path of a .csv or .jsonl file.`, { path }, {
      cause: error,
    });
  }
  return new BackpropError(
    'INPUT_PARSE',
    `Could not read ${path}: ${error instanceof Error ? error.message : String(error)}. Check that the file is readable.`,
    { path, errno: typeof code === 'string' ? code : null },
    { cause: error },
  );
}

/** Whitespace-only lines carry no data and are skipped wherever they are (typically trailing newlines). */
function isBlank(line: string, separator: string): boolean {
  if (line.length === 0) return true;
  // A tab-separated row of empty cells is a malformed row, not a blank line.
  return line.charCodeAt(0) <= 32 && line.trim() === '' && !(separator === '\t' && line.includes('\t'));
}

// ---------------------------------------------------------------------------
// Output

/** Row-major float storage that grows by doubling, so appending n rows costs O(n). */
class GrowingMatrix {
  private data: Float32Array;
  private used = 0;

  constructor(private readonly width: number) {
    this.data = new Float32Array(Math.max(1024, width * 64));
  }

  /** Makes room for one more row and returns the offset to write it at. */
  addRow(): number {
    if (this.used + this.width > this.data.length) {
      const grown = new Float32Array(Math.max(this.data.length * 2, this.used + this.width));
      grown.set(this.data.subarray(0, this.used));
      this.data = grown;
    }
    const offset = this.used;
    this.used += this.width;
    return offset;
  }

  get values(): Float32Array {
    return this.data;
  }

  /** An exactly sized copy, so the spare capacity is not kept alive. */
  toArray(): Float32Array {
    return this.data.slice(0, this.used);
  }
}

/** Where each source column goes: its index among the features, or among the labels. */
interface ColumnLayout {
  featureNames: string[];
  labelNames: string[];
  /** Per source column: >= 0 feature index; < 0 means label index -(k + 1). */
  destination: Int32Array;
}

function layoutColumns(
  names: string[],
  label: string | null,
  labelCount: number,
  fail: (message: string, details: Record<string, unknown>) => BackpropError,
): ColumnLayout {
  if (names.length < labelCount + 1) {
    throw fail(
      `needs at least ${labelCount + 1} columns (${labelCount} label and at least one feature) but has ${names.length}: ` +
        `${names.map((n) => `"${n}"`).join(', ')}. Add at least one feature column.`,
      { column: null, available: names },
    );
  }
  let first: number;
  if (label !== null) {
    first = names.indexOf(label);
    if (first < 0) {
      throw fail(`has no column "${label}". Available columns: ${names.map((n) => `"${n}"`).join(', ')}. Pass one of these as the label.`, {
        column: label,
        available: names,
      });
    }
    if (first + labelCount > names.length) {
      throw fail(
        `has only ${names.length - first} column(s) from "${label}" to the end, but labelCount is ${labelCount}. ` +
          `Pass the first of the ${labelCount} target columns as the label.`,
        { column: label, available: names },
      );
    }
  } else {
    first = names.length - labelCount;
  }
  const destination = new Int32Array(names.length);
  const featureNames: string[] = [];
  const labelNames: string[] = [];
  names.forEach((name, i) => {
    if (i >= first && i < first + labelCount) {
      destination[i] = -(labelNames.length + 1);
      labelNames.push(name);
    } else {
      destination[i] = featureNames.length;
      featureNames.push(name);
    }
  });
  return { featureNames, labelNames, destination };
}

/** Shared by both parsers: typed output plus uniform, line-and-column-specific errors. */
abstract class RowSink {
  protected layout: ColumnLayout | null = null;
  protected x: GrowingMatrix | null = null;
  protected y: GrowingMatrix | null = null;
  protected rows = 0;
  protected readonly fileName: string;

  constructor(
    protected readonly path: string,
    protected readonly label: string | null,
    protected readonly labelCount: number,
    private readonly format: 'csv' | 'jsonl',
  ) {
    this.fileName = nodePath.basename(path);
  }

  abstract line(text: string, lineNumber: number): void;

  protected setColumns(names: string[], lineNumber: number, label: string | null): void {
    this.layout = layoutColumns(names, label, this.labelCount, (message, details) =>
      this.parseError(`${this.fileName} line ${lineNumber} ${message}`, { line: lineNumber, ...details }),
    );
    this.x = new GrowingMatrix(this.layout.featureNames.length);
    this.y = new GrowingMatrix(this.labelCount);
  }

  /**
   * Stores the value of source column `column` in the current row, after
   * checking it is a finite float32. `raw` (the cell as written) is only
   * formatted if the check fails, to keep the per-cell cost low.
   */
  protected store(xOffset: number, yOffset: number, column: number, value: number, lineNumber: number, raw: string | number): void {
    const f = Math.fround(value);
    // f - f is 0 for finite values and NaN for NaN/±Infinity (including overflow in float32).
    if (f - f !== 0) {
      const shown = typeof raw === 'string' ? JSON.stringify(raw.trim()) : String(raw);
      const detail = value - value !== 0 ? 'is not a finite number' : 'is too large for a 32-bit float';
      throw this.cellError(lineNumber, column, `${shown} ${detail}. Fix the cell or remove the row.`, typeof raw === 'string' ? raw.trim() : raw);
    }
    const dest = this.layout!.destination[column]!;
    if (dest >= 0) this.x!.values[xOffset + dest] = f;
    else this.y!.values[yOffset - dest - 1] = f;
  }

  protected columnName(column: number): string | null {
    const names = this.columnNames();
    return column >= 0 && column < names.length ? names[column]! : null;
  }

  protected abstract columnNames(): string[];

  protected cellError(lineNumber: number, column: number, problem: string, value: unknown): BackpropError {
    return this.parseError(`${this.fileName} line ${lineNumber}, column ${this.columnLabel(column)}: ${problem}`, {
      line: lineNumber,
      column: this.columnName(column),
      value,
    });
  }

  /** For messages: the quoted column name, or its 1-based position while the header is still being read. */
  protected columnLabel(column: number): string {
    const name = this.columnName(column);
    return name === null ? String(column + 1) : `"${name}"`;
  }

  protected parseError(message: string, details: Record<string, unknown>): BackpropError {
    return new BackpropError('INPUT_PARSE', message, { path: this.path, ...details });
  }

  finish(): LoadedFile {
    if (this.layout === null || this.rows === 0) {
      const why = this.layout === null ? 'is empty' : this.format === 'csv' ? 'has a header but no data rows' : 'has no data rows';
      throw new BackpropError('INPUT_EMPTY', `${this.fileName} ${why}. Add at least one row of data.`, { path: this.path });
    }
    return {
      x: this.x!.toArray(),
      y: this.y!.toArray(),
      rows: this.rows,
      featureNames: this.layout.featureNames,
      labelName: this.layout.labelNames[0]!,
      labelNames: this.layout.labelNames,
      format: this.format,
    };
  }
}

// ---------------------------------------------------------------------------
// CSV / TSV

class CsvParser extends RowSink {
  private header: string[] = [];

  constructor(
    path: string,
    private readonly separator: ',' | '\t',
    label: string | null,
    labelCount: number,
  ) {
    super(path, label, labelCount, 'csv');
  }

  protected columnNames(): string[] {
    return this.header;
  }

  line(text: string, lineNumber: number): void {
    if (isBlank(text, this.separator)) return;
    if (this.layout === null) {
      this.readHeader(text, lineNumber);
      return;
    }
    // Fast path: numeric rows almost never contain quotes, and split() is far quicker than a char loop.
    const cells = text.includes('"') ? this.splitQuoted(text, lineNumber) : text.split(this.separator);
    const width = this.header.length;
    if (cells.length !== width) {
      const missing = cells.length < width;
      throw this.parseError(
        `${this.fileName} line ${lineNumber} has ${cells.length} cells but the header has ${width} columns` +
          (missing ? ` (first missing column: "${this.header[cells.length]}")` : '') +
          `. Check for ${missing ? 'missing' : 'extra'} separators, then fix or remove the row.`,
        { line: lineNumber, column: missing ? this.header[cells.length] : null, cells: cells.length, expected: width },
      );
    }
    const xOffset = this.x!.addRow();
    const yOffset = this.y!.addRow();
    for (let c = 0; c < width; c++) {
      const cell = cells[c]!;
      // Number() ignores surrounding whitespace and rejects trailing junk ('1abc'), but reads '' and '  ' as 0.
      const value = Number(cell);
      if (value === 0 && cell.trim() === '') {
        throw this.cellError(lineNumber, c, 'the cell is empty. Fill in a number or remove the row.', '');
      }
      if (value !== value) {
        throw this.cellError(lineNumber, c, `${JSON.stringify(cell.trim())} is not a number. Fix the cell or remove the row.`, cell.trim());
      }
      this.store(xOffset, yOffset, c, value, lineNumber, cell);
    }
    this.rows++;
  }

  private readHeader(text: string, lineNumber: number): void {
    const names = this.splitQuoted(text, lineNumber);
    const seen = new Set<string>();
    names.forEach((name, i) => {
      if (name === '') {
        throw this.parseError(
          `${this.fileName} line ${lineNumber} (the header): column ${i + 1} has no name. Give every column a header name.`,
          { line: lineNumber, column: null, columnIndex: i },
        );
      }
      if (seen.has(name)) {
        throw this.parseError(
          `${this.fileName} line ${lineNumber} (the header): column "${name}" appears twice. Give every column a distinct name.`,
          { line: lineNumber, column: name },
        );
      }
      seen.add(name);
    });
    if (names.length === 1 && names[0]!.includes(';')) {
      // The usual cause of a one-column header: a semicolon-separated export.
      throw this.parseError(
        `${this.fileName} line ${lineNumber} (the header) reads as one column "${names[0]}": the file looks semicolon-separated. ` +
          `Save it with comma separators (or tab separators as .tsv).`,
        { line: lineNumber, column: null, available: names },
      );
    }
    this.header = names;
    this.setColumns(names, lineNumber, this.label);
  }

  /**
   * Splits one line, honouring double-quoted cells ("a,b" and "" for a quote).
   * Cells are trimmed and unquoted. Quoted cells cannot span lines.
   */
  private splitQuoted(text: string, lineNumber: number): string[] {
    const sep = this.separator;
    const cells: string[] = [];
    let i = 0;
    for (;;) {
      while (i < text.length && (text[i] === ' ' || (text[i] === '\t' && sep !== '\t'))) i++;
      if (text[i] === '"') {
        let value = '';
        let from = ++i;
        for (;;) {
          const quote = text.indexOf('"', from);
          if (quote < 0) {
            throw this.parseError(
              `${this.fileName} line ${lineNumber}, column ${this.columnLabel(cells.length)}: a quoted cell is not closed. ` +
                `Add the closing " (quoted cells cannot span lines).`,
              { line: lineNumber, column: this.columnName(cells.length) },
            );
          }
          value += text.slice(from, quote);
          if (text[quote + 1] === '"') {
            value += '"';
            from = quote + 2;
          } else {
            i = quote + 1;
            break;
          }
        }
        while (i < text.length && text[i] !== sep && text.charCodeAt(i) <= 32) i++;
        if (i < text.length && text[i] !== sep) {
          throw this.parseError(
            `${this.fileName} line ${lineNumber}, column ${this.columnLabel(cells.length)}: unexpected text after a closing quote. ` +
              `Quote the whole cell and write a quote inside it as "".`,
            { line: lineNumber, column: this.columnName(cells.length) },
          );
        }
        cells.push(value.trim());
      } else {
        const end = text.indexOf(sep, i);
        cells.push((end < 0 ? text.slice(i) : text.slice(i, end)).trim());
        i = end < 0 ? text.length : end;
      }
      if (i >= text.length) return cells;
      i++; // past the separator
      if (i === text.length) {
        cells.push(''); // trailing separator: an empty last cell
        return cells;
      }
    }
  }
}

// ---------------------------------------------------------------------------
// JSON Lines

class JsonlParser extends RowSink {
  private keys: string[] = [];

  constructor(path: string, label: string | null, labelCount: number) {
    super(path, label, labelCount, 'jsonl');
  }

  protected columnNames(): string[] {
    return this.keys;
  }

  line(text: string, lineNumber: number): void {
    if (isBlank(text, ',')) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw this.parseError(
        `${this.fileName} line ${lineNumber}: invalid JSON (${(error as Error).message}). Each line must be one JSON object such as {"x1": 0.5, "label": 1}.`,
        { line: lineNumber, column: null },
      );
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw this.parseError(
        `${this.fileName} line ${lineNumber}: expected a JSON object but found ${Array.isArray(parsed) ? 'an array' : formatValue(parsed)}. ` +
          `Write each row as an object such as {"x1": 0.5, "label": 1}.`,
        { line: lineNumber, column: null },
      );
    }
    const record = parsed as Record<string, unknown>;

    if (this.layout === null) {
      // The first object fixes the columns and their order.
      this.keys = Object.keys(record);
      // Default label: the key 'label' if there is one, else the last key (layoutColumns' default).
      const label = this.label ?? (this.keys.includes('label') ? 'label' : null);
      this.setColumns(this.keys, lineNumber, label);
    }

    const keys = this.keys;
    const xOffset = this.x!.addRow();
    const yOffset = this.y!.addRow();
    for (let c = 0; c < keys.length; c++) {
      const value = record[keys[c]!];
      if (typeof value !== 'number') {
        if (value === undefined && !Object.prototype.hasOwnProperty.call(record, keys[c]!)) {
          throw this.cellError(lineNumber, c, 'the key is missing. Every line needs the same keys as the first line.', undefined);
        }
        throw this.cellError(lineNumber, c, `${formatValue(value)} is not a number. Fix the value or remove the row.`, value);
      }
      this.store(xOffset, yOffset, c, value, lineNumber, value);
    }
    // Every key of the first line was found, so a larger count means extra keys.
    if (Object.keys(record).length !== keys.length) {
      const extra = Object.keys(record).find((k) => !keys.includes(k))!;
      throw this.parseError(
        `${this.fileName} line ${lineNumber}, column "${extra}": this key is not on the first line. ` +
          `Every line needs the same keys as the first line; remove it or add it to every line.`,
        { line: lineNumber, column: extra },
      );
    }
    this.rows++;
  }
}
