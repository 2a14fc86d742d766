'use strict';
// Property tests (fast-check) for the CSV/TSV and JSONL loaders: any numeric
// table written to a temporary file reads back as exactly the same features
// and labels (whatever the spacing, quoting, line endings and label column),
// and one malformed cell anywhere is refused with INPUT_PARSE naming its
// line (1-based, the CSV header being line 1) and its column.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const fc = require('fast-check');

const dist = process.env.BP_DIST || path.join(__dirname, '..', 'dist');
const { loadDataFile } = require(path.join(dist, 'data-files', 'load'));

const RUNS = 100;

let dir;
let fileCounter = 0;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bp-property-files-'));
});
after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function writeTemp(extension, text) {
  const file = path.join(dir, `table-${fileCounter++}${extension}`);
  fs.writeFileSync(file, text);
  return file;
}

/** Float32 values (every one survives the trip through a file as written by String()). */
const cellValue = fc.float({ noNaN: true, noDefaultInfinity: true });
const columnName = fc.stringMatching(/^[a-z][a-z0-9_]{0,7}$/);

/** { names, rows, label }: distinct column names, rows of values, the label column's index. */
const table = fc
  .uniqueArray(columnName, { minLength: 2, maxLength: 6 })
  .chain((names) =>
    fc.record({
      names: fc.constant(names),
      rows: fc.array(fc.array(cellValue, { minLength: names.length, maxLength: names.length }), { minLength: 1, maxLength: 40 }),
      label: fc.nat({ max: names.length - 1 }),
    }),
  );

/** How a table is written: separator, line ending, padding and quoting of cells. */
const csvStyle = fc.record({
  tsv: fc.boolean(),
  crlf: fc.boolean(),
  finalNewline: fc.boolean(),
  pad: fc.constantFrom('', ' ', '  '),
  quote: fc.boolean(),
});

function toCsv({ names, rows }, style) {
  const sep = style.tsv ? '\t' : ',';
  const nl = style.crlf ? '\r\n' : '\n';
  const cell = (text) => `${style.pad}${style.quote ? `"${text}"` : text}${style.pad}`;
  const lines = [names.map(cell).join(sep), ...rows.map((row) => row.map((v) => cell(String(v))).join(sep))];
  return lines.join(nl) + (style.finalNewline ? nl : '');
}

/** The features and labels a loader must produce: every column but the label, in order; then the label. */
function expected({ rows, label }) {
  return {
    x: rows.flatMap((row) => row.filter((_, c) => c !== label)),
    y: rows.map((row) => row[label]),
  };
}

/** Same numbers (JSON has no negative zero, so 0 and -0 are equal here). */
function assertSameValues(actual, want, what) {
  assert.equal(actual.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    if (actual[i] !== want[i]) assert.fail(`${what}[${i}] is ${actual[i]}, written ${want[i]}`);
  }
}

async function refusal(file, options) {
  try {
    await loadDataFile(file, options);
  } catch (error) {
    return error;
  }
  return assert.fail(`${file} was accepted`);
}

/** Cell texts that are not finite float32 numbers (and contain no separator or quote). */
const malformedCell = fc.constantFrom('', '   ', 'abc', '1abc', 'NaN', 'Infinity', '-Infinity', '1e39', '-1e39', '..5', '1e', '+-1', 'null', 'true', '1 2', '٣');

/** JSON values that are not usable numbers (undefined: the key is left out). */
const malformedJsonValue = fc.constantFrom('1', '', null, true, false, [], {}, [1], undefined, 1e39, -1e39);

describe('property: CSV and JSONL loaders', () => {
  it('CSV/TSV: a numeric table reads back exactly, whatever the spacing, quoting, line endings and label column', async () => {
    await fc.assert(
      fc.asyncProperty(table, csvStyle, async (t, style) => {
        const file = writeTemp(style.tsv ? '.tsv' : '.csv', toCsv(t, style));
        const loaded = await loadDataFile(file, { label: t.names[t.label] });
        const want = expected(t);
        assert.equal(loaded.rows, t.rows.length);
        assert.equal(loaded.format, 'csv');
        assert.deepEqual(loaded.featureNames, t.names.filter((_, c) => c !== t.label));
        assert.equal(loaded.labelName, t.names[t.label]);
        assertSameValues(loaded.x, want.x, 'x');
        assertSameValues(loaded.y, want.y, 'y');
      }),
      { numRuns: RUNS },
    );
  });

  it('JSONL: a numeric table reads back exactly; the label is the given key, else "label", else the last key', async () => {
    await fc.assert(
      fc.asyncProperty(table, fc.constantFrom('given', 'default'), async (t, how) => {
        const lines = t.rows.map((row) => JSON.stringify(Object.fromEntries(t.names.map((n, c) => [n, row[c]]))));
        const file = writeTemp('.jsonl', `${lines.join('\n')}\n`);
        const defaultLabel = t.names.includes('label') ? t.names.indexOf('label') : t.names.length - 1;
        const label = how === 'given' ? t.label : defaultLabel;
        const loaded = await loadDataFile(file, how === 'given' ? { label: t.names[label] } : {});
        const want = expected({ rows: t.rows, label });
        assert.equal(loaded.rows, t.rows.length);
        assert.equal(loaded.labelName, t.names[label]);
        assertSameValues(loaded.x, want.x, 'x');
        assertSameValues(loaded.y, want.y, 'y');
      }),
      { numRuns: RUNS },
    );
  });

  it('CSV/TSV: one malformed cell is refused with INPUT_PARSE naming its line and column', async () => {
    await fc.assert(
      fc.asyncProperty(table, csvStyle, fc.nat(), fc.nat(), malformedCell, async (t, style, r, c, bad) => {
        const row = r % t.rows.length;
        const col = c % t.names.length;
        // A blank cell only reads as blank unquoted: '"   "' is a quoted empty string too, so either way it is empty.
        const text = toCsv(t, { ...style, quote: false }).split(style.crlf ? '\r\n' : '\n');
        const sep = style.tsv ? '\t' : ',';
        const cells = text[row + 1].split(sep);
        cells[col] = bad;
        text[row + 1] = cells.join(sep);
        const file = writeTemp(style.tsv ? '.tsv' : '.csv', text.join(style.crlf ? '\r\n' : '\n'));
        const error = await refusal(file, { label: t.names[t.label] });
        assert.equal(error.code, 'INPUT_PARSE', error.message);
        assert.equal(error.details.line, row + 2, error.message);
        assert.equal(error.details.column, t.names[col], error.message);
      }),
      { numRuns: RUNS },
    );
  });

  it('JSONL: one malformed or missing value is refused with INPUT_PARSE naming its line and key', async () => {
    await fc.assert(
      fc.asyncProperty(table, fc.nat(), fc.nat(), malformedJsonValue, async (t, r, c, bad) => {
        const row = r % t.rows.length;
        const col = c % t.names.length;
        const lines = t.rows.map((values, i) => {
          const record = Object.fromEntries(t.names.map((n, k) => [n, values[k]]));
          if (i === row) record[t.names[col]] = bad; // undefined: JSON.stringify leaves the key out
          return JSON.stringify(record);
        });
        // Keys are fixed by the first line: a missing key there is a different file, not a bad cell.
        if (row === 0 && bad === undefined) return;
        const file = writeTemp('.jsonl', lines.join('\n'));
        const error = await refusal(file, { label: t.names[t.label] });
        assert.equal(error.code, 'INPUT_PARSE', error.message);
        assert.equal(error.details.line, row + 1, error.message);
        assert.equal(error.details.column, t.names[col], error.message);
      }),
      { numRuns: RUNS },
    );
  });
});
