'use strict';
// `backprop multi-run` as a child process: a line per run from onRunStart /
// onRunComplete, the session summary, pruning, and the NDJSON events in order.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { CONTROL, runCli, parseNdjson, tempDir, removeTempDirs, listTree } = require('./fixtures/cli-harness');

const SESSION = ['--demo', 'spirals', '--samples', '1500', '--steps-per-run', '20', '--hidden', '16', '--validation-samples', '100'];

/** The per-run lines ("run i/n  ...") of `text`, with the leading indent removed. */
function runLines(text) {
  return text.split('\n').map((l) => l.trim()).filter((l) => /^run +\d+\/\d+  /.test(l));
}

describe('backprop multi-run (child process)', function () {
  this.timeout(120000);
  after(removeTempDirs);

  it('prints a line per run from onRunComplete (steps, loss, validation, duration, checkpoint, kept) and a summary', async () => {
    const dir = path.join(tempDir(), 'session');
    const r = await runCli(['multi-run', ...SESSION, '--runs', '3', '--checkpoint-dir', dir]);
    assert.equal(r.code, 0, r.stderr);
    const live = runLines(r.stderr);
    assert.equal(live.length, 3, r.stderr);
    live.forEach((line, i) => {
      const run = i + 1;
      assert.match(line, new RegExp(`^run ${run}/3  20 steps  loss \\d+\\.\\d{4}  val \\d+\\.\\d{4} \\(\\d+\\.\\d%\\)  lr \\S+  \\S+s  ${path.join(dir, `run-${run}`)} kept$`));
    });
    // Progress lines name the run they belong to and come before its result line.
    const lines = r.stderr.split('\n');
    for (const [i, line] of lines.entries()) {
      const m = /^\[run (\d)\/3\] step [\d,]+\/20 \| loss /.exec(line);
      if (m) assert.ok(lines.slice(i).some((l) => l.startsWith(`run ${m[1]}/3  `)), line);
    }

    assert.match(r.stdout, /Multi-run session complete/);
    assert.match(r.stdout, /runs\s+3 of 3/);
    assert.match(r.stdout, /steps\s+60 \(/);
    assert.match(r.stdout, /best validation\s+loss [\d.]+, accuracy [\d.]+% \(run \d\)/);
    assert.match(r.stdout, new RegExp(`model\\s+${path.join(dir, 'run-3')}`));
    assert.equal(runLines(r.stdout).length, 3, 'the summary lists every run');
    assert.deepEqual(listTree(dir).filter((p) => !p.includes('/')), ['run-1', 'run-2', 'run-3', 'run_history.json']);
    assert.doesNotMatch(r.stdout + r.stderr, CONTROL);
  });

  it('off a terminal, many short runs print their result lines but progress lines at most about once a second', async () => {
    const dir = path.join(tempDir(), 'session');
    const r = await runCli(['multi-run', ...SESSION, '--runs', '30', '--samples-per-run', '40', '--checkpoint-dir', dir, '--keep-best', '0']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(runLines(r.stderr).map((l) => Number(/^run\s*(\d+)\//.exec(l)[1])), Array.from({ length: 30 }, (_, i) => i + 1));
    const progress = r.stderr.split('\n').filter((l) => /^\[run \d+\/30\] step /.test(l));
    assert.ok(progress.length >= 1);
    assert.ok(progress.length <= Math.ceil(r.seconds) + 1, `${progress.length} progress lines in ${r.seconds.toFixed(1)} s`);
  });

  it('the summary marks the runs pruned after the session (only --keep-best and the last kept)', async () => {
    const dir = path.join(tempDir(), 'session');
    const r = await runCli(['multi-run', ...SESSION, '--runs', '4', '--keep-best', '1', '--checkpoint-dir', dir]);
    assert.equal(r.code, 0, r.stderr);
    const summary = runLines(r.stdout);
    const kept = fs.readdirSync(dir).filter((n) => n.startsWith('run-')).sort();
    assert.ok(kept.length >= 1 && kept.length <= 2, kept.join(','));
    assert.equal(summary.length, 4);
    assert.equal(summary.filter((l) => l.endsWith(' pruned')).length, 4 - kept.length);
    summary.forEach((line, i) => {
      const name = `run-${i + 1}`;
      assert.match(line, new RegExp(`${path.join(dir, name)} ${kept.includes(name) ? 'kept' : 'pruned'}$`), line);
    });
  });

  it('--json: start, then runStart, steps and runComplete for each run in order, then complete', async () => {
    const dir = path.join(tempDir(), 'session');
    const r = await runCli(['--json', 'multi-run', ...SESSION, '--runs', '3', '--checkpoint-dir', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const events = parseNdjson(r.stdout);
    assert.equal(events[0].event, 'start');
    assert.equal(events[0].numRuns, 3);
    const last = events[events.length - 1];
    assert.equal(last.event, 'complete');
    assert.equal(last.runs.length, 3);
    assert.equal(last.totalSteps, 60);

    let current = 0;
    let lastStep = 0;
    for (const e of events.slice(1, -1)) {
      if (e.event === 'runStart') {
        assert.equal(e.runIndex, current + 1, 'runs start in order');
        current = e.runIndex;
        lastStep = 0;
      } else if (e.event === 'step') {
        assert.equal(e.run, current, 'a step belongs to the current run');
        assert.ok(e.step > lastStep, 'steps increase within a run');
        lastStep = e.step;
      } else if (e.event === 'runComplete') {
        assert.equal(e.runIndex, current);
        assert.equal(e.steps, 20);
        assert.equal(lastStep, 20, 'the run\'s last step comes before its runComplete');
        assert.equal(e.checkpointPath, path.join(dir, `run-${current}`));
        assert.equal(e.lossHistory, undefined, 'loss histories stay out of the event stream');
      } else {
        assert.fail(`unexpected event ${e.event}`);
      }
    }
    assert.equal(current, 3);
  });
});
