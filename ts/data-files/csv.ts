/**
 * The CSV / TSV parser: a header line naming the columns, then one row of
 * numbers per line; double-quoted cells ("a,b", "" for a quote) on one line.
 */
import { isBlank } from './lines';
import { RowSink } from './rows';

export class CsvParser extends RowSink {
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
