'use strict';
const assert = require('node:assert/strict');
const path = require('node:path');
const util = require('node:util');

const dist = process.env.BP_DIST || path.join(__dirname, '..', 'dist');
const { BackpropError, isBackpropError, createAbortError, formatValue } = require(path.join(dist, 'errors'));

describe('errors', () => {
  describe('BackpropError', () => {
    it('carries code, message, details and the name BackpropError', () => {
      const error = new BackpropError('CONFIG_INVALID', 'learningRate must be > 0. Pass 1e-3.', { field: 'learningRate', value: -1 });
      assert.ok(error instanceof Error);
      assert.ok(error instanceof BackpropError);
      assert.equal(error.name, 'BackpropError');
      assert.equal(error.code, 'CONFIG_INVALID');
      assert.equal(error.message, 'learningRate must be > 0. Pass 1e-3.');
      assert.deepEqual(error.details, { field: 'learningRate', value: -1 });
    });

    it('starts its stack trace with the name and message', () => {
      const error = new BackpropError('INPUT_EMPTY', 'no rows');
      assert.match(error.stack, /^BackpropError: no rows\n/);
    });

    it('defaults details to an empty object and freezes a copy of them', () => {
      assert.deepEqual(new BackpropError('RUNTIME_FAILED', 'm').details, {});
      const details = { row: 1 };
      const error = new BackpropError('INPUT_LABEL_RANGE', 'm', details);
      details.row = 2;
      assert.equal(error.details.row, 1, 'later changes to the caller object must not leak in');
      assert.ok(Object.isFrozen(error.details));
      assert.throws(() => {
        error.details.row = 5;
      }, TypeError);
    });

    it('keeps a cause when one is given, and has no cause property otherwise', () => {
      const cause = new Error('ENOENT');
      assert.equal(new BackpropError('INPUT_NOT_FOUND', 'm', {}, { cause }).cause, cause);
      assert.equal(new BackpropError('INPUT_NOT_FOUND', 'm', {}, { cause: undefined }).cause, undefined);
      assert.ok(!('cause' in new BackpropError('INPUT_NOT_FOUND', 'm')));
      assert.ok(!('cause' in new BackpropError('INPUT_NOT_FOUND', 'm', {}, {})));
    });

    it('serialises with toJSON to { name, code, message, details }', () => {
      const error = new BackpropError('INPUT_PARSE', 'bad cell', { line: 7, column: 'x2' });
      assert.deepEqual(JSON.parse(JSON.stringify(error)), {
        name: 'BackpropError',
        code: 'INPUT_PARSE',
        message: 'bad cell',
        details: { line: 7, column: 'x2' },
      });
      assert.deepEqual(Object.keys(error.toJSON()), ['name', 'code', 'message', 'details']);
    });

    it('shows code and details, but no duplicate name, in util.inspect', () => {
      const text = util.inspect(new BackpropError('TRAINER_BUSY', 'busy', { state: 'running' }));
      assert.match(text, /code: 'TRAINER_BUSY'/);
      assert.match(text, /state: 'running'/);
      assert.ok(!Object.keys(new BackpropError('TRAINER_BUSY', 'busy')).includes('name'));
    });

    it('accepts every public code', () => {
      const codes = [
        'CONFIG_INVALID', 'INPUT_EMPTY', 'INPUT_SHAPE_MISMATCH', 'INPUT_NON_FINITE', 'INPUT_LABEL_RANGE', 'INPUT_PARSE',
        'INPUT_NOT_FOUND', 'DEVICE_UNAVAILABLE', 'CHECKPOINT_CORRUPT', 'CHECKPOINT_NOT_FOUND', 'CHECKPOINT_INCOMPATIBLE',
        'RUNTIME_NON_FINITE_LOSS', 'RUNTIME_GPU_OOM', 'RUNTIME_GPU_TEMPERATURE_CRITICAL', 'RUNTIME_FAILED', 'TRAINER_BUSY',
        'NATIVE_LOAD_FAILED', 'GPU_READ_FAILED',
      ];
      for (const code of codes) assert.equal(new BackpropError(code, 'm').code, code);
    });
  });

  describe('isBackpropError', () => {
    it('is true for BackpropError and false for other values', () => {
      assert.equal(isBackpropError(new BackpropError('RUNTIME_FAILED', 'm')), true);
      assert.equal(isBackpropError(new Error('m')), false);
      assert.equal(isBackpropError(createAbortError('x', null)), false);
      assert.equal(isBackpropError(null), false);
      assert.equal(isBackpropError(undefined), false);
      assert.equal(isBackpropError({ name: 'BackpropError', code: 'X', details: {} }), false, 'plain objects are not errors');
    });

    it('recognises a BackpropError from another copy of the library by its shape', () => {
      const foreign = Object.assign(new Error('m'), { name: 'BackpropError', code: 'RUNTIME_FAILED', details: {} });
      assert.equal(isBackpropError(foreign), true);
    });
  });

  describe('createAbortError', () => {
    it('builds an AbortError carrying the reason and the partial run', () => {
      const run = { steps: 3 };
      const error = createAbortError('user stop', run);
      assert.ok(error instanceof Error);
      assert.equal(error.name, 'AbortError');
      assert.equal(error.code, 'ABORT_ERR');
      assert.equal(error.message, 'Training aborted: user stop');
      assert.equal(error.reason, 'user stop');
      assert.equal(error.run, run);
    });

    it('formats non-string reasons with String()', () => {
      assert.equal(createAbortError(new Error('timeout'), null).message, 'Training aborted: Error: timeout');
      assert.equal(createAbortError(undefined, null).message, 'Training aborted: undefined');
    });
  });

  describe('formatValue', () => {
    it('formats values for messages', () => {
      assert.equal(formatValue('abc'), '"abc"');
      assert.equal(formatValue(-1), '-1');
      assert.equal(formatValue(-0), '-0');
      assert.equal(formatValue(NaN), 'NaN');
      assert.equal(formatValue(Infinity), 'Infinity');
      assert.equal(formatValue(undefined), 'undefined');
      assert.equal(formatValue(null), 'null');
      assert.equal(formatValue(true), 'true');
      assert.equal(formatValue(10n), '10n');
      assert.equal(formatValue([1, 2]), '[1,2]');
      assert.equal(formatValue({ a: 1 }), '{"a":1}');
      assert.equal(formatValue(new Float32Array(4)), 'Float32Array(4)');
      assert.equal(formatValue(function named() {}), 'function named');
    });

    it('cuts long values and survives cyclic objects', () => {
      const long = formatValue('x'.repeat(1000));
      assert.equal(long.length, 60);
      assert.ok(long.endsWith('...'));
      const cyclic = {};
      cyclic.self = cyclic;
      assert.equal(formatValue(cyclic), '[object Object]');
    });
  });
});
