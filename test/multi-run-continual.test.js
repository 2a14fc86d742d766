'use strict';
// Continual learning: classes arrive in chunks (run 1 sees only classes 0 and
// 1, run 2 only classes 2 and 3). Plain sequential training ('simple', no
// replay) forgets the first chunk; 'average' mode and 'simple' with replay
// keep it. Measured on held-out rows of the first chunk's classes with the
// session's final model (its finalCheckpointPath, loaded with Trainer.load).
//
// One dataset decides little: how well the first chunk survives depends on
// where the blobs happen to lie (overlapping classes) and on the initial
// weights. So the check runs ten datasets (blob seeds 1 to 10) and bounds the
// mean. Observed means (threads 1), earlier-chunk / new-chunk / all classes:
//   plain            0.098 / 0.995 / 0.546  (per dataset 0 to 0.5)
//   simple + replay  0.851 / 0.966 / 0.909  (per dataset 0.48 to 1)
//   average          0.753 / 0.846 / 0.799  (per dataset 0.005 to 1)
// The bound, 0.6, sits 0.15 below the lower of the two retaining means and
// 0.5 above plain training's; no single dataset is bounded, since single
// datasets range that widely.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const dist = process.env.BP_DIST || path.join(__dirname, '..', 'dist');
const { Trainer, datasets } = require(dist);
const { MultiRunTrainer } = require(path.join(dist, 'multi-run'));

/** The bound on the mean earlier-chunk accuracy: replay and averaging keep it, plain sequential training misses it. */
const RETENTION_BOUND = 0.6;
const DATASET_SEEDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
const FEATURES = 2;
const PER_CLASS_TRAIN = 100;

/**
 * 800 blob points in 4 classes. Training rows: chunk 1 = classes 0 and 1
 * interleaved (200 rows), chunk 2 = classes 2 and 3 (200 rows), in that order.
 * The other 100 points per class are held out for testing.
 */
function classIncremental(seed) {
  const ds = datasets.blobs({ samples: 800, classes: 4, seed, spread: 1.0 });
  const byClass = [[], [], [], []];
  for (let i = 0; i < ds.rows; i++) byClass[ds.y[i]].push(i);
  const train = { x: [], y: [] };
  const test = { x: [], y: [] };
  const push = (into, row, cls) => {
    for (let f = 0; f < FEATURES; f++) into.x.push(ds.x[row * FEATURES + f]);
    into.y.push(cls);
  };
  for (const [a, b] of [[0, 1], [2, 3]]) {
    for (let k = 0; k < PER_CLASS_TRAIN; k++) for (const c of [a, b]) push(train, byClass[c][k], c);
  }
  for (let c = 0; c < 4; c++) for (let k = PER_CLASS_TRAIN; k < byClass[c].length; k++) push(test, byClass[c][k], c);
  const pack = (d) => ({ x: Float32Array.from(d.x), y: Int32Array.from(d.y) });
  return { train: pack(train), test: pack(test) };
}

function onlyClasses(data, classes) {
  const x = [];
  const y = [];
  for (let i = 0; i < data.y.length; i++) {
    if (!classes.includes(data.y[i])) continue;
    for (let f = 0; f < FEATURES; f++) x.push(data.x[i * FEATURES + f]);
    y.push(data.y[i]);
  }
  return { x: Float32Array.from(x), y: Int32Array.from(y) };
}

describe('MultiRunTrainer continual learning', function () {
  // Thirty short sessions, each writing checkpoints: allow for a slow, shared disk.
  this.timeout(240000);
  const dirs = [];
  after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  async function session(train, mergeMode, replayFraction) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bp-multirun-continual-'));
    dirs.push(dir);
    const multi = new MultiRunTrainer({
      model: { inputSize: FEATURES, hiddenLayers: [16], outputSize: 4 },
      seed: 1,
      threads: 1,
      config: {
        numRuns: 2,
        samplesPerRun: 200,
        stepsPerRun: 100,
        shuffleData: false, // chunk i = the i-th 200 rows: the class pairs above
        validationSamples: 0,
        validateEveryRun: false,
        mergeMode,
        replayFraction,
        replayStrategy: 'recent',
        initialLr: 0.01,
        finalLr: 0.01,
        lrDecay: 'constant',
        warmupStepsPerRun: 0,
        enableGpuMonitoring: false,
        checkpointDir: dir,
      },
    });
    const result = await multi.run(train);
    assert.equal(result.totalRuns, 2);
    return Trainer.load(result.finalCheckpointPath, { threads: 1 });
  }

  const mean = (values) => values.reduce((a, b) => a + b, 0) / values.length;

  it(`'average' mode and 'simple' with replay keep a mean earlier-chunk accuracy >= ${RETENTION_BOUND}; plain sequential training does not`, async () => {
    const modes = { plain: ['simple', 0], replay: ['simple', 0.5], average: ['average', 0] };
    const scores = { plain: [], replay: [], average: [] };
    for (const seed of DATASET_SEEDS) {
      const { train, test } = classIncremental(seed);
      const earlier = onlyClasses(test, [0, 1]);
      const later = onlyClasses(test, [2, 3]);
      for (const [name, [mergeMode, replayFraction]] of Object.entries(modes)) {
        const model = await session(train, mergeMode, replayFraction);
        scores[name].push({ earlier: model.evaluate(earlier).accuracy, later: model.evaluate(later).accuracy, all: model.evaluate(test).accuracy });
      }
    }
    const summary = {};
    for (const [name, list] of Object.entries(scores)) {
      summary[name] = { earlier: mean(list.map((s) => s.earlier)), later: mean(list.map((s) => s.later)), all: mean(list.map((s) => s.all)) };
    }
    const numbers = Object.entries(summary)
      .map(([name, m]) => `${name} ${m.earlier.toFixed(3)}/${m.later.toFixed(3)}/${m.all.toFixed(3)}`)
      .join(', ');
    if (process.env.BP_VERBOSE) console.log(`      mean accuracy earlier/new/all: ${numbers}`);

    // Plain sequential training learned the new classes and forgot the old ones.
    assert.ok(summary.plain.later >= 0.9, `plain training learned the new classes: ${numbers}`);
    assert.ok(summary.plain.earlier < RETENTION_BOUND, `plain training forgets: ${numbers}`);
    // Replay and averaging keep the first chunk.
    assert.ok(summary.replay.earlier >= RETENTION_BOUND, `replay keeps the first chunk: ${numbers}`);
    assert.ok(summary.average.earlier >= RETENTION_BOUND, `averaging keeps the first chunk: ${numbers}`);
    // Replay does so without giving up the new chunk.
    assert.ok(summary.replay.later >= 0.9, `replay still learns the new classes: ${numbers}`);
  });
});
