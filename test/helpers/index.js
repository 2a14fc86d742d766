'use strict';
// Helpers for testing code that reports through callbacks and events:
// spies, an ordered event tracker, polling waits, and an event-loop blocker
// (to check that native threads keep working while JavaScript is busy).

const assert = require('node:assert/strict');
const { threadId } = require('node:worker_threads');
const { createSpy, nextOrder } = require('./spy');

/**
 * Records named events in the order they happen:
 * tracker.record(name, payload); tracker.events holds { name, payload, time, order, thread }.
 * `order` is the same global sequence the spies use.
 */
function createTracker() {
  const events = [];
  return {
    events,
    record(name, payload) {
      events.push({ name, payload, time: performance.now(), order: nextOrder(), thread: threadId });
    },
    names() {
      return events.map((e) => e.name);
    },
    count(name) {
      let n = 0;
      for (const e of events) if (e.name === name) n++;
      return n;
    },
    /** The recorded names are exactly `expected`. */
    assertSequence(expected) {
      assert.deepStrictEqual(this.names(), expected, 'recorded events differ from the expected sequence');
    },
    /** `expected` occurs in order within the recorded names, other events allowed in between. */
    assertSubsequence(expected) {
      const names = this.names();
      let at = 0;
      for (const want of expected) {
        while (at < names.length && names[at] !== want) at++;
        if (at === names.length) {
          assert.fail(`expected events ${JSON.stringify(expected)} in this order, but ${JSON.stringify(want)} is missing or out of order in ${JSON.stringify(names)}`);
        }
        at++;
      }
    },
    reset() {
      events.length = 0;
    },
  };
}

/**
 * Resolves with predicate()'s value once it is truthy, checking every
 * intervalMs; rejects with an Error naming `message` after timeoutMs.
 * `message` may be a function, called at timeout, to report current state.
 * A predicate that throws rejects at once (its error is more useful than a timeout).
 */
function waitFor(predicate, { timeoutMs = 5000, intervalMs = 5, message = 'condition to become true' } = {}) {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const check = async () => {
      let value;
      try {
        value = await predicate();
      } catch (error) {
        reject(error);
        return;
      }
      if (value) {
        resolve(value);
        return;
      }
      const waited = performance.now() - started;
      if (waited >= timeoutMs) {
        const text = typeof message === 'function' ? message() : message;
        reject(new Error(`waitFor timed out after ${Math.round(waited)} ms waiting for ${text}`));
        return;
      }
      setTimeout(check, Math.min(intervalMs, Math.max(0, timeoutMs - waited)));
    };
    check();
  });
}

/** Waits until spy.callCount >= n. */
function waitForCalls(spy, n, opts = {}) {
  return waitFor(() => spy.callCount >= n, {
    message: () => `${spy.spyName || spy.name || 'spy'} to be called ${n} time(s) (called ${spy.callCount})`,
    ...opts,
  });
}

/** Busy-waits for `ms` milliseconds without yielding; returns the time actually spent. */
function blockEventLoop(ms) {
  const started = performance.now();
  while (performance.now() - started < ms) {
    // spin
  }
  return performance.now() - started;
}

module.exports = { createSpy, createTracker, waitFor, waitForCalls, blockEventLoop, nextOrder };
