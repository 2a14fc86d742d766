'use strict';
// The session folder's commit protocol (ts/multi-run/session-commit.ts) and
// the result assembly (ts/multi-run/results.ts), on their own.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const commit = require('../dist/multi-run/session-commit');
const results = require('../dist/multi-run/results');

describe('multi-run session commit protocol', () => {
  let dir;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bp-commit-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('staged names round-trip and are recognised; final names pass through', () => {
    const staged = commit.stagedName('accumulator');
    assert.equal(staged, `accumulator${commit.STAGED_SUFFIX}`);
    assert.ok(commit.isStagedName(staged));
    assert.ok(!commit.isStagedName('accumulator'));
    assert.equal(commit.unstagedName(staged), 'accumulator');
    assert.equal(commit.unstagedName('run-3'), 'run-3');
  });

  it('a staged start checkpoint still on disk is the one meant', async () => {
    fs.mkdirSync(path.join(dir, 'accumulator.staged'));
    assert.equal(await commit.settledStartCheckpoint(dir, 'accumulator.staged'), 'accumulator.staged');
  });

  it('a staged name whose folder was already moved means the final name (stopped between move and state write)', async () => {
    fs.mkdirSync(path.join(dir, 'accumulator'));
    assert.equal(await commit.settledStartCheckpoint(dir, 'accumulator.staged'), 'accumulator');
  });

  it('a final name is returned unchanged without touching the disk', async () => {
    assert.equal(await commit.settledStartCheckpoint(path.join(dir, 'missing'), 'run-1'), 'run-1');
  });
});

describe('multi-run result assembly', () => {
  const fields = {
    runIndex: 1, steps: 10, samples: 100, samplesSeen: 320, replaySamples: 0, replaySources: [], finalLoss: 0.5,
    lossHistory: [1, 0.5], learningRate: 0.01, durationSeconds: 0.2, checkpointPath: null, pruned: false,
    validationLoss: null, validationAccuracy: null, gpuMaxTemp: null, gpuMaxVramPercent: null, failed: false, failureReason: null, runId: 'r',
  };

  it('freezes a run result deeply', () => {
    const r = results.freezeRunResult({ ...fields });
    assert.ok(Object.isFrozen(r) && Object.isFrozen(r.lossHistory) && Object.isFrozen(r.replaySources));
  });

  it('stores checkpoint paths relative to the session folder and restores them absolute', () => {
    const dir = path.join(os.tmpdir(), 'session');
    const r = results.freezeRunResult({ ...fields, checkpointPath: path.join(dir, 'run-1') });
    const stored = results.toStored(r, dir);
    assert.equal(stored.checkpointPath, 'run-1');
    assert.deepEqual(results.toRunResult(stored, path.join(os.tmpdir(), 'moved')).checkpointPath, path.join(os.tmpdir(), 'moved', 'run-1'));
  });

  it('a session result sums the runs, marks run boundaries and takes the last completed run\'s loss', () => {
    const a = results.freezeRunResult({ ...fields, runIndex: 1, lossHistory: [3, 2], finalLoss: 2 });
    const b = results.freezeRunResult({ ...fields, runIndex: 2, lossHistory: [1], finalLoss: 1 });
    const c = results.freezeRunResult({ ...fields, runIndex: 3, lossHistory: [], finalLoss: null, failed: true, failureReason: 'x' });
    const state = { runId: 's', elapsedSeconds: 4, startCheckpoint: null, fingerprint: { mergeMode: 'average' } };
    const m = results.buildMultiRunResult({ dir: '/tmp/s', state, runs: [a, b, c] }, { aborted: false, abortReason: null });
    assert.equal(m.totalRuns, 3);
    assert.equal(m.totalSteps, 30);
    assert.deepEqual(m.aggregateLossHistory, [3, 2, 1]);
    assert.deepEqual(m.runBoundaries, [0, 2, 3]);
    assert.equal(m.finalLoss, 1);
    assert.equal(m.mergeMode, 'average');
    assert.equal(m.finalCheckpointPath, null);
  });
});
