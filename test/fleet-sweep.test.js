'use strict';
// Sweeps on a real redis-server: seeded trials (same seed, same trials), a
// grid, the median pruner stopping bad trials early, the best trial.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { TrainingQueue, TrainingWorker, sweepTrials, median } = require('../dist/fleet');
const { startRedis, available } = require('./helpers/redis');
const { trainJob } = require('./helpers/fleet');

const EPOCHS = 12;
const base = () => trainJob({ seed: 3, samples: 1500, hidden: [32, 32], epochs: EPOCHS, train: { validationSplit: 0.2 } });
const spec = (seed) => ({
  base: base(),
  random: { trials: 12, space: { learningRate: { log: [1e-5, 1e-1] }, batchSize: { choice: [16, 32, 64] } } },
  metric: 'validationLoss',
  direction: 'min',
  pruner: 'median',
  seed,
});

describe('fleet sweeps', function () {
  this.timeout(90000);

  it('same seed, same trials; another seed, other trials; a grid is every combination', () => {
    const a = sweepTrials(spec(7)).map((t) => t.params);
    assert.equal(a.length, 12);
    assert.deepEqual(sweepTrials(spec(7)).map((t) => t.params), a);
    assert.notDeepEqual(sweepTrials(spec(8)).map((t) => t.params), a);
    for (const p of a) assert.ok(p.learningRate >= 1e-5 && p.learningRate <= 1e-1 && [16, 32, 64].includes(p.batchSize));
    const grid = sweepTrials({ base: base(), grid: { learningRate: [1e-3, 1e-2], 'trainer.model.hiddenLayers': [[8], [16, 16]] } });
    assert.deepEqual(grid.map((t) => [t.job.trainer.learningRate, t.job.trainer.model.hiddenLayers]), [[1e-3, [8]], [1e-3, [16, 16]], [1e-2, [8]], [1e-2, [16, 16]]]);
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 2, 3]), 2.5);
  });

  it('a bad sweep rejects with CONFIG_INVALID naming the field, before anything is submitted', () => {
    const bad = (s, field) => {
      assert.throws(() => sweepTrials(s), (e) => e.code === 'CONFIG_INVALID' && e.details.field === field);
    };
    bad({ ...spec(1), random: { trials: 2, space: { learnignRate: { log: [1e-3, 1e-2] } } } }, 'random.space.learnignRate');
    bad({ ...spec(1), random: { trials: 2, space: { learningRate: { log: [0, 1] } } } }, 'random.space.learningRate.log');
    bad({ ...spec(1), random: { trials: 0, space: {} } }, 'random.trials');
    bad({ ...spec(1), random: { trials: 2, space: { learningRate: { uniform: [20, 30] } } } }, 'trainer.learningRate');
  });

  it('12 random trials with the median pruner: pruned trials stop early, the best is reported', async function () {
    if (!available()) this.skip();
    const redis = await startRedis();
    const ckpt = fs.mkdtempSync(path.join(os.tmpdir(), 'bp-fleet-ckpt-'));
    // One worker: trials run one after another, so which ones are pruned does not depend on timing.
    const worker = new TrainingWorker({ connection: redis.url, checkpointRoot: ckpt, hostName: 'sweeper' });
    const queue = new TrainingQueue({ connection: redis.url });
    try {
      const result = await queue.sweep(spec(7));
      assert.equal(result.trials.length, 12);
      const pruned = result.trials.filter((t) => t.status === 'pruned');
      const completed = result.trials.filter((t) => t.status === 'completed');
      assert.ok(pruned.length >= 1, `no trial was pruned: ${result.trials.map((t) => `${t.params.learningRate.toExponential(1)}:${t.status}`).join(' ')}`);
      assert.equal(pruned.length + completed.length, 12, 'a trial failed');
      for (const t of pruned) assert.ok(t.epochs < EPOCHS, `pruned trial ${t.index} ran all ${t.epochs} epochs`);
      // The first five complete (startup trials) before anything is pruned.
      for (const t of result.trials.slice(0, 5)) assert.equal(t.status, 'completed');
      const bestValue = Math.min(...completed.map((t) => t.value));
      assert.equal(result.best.value, bestValue);
      assert.equal(result.best.status, 'completed');
      assert.deepEqual(result.trials.map((t) => t.params), sweepTrials(spec(7)).map((t) => t.params));
    } finally {
      await queue.close();
      await worker.close();
      await redis.stop();
      fs.rmSync(ckpt, { recursive: true, force: true });
    }
  });
});
