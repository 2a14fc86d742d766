'use strict';
// The stress suite's short mode as part of `npm test` (stress/run.js in a
// child process: it checks that the process exits by itself), and the run
// checker it relies on (stress/lib/recorder.js), fed hand-made event streams
// to show that it catches each kind of contract violation.
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { RunRecorder } = require('../stress/lib/recorder');

const ROOT = path.join(__dirname, '..');
const RUN = path.join(ROOT, 'stress', 'run.js');

function runStress(args, timeoutMs) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [RUN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
}

/** A settled run as train() resolves it: `steps` steps, `epochs` epochs. */
function fakeRun({ steps, epochs, dropped = 0, outcome = 'completed' }) {
  return {
    steps,
    lossHistory: Array.from({ length: steps }, (_, i) => 1 / (i + 1)),
    outputPath: null,
    metadata: { outcome, epochs, droppedStepEvents: dropped },
  };
}

const step = (run, s) => ['step', { step: s, loss: run.lossHistory[s - 1] }];

describe('stress suite', function () {
  describe('the run checker (stress/lib/recorder.js)', () => {
    const plan = { stepEvents: 'block', stepsPerEpoch: 2 };
    const run = fakeRun({ steps: 4, epochs: 2 });
    const complete = ['complete', null]; // check() fills in the settled run
    const good = [step(run, 1), step(run, 2), ['epoch', { epoch: 1 }], step(run, 3), step(run, 4), ['epoch', { epoch: 2 }]];

    // The terminal payload must be the very object the promise settled with.
    async function check(events, p = plan, r = run) {
      const recorder = new RunRecorder({ label: 'fake', ...p });
      const settled = recorder.settle(Promise.resolve(r));
      for (const [type, payload] of events) recorder.record('callback', type, type === 'complete' ? { run: r } : payload);
      await settled;
      const found = [];
      recorder.check((m) => found.push(m));
      return found;
    }

    it('accepts a stream that keeps the contract', async () => {
      assert.deepEqual(await check([...good, complete]), []);
    });

    it('reports a lost epoch event', async () => {
      const found = await check([step(run, 1), step(run, 2), step(run, 3), step(run, 4), ['epoch', { epoch: 2 }], complete]);
      assert.ok(found.some((m) => /epoch 2 delivered, expected epoch 1/.test(m)), found.join('\n'));
    });

    it('reports a lost step in block mode', async () => {
      const found = await check([step(run, 1), step(run, 2), ['epoch', { epoch: 1 }], step(run, 4), ['epoch', { epoch: 2 }], complete]);
      assert.ok(found.some((m) => /block mode lost step events: 3 delivered, run took 4/.test(m)), found.join('\n'));
    });

    it('reports coalesce counts that do not add up to the steps taken', async () => {
      const coalesced = fakeRun({ steps: 4, epochs: 2, dropped: 0 });
      const events = [step(coalesced, 2), ['epoch', { epoch: 1 }], step(coalesced, 4), ['epoch', { epoch: 2 }], ['complete', null]];
      const found = await check(events, { stepEvents: 'coalesce', stepsPerEpoch: 2 }, coalesced);
      assert.ok(found.some((m) => /coalesce: delivered 2 \+ dropped 0 != steps 4/.test(m)), found.join('\n'));
      const honest = fakeRun({ steps: 4, epochs: 2, dropped: 2 });
      assert.deepEqual(await check(events, { stepEvents: 'coalesce', stepsPerEpoch: 2 }, honest), []);
    });

    it('reports a missing or repeated terminal event and events after it', async () => {
      assert.ok((await check(good)).some((m) => /0 terminal events/.test(m)));
      const twice = await check([...good, complete, complete]);
      assert.ok(twice.some((m) => /event\(s\) after the terminal event: complete/.test(m)), twice.join('\n'));
      const late = await check([...good.slice(0, 5), complete, good[5]]);
      assert.ok(late.some((m) => /after the terminal event: epoch/.test(m)), late.join('\n'));
    });

    it('reports steps out of order and a loss that is not the step\'s own', async () => {
      const swapped = await check([step(run, 2), step(run, 1), ['epoch', { epoch: 1 }], step(run, 3), step(run, 4), ['epoch', { epoch: 2 }], complete]);
      assert.ok(swapped.some((m) => /step 1 after step 2/.test(m)), swapped.join('\n'));
      const wrongLoss = await check([['step', { step: 1, loss: 42 }]]);
      assert.ok(wrongLoss.some((m) => /step 1 loss 42 != lossHistory\[0\]/.test(m)), wrongLoss.join('\n'));
    });
  });

  describe('npm run stress', function () {
    // The short mode aims at about a minute; a loaded machine gets ample room.
    this.timeout(300000);

    it('rejects an unknown scenario name with exit code 2', async () => {
      const r = await runStress(['--only', 'no-such-scenario'], 30000);
      assert.equal(r.code, 2, r.output);
      assert.match(r.output, /unknown scenario\(s\) no-such-scenario/);
    });

    it('short mode: every scenario runs, no invariant is violated, and the process exits by itself', async () => {
      const r = await runStress([], 280000);
      assert.equal(r.signal, null, `the stress run was killed (hung?):\n${r.output.slice(-4000)}`);
      assert.equal(r.code, 0, `the stress run failed:\n${r.output.slice(-6000)}`);
      assert.match(r.output, /\nno violations\n/);
      const lines = r.output.split('\n');
      const header = lines.find((line) => line.startsWith('| scenario '));
      assert.ok(header, `no summary table:\n${r.output.slice(-3000)}`);
      const columns = header.split('|').map((c) => c.trim());
      /** The summary row of `name` as { column title: cell }. */
      const row = (name) => {
        const line = lines.find((l) => l.startsWith(`| ${name} `));
        assert.ok(line, `no summary row for ${name}:\n${r.output.slice(-3000)}`);
        const cells = line.split('|').map((c) => c.trim());
        return Object.fromEntries(columns.map((title, i) => [title, cells[i]]));
      };
      for (const name of ['trainers', 'monitors', 'nvml-monitors', 'multi-run', 'workers', 'processes']) {
        assert.equal(row(name).passes, '1', `${name} passes`);
      }
      const total = row('total');
      assert.ok(Number(total.runs) > 0 && Number(total['events checked']) > 0, `runs and events checked: ${JSON.stringify(total)}`);
    });
  });
});
