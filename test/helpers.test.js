'use strict';
const assert = require('node:assert/strict');
const { Worker, threadId } = require('node:worker_threads');
const path = require('node:path');

const { createSpy, createTracker, waitFor, waitForCalls, blockEventLoop } = require('./helpers');

describe('test helpers', () => {
  describe('createSpy', () => {
    it('records args, time, order and thread for each call', () => {
      const spy = createSpy('onStep');
      const before = performance.now();
      spy(1, 'a');
      spy({ loss: 0.5 });
      const after = performance.now();
      assert.equal(spy.callCount, 2);
      assert.deepEqual(spy.calls[0].args, [1, 'a']);
      assert.deepEqual(spy.calls[1].args, [{ loss: 0.5 }]);
      for (const call of spy.calls) {
        assert.ok(call.time >= before && call.time <= after);
        assert.equal(call.thread, threadId);
        assert.equal(typeof call.order, 'number');
      }
      assert.ok(spy.calls[0].order < spy.calls[1].order);
      assert.equal(spy.lastCall, spy.calls[1]);
    });

    it('keeps its name and returns the implementation result', () => {
      const spy = createSpy('double', (n) => n * 2);
      assert.equal(spy.name, 'double');
      assert.equal(spy.spyName, 'double');
      assert.equal(spy(21), 42);
      assert.equal(createSpy()(), undefined);
      assert.equal(createSpy().name, 'spy');
    });

    it('shares one increasing order across all spies', () => {
      const a = createSpy('a');
      const b = createSpy('b');
      a();
      b();
      a();
      b();
      const merged = [...a.calls.map((c) => ['a', c.order]), ...b.calls.map((c) => ['b', c.order])].sort((p, q) => p[1] - q[1]);
      assert.deepEqual(merged.map(([name]) => name), ['a', 'b', 'a', 'b']);
      assert.ok(b.calls[0].order > a.calls[0].order);
    });

    it('assertCalled checks "at least once" or an exact count', () => {
      const spy = createSpy('cb');
      assert.throws(() => spy.assertCalled(), /expected cb to be called, but it was never called/);
      spy.assertCalled(0);
      spy();
      spy();
      spy.assertCalled();
      spy.assertCalled(2);
      assert.throws(() => spy.assertCalled(3), /expected cb to be called 3 time\(s\), but it was called 2 time\(s\)/);
    });

    it('assertCalledWith deep-matches any call', () => {
      const spy = createSpy('onEvent');
      assert.throws(() => spy.assertCalledWith(1), /never called/);
      spy('step', { step: 1, loss: [0.5] });
      spy('epoch', { epoch: 1 });
      spy.assertCalledWith('epoch', { epoch: 1 });
      spy.assertCalledWith('step', { step: 1, loss: [0.5] });
      assert.throws(() => spy.assertCalledWith('step', { step: 2 }), (error) => {
        assert.ok(error instanceof assert.AssertionError);
        assert.match(error.message, /expected onEvent to be called with/);
        assert.match(error.message, /'epoch'/, 'lists the actual calls');
        return true;
      });
      assert.throws(() => spy.assertCalledWith('step', { step: '1', loss: [0.5] }), assert.AssertionError, 'strict: 1 !== "1"');
      assert.throws(() => spy.assertCalledWith('epoch'), assert.AssertionError, 'the argument count must match');
    });

    it('reset clears calls in place', () => {
      const spy = createSpy();
      const calls = spy.calls;
      spy(1);
      spy.reset();
      assert.equal(spy.callCount, 0);
      assert.equal(spy.calls, calls);
      assert.equal(calls.length, 0);
      spy(2);
      assert.deepEqual(spy.calls[0].args, [2]);
    });

    it('records the worker thread id when called inside a worker', async () => {
      const helpers = path.join(__dirname, 'helpers', 'index.js');
      const code = `
        const { parentPort, threadId } = require('node:worker_threads');
        const { createSpy } = require(${JSON.stringify(helpers)});
        const spy = createSpy('inWorker');
        spy('x');
        parentPort.postMessage({ thread: spy.calls[0].thread, threadId });
      `;
      const worker = new Worker(code, { eval: true });
      const [message] = await Promise.all([
        new Promise((resolve, reject) => {
          worker.once('message', resolve);
          worker.once('error', reject);
        }),
        new Promise((resolve) => worker.once('exit', resolve)),
      ]);
      assert.equal(message.thread, message.threadId);
      assert.notEqual(message.thread, threadId);
    });
  });

  describe('createTracker', () => {
    it('records names in order and counts them', () => {
      const tracker = createTracker();
      tracker.record('start', { run: 1 });
      tracker.record('step', 1);
      tracker.record('step', 2);
      tracker.record('end');
      assert.deepEqual(tracker.names(), ['start', 'step', 'step', 'end']);
      assert.equal(tracker.count('step'), 2);
      assert.equal(tracker.count('missing'), 0);
      assert.deepEqual(tracker.events[0].payload, { run: 1 });
      assert.ok(tracker.events[0].order < tracker.events[3].order);
      assert.equal(tracker.events[0].thread, threadId);
    });

    it('assertSequence requires the exact sequence', () => {
      const tracker = createTracker();
      for (const name of ['a', 'b', 'c']) tracker.record(name);
      tracker.assertSequence(['a', 'b', 'c']);
      assert.throws(() => tracker.assertSequence(['a', 'c']), assert.AssertionError);
      assert.throws(() => tracker.assertSequence(['a', 'b', 'c', 'd']), assert.AssertionError);
      assert.throws(() => tracker.assertSequence(['b', 'a', 'c']), assert.AssertionError);
    });

    it('assertSubsequence allows gaps but not reordering or missing events', () => {
      const tracker = createTracker();
      for (const name of ['start', 'step', 'step', 'epoch', 'step', 'end']) tracker.record(name);
      tracker.assertSubsequence(['start', 'epoch', 'end']);
      tracker.assertSubsequence(['step', 'step', 'step']);
      tracker.assertSubsequence([]);
      assert.throws(() => tracker.assertSubsequence(['end', 'start']), /"start" is missing or out of order/);
      assert.throws(() => tracker.assertSubsequence(['step', 'step', 'step', 'step']), assert.AssertionError);
      assert.throws(() => tracker.assertSubsequence(['save']), /"save" is missing/);
    });

    it('shares the global order with spies', () => {
      const tracker = createTracker();
      const spy = createSpy();
      tracker.record('first');
      spy();
      tracker.record('third');
      assert.ok(tracker.events[0].order < spy.calls[0].order);
      assert.ok(spy.calls[0].order < tracker.events[1].order);
    });

    it('reset forgets events', () => {
      const tracker = createTracker();
      tracker.record('x');
      tracker.reset();
      assert.deepEqual(tracker.names(), []);
    });
  });

  describe('waitFor', () => {
    it('resolves with the truthy value once the predicate holds', async () => {
      let ready = null;
      setTimeout(() => {
        ready = { done: true };
      }, 20);
      const value = await waitFor(() => ready, { timeoutMs: 2000 });
      assert.deepEqual(value, { done: true });
    });

    it('resolves at once when the predicate already holds', async () => {
      assert.equal(await waitFor(() => 42), 42);
    });

    it('accepts async predicates', async () => {
      let n = 0;
      assert.equal(await waitFor(async () => ++n >= 3 && n, { intervalMs: 1 }), 3);
    });

    it('rejects with an error naming the message on timeout', async () => {
      const started = performance.now();
      await assert.rejects(waitFor(() => false, { timeoutMs: 50, message: 'the run to finish' }), (error) => {
        assert.ok(error instanceof Error);
        assert.match(error.message, /timed out after \d+ ms waiting for the run to finish/);
        return true;
      });
      assert.ok(performance.now() - started >= 45, 'waited about timeoutMs before giving up');
    });

    it('evaluates a message function at timeout time', async () => {
      let state = 'starting';
      setTimeout(() => {
        state = 'stuck';
      }, 5);
      await assert.rejects(waitFor(() => false, { timeoutMs: 40, message: () => `state to change (is ${state})` }), /is stuck/);
    });

    it('rejects at once when the predicate throws', async () => {
      await assert.rejects(
        waitFor(() => {
          throw new Error('boom');
        }),
        /boom/,
      );
    });

    it('polls at about intervalMs', async () => {
      let calls = 0;
      await assert.rejects(waitFor(() => ++calls > 1e9, { timeoutMs: 100, intervalMs: 20 }));
      assert.ok(calls >= 2 && calls <= 20, `predicate ran ${calls} times`);
    });
  });

  describe('waitForCalls', () => {
    it('resolves once the spy has been called n times', async () => {
      const spy = createSpy('tick');
      const timer = setInterval(spy, 2);
      try {
        await waitForCalls(spy, 3, { timeoutMs: 2000 });
        assert.ok(spy.callCount >= 3);
      } finally {
        clearInterval(timer);
      }
    });

    it('names the spy and its call count on timeout', async () => {
      const spy = createSpy('onComplete');
      spy();
      await assert.rejects(waitForCalls(spy, 2, { timeoutMs: 30 }), /onComplete to be called 2 time\(s\) \(called 1\)/);
    });

    it('accepts a custom message', async () => {
      await assert.rejects(waitForCalls(createSpy(), 1, { timeoutMs: 10, message: 'custom' }), /waiting for custom/);
    });
  });

  describe('blockEventLoop', () => {
    it('busy-waits synchronously so timers cannot run meanwhile', async () => {
      let fired = false;
      setTimeout(() => {
        fired = true;
      }, 0);
      const started = performance.now();
      const spent = blockEventLoop(30);
      assert.ok(performance.now() - started >= 30);
      assert.ok(spent >= 30);
      assert.equal(fired, false, 'the timer could not run while the loop was blocked');
      await waitFor(() => fired);
    });
  });
});
