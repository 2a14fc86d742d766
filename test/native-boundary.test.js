'use strict';
// The native binding checks its own arguments: a caller that bypasses the
// TypeScript layer and calls the raw addon with wrong types, missing
// arguments or wrong objects gets a TypeError or RangeError with a stable
// `code` and a message naming the argument, never a crash. The calls run in
// a child process (test/fixtures/native-boundary-child.js), so a crash there
// fails these tests, naming the call, instead of taking mocha down. Also run
// under AddressSanitizer (scripts/ci-checks.sh).
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { cases } = require('./fixtures/native-boundary-cases');

describe('native boundary: the raw binding rejects bad arguments', function () {
  this.timeout(120000);
  const results = new Map();
  let child;

  before(() => {
    child = spawnSync(process.execPath, [path.join(__dirname, 'fixtures', 'native-boundary-child.js')], {
      encoding: 'utf8',
      maxBuffer: 16 * 1024 * 1024,
    });
    let lastStarted = null;
    for (const line of child.stdout.split('\n')) {
      if (!line) continue;
      const record = JSON.parse(line);
      if (record.start) lastStarted = record.start;
      else if (record.name) results.set(record.name, record);
    }
    child.lastStarted = lastStarted;
  });

  it('the child process ran every call and exited normally', () => {
    assert.equal(
      child.status,
      0,
      `the child ended with status ${child.status}, signal ${child.signal} during "${child.lastStarted}"\n${child.stderr.slice(-4000)}`,
    );
    assert.equal(results.size, cases.length);
  });

  for (const [name, , expected] of cases) {
    it(name, () => {
      const r = results.get(name);
      assert.ok(r, `"${name}" never returned (the child stopped during "${child.lastStarted}")`);
      if (expected.ok) {
        assert.equal(r.threw, false, `expected success, got ${r.type} ${r.code}: ${r.message}`);
        return;
      }
      assert.equal(r.threw, true, 'expected an error, the call returned');
      assert.equal(r.type, expected.type, r.message);
      if (expected.code === null) return;  // V8's receiver check, before native code runs
      assert.equal(r.code, expected.code, r.message);
      if (expected.mentions) assert.ok(r.message.includes(expected.mentions), `"${r.message}" does not mention ${expected.mentions}`);
    });
  }
});
