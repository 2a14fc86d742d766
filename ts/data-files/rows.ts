/**
 * What the CSV and JSONL parsers share: which source column becomes which
 * feature or label, typed output that grows by doubling, and uniform errors
 * that name the line and column of the bad cell.
 */
import * as nodePath from 'node:path';
import { BackpropError } from '../errors';
import type { LoadedFile } from './load';

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
export abstract class RowSink {
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
