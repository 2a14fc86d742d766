/**
 * The JSON Lines parser: one JSON object per line; the first object fixes
 * the keys and their order, and every later line must have exactly those.
 */
import { formatValue } from '../errors';
import { isBlank } from './lines';
import { RowSink } from './rows';

export class JsonlParser extends RowSink {
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
