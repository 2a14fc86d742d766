'use strict';
// The hub's parts on their own: the latest-wins throttle shared by step and
// GPU messages, the replay ring's replay-or-snapshot decision, and the module
// graph of the dashboard (no import circle between hub, server and metrics).
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { LatestWinsThrottle } = require('../dist/dashboard/hub/throttle');
const { MessageLog } = require('../dist/dashboard/hub/replay');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('dashboard hub parts', () => {
  describe('LatestWinsThrottle', () => {
    it('emits the first value at once, holds the next ones, then emits only the latest when the interval has passed', async () => {
      let clock = 0;
      let pending = null;
      const sent = [];
      const t = new LatestWinsThrottle(10, () => sent.push(pending), () => clock); // 100 ms interval
      pending = 'a';
      t.offer();
      assert.deepEqual(sent, ['a']);
      clock = 10;
      pending = 'b';
      t.offer();
      clock = 20;
      pending = 'c';
      t.offer();
      assert.deepEqual(sent, ['a'], 'values inside the interval are held');
      assert.equal(t.pending, true);
      clock = 100;
      await sleep(130); // the timer (90 ms from clock 10) fires with the latest value
      assert.deepEqual(sent, ['a', 'c']);
      assert.equal(t.pending, false);
    });

    it('flush() sends what is pending now and nothing when nothing is', () => {
      let clock = 0;
      const sent = [];
      const t = new LatestWinsThrottle(1, () => sent.push(clock), () => clock);
      t.offer();
      clock = 5;
      t.offer();
      t.flush();
      assert.deepEqual(sent, [0, 5]);
      t.flush();
      assert.deepEqual(sent, [0, 5], 'a second flush has nothing to send');
      t.cancel();
    });

    it('emitNow() sends inside the interval (a GPU condition change) and restarts the interval', () => {
      let clock = 0;
      const sent = [];
      const t = new LatestWinsThrottle(1, () => sent.push(clock), () => clock);
      t.offer();
      clock = 10;
      t.emitNow();
      clock = 20;
      t.offer(); // within 1 s of the emitNow: held
      assert.deepEqual(sent, [0, 10]);
      t.cancel();
    });

    it('a rate of 0 means every value is sent', () => {
      const sent = [];
      const t = new LatestWinsThrottle(0, () => sent.push(sent.length), () => 0);
      for (let i = 0; i < 5; i++) t.offer();
      assert.equal(sent.length, 5);
    });
  });

  describe('MessageLog (replay ring)', () => {
    it('numbers messages contiguously and replays exactly what a client missed', () => {
      const log = new MessageLog(16, 4, 'session-a');
      for (let i = 0; i < 10; i++) log.append(i % 2 ? 'step' : 'epoch', null, null, { i }, null);
      assert.equal(log.seq, 10);
      const plan = log.plan(6, 'session-a', () => assert.fail('no snapshot for a replay'));
      assert.equal(plan.replay, true);
      assert.deepEqual(plan.messages.map((o) => o.msg.seq), [7, 8, 9, 10]);
      assert.equal(plan.welcome.replayFrom, 7);
      assert.equal(plan.welcome.replayCount, 4);
    });

    it('gives a snapshot when the client is older than the ring, or of another session', () => {
      const log = new MessageLog(16, 4, 'session-a');
      for (let i = 0; i < 40; i++) log.append('step', null, null, { i }, null);
      assert.equal(log.oldestSeq, 25);
      const old = log.plan(3, 'session-a', () => ({ state: 'x' }));
      assert.equal(old.replay, false);
      assert.equal(old.messages.length, 1);
      assert.equal(old.messages[0].msg.type, 'snapshot');
      assert.equal(old.messages[0].msg.seq, 40);
      assert.equal(log.plan(39, 'session-b', () => ({})).replay, false);
      assert.equal(log.plan(24, 'session-a', () => ({})).replay, true, 'the message just before the oldest kept is the last one a replay can start after');
    });

    it('keeps only non-sample messages in the bounded event log', () => {
      const log = new MessageLog(64, 3, 's');
      for (const type of ['step', 'epoch', 'gpu', 'save', 'runEnd', 'log', 'step']) log.append(type, null, null, {}, null);
      assert.deepEqual(log.eventLog().map((m) => m.type), ['save', 'runEnd', 'log']);
    });
  });

  describe('module graph', () => {
    it('has no import circle among the dashboard modules, type-only imports included', () => {
      // Read from the TypeScript sources: the compiled files drop type-only
      // imports, and a circle of types is still a circle to a reader.
      const root = path.join(__dirname, '..', 'ts', 'dashboard');
      const files = [];
      (function walk(dir) {
        for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
          if (e.isDirectory()) walk(path.join(dir, e.name));
          else if (e.name.endsWith('.ts')) files.push(path.join(dir, e.name));
        }
      })(root);
      const resolve = (from, spec) => {
        const base = path.resolve(path.dirname(from), spec);
        for (const c of [`${base}.ts`, path.join(base, 'index.ts')]) if (fs.existsSync(c)) return c;
        return null;
      };
      const edges = new Map();
      for (const f of files) {
        const src = fs.readFileSync(f, 'utf8');
        const deps = [...src.matchAll(/from '(\.[^']+)'/g)].map((m) => resolve(f, m[1])).filter((d) => d && d.startsWith(root));
        edges.set(f, deps);
      }
      assert.ok(edges.size > 10, 'the dashboard modules were not found');
      const state = new Map();
      const stack = [];
      const visit = (f) => {
        state.set(f, 'open');
        stack.push(f);
        for (const d of edges.get(f) ?? []) {
          if (state.get(d) === 'open') {
            const cycle = stack.slice(stack.indexOf(d)).concat(d).map((p) => path.relative(root, p));
            assert.fail(`import circle: ${cycle.join(' -> ')}`);
          }
          if (!state.has(d)) visit(d);
        }
        stack.pop();
        state.set(f, 'done');
      };
      for (const f of files) if (!state.has(f)) visit(f);
    });
  });
});
