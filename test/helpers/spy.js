'use strict';
// Call-recording spies for callback tests. Each recorded call carries a
// sequence number shared by every spy (and tracker) in the process, so the
// relative order of different callbacks can be asserted, plus the thread it
// ran on, so tests can prove callbacks arrive on the main JS thread.

const assert = require('node:assert/strict');
const { isDeepStrictEqual, inspect } = require('node:util');
const { threadId } = require('node:worker_threads');

// Kept on globalThis so that two copies of this module (different require
// paths) still share one sequence.
const ORDER_KEY = Symbol.for('backpropagate.test.helpers.order');
if (typeof globalThis[ORDER_KEY] !== 'number') globalThis[ORDER_KEY] = 0;

/** The next value of the process-wide sequence; strictly increasing. */
function nextOrder() {
  return globalThis[ORDER_KEY]++;
}

/**
 * createSpy(name?, implementation?) -> a function that records each call as
 * { args, time, order, thread } in spy.calls, then returns implementation(...args)
 * (undefined when there is none).
 */
function createSpy(name = 'spy', implementation) {
  const calls = [];
  function spy(...args) {
    calls.push({ args, time: performance.now(), order: nextOrder(), thread: threadId });
    return implementation ? implementation.apply(this, args) : undefined;
  }
  Object.defineProperty(spy, 'name', { value: name });
  Object.defineProperties(spy, {
    spyName: { value: name, enumerable: true },
    calls: { value: calls, enumerable: true },
    callCount: { get: () => calls.length, enumerable: true },
    lastCall: { get: () => calls[calls.length - 1], enumerable: true },
  });

  /** With no argument: called at least once. With a number: called exactly that many times. */
  spy.assertCalled = (times) => {
    if (times === undefined) {
      assert.ok(calls.length > 0, `expected ${name} to be called, but it was never called`);
    } else {
      assert.equal(calls.length, times, `expected ${name} to be called ${times} time(s), but it was called ${calls.length} time(s)`);
    }
  };

  /** Passes if any call's arguments deep-equal (strictly) the given ones. */
  spy.assertCalledWith = (...expected) => {
    if (calls.some((call) => isDeepStrictEqual(call.args, expected))) return;
    const seen = calls.length === 0 ? 'it was never called' : `its calls were:\n${calls.map((c) => `  ${inspect(c.args, { depth: 4 })}`).join('\n')}`;
    assert.fail(`expected ${name} to be called with ${inspect(expected, { depth: 4 })}, but ${seen}`);
  };

  /** Forgets recorded calls. The calls array is emptied in place, so references to it stay valid. */
  spy.reset = () => {
    calls.length = 0;
  };

  return spy;
}

module.exports = { createSpy, nextOrder };
