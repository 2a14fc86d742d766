'use strict';
// Ctrl-C (SIGINT) sent to the `backprop` executable: once, training stops at
// the next step, a valid checkpoint is written and its path printed, exit
// 130; twice, it exits at once without saving.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { startCli, runCli, parseNdjson, printedPath, tempDir, removeTempDirs } = require('./fixtures/cli-harness');

/** Long enough that it is still running when the signal comes. */
const ENDLESS = ['train', '--demo', 'spirals', '--samples', '600', '--epochs', '1000000', '--hidden', '16'];

/** `backprop inspect --json` on `folder`: its checkpoint event (the checksums verified). */
async function inspect(folder, cwd) {
  const r = await runCli(['--json', 'inspect', folder], { cwd });
  assert.equal(r.code, 0, `inspect ${folder}: ${r.stderr}`);
  const [event] = parseNdjson(r.stdout);
  assert.equal(event.checksum, 'ok');
  return event;
}

describe('backprop: Ctrl-C (child process)', function () {
  this.timeout(120000);
  after(removeTempDirs);

  it('once with --output: stops at the next step, writes a resumable checkpoint, prints it and how to resume, exit 130', async () => {
    const dir = tempDir();
    const run = startCli([...ENDLESS, '--output', dir]);
    await run.waitFor(/^step 1\//m);
    run.child.kill('SIGINT');
    const r = await run.done;
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /Ctrl-C: stopping at the next step and saving a checkpoint \(press Ctrl-C again to quit at once\)/);
    const step = Number(/Interrupted at step ([\d,]+)\//.exec(r.stderr)[1].replace(/,/g, ''));
    const checkpoint = printedPath(r.stderr, 'Checkpoint saved:');
    assert.equal(checkpoint, path.join(dir, `checkpoint-${step}`));
    const saved = await inspect(checkpoint);
    assert.equal(saved.resumable, true);
    assert.equal(saved.run.step, step);
    assert.match(r.stderr, new RegExp(`Resume with: backprop train .*--output ${dir} --resume ${checkpoint}$`, 'm'));
    assert.equal(r.stdout, '', 'no completion summary');
  });

  it('once without --output: saves the weights in the current folder and says so', async () => {
    const cwd = tempDir();
    const run = startCli(ENDLESS, { cwd });
    await run.waitFor(/^step 1\//m);
    run.child.kill('SIGINT');
    const r = await run.done;
    assert.equal(r.code, 130, r.stderr);
    const checkpoint = printedPath(r.stderr, 'Checkpoint saved:');
    assert.match(path.basename(checkpoint), /^backprop-interrupted-\d{8}-\d{6}$/);
    assert.deepEqual(fs.readdirSync(cwd), [path.basename(checkpoint)], 'the checkpoint and nothing else');
    const saved = await inspect(checkpoint, cwd);
    assert.equal(saved.resumable, false);
    assert.deepEqual(saved.model.hiddenLayers, [16]);
    assert.match(r.stderr, /use it with evaluate, predict or inspect/);
  });

  it('--json: interrupt then interrupted (with the checkpoint) end the event stream', async () => {
    const dir = tempDir();
    const run = startCli(['--json', ...ENDLESS, '--output', dir]);
    await run.waitFor((x) => x.stdout.includes('"event":"step"'));
    run.child.kill('SIGINT');
    const r = await run.done;
    assert.equal(r.code, 130, r.stderr);
    const events = parseNdjson(r.stdout);
    assert.equal(events[0].event, 'start');
    const interrupt = events.findIndex((e) => e.event === 'interrupt');
    assert.ok(interrupt > 0);
    assert.equal(events[interrupt].signal, 'SIGINT');
    const last = events[events.length - 1];
    assert.equal(last.event, 'interrupted');
    assert.equal(last.resumable, true);
    const steps = events.filter((e) => e.event === 'step').map((e) => e.step);
    for (let i = 1; i < steps.length; i++) assert.ok(steps[i] > steps[i - 1]);
    assert.equal(last.step, steps[steps.length - 1], 'the run stopped at the last step reported');
    assert.equal(last.checkpoint, path.join(dir, `checkpoint-${last.step}`));
    assert.ok(fs.existsSync(path.join(last.checkpoint, 'trainer_state.json')));
    // The aborted run's checkpoint is announced by onSave before the end.
    const saves = events.filter((e) => e.event === 'save');
    assert.deepEqual(saves.map((e) => e.path), [last.checkpoint]);
    assert.ok(events.indexOf(saves[0]) > interrupt);
    for (const e of events) assert.ok(['start', 'step', 'epoch', 'interrupt', 'save', 'interrupted'].includes(e.event), e.event);
  });

  it('twice: exits 130 at once, without waiting for the step to end or saving', async () => {
    // Steps of about a second: the second Ctrl-C comes while the first waits for the step to end.
    // 8192 rows are two full batches, so no short step follows step 1 and ends before the second.
    const cwd = tempDir();
    const run = startCli(['train', '--demo', 'spirals', '--samples', '8192', '--validation-split', '0', '--hidden', '2048,2048', '--batch-size', '4096', '--threads', '1', '--max-steps', '50'], { cwd });
    await run.waitFor(/^step 1\//m);
    run.child.kill('SIGINT');
    await run.waitFor(/Ctrl-C: stopping at the next step/);
    run.child.kill('SIGINT');
    const r = await run.done;
    assert.equal(r.code, 130, r.stderr);
    assert.doesNotMatch(r.stderr, /Interrupted at step/);
    assert.doesNotMatch(r.stderr, /Checkpoint saved/);
    assert.deepEqual(fs.readdirSync(cwd), [], 'nothing written');
  });

  it('multi-run: stops the current run, keeps the completed ones, prints the latest model and how to resume', async () => {
    const dir = path.join(tempDir(), 'session');
    const run = startCli(['multi-run', '--demo', 'spirals', '--samples', '3000', '--runs', '200', '--steps-per-run', '2000', '--samples-per-run', '10', '--hidden', '16', '--checkpoint-dir', dir]);
    await run.waitFor(/^run\s+1\/200  /m);
    run.child.kill('SIGINT');
    const r = await run.done;
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /Ctrl-C: stopping run \d+ at the next step/);
    const completed = Number(/Interrupted during run \d+: (\d+) of 200 runs completed and saved in /.exec(r.stderr)[1]);
    assert.ok(completed >= 1);
    const latest = printedPath(r.stderr, 'Latest model:');
    assert.equal(latest, path.join(dir, `run-${completed}`));
    await inspect(latest);
    assert.ok(fs.existsSync(path.join(dir, 'run_history.json')));
    assert.match(r.stderr, /Resume with: backprop multi-run .* --resume$/m);
  });
});
