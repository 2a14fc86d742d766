'use strict';
// Continual learning: classes arrive in chunks (run 1 sees only classes 0 and
// 1, run 2 only classes 2 and 3). Plain sequential training ('simple', no
// replay) forgets the first chunk; 'average' mode and 'simple' with replay
// keep it. Measured on held-out rows of the first chunk's classes with the
// session's final model (its finalCheckpointPath, loaded with Trainer.load).
//
// Observed (seed 15, threads 1 and 2 alike): earlier-chunk accuracy
// plain 0.055, simple + replay 0.5 'recent' 0.920, average 0.945;
// new-chunk accuracy plain 1.000, replay 1.000, average 0.270.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const dist = process.env.BP_DIST || path.join(__dirname, '..', 'dist');
const { Trainer, datasets } = require(dist);
const { MultiRunTrainer } = require(path.join(dist, 'multi-run'));

/** The bound: earlier-chunk accuracy that replay or averaging keeps and plain sequential training misses. */
const RETENTION_BOUND = 0.75;
const FEATURES = 2;
const PER_CLASS_TRAIN = 100;

/**
 * 800 blob points in 4 classes. Training rows: chunk 1 = classes 0 and 1
 * interleaved (200 rows), chunk 2 = classes 2 and 3 (200 rows), in that order.
 * The other 100 points per class are held out for testing.
 */
function classIncremental() {
  const ds = datasets.blobs({ samples: 800, classes: 4, seed: 15, spread: 1.0 });
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
  this.timeout(60000);
  const dirs = [];
  after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  const { train, test } = classIncremental();
  const earlier = onlyClasses(test, [0, 1]);
  const later = onlyClasses(test, [2, 3]);

  async function session(mergeMode, replayFraction) {
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
    const model = await Trainer.load(result.finalCheckpointPath, { threads: 1 });
    return { earlier: model.evaluate(earlier).accuracy, later: model.evaluate(later).accuracy };
  }

  it(`'average' mode and 'simple' with replay keep earlier-chunk accuracy >= ${RETENTION_BOUND}; plain sequential training does not`, async () => {
    const plain = await session('simple', 0);
    const replay = await session('simple', 0.5);
    const average = await session('average', 0);
    const numbers = `plain ${plain.earlier.toFixed(3)}/${plain.later.toFixed(3)}, replay ${replay.earlier.toFixed(3)}/${replay.later.toFixed(3)}, average ${average.earlier.toFixed(3)}/${average.later.toFixed(3)} (earlier/new chunk)`;
    if (process.env.BP_VERBOSE) console.log(`      ${numbers}`);

    // Plain sequential training learned the new chunk and forgot the old one.
    assert.ok(plain.later >= 0.9, `plain training learned the new classes: ${numbers}`);
    assert.ok(plain.earlier < RETENTION_BOUND, `plain training forgets: ${numbers}`);
    // Replay and averaging keep the first chunk.
    assert.ok(replay.earlier >= RETENTION_BOUND, `replay keeps the first chunk: ${numbers}`);
    assert.ok(average.earlier >= RETENTION_BOUND, `averaging keeps the first chunk: ${numbers}`);
    // Replay does so without giving up the new chunk.
    assert.ok(replay.later >= 0.9, `replay still learns the new classes: ${numbers}`);
  });
});
