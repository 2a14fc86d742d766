'use strict';
// `backprop inspect`, `evaluate` and `predict` on a checkpoint written by
// `backprop train`, checked against the library's own reading of the same
// checkpoint and data.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { Trainer } = require('../dist');
const { loadDataFile } = require('../dist/data-files/load');
const { CONTROL, FIXTURES, runCli, parseNdjson, tempDir, removeTempDirs, listTree } = require('./fixtures/cli-harness');

const BLOBS = path.join(FIXTURES, 'cli-blobs.csv'); // 300 labelled rows
const UNLABELLED = path.join(FIXTURES, 'cli-unlabelled.csv'); // 40 rows, features only

describe('backprop inspect / evaluate / predict on a trained checkpoint (child process)', function () {
  this.timeout(120000);
  let outputDir;
  let checkpoint;
  let trainer;

  before(async () => {
    outputDir = tempDir();
    const r = await runCli(['train', '--quiet', BLOBS, '--epochs', '2', '--hidden', '8', '--lr', '0.01', '--output', outputDir]);
    assert.equal(r.code, 0, r.stderr);
    checkpoint = path.join(outputDir, 'checkpoint-18');
    trainer = await Trainer.load(checkpoint);
  });
  after(removeTempDirs);

  it('inspect shows the model shape, position, loss, optimizer and verified checksums', async () => {
    const r = await runCli(['inspect', checkpoint]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^Checkpoint ${checkpoint}$`, 'm'));
    assert.match(r.stdout, /checksums\s+✔ verified \(trainer_state\.json, model\.safetensors, optimizer\.safetensors\)/);
    assert.match(r.stdout, /model\s+4 → 8 → 3, relu, classification/);
    assert.match(r.stdout, /parameters\s+67$/m);
    assert.match(r.stdout, /optimizer\s+adamw, lr 1\.00e-2/);
    assert.match(r.stdout, /step\s+18 \(end of epoch 2\)/);
    assert.match(r.stdout, /loss\s+\d+\.\d{4}$/m);
    assert.match(r.stdout, /loss history\s+\S+\s+[\d.]+ → [\d.]+ \(min [\d.]+, 18 steps\)/);
    assert.match(r.stdout, /resumable\s+yes/);
    assert.doesNotMatch(r.stdout, CONTROL);
  });

  it('inspect on a training --output folder reads its latest checkpoint', async () => {
    const r = await runCli(['--json', 'inspect', outputDir]);
    assert.equal(r.code, 0, r.stderr);
    const [event, ...rest] = parseNdjson(r.stdout);
    assert.equal(rest.length, 0);
    assert.equal(event.event, 'checkpoint');
    assert.equal(event.path, checkpoint);
    assert.equal(event.checksum, 'ok');
    assert.equal(event.parameters, 67);
    assert.equal(event.run.step, 18);
    assert.equal(event.run.lossHistoryLength, 18);
    assert.equal(event.resumable, true);
    assert.deepEqual(event.files.map((f) => f.name), ['model.safetensors', 'optimizer.safetensors', 'trainer_state.json']);
  });

  it('evaluate prints the loss and accuracy the library computes for the same checkpoint and data', async () => {
    const data = await loadDataFile(BLOBS, {});
    const expected = trainer.evaluate({ x: data.x, y: Int32Array.from(data.y) });
    const r = await runCli(['--json', 'evaluate', checkpoint, BLOBS]);
    assert.equal(r.code, 0, r.stderr);
    const [event] = parseNdjson(r.stdout);
    assert.equal(event.event, 'evaluation');
    assert.equal(event.rows, 300);
    assert.ok(Math.abs(event.loss - expected.loss) < 1e-6, `${event.loss} vs ${expected.loss}`);
    assert.equal(event.accuracy, expected.accuracy);

    const human = await runCli(['evaluate', outputDir, BLOBS]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /rows\s+300$/m);
    assert.match(human.stdout, new RegExp(`loss\\s+${expected.loss.toFixed(4)} \\(cross-entropy\\)`));
    const correct = Math.round(expected.accuracy * 300);
    assert.match(human.stdout, new RegExp(`accuracy\\s+${(expected.accuracy * 100).toFixed(2)}% \\(${correct} / 300\\)`));
  });

  it('predict writes CSV to stdout: the class and the probabilities the model gives each row', async () => {
    const r = await runCli(['predict', checkpoint, UNLABELLED]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines[0], 'class,prob_0,prob_1,prob_2');
    assert.equal(lines.length, 41);
    const features = await loadDataFile(UNLABELLED, { label: 'f3' });
    const x = new Float32Array(40 * 4);
    for (let i = 0; i < 40; i++) {
      x.set(features.x.subarray(i * 3, i * 3 + 3), i * 4);
      x[i * 4 + 3] = features.y[i];
    }
    const probabilities = trainer.predict(x);
    lines.slice(1).forEach((line, i) => {
      const [cls, ...p] = line.split(',').map(Number);
      const expected = Array.from(probabilities.subarray(i * 3, i * 3 + 3));
      p.forEach((v, k) => assert.ok(Math.abs(v - expected[k]) < 1e-6, `row ${i} prob_${k}: ${v} vs ${expected[k]}`));
      assert.equal(cls, expected.indexOf(Math.max(...expected)), `row ${i} class is the most likely one`);
      assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-5);
    });
  });

  it('predict ignores the label column of labelled data', async () => {
    const r = await runCli(['predict', checkpoint, BLOBS]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trimEnd().split('\n').length, 301);
  });

  it('predict --output writes the same CSV atomically: the complete file and nothing else in the folder', async () => {
    const dir = tempDir();
    const target = path.join(dir, 'predictions.csv');
    const r = await runCli(['predict', checkpoint, UNLABELLED, '--output', target]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '', 'the CSV goes to the file, not stdout');
    assert.match(r.stderr, new RegExp(`40 predictions written to ${target.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(class,prob_0,prob_1,prob_2\\)`));
    const toStdout = await runCli(['predict', checkpoint, UNLABELLED]);
    assert.equal(fs.readFileSync(target, 'utf8'), toStdout.stdout);
    assert.deepEqual(listTree(dir), ['predictions.csv']);
  });

  it('predict --json gives one prediction event per row', async () => {
    const r = await runCli(['--json', 'predict', checkpoint, UNLABELLED]);
    assert.equal(r.code, 0, r.stderr);
    const events = parseNdjson(r.stdout);
    assert.equal(events.length, 40);
    events.forEach((e, i) => {
      assert.equal(e.event, 'prediction');
      assert.equal(e.row, i);
      assert.equal(e.probabilities.length, 3);
      assert.equal(e.class, e.probabilities.indexOf(Math.max(...e.probabilities)));
    });
  });
});
