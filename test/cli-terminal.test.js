'use strict';
// The `backprop` executable in a real pseudo-terminal (util-linux `script`):
// the live progress bar drawn from onStep at a bounded rate, the summary
// after it, colours, NO_COLOR and --no-color; and --help, --version.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { ROOT, SGR, runCli, runInTerminal, haveScript, tempDir, removeTempDirs } = require('./fixtures/cli-harness');
const { PROGRESS_FPS } = require('../dist/cli/progress');

/** The bar's frames: each redraw starts at column 1 (cursor to column 1 or a carriage return). */
function frames(output) {
  // eslint-disable-next-line no-control-regex
  const plain = output.replace(/\x1b\[[0-9;]*m/g, '');
  return plain.split(/\x1b\[1G|\r/).filter((f) => /step [\d,]+\/[\d,]+/.test(f) && !f.includes('\n'));
}

describe('backprop in a terminal (pseudo-terminal)', function () {
  this.timeout(120000);
  before(function () {
    if (!haveScript()) {
      console.log('      (skipped: util-linux `script` is not installed)');
      this.skip();
    }
  });
  after(removeTempDirs);

  // Enough steps to take a good fraction of a second, so the bar is redrawn several times.
  const TRAIN = ['train', '--demo', 'spirals', '--samples', '1000', '--hidden', '32', '--epochs', '300'];

  it('train draws a live bar from onStep (step/total, epoch, loss, lr, samples/s, ETA) at a bounded rate, then the summary', async () => {
    const started = process.hrtime.bigint();
    const r = await runInTerminal(TRAIN);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    assert.equal(r.code, 0, r.output);
    assert.ok(r.output.includes('\x1b[?25l'), 'the cursor is hidden while the bar is drawn');
    assert.ok(r.output.includes('\x1b[?25h'), 'and shown again');
    const drawn = frames(r.output);
    assert.ok(drawn.length >= 1, `the bar was drawn:\n${JSON.stringify(r.output.slice(0, 2000))}`);
    for (const f of drawn) {
      assert.match(f, /[█░]{20}\s+\d+% \| step [\d,]+\/8,700 \| epoch \d+\/300 \| loss (-|\d+\.\d{4}|[\d.]+e-\d+) \| lr 1\.00e-3 \| \S+ samples\/s \| ETA (--|\d+s|\d+m \d\ds)/, f);
    }
    assert.match(drawn[drawn.length - 1], /100% \| step 8,700\/8,700 \| epoch 300\/300 .*ETA 0s/);
    assert.ok(drawn.length <= seconds * PROGRESS_FPS + 5, `${drawn.length} redraws in ${seconds.toFixed(2)} s`);
    const barEnd = r.output.lastIndexOf('step 8,700/8,700');
    const summary = r.output.indexOf('Training complete');
    assert.ok(summary > barEnd, 'the summary comes after the final bar');
    // eslint-disable-next-line no-control-regex
    const tail = r.output.slice(summary).replace(/\x1b\[[0-9;]*m/g, '');
    assert.match(tail, /final loss\s+[\d.]+/);
    assert.match(tail, /validation\s+loss [\d.]+, accuracy [\d.]+%/);
    assert.match(tail, /device\s+cpu/);
    assert.ok(SGR.test(r.output), 'colours are on in a terminal');
  });

  it('NO_COLOR turns colours off; the bar is still drawn', async () => {
    const r = await runInTerminal(TRAIN, { env: { NO_COLOR: '1' } });
    assert.equal(r.code, 0, r.output);
    assert.doesNotMatch(r.output, SGR);
    assert.ok(frames(r.output).length >= 1);
    assert.match(r.output, /Training complete/);
  });

  it('--no-color turns colours off', async () => {
    const r = await runInTerminal(['--no-color', ...TRAIN]);
    assert.equal(r.code, 0, r.output);
    assert.doesNotMatch(r.output, SGR);
    assert.match(r.output, /Training complete/);
  });

  it('multi-run draws a bar per run labelled with the run, and a line per completed run', async () => {
    const dir = tempDir();
    const r = await runInTerminal(['multi-run', '--demo', 'spirals', '--samples', '1000', '--runs', '2', '--steps-per-run', '3000', '--hidden', '16', '--checkpoint-dir', dir]);
    assert.equal(r.code, 0, r.output);
    const drawn = frames(r.output);
    assert.ok(drawn.some((f) => /run 1\/2 .*step [\d,]+\/3,000/.test(f)), 'a bar for run 1');
    assert.ok(drawn.some((f) => /run 2\/2 .*step [\d,]+\/3,000/.test(f)), 'a bar for run 2');
    // eslint-disable-next-line no-control-regex
    const plain = r.output.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
    assert.match(plain, /run 1\/2  3,000 steps  loss [\d.]+  val [\d.]+/);
    assert.match(plain, /Multi-run session complete/);
  });
});

describe('backprop --help and --version', function () {
  this.timeout(60000);

  it('--version prints the package version', async () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    const r = await runCli(['--version']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `${version}\n`);
  });

  it('--help lists the commands, global options, examples and exit codes', async () => {
    const r = await runCli(['--help']);
    assert.equal(r.code, 0);
    for (const command of ['train', 'multi-run', 'gpu', 'inspect', 'evaluate', 'predict']) assert.match(r.stdout, new RegExp(`^  ${command} `, 'm'));
    for (const flag of ['--verbose', '--quiet', '--json', '--no-color', '--version']) assert.ok(r.stdout.includes(flag), flag);
    assert.match(r.stdout, /Examples:\n  \$ backprop train --demo spirals/);
    assert.match(r.stdout, /Exit codes: 0 ok, 1 failed .*, 2 usage error, 130 interrupted/);
  });

  for (const command of ['train', 'multi-run', 'gpu', 'inspect', 'evaluate', 'predict']) {
    it(`${command} --help shows its usage, options and examples`, async () => {
      const r = await runCli([command, '--help']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^Usage: backprop ${command} `));
      assert.match(r.stdout, /Global Options:/);
      const examples = r.stdout.slice(r.stdout.indexOf('Examples:'));
      assert.ok(r.stdout.includes('Examples:'));
      assert.ok((examples.match(new RegExp(`\\$ backprop ${command} `, 'g')) || []).length >= 2, 'at least two examples of this command');
    });
  }
});
