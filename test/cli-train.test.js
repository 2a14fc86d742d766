'use strict';
// `backprop train` run as a child process: the summary, --json events in
// contract order, plain progress lines off a terminal, --quiet, --verbose,
// regression data, resuming, and a simulated GPU emergency.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { CONTROL, FIXTURES, runCli, parseNdjson, printedPath, tempDir, removeTempDirs, listTree } = require('./fixtures/cli-harness');

const BLOBS = path.join(FIXTURES, 'cli-blobs.csv'); // 300 rows, 4 features, 3 classes
const REGRESSION = path.join(FIXTURES, 'cli-regression.jsonl'); // 200 rows, a, b -> target

/**
 * Checks one training run's NDJSON events against the dispatch contract:
 * start first and complete last, steps strictly increasing and ending at the
 * run's step count, epoch e after every step of epoch e and before any later
 * step, the final save after the last epoch, nothing else.
 */
function assertTrainingEventOrder(events, { epochs, stepsPerEpoch }) {
  assert.equal(events[0].event, 'start', 'the first event is start');
  const complete = events[events.length - 1];
  assert.equal(complete.event, 'complete', 'the last event is complete');
  const names = new Set(events.map((e) => e.event));
  for (const name of names) assert.ok(['start', 'step', 'epoch', 'save', 'complete'].includes(name), `unexpected event ${name}`);
  assert.equal(events.filter((e) => e.event === 'start' || e.event === 'complete').length, 2);

  const steps = events.filter((e) => e.event === 'step').map((e) => e.step);
  for (let i = 1; i < steps.length; i++) assert.ok(steps[i] > steps[i - 1], `step ${steps[i]} after ${steps[i - 1]}`);
  assert.equal(steps[steps.length - 1], complete.steps, 'the last step event is the run\'s last step');
  assert.equal(steps.length + complete.droppedStepEvents, complete.steps, 'every step is delivered or counted as dropped');

  const epochEvents = events.map((e, i) => [e, i]).filter(([e]) => e.event === 'epoch');
  assert.deepEqual(epochEvents.map(([e]) => e.epoch), Array.from({ length: epochs }, (_, i) => i + 1));
  for (const [e, at] of epochEvents) {
    const boundary = e.epoch * stepsPerEpoch;
    events.slice(0, at).filter((x) => x.event === 'step').forEach((x) => assert.ok(x.step <= boundary, `step ${x.step} before epoch ${e.epoch}`));
    events.slice(at).filter((x) => x.event === 'step').forEach((x) => assert.ok(x.step > boundary, `step ${x.step} after epoch ${e.epoch}`));
  }
  const saves = events.map((e, i) => [e, i]).filter(([e]) => e.event === 'save');
  if (saves.length > 0) {
    const [lastSave, at] = saves[saves.length - 1];
    assert.ok(at > epochEvents[epochEvents.length - 1][1], 'the final save comes after the last epoch');
    assert.equal(lastSave.path, complete.checkpoint);
  }
  return { steps, complete };
}

describe('backprop train (child process)', function () {
  this.timeout(120000);
  after(removeTempDirs);

  it('trains the spirals demo and prints the summary on stdout, progress and setup on stderr', async () => {
    const dir = tempDir();
    const r = await runCli(['train', '--demo', 'spirals', '--samples', '600', '--epochs', '3', '--hidden', '16', '--output', path.join(dir, 'run')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Training complete/);
    assert.match(r.stdout, /final loss\s+\d+\.\d{4}/);
    assert.match(r.stdout, /validation\s+loss \d+\.\d{4}, accuracy \d+\.\d%/);
    assert.match(r.stdout, /steps\s+51 \(3 epochs, 1,620 samples\)/);
    assert.match(r.stdout, /duration\s+\d/);
    assert.match(r.stdout, /device\s+cpu/);
    const checkpoint = printedPath(r.stdout, 'checkpoint ');
    assert.equal(checkpoint, path.join(dir, 'run', 'checkpoint-51'));
    assert.ok(fs.existsSync(path.join(checkpoint, 'trainer_state.json')));
    assert.match(r.stderr, /Training 2 → 16 → 3 relu classifier on spirals \(built-in demo\): 540 train \/ 60 validation rows/);
    assert.match(r.stderr, /step 51\/51 \| epoch 3\/3 \| loss \d/);
    assert.doesNotMatch(r.stdout, /step \d/, 'progress stays off stdout');
    assert.doesNotMatch(r.stdout + r.stderr, CONTROL, 'no control codes when not on a terminal');
  });

  it('--json writes only NDJSON on stdout: start, steps, epochs, save and complete in contract order', async () => {
    const dir = tempDir();
    const r = await runCli(['--json', 'train', BLOBS, '--epochs', '3', '--hidden', '8', '--output', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '', 'nothing on stderr on success');
    const events = parseNdjson(r.stdout);
    const { complete } = assertTrainingEventOrder(events, { epochs: 3, stepsPerEpoch: 9 });
    assert.deepEqual(events[0].model, { inputSize: 4, hiddenLayers: [8], outputSize: 3, activation: 'relu', task: 'classification' });
    assert.equal(events[0].totalSteps, 27);
    assert.equal(complete.steps, 27);
    assert.equal(complete.epochs, 3);
    assert.equal(complete.checkpoint, path.join(dir, 'checkpoint-27'));
    assert.ok(Number.isFinite(complete.finalLoss) && Number.isFinite(complete.validationLoss));
    assert.ok(complete.validationAccuracy >= 0 && complete.validationAccuracy <= 1);
  });

  it('off a terminal prints plain progress lines at a bounded rate (at most about one a second)', async () => {
    // Thousands of steps; without the throttle there would be a line per step.
    const r = await runCli(['train', '--demo', 'blobs', '--samples', '400', '--hidden', '8', '--batch-size', '8', '--max-steps', '200000', '--validation-split', '0']);
    assert.equal(r.code, 0, r.stderr);
    const progressLines = r.stderr.split('\n').filter((l) => /^step [\d,]+\/200,000/.test(l));
    assert.ok(progressLines.length >= 2, 'a first and a final line');
    assert.ok(progressLines.length <= Math.ceil(r.seconds) + 2, `${progressLines.length} progress lines in ${r.seconds.toFixed(1)} s`);
    assert.match(progressLines[progressLines.length - 1], /^step 200,000\/200,000 \| epoch \d+ \| loss [\d.e-]+ \| lr 1\.00e-3 \| \S+ samples\/s \| ETA 0s \(100%\)$/);
    assert.doesNotMatch(r.stdout + r.stderr, CONTROL);
  });

  it('--quiet prints nothing on success and still writes the checkpoint', async () => {
    const dir = tempDir();
    const r = await runCli(['train', '--quiet', '--demo', 'blobs', '--samples', '300', '--epochs', '2', '--hidden', '8', '--output', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, '');
    assert.deepEqual(listTree(dir).filter((p) => !p.includes('/')), ['checkpoint-18']);
  });

  it('--verbose prints a line for every epoch, checkpoint and handler error (from the trainer callbacks)', async () => {
    const dir = tempDir();
    const r = await runCli(['train', '--verbose', '--demo', 'blobs', '--samples', '300', '--epochs', '3', '--hidden', '8', '--output', dir, '--save-every', 'epoch'], {
      env: { BACKPROP_CLI_FAULT: 'onEpoch' },
    });
    assert.equal(r.code, 0, r.stderr);
    const epochLines = r.stderr.split('\n').filter((l) => /^epoch \d\/3 done at step \d+: loss [\d.]+, validation loss [\d.]+, accuracy [\d.]+%$/.test(l));
    assert.deepEqual(epochLines.map((l) => Number(/^epoch (\d)/.exec(l)[1])), [1, 2, 3]);
    const saves = r.stderr.split('\n').filter((l) => l.startsWith('checkpoint saved: '));
    assert.deepEqual(saves, [9, 18, 27].map((s) => `checkpoint saved: ${path.join(dir, `checkpoint-${s}`)}`));
    const handlerErrors = r.stderr.split('\n').filter((l) => l.startsWith('callback error in onEpoch: injected fault in onEpoch'));
    assert.equal(handlerErrors.length, 3, 'one line per failing handler call; training goes on');
    assert.match(r.stderr, /^  51 parameters, seed 42/m, 'the setup details --verbose adds');
    assert.match(r.stdout, /Training complete/);
  });

  it('without --verbose, epochs and checkpoints get no line of their own', async () => {
    const dir = tempDir();
    const r = await runCli(['train', '--demo', 'blobs', '--samples', '300', '--epochs', '3', '--hidden', '8', '--output', dir, '--save-every', 'epoch']);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /^epoch \d/m);
    assert.doesNotMatch(r.stderr, /checkpoint saved/);
  });

  it('trains a regression model on JSONL and evaluates and predicts with it', async () => {
    const dir = tempDir();
    const r = await runCli(['train', REGRESSION, '--task', 'regression', '--epochs', '2', '--hidden', '8', '--output', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /2 → 8 → 1 relu regressor/);
    assert.match(r.stdout, /validation\s+loss [\d.]+ \(20 rows\)/);
    assert.doesNotMatch(r.stdout, /accuracy/, 'regression has no accuracy');
    const ev = await runCli(['evaluate', dir, REGRESSION]);
    assert.equal(ev.code, 0, ev.stderr);
    assert.match(ev.stdout, /loss\s+[\d.]+ \(mean squared error\)/);
    const pr = await runCli(['predict', dir, REGRESSION]);
    assert.equal(pr.code, 0, pr.stderr);
    const lines = pr.stdout.trimEnd().split('\n');
    assert.equal(lines[0], 'value');
    assert.equal(lines.length, 201);
    for (const l of lines.slice(1)) assert.ok(Number.isFinite(Number(l)), l);
  });

  it('--resume continues a run from its checkpoint with the saved model and settings', async () => {
    const dir = tempDir();
    const first = await runCli(['train', BLOBS, '--epochs', '2', '--hidden', '8', '--lr', '0.01', '--output', dir]);
    assert.equal(first.code, 0, first.stderr);
    const r = await runCli(['--json', 'train', BLOBS, '--epochs', '4', '--resume', path.join(dir, 'checkpoint-18'), '--output', dir]);
    assert.equal(r.code, 0, r.stderr);
    const events = parseNdjson(r.stdout);
    const start = events[0];
    assert.equal(start.startStep, 18);
    assert.equal(start.resumedFrom, path.join(dir, 'checkpoint-18'));
    assert.ok(Math.abs(start.learningRate - 0.01) < 1e-8, 'the learning rate comes from the checkpoint');
    assert.deepEqual(start.model.hiddenLayers, [8]);
    const steps = events.filter((e) => e.event === 'step').map((e) => e.step);
    assert.equal(steps[0] > 18, true, 'steps continue after the checkpoint');
    assert.deepEqual(events.filter((e) => e.event === 'epoch').map((e) => e.epoch), [3, 4]);
    assert.equal(events[events.length - 1].steps, 36);
    assert.ok(fs.existsSync(path.join(dir, 'checkpoint-36', 'trainer_state.json')));
  });

  it('a simulated GPU emergency stops training: warnings, a pause, the error code, the last checkpoint, exit 1', async () => {
    const dir = tempDir();
    const r = await runCli(['train', '--demo', 'spirals', '--samples', '600', '--epochs', '1000000', '--hidden', '8', '--simulate-gpu', 'heatup', '--gpu-interval', '30', '--output', dir]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /GPU warning: temperature 81\.0°C >= warning 80/);
    assert.match(r.stderr, /GPU critical: temperature 91\.0°C >= critical 90/);
    assert.match(r.stderr, /training paused at step [\d,]+ \(GPU too hot/);
    assert.match(r.stderr, /error RUNTIME_GPU_TEMPERATURE_CRITICAL: GPU 0 \(Simulated GPU 80GB\) is in emergency condition/);
    assert.match(r.stderr, /Let the GPU cool down/);
    const last = printedPath(r.stderr, 'Last checkpoint:');
    assert.ok(last.startsWith(dir + path.sep), last);
    assert.ok(fs.existsSync(path.join(last, 'trainer_state.json')));
    assert.equal(r.stdout, '', 'no summary for a failed run');
  });
});
