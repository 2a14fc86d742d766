'use strict';
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const dist = process.env.BP_DIST || path.join(__dirname, '..', 'dist');
const { prepareData, prepareFeatures, toClassLabels } = require(path.join(dist, 'data'));
const { loadDataFile } = require(path.join(dist, 'data-files', 'load'));

const CLASSIFIER = Object.freeze({ inputSize: 2, outputSize: 3, task: 'classification' });
const REGRESSOR = Object.freeze({ inputSize: 2, outputSize: 2, task: 'regression' });

/** Runs fn, asserts it throws a BackpropError with `code`, returns the error. */
function catchError(fn, code) {
  let caught;
  assert.throws(fn, (error) => {
    caught = error;
    return true;
  });
  assert.equal(caught.name, 'BackpropError', `expected a BackpropError, got ${caught && caught.stack}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

/** Async variant for promises. */
async function catchRejection(promise, code) {
  let caught;
  await assert.rejects(promise, (error) => {
    caught = error;
    return true;
  });
  assert.equal(caught.name, 'BackpropError', `expected a BackpropError, got ${caught && caught.stack}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

describe('data', () => {
  describe('prepareData (classification)', () => {
    it('returns the arrays unchanged with rows and sizes', () => {
      const x = new Float32Array([1, 2, 3, 4, 5, 6]);
      const y = new Int32Array([0, 2, 1]);
      const prepared = prepareData({ x, y }, CLASSIFIER);
      assert.equal(prepared.x, x, 'x is passed through, not copied');
      assert.equal(prepared.y, y, 'y is passed through, not copied');
      assert.deepEqual({ rows: prepared.rows, inputSize: prepared.inputSize, outputSize: prepared.outputSize }, { rows: 3, inputSize: 2, outputSize: 3 });
    });

    it('converts a plain array of integer labels to Int32Array', () => {
      const prepared = prepareData({ x: new Float32Array(4), y: [2, 0] }, CLASSIFIER);
      assert.ok(prepared.y instanceof Int32Array);
      assert.deepEqual(Array.from(prepared.y), [2, 0]);
    });

    it('rejects data that is not an object', () => {
      for (const data of [null, undefined, 5, 'x.csv']) catchError(() => prepareData(data, CLASSIFIER), 'INPUT_SHAPE_MISMATCH');
    });

    it('INPUT_EMPTY for zero rows', () => {
      const error = catchError(() => prepareData({ x: new Float32Array(0), y: new Int32Array(0) }, CLASSIFIER), 'INPUT_EMPTY');
      assert.match(error.message, /at least one row/);
    });

    it('INPUT_SHAPE_MISMATCH when x is not a Float32Array', () => {
      for (const x of [[1, 2], new Float64Array(2), undefined, 'abc']) {
        const error = catchError(() => prepareData({ x, y: new Int32Array(1) }, CLASSIFIER), 'INPUT_SHAPE_MISMATCH');
        assert.equal(error.details.field, 'x');
        assert.match(error.message, /Float32Array/);
      }
    });

    it('INPUT_SHAPE_MISMATCH when x is not whole rows', () => {
      const error = catchError(() => prepareData({ x: new Float32Array(5), y: new Int32Array(2) }, CLASSIFIER), 'INPUT_SHAPE_MISMATCH');
      assert.deepEqual({ ...error.details }, { field: 'x', length: 5, inputSize: 2 });
      assert.match(error.message, /inputSize/);
    });

    it('INPUT_SHAPE_MISMATCH when the label count differs from the row count', () => {
      const error = catchError(() => prepareData({ x: new Float32Array(6), y: new Int32Array(2) }, CLASSIFIER), 'INPUT_SHAPE_MISMATCH');
      assert.equal(error.details.field, 'y');
      assert.equal(error.details.length, 2);
      assert.equal(error.details.rows, 3);
    });

    it('INPUT_SHAPE_MISMATCH for float labels, pointing at Int32Array.from', () => {
      const error = catchError(() => prepareData({ x: new Float32Array(4), y: new Float32Array([0, 1]) }, CLASSIFIER), 'INPUT_SHAPE_MISMATCH');
      assert.equal(error.details.field, 'y');
      assert.match(error.message, /Int32Array\.from/);
      for (const y of [undefined, new Uint8Array(2), 'labels']) {
        catchError(() => prepareData({ x: new Float32Array(4), y }, CLASSIFIER), 'INPUT_SHAPE_MISMATCH');
      }
      catchError(() => prepareData({ x: new Float32Array(4), y: [0, '1'] }, CLASSIFIER), 'INPUT_SHAPE_MISMATCH');
    });

    it('INPUT_NON_FINITE at the first bad value of x, with index, row and column', () => {
      const x = new Float32Array(10);
      x[7] = NaN;
      x[9] = Infinity;
      const error = catchError(() => prepareData({ x, y: new Int32Array(5) }, CLASSIFIER), 'INPUT_NON_FINITE');
      assert.deepEqual({ ...error.details }, { array: 'x', index: 7, row: 3, column: 1, value: NaN });
      assert.match(error.message, /row 3, column 1/);

      x[7] = 0;
      x[0] = -Infinity;
      const first = catchError(() => prepareData({ x, y: new Int32Array(5) }, CLASSIFIER), 'INPUT_NON_FINITE');
      assert.deepEqual([first.details.index, first.details.row, first.details.column, first.details.value], [0, 0, 0, -Infinity]);
    });

    it('INPUT_NON_FINITE finds the first bad value in a large x wherever it lies (a subarray view too)', () => {
      const width = 784;
      const rows = 3000; // 2.35 M values: many blocks of the native scan
      const x = new Float32Array(rows * width).fill(0.5);
      const y = new Int32Array(rows);
      assert.equal(prepareData({ x, y }, { ...CLASSIFIER, inputSize: width }).rows, rows);
      for (const index of [0, 4095, 4096, 1234567, x.length - 1]) {
        x[index] = index % 2 ? Infinity : NaN;
        const error = catchError(() => prepareData({ x, y }, { ...CLASSIFIER, inputSize: width }), 'INPUT_NON_FINITE');
        assert.deepEqual([error.details.index, error.details.row, error.details.column], [index, Math.floor(index / width), index % width]);
        x[index] = 0.5;
      }
      // A view that starts past a bad value does not see it; its own indices are reported.
      const backing = new Float32Array(10 + 2 * width).fill(1);
      backing[3] = NaN;
      backing[10 + width + 5] = -Infinity;
      const view = backing.subarray(10);
      const error = catchError(() => prepareData({ x: view, y: new Int32Array(2) }, { ...CLASSIFIER, inputSize: width }), 'INPUT_NON_FINITE');
      assert.deepEqual([error.details.index, error.details.row, error.details.column], [width + 5, 1, 5]);
    });

    it('INPUT_NON_FINITE for a NaN in a plain label array', () => {
      const error = catchError(() => prepareData({ x: new Float32Array(4), y: [0, NaN] }, CLASSIFIER), 'INPUT_NON_FINITE');
      assert.equal(error.details.array, 'y');
      assert.equal(error.details.row, 1);
    });

    it('INPUT_LABEL_RANGE for labels outside 0..outputSize-1, naming row and label', () => {
      const x = new Float32Array(8);
      const high = catchError(() => prepareData({ x, y: new Int32Array([0, 1, 3, 2]) }, CLASSIFIER), 'INPUT_LABEL_RANGE');
      assert.equal(high.details.row, 2);
      assert.equal(high.details.label, 3);
      assert.match(high.message, /0\.\.2/);
      const negative = catchError(() => prepareData({ x, y: new Int32Array([0, -1, 0, 0]) }, CLASSIFIER), 'INPUT_LABEL_RANGE');
      assert.deepEqual([negative.details.row, negative.details.label], [1, -1]);
      const fromArray = catchError(() => prepareData({ x, y: [0, 1, 2, 7] }, CLASSIFIER), 'INPUT_LABEL_RANGE');
      assert.deepEqual([fromArray.details.row, fromArray.details.label], [3, 7]);
      const fraction = catchError(() => prepareData({ x, y: [0, 1.5, 2, 0] }, CLASSIFIER), 'INPUT_LABEL_RANGE');
      assert.deepEqual([fraction.details.row, fraction.details.label], [1, 1.5]);
    });

    it('checks a million values without trouble', () => {
      const x = new Float32Array(1_000_000).fill(0.5);
      const y = new Int32Array(500_000).fill(2);
      assert.equal(prepareData({ x, y }, CLASSIFIER).rows, 500_000);
      x[999_999] = NaN;
      const error = catchError(() => prepareData({ x, y }, CLASSIFIER), 'INPUT_NON_FINITE');
      assert.deepEqual([error.details.row, error.details.column], [499_999, 1]);
    });
  });

  describe('prepareData (regression)', () => {
    it('accepts rows x outputSize float targets', () => {
      const y = new Float32Array([0.5, -1, 2, 3]);
      const prepared = prepareData({ x: new Float32Array(4), y }, REGRESSOR);
      assert.equal(prepared.y, y);
      assert.equal(prepared.rows, 2);
    });

    it('INPUT_SHAPE_MISMATCH for integer or plain-array targets and wrong lengths', () => {
      for (const y of [new Int32Array(4), [0, 1, 2, 3]]) {
        const error = catchError(() => prepareData({ x: new Float32Array(4), y }, REGRESSOR), 'INPUT_SHAPE_MISMATCH');
        assert.equal(error.details.field, 'y');
      }
      const error = catchError(() => prepareData({ x: new Float32Array(4), y: new Float32Array(2) }, REGRESSOR), 'INPUT_SHAPE_MISMATCH');
      assert.deepEqual([error.details.length, error.details.expected], [2, 4]);
    });

    it('INPUT_NON_FINITE in y names the target row and column', () => {
      const y = new Float32Array([0, 1, 2, NaN, 4, 5]);
      const error = catchError(() => prepareData({ x: new Float32Array(6), y }, { ...REGRESSOR, inputSize: 2 }), 'INPUT_NON_FINITE');
      assert.deepEqual({ ...error.details }, { array: 'y', index: 3, row: 1, column: 1, value: NaN });
    });
  });

  describe('prepareFeatures', () => {
    it('returns x and the row count', () => {
      const x = new Float32Array(9);
      assert.deepEqual(prepareFeatures(x, 3), { x, rows: 3 });
    });

    it('rejects empty, non-Float32Array, partial-row and non-finite input', () => {
      catchError(() => prepareFeatures(new Float32Array(0), 3), 'INPUT_EMPTY');
      catchError(() => prepareFeatures([1, 2, 3], 3), 'INPUT_SHAPE_MISMATCH');
      catchError(() => prepareFeatures(new Float32Array(4), 3), 'INPUT_SHAPE_MISMATCH');
      const error = catchError(() => prepareFeatures(new Float32Array([1, 2, 3, 4, Infinity, 6]), 3), 'INPUT_NON_FINITE');
      assert.deepEqual([error.details.array, error.details.index, error.details.row, error.details.column], ['x', 4, 1, 1]);
    });
  });

  describe('toClassLabels', () => {
    it('converts integral float labels to Int32Array', () => {
      const labels = toClassLabels(new Float32Array([0, 2, 1, 2]), 3);
      assert.ok(labels instanceof Int32Array);
      assert.deepEqual(Array.from(labels), [0, 2, 1, 2]);
    });

    it('INPUT_LABEL_RANGE for fractions, negatives and labels >= outputSize', () => {
      for (const [values, row, label] of [[[0, 1.5], 1, 1.5], [[0, 1, -1], 2, -1], [[3], 0, 3], [[0, 1e10], 1, 1e10]]) {
        const error = catchError(() => toClassLabels(new Float32Array(values), 3), 'INPUT_LABEL_RANGE');
        assert.deepEqual([error.details.row, error.details.label], [row, Math.fround(label)]);
      }
    });

    it('INPUT_NON_FINITE for NaN labels', () => {
      const error = catchError(() => toClassLabels(new Float32Array([0, NaN]), 3), 'INPUT_NON_FINITE');
      assert.equal(error.details.row, 1);
    });
  });

  describe('loadDataFile', () => {
    let dir;
    before(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'backpropagate-data-'));
    });
    after(() => {
      fs.rmSync(dir, { recursive: true, force: true });
    });

    function file(name, content) {
      const filePath = path.join(dir, name);
      fs.writeFileSync(filePath, content);
      return filePath;
    }

    describe('CSV', () => {
      it('loads features and the last column as label', async () => {
        const loaded = await loadDataFile(file('basic.csv', 'x1,x2,label\n0.5,1,0\n-2,3e2,1\n'));
        assert.deepEqual(Array.from(loaded.x), [0.5, 1, -2, 300]);
        assert.deepEqual(Array.from(loaded.y), [0, 1]);
        assert.ok(loaded.x instanceof Float32Array);
        assert.ok(loaded.y instanceof Float32Array);
        assert.equal(loaded.rows, 2);
        assert.deepEqual(loaded.featureNames, ['x1', 'x2']);
        assert.equal(loaded.labelName, 'label');
        assert.deepEqual(loaded.labelNames, ['label']);
        assert.equal(loaded.format, 'csv');
      });

      it('takes a named label column from anywhere', async () => {
        const loaded = await loadDataFile(file('named.csv', 'a,target,b\n1,9,2\n3,8,4\n'), { label: 'target' });
        assert.deepEqual(Array.from(loaded.x), [1, 2, 3, 4]);
        assert.deepEqual(Array.from(loaded.y), [9, 8]);
        assert.deepEqual(loaded.featureNames, ['a', 'b']);
        assert.equal(loaded.labelName, 'target');
      });

      it('takes labelCount trailing columns for multi-output targets', async () => {
        const loaded = await loadDataFile(file('multi.csv', 'a,b,t1,t2\n1,2,3,4\n5,6,7,8\n'), { labelCount: 2 });
        assert.deepEqual(Array.from(loaded.x), [1, 2, 5, 6]);
        assert.deepEqual(Array.from(loaded.y), [3, 4, 7, 8]);
        assert.deepEqual(loaded.labelNames, ['t1', 't2']);
        assert.equal(loaded.labelName, 't1');
        const named = await loadDataFile(file('multi-named.csv', 't1,t2,a\n3,4,1\n'), { label: 't1', labelCount: 2 });
        assert.deepEqual([Array.from(named.x), Array.from(named.y)], [[1], [3, 4]]);
      });

      it('trims whitespace, handles CRLF, a byte order mark and trailing blank lines', async () => {
        const loaded = await loadDataFile(file('messy.csv', '\uFEFF x1 , x2 ,y\r\n 1 , 2 ,0\r\n3,\t4,1\r\n\r\n\n  \n'));
        assert.deepEqual(loaded.featureNames, ['x1', 'x2']);
        assert.equal(loaded.labelName, 'y');
        assert.deepEqual(Array.from(loaded.x), [1, 2, 3, 4]);
        assert.equal(loaded.rows, 2);
      });

      it('works without a final newline', async () => {
        const loaded = await loadDataFile(file('no-newline.csv', 'a,y\n1,0\n2,1'));
        assert.deepEqual(Array.from(loaded.y), [0, 1]);
      });

      it('reads double-quoted header names with commas and "" escapes', async () => {
        const loaded = await loadDataFile(file('quoted.csv', '"width, cm", "say ""hi""",label\n1,2,0\n'));
        assert.deepEqual(loaded.featureNames, ['width, cm', 'say "hi"']);
        assert.equal(loaded.labelName, 'label');
      });

      it('reads quoted numeric cells', async () => {
        const loaded = await loadDataFile(file('quoted-cells.csv', 'a,b,y\n"1.5", "2" ,0\n'));
        assert.deepEqual(Array.from(loaded.x), [1.5, 2]);
      });

      it('reads .tsv files with tabs', async () => {
        const loaded = await loadDataFile(file('data.tsv', 'a\tb c\tlabel\n1\t2\t1\n'));
        assert.deepEqual(loaded.featureNames, ['a', 'b c']);
        assert.deepEqual(Array.from(loaded.x), [1, 2]);
        assert.equal(loaded.format, 'csv');
      });

      it('accepts upper-case extensions', async () => {
        assert.equal((await loadDataFile(file('UPPER.CSV', 'a,y\n1,0\n'))).rows, 1);
      });

      it('INPUT_PARSE with line and column for a non-numeric cell (header is line 1)', async () => {
        const filePath = file('data.csv', 'x1,x2,label\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n9,10,0\n11,abc,1\n');
        const error = await catchRejection(loadDataFile(filePath), 'INPUT_PARSE');
        assert.equal(error.details.line, 7);
        assert.equal(error.details.column, 'x2');
        assert.equal(error.details.path, filePath);
        assert.equal(error.message, 'data.csv line 7, column "x2": "abc" is not a number. Fix the cell or remove the row.');
      });

      it('counts blank lines in line numbers', async () => {
        const error = await catchRejection(loadDataFile(file('gaps.csv', 'a,y\n\n1,0\n\n2,x\n')), 'INPUT_PARSE');
        assert.deepEqual([error.details.line, error.details.column], [5, 'y']);
      });

      it('reports quoted-header column names in cell errors', async () => {
        const error = await catchRejection(loadDataFile(file('qerr.csv', '"a, b",y\n1,0\n1x,1\n')), 'INPUT_PARSE');
        assert.deepEqual([error.details.line, error.details.column], [3, 'a, b']);
        assert.match(error.message, /line 3, column "a, b": "1x" is not a number/);
      });

      it('rejects partial numbers, empty cells, NaN and Infinity', async () => {
        const cases = [
          ['1abc', 'a'],
          ['', 'a'],
          ['   ', 'a'],
          ['NaN', 'a'],
          ['Infinity', 'a'],
          ['-Infinity', 'a'],
          ['1e999', 'a'],
          ['1e39', 'a'], // finite as a double, but overflows float32
          ['1 2', 'a'],
        ];
        for (const [cell, column] of cases) {
          const error = await catchRejection(loadDataFile(file('cells.csv', `a,y\n1,0\n${cell},1\n`)), 'INPUT_PARSE');
          assert.deepEqual([error.details.line, error.details.column], [3, column], `cell ${JSON.stringify(cell)}`);
          assert.match(error.message, /Fix the cell or remove the row|Fill in a number or remove the row/);
        }
      });

      it('INPUT_PARSE for too few or too many cells', async () => {
        const few = await catchRejection(loadDataFile(file('few.csv', 'a,b,c,y\n1,2,3,0\n1,2\n')), 'INPUT_PARSE');
        assert.deepEqual([few.details.line, few.details.column], [3, 'c']);
        assert.match(few.message, /has 2 cells but the header has 4 columns/);
        const many = await catchRejection(loadDataFile(file('many.csv', 'a,y\n1,0,5\n')), 'INPUT_PARSE');
        assert.deepEqual([many.details.line, many.details.column], [2, null]);
      });

      it('INPUT_PARSE for an unclosed quote or text after a closing quote', async () => {
        const open = await catchRejection(loadDataFile(file('open.csv', '"a,y\n1,0\n')), 'INPUT_PARSE');
        assert.equal(open.details.line, 1);
        const after = await catchRejection(loadDataFile(file('after.csv', 'a,y\n"1"2,0\n')), 'INPUT_PARSE');
        assert.deepEqual([after.details.line, after.details.column], [2, 'a']);
      });

      it('INPUT_PARSE for empty or duplicate header names and too few columns', async () => {
        const empty = await catchRejection(loadDataFile(file('noname.csv', 'a,,y\n1,2,0\n')), 'INPUT_PARSE');
        assert.equal(empty.details.line, 1);
        const dup = await catchRejection(loadDataFile(file('dup.csv', 'a,a,y\n1,2,0\n')), 'INPUT_PARSE');
        assert.deepEqual([dup.details.line, dup.details.column], [1, 'a']);
        const single = await catchRejection(loadDataFile(file('single.csv', 'y\n1\n')), 'INPUT_PARSE');
        assert.equal(single.details.line, 1);
        await catchRejection(loadDataFile(file('few-cols.csv', 'a,y\n1,0\n'), { labelCount: 2 }), 'INPUT_PARSE');
      });

      it('INPUT_PARSE listing the columns for an unknown label', async () => {
        const error = await catchRejection(loadDataFile(file('cols.csv', 'a,b,y\n1,2,0\n'), { label: 'target' }), 'INPUT_PARSE');
        assert.equal(error.details.column, 'target');
        assert.deepEqual(error.details.available, ['a', 'b', 'y']);
        assert.match(error.message, /"a", "b", "y"/);
      });

      it('INPUT_EMPTY for an empty file, a blank file and a header-only file', async () => {
        await catchRejection(loadDataFile(file('empty.csv', '')), 'INPUT_EMPTY');
        await catchRejection(loadDataFile(file('blank.csv', '\n\n  \n')), 'INPUT_EMPTY');
        const header = await catchRejection(loadDataFile(file('header.csv', 'a,b,y\n\n')), 'INPUT_EMPTY');
        assert.match(header.message, /header but no data rows/);
      });

      it('handles lines longer than one read chunk', async () => {
        const columns = 200_000; // about 1.4 MB per line, more than the 1 MiB read chunk
        const header = Array.from({ length: columns }, (_, i) => `c${i}`).join(',');
        const row = Array.from({ length: columns }, (_, i) => String(i % 7)).join(',');
        const loaded = await loadDataFile(file('wide.csv', `${header}\n${row}\n${row}\n`));
        assert.equal(loaded.rows, 2);
        assert.equal(loaded.featureNames.length, columns - 1);
        assert.equal(loaded.x[columns - 2], (columns - 2) % 7);
        assert.equal(loaded.y[1], (columns - 1) % 7);
      });

      it('loads many rows with exact output sizes', async () => {
        const rows = 50_000;
        let text = 'a,b,c,y\n';
        for (let i = 0; i < rows; i++) text += `${i},${i * 0.5},${-i},${i % 3}\n`;
        const loaded = await loadDataFile(file('many-rows.csv', text));
        assert.equal(loaded.rows, rows);
        assert.equal(loaded.x.length, rows * 3);
        assert.equal(loaded.y.length, rows);
        assert.deepEqual(Array.from(loaded.x.subarray(-3)), [rows - 1, (rows - 1) * 0.5, -(rows - 1)]);
        assert.equal(loaded.y[rows - 1], (rows - 1) % 3);
      });
    });

    describe('JSONL', () => {
      it('loads objects with the "label" key as label, in first-line key order', async () => {
        const loaded = await loadDataFile(file('data.jsonl', '{"x1":1,"label":0,"x2":2}\n{"x2":4,"x1":3,"label":1}\n\n'));
        assert.deepEqual(loaded.featureNames, ['x1', 'x2']);
        assert.equal(loaded.labelName, 'label');
        assert.deepEqual(Array.from(loaded.x), [1, 2, 3, 4]);
        assert.deepEqual(Array.from(loaded.y), [0, 1]);
        assert.equal(loaded.format, 'jsonl');
      });

      it('uses the last key when there is no "label" key, and the label option when given', async () => {
        const last = await loadDataFile(file('last.ndjson', '{"a":1,"b":2,"t":5}\n'));
        assert.equal(last.labelName, 't');
        assert.deepEqual(Array.from(last.x), [1, 2]);
        const named = await loadDataFile(file('named.jsonl', '{"a":1,"b":2,"label":5}\n'), { label: 'a' });
        assert.equal(named.labelName, 'a');
        assert.deepEqual(named.featureNames, ['b', 'label']);
        assert.deepEqual(Array.from(named.y), [1]);
      });

      it('INPUT_PARSE for invalid JSON with the line number', async () => {
        const error = await catchRejection(loadDataFile(file('bad.jsonl', '{"a":1,"label":0}\n\n{"a":2,"label":\n')), 'INPUT_PARSE');
        assert.deepEqual([error.details.line, error.details.column], [3, null]);
        assert.match(error.message, /bad\.jsonl line 3: invalid JSON/);
      });

      it('INPUT_PARSE for non-object lines', async () => {
        for (const line of ['[1,2]', '5', 'null', '"text"']) {
          const error = await catchRejection(loadDataFile(file('nonobj.jsonl', `{"a":1,"label":0}\n${line}\n`)), 'INPUT_PARSE');
          assert.equal(error.details.line, 2);
        }
      });

      it('INPUT_PARSE naming the key for non-numeric values', async () => {
        for (const value of ['"abc"', 'null', 'true', '[1]', '"1"', '1e999']) {
          const error = await catchRejection(loadDataFile(file('values.jsonl', `{"a":1,"b":2,"label":0}\n{"a":1,"b":${value},"label":0}\n`)), 'INPUT_PARSE');
          assert.deepEqual([error.details.line, error.details.column], [2, 'b'], value);
        }
      });

      it('INPUT_PARSE for a missing or an extra key', async () => {
        const missing = await catchRejection(loadDataFile(file('missing.jsonl', '{"a":1,"b":2,"label":0}\n{"a":1,"label":0}\n')), 'INPUT_PARSE');
        assert.deepEqual([missing.details.line, missing.details.column], [2, 'b']);
        assert.match(missing.message, /missing/);
        const extra = await catchRejection(loadDataFile(file('extra.jsonl', '{"a":1,"label":0}\n{"a":1,"label":0}\n{"a":1,"z":3,"label":0}\n')), 'INPUT_PARSE');
        assert.deepEqual([extra.details.line, extra.details.column], [3, 'z']);
      });

      it('INPUT_PARSE for an unknown label key, listing the keys', async () => {
        const error = await catchRejection(loadDataFile(file('keys.jsonl', '{"a":1,"b":2}\n'), { label: 'c' }), 'INPUT_PARSE');
        assert.equal(error.details.column, 'c');
        assert.deepEqual(error.details.available, ['a', 'b']);
      });

      it('INPUT_EMPTY for an empty file', async () => {
        await catchRejection(loadDataFile(file('empty.jsonl', '\n\n')), 'INPUT_EMPTY');
      });
    });

    describe('files and options', () => {
      it('INPUT_NOT_FOUND for a missing file or a folder, with details.path', async () => {
        const missing = path.join(dir, 'nope.csv');
        const error = await catchRejection(loadDataFile(missing), 'INPUT_NOT_FOUND');
        assert.equal(error.details.path, missing);
        fs.mkdirSync(path.join(dir, 'folder.csv'));
        await catchRejection(loadDataFile(path.join(dir, 'folder.csv')), 'INPUT_NOT_FOUND');
      });

      it('INPUT_PARSE naming the supported extensions for other files', async () => {
        for (const name of ['data.txt', 'data', 'data.json']) {
          const error = await catchRejection(loadDataFile(file(name, 'a,y\n1,0\n')), 'INPUT_PARSE');
          assert.match(error.message, /\.csv, \.tsv, \.jsonl or \.ndjson/);
        }
      });

      it('CONFIG_INVALID for bad options or path', async () => {
        const filePath = file('ok.csv', 'a,y\n1,0\n');
        for (const [options, field] of [[{ label: '' }, 'label'], [{ label: 5 }, 'label'], [{ labelCount: 0 }, 'labelCount'], [{ labelCount: 1.5 }, 'labelCount']]) {
          const error = await catchRejection(loadDataFile(filePath, options), 'CONFIG_INVALID');
          assert.equal(error.details.field, field);
        }
        await catchRejection(loadDataFile(''), 'CONFIG_INVALID');
        assert.equal((await loadDataFile(filePath, { label: null })).labelName, 'y');
      });
    });
  });
});
