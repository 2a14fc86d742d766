'use strict';
// Bad input to the `backprop` executable: each failure has its own message
// with the error code and what to do (exit 1), each usage error its message
// and the command's help (exit 2), and nothing is left half-written.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { FIXTURES, runCli, parseNdjson, tempDir, removeTempDirs, listTree } = require('./fixtures/cli-harness');

const BLOBS = path.join(FIXTURES, 'cli-blobs.csv');
const BAD_CELL = path.join(FIXTURES, 'cli-bad-cell.csv'); // line 4, column "b" holds "oops"
const FRACTIONAL = path.join(FIXTURES, 'cli-fractional-labels.csv');
const REGRESSION = path.join(FIXTURES, 'cli-regression.jsonl');

/** Asserts a usage error: exit 2, `message` on stderr, then the help of `command` with its examples; stdout empty. */
function assertUsageError(r, command, message) {
  assert.equal(r.code, 2, `exit 2 for a usage error\n${r.stderr}`);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^error: /);
  assert.match(r.stderr, message);
  const helpAt = r.stderr.indexOf(`Usage: backprop ${command}`);
  assert.ok(helpAt > 0, `the ${command} help follows the message:\n${r.stderr}`);
  assert.ok(r.stderr.indexOf('Examples:', helpAt) > 0, 'the help includes the examples');
}

/** Asserts a failure: exit 1, "error CODE: ..." on stderr, nothing on stdout. */
function assertFailure(r, code) {
  assert.equal(r.code, 1, `exit 1\n${r.stderr}`);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, new RegExp(`^error ${code}: `, 'm'));
}

describe('backprop: bad input (child process)', function () {
  this.timeout(120000);
  let model; // a trained 4 -> 8 -> 3 checkpoint folder
  before(async () => {
    model = tempDir();
    const r = await runCli(['train', '--quiet', BLOBS, '--epochs', '1', '--hidden', '8', '--output', model]);
    assert.equal(r.code, 0, r.stderr);
  });
  after(removeTempDirs);

  describe('data files', () => {
    it('a missing file: INPUT_NOT_FOUND naming the path', async () => {
      const r = await runCli(['train', 'no-such-data.csv']);
      assertFailure(r, 'INPUT_NOT_FOUND');
      assert.match(r.stderr, /Data file not found: no-such-data\.csv \(resolved to \S+no-such-data\.csv\)\. Check the path/);
    });

    it('an unknown label column: INPUT_PARSE listing the columns there are', async () => {
      const r = await runCli(['train', BLOBS, '--label', 'species']);
      assertFailure(r, 'INPUT_PARSE');
      assert.match(r.stderr, /has no column "species"\. Available columns: "f0", "f1", "f2", "f3", "label"/);
      assert.match(r.stderr, /Name the label column with --label/);
    });

    it('a non-numeric cell: INPUT_PARSE with its line, column and value', async () => {
      const r = await runCli(['train', BAD_CELL]);
      assertFailure(r, 'INPUT_PARSE');
      assert.match(r.stderr, /cli-bad-cell\.csv line 4, column "b": "oops" is not a number/);
      assert.match(r.stderr, /the header is line 1/);
    });

    it('fractional class labels: INPUT_LABEL_RANGE suggesting --task regression', async () => {
      const r = await runCli(['train', FRACTIONAL]);
      assertFailure(r, 'INPUT_LABEL_RANGE');
      assert.match(r.stderr, /label column "y" holds 0\.5 in data row 1, which is not a class index/);
      assert.match(r.stderr, /--task regression/);
    });

    it('data with other columns than the model: INPUT_SHAPE_MISMATCH on evaluate and predict', async () => {
      for (const command of ['evaluate', 'predict']) {
        const r = await runCli([command, model, REGRESSION]);
        assertFailure(r, 'INPUT_SHAPE_MISMATCH');
        assert.match(r.stderr, /the model takes 4 inputs/);
      }
    });

    it('--json: the failure is one NDJSON error event on stdout, and a line on stderr', async () => {
      const r = await runCli(['--json', 'train', BAD_CELL]);
      assert.equal(r.code, 1);
      const events = parseNdjson(r.stdout);
      assert.equal(events.length, 1);
      assert.equal(events[0].event, 'error');
      assert.equal(events[0].code, 'INPUT_PARSE');
      assert.equal(events[0].details.line, 4);
      assert.match(r.stderr, /error INPUT_PARSE/);
    });
  });

  describe('checkpoints', () => {
    it('a path that is not a checkpoint: CHECKPOINT_NOT_FOUND', async () => {
      const r = await runCli(['inspect', path.join(tempDir(), 'nothing-here')]);
      assertFailure(r, 'CHECKPOINT_NOT_FOUND');
      const empty = await runCli(['evaluate', tempDir(), BLOBS]);
      assertFailure(empty, 'CHECKPOINT_NOT_FOUND');
      assert.match(empty.stderr, /is a folder but holds no checkpoint/);
    });

    it('a damaged checkpoint: inspect reports the failed checksum and exits 1', async () => {
      const copy = path.join(tempDir(), 'ckpt');
      fs.cpSync(path.join(model, 'checkpoint-9'), copy, { recursive: true });
      const weights = path.join(copy, 'model.safetensors');
      const bytes = fs.readFileSync(weights);
      bytes[bytes.length - 1] ^= 0xff;
      fs.writeFileSync(weights, bytes);
      const r = await runCli(['inspect', copy]);
      assertFailure(r, 'CHECKPOINT_CORRUPT');
      assert.match(r.stderr, /checksum verification failed/);
      assert.match(r.stderr, /use an earlier checkpoint, or retrain/);
    });

    it('a GPU device that is not there: DEVICE_UNAVAILABLE pointing at --device auto', async () => {
      const r = await runCli(['train', '--demo', 'blobs', '--device', 'cuda:999', '--hidden', '8']);
      assertFailure(r, 'DEVICE_UNAVAILABLE');
      assert.match(r.stderr, /device 'cuda:999' is not available/);
      assert.match(r.stderr, /--device auto falls back to the CPU/);
    });
  });

  describe('usage errors: exit 2 with the command\'s help', () => {
    const cases = [
      [['train', '--demo', 'spirals', '--epochs', 'abc'], 'train', /option '--epochs <n>' argument 'abc' is invalid\. Expected a whole number from 1 to 1000000/],
      [['train', '--demo', 'spirals', '--lr', '-1'], 'train', /'--lr <rate>' argument '-1' is invalid\. Expected a number > 0 and <= 10/],
      [['train', '--demo', 'spirals', '--hidden', '64,x'], 'train', /Layer 2 is "x", not a width/],
      [['train', '--demo', 'moons'], 'train', /argument 'moons' is invalid\. Allowed choices are spirals, blobs/],
      [['train', '--demo', 'spirals', '--device', 'gpu0'], 'train', /Expected auto, cpu, cuda or cuda:N/],
      [['train', '--demo', 'spirals', '--batch-size', '0'], 'train', /'--batch-size <n>' argument '0' is invalid/],
      [['train', '--demo', 'spirals', '--frobnicate'], 'train', /unknown option '--frobnicate'/],
      [['train'], 'train', /Pass a data file \(e\.g\. backprop train data\.csv\) or --demo spirals/],
      [['train', BLOBS, '--demo', 'blobs'], 'train', /Pass a data file or --demo blobs, not both/],
      [['train', '--demo', 'blobs', '--save-every', '10'], 'train', /--save-every needs --output DIR/],
      [['train', '--demo', 'blobs', '--quiet', '--verbose'], 'train', /--quiet and --verbose cannot be used together/],
      [['multi-run', '--demo', 'blobs', '--merge', 'median'], 'multi-run', /Allowed choices are simple, average/],
      [['multi-run', '--demo', 'blobs', '--early-stopping', '--no-validate'], 'multi-run', /--early-stopping needs validation/],
      [['gpu', '--interval', '500'], 'gpu', /--interval applies to --watch and --simulate/],
      [['gpu', '--simulate', 'meltdown'], 'gpu', /Allowed choices are heatup, cooldown, flaky, memory, power/],
      [['inspect'], 'inspect', /missing required argument 'checkpoint'/],
      [['predict', 'ckpt'], 'predict', /missing required argument 'data'/],
    ];
    for (const [args, command, message] of cases) {
      it(`backprop ${args.map((a) => (a === BLOBS ? 'blobs.csv' : a)).join(' ')}`, async () => {
        assertUsageError(await runCli(args), command, message);
      });
    }

    it('--resume with a model flag: the checkpoint fixes the model', async () => {
      const r = await runCli(['train', BLOBS, '--resume', model, '--hidden', '16']);
      assertUsageError(r, 'train', /--hidden cannot be combined with --resume/);
    });

    it('no command, or an unknown one: exit 2 with the overall help', async () => {
      const none = await runCli([]);
      assert.equal(none.code, 2);
      assert.match(none.stderr, /Usage: backprop \[options\] \[command\]/);
      const unknown = await runCli(['trian']);
      assert.equal(unknown.code, 2);
      assert.match(unknown.stderr, /unknown command 'trian'/);
      assert.match(unknown.stderr, /Usage: backprop \[options\] \[command\]/);
    });
  });

  describe('nothing half-written on failure', () => {
    it('a failed training run creates no output folder', async () => {
      const out = path.join(tempDir(), 'run');
      const r = await runCli(['train', BAD_CELL, '--output', out]);
      assert.equal(r.code, 1);
      assert.equal(fs.existsSync(out), false);
    });

    it('an --output or --checkpoint-dir that cannot be a folder fails before training, creating nothing', async () => {
      const dir = tempDir();
      const file = path.join(dir, 'a-file');
      fs.writeFileSync(file, 'not a folder\n');
      const asFolder = await runCli(['train', '--demo', 'blobs', '--output', file]);
      assertFailure(asFolder, 'CONFIG_INVALID');
      assert.match(asFolder.stderr, /--output \S+a-file: is a file, not a folder\. Pass a folder path/);
      assert.doesNotMatch(asFolder.stderr, /^step /m, 'no training happened');
      const below = await runCli(['multi-run', '--demo', 'blobs', '--checkpoint-dir', path.join(file, 'session')]);
      assertFailure(below, 'CONFIG_INVALID');
      assert.match(below.stderr, /--checkpoint-dir \S+: cannot be created because \S+a-file is a file, not a folder/);
      assert.deepEqual(listTree(dir), ['a-file']);
    });

    it('a failed predict leaves an existing --output file as it was, with no temporary files beside it', async () => {
      const dir = tempDir();
      const target = path.join(dir, 'predictions.csv');
      fs.writeFileSync(target, 'previous results\n');
      const r = await runCli(['predict', model, BAD_CELL, '--output', target]);
      assertFailure(r, 'INPUT_PARSE');
      assert.equal(fs.readFileSync(target, 'utf8'), 'previous results\n');
      assert.deepEqual(listTree(dir), ['predictions.csv']);
    });

    it('predict --output into a missing folder says which folder and writes nothing', async () => {
      const dir = tempDir();
      const r = await runCli(['predict', model, BLOBS, '--output', path.join(dir, 'missing', 'p.csv')]);
      assertFailure(r, 'RUNTIME_FAILED');
      assert.match(r.stderr, new RegExp(`the folder ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/missing does not exist`));
      assert.deepEqual(listTree(dir), []);
    });
  });
});
