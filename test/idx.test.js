'use strict';
// The IDX reader and the IDX data source: files written here, byte by byte,
// into a temporary folder, plain and gzip'd, good and broken.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');

const dist = process.env.BP_DIST || path.join(__dirname, '..', 'dist');
const { readIdx } = require(path.join(dist, 'idx'));
const { isIdxPath } = require(path.join(dist, 'idx-data'));
const { loadDataFile } = require(path.join(dist, 'data-files', 'load'));
const { resolveTrainOptions } = require(path.join(dist, 'config'));
const { datasets, MultiRunTrainer, Trainer } = require(dist);
const { runCli, parseNdjson } = require('./fixtures/cli-harness');

/** An IDX file: magic 0x0000, type byte, dimension count, big-endian sizes, then the values. */
function idxBytes(type, dims, values) {
  const size = { 0x08: 1, 0x09: 1, 0x0b: 2, 0x0c: 4, 0x0d: 4, 0x0e: 8 }[type];
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = type;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  const body = Buffer.alloc(values.length * size);
  values.forEach((v, i) => {
    if (type === 0x08) body.writeUInt8(v, i);
    else if (type === 0x09) body.writeInt8(v, i);
    else if (type === 0x0b) body.writeInt16BE(v, 2 * i);
    else if (type === 0x0c) body.writeInt32BE(v, 4 * i);
    else if (type === 0x0d) body.writeFloatBE(v, 4 * i);
    else body.writeDoubleBE(v, 8 * i);
  });
  return Buffer.concat([header, body]);
}

async function rejection(promise, code) {
  let caught;
  await assert.rejects(promise, (error) => {
    caught = error;
    return true;
  });
  assert.equal(caught.name, 'BackpropError', `expected a BackpropError, got ${caught && caught.stack}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

function thrown(fn, code) {
  let caught;
  assert.throws(fn, (error) => {
    caught = error;
    return true;
  });
  assert.equal(caught.name, 'BackpropError', `expected a BackpropError, got ${caught && caught.stack}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

describe('IDX files', () => {
  let dir;
  const write = (name, bytes) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, bytes);
    return file;
  };

  // 4 images of 2 x 3 pixels: pixel p of image i is 10 * i + p (image 3 ends with 255).
  const pixels = [];
  for (let i = 0; i < 4; i++) for (let p = 0; p < 6; p++) pixels.push(i === 3 && p === 5 ? 255 : 10 * i + p);
  const labelValues = [0, 2, 1, 2];
  const imagesBytes = idxBytes(0x08, [4, 2, 3], pixels);
  const labelsBytes = idxBytes(0x08, [4], labelValues);

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bp-idx-'));
  });
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('readIdx', () => {
    for (const gzipped of [false, true]) {
      it(`reads a ${gzipped ? "gzip'd" : 'plain'} uint8 file: type, dimensions and values`, async () => {
        const file = write(`good${gzipped ? '.gz' : ''}-images-idx3-ubyte`, gzipped ? zlib.gzipSync(imagesBytes) : imagesBytes);
        const array = await readIdx(file);
        assert.equal(array.type, 'uint8');
        assert.deepEqual(array.dims, [4, 2, 3]);
        assert.deepEqual(Array.from(array.values), pixels);
        assert.equal(array.compressed, gzipped);
        assert.equal(array.dataOffset, 16);
      });
    }

    it('decodes every multi-byte type big-endian', async () => {
      const cases = [
        [0x09, 'int8', [-128, -1, 0, 127]],
        [0x0b, 'int16', [-32768, -2, 300, 32767]],
        [0x0c, 'int32', [-2147483648, -3, 70000, 2147483647]],
        [0x0d, 'float32', [-1.5, 0, 0.25, 3e38]],
        [0x0e, 'float64', [-1e300, 0, 0.1, Math.PI]],
      ];
      for (const [byte, type, values] of cases) {
        const array = await readIdx(write(`t-${type}.idx`, idxBytes(byte, [values.length], values)));
        assert.equal(array.type, type);
        assert.deepEqual(Array.from(array.values), type === 'float32' ? values.map(Math.fround) : values);
      }
    });

    const malformed = [
      ['wrong magic (a CSV file)', () => Buffer.from('a,b,label\n1,2,0\n'), 0],
      ['wrong magic in the second byte', () => Buffer.from([0, 1, 8, 1, 0, 0, 0, 0]), 1],
      ['an unknown type byte', () => Buffer.from([0, 0, 0x0a, 1, 0, 0, 0, 0]), 2],
      ['a dimension count of zero', () => Buffer.from([0, 0, 8, 0]), 3],
      ['a file shorter than the fixed header', () => Buffer.from([0, 0]), 2],
      ['a header cut inside the dimension sizes', () => imagesBytes.subarray(0, 10), 10],
      ['data cut short', () => imagesBytes.subarray(0, imagesBytes.length - 5), imagesBytes.length - 5],
      ['bytes after the data the header promises', () => Buffer.concat([imagesBytes, Buffer.from([1, 2])]), imagesBytes.length],
      ['an empty file', () => Buffer.alloc(0), 0],
    ];
    for (const [what, bytes, offset] of malformed) {
      for (const gzipped of [false, true]) {
        it(`rejects ${what}${gzipped ? " (gzip'd)" : ''} with INPUT_PARSE at byte ${offset}`, async () => {
          const file = write(`bad-images-idx3-ubyte${gzipped ? '.gz' : ''}`, gzipped ? zlib.gzipSync(bytes()) : bytes());
          const error = await rejection(readIdx(file), 'INPUT_PARSE');
          assert.equal(error.details.offset, offset, error.message);
          assert.equal(error.details.path, file);
          assert.equal(error.details.compressed, gzipped);
          assert.match(error.message, /bad-images-idx3-ubyte/);
          assert.match(error.message, /download it again|not an IDX file|damaged/);
        });
      }
    }

    it("rejects a cut-off gzip stream with INPUT_PARSE and the count of intact decompressed bytes", async () => {
      // Incompressible pixels, so the cut lands inside the image data.
      const noisy = [];
      for (let i = 0; i < 4000; i++) noisy.push((i * 2654435761) >>> 24);
      const bytes = idxBytes(0x08, [40, 10, 10], noisy);
      const gz = zlib.gzipSync(bytes);
      const file = write('cut-images-idx3-ubyte.gz', gz.subarray(0, Math.floor(gz.length / 2)));
      const error = await rejection(readIdx(file), 'INPUT_PARSE');
      assert.equal(error.details.compressed, true);
      assert.ok(error.details.offset > 16 && error.details.offset < bytes.length, `offset ${error.details.offset}`);
      assert.match(error.message, /gzip/);
    });

    it('rejects a missing file with INPUT_NOT_FOUND', async () => {
      const error = await rejection(readIdx(path.join(dir, 'nope-idx3-ubyte.gz')), 'INPUT_NOT_FOUND');
      assert.match(error.message, /not found/);
    });
  });

  describe('isIdxPath', () => {
    it('knows IDX names and nothing else', () => {
      for (const name of ['train-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte', 'x.idx3-ubyte.gz', 'data.idx', 'DATA.IDX.GZ', 'a_idx2-float']) {
        assert.equal(isIdxPath(name), true, name);
      }
      for (const name of ['data.csv', 'idx.csv', 'train.jsonl', 'mydx3-ubyte', 'file.gz', 'videos.idx3-ubyte.zip']) {
        assert.equal(isIdxPath(name), false, name);
      }
    });
  });

  describe('datasets.idx', () => {
    for (const gzipped of [false, true]) {
      it(`pairs ${gzipped ? "gzip'd" : 'plain'} images and labels into normalized rows`, async () => {
        const images = write(`pair-images-idx3-ubyte${gzipped ? '.gz' : ''}`, gzipped ? zlib.gzipSync(imagesBytes) : imagesBytes);
        const labels = write(`pair-labels-idx1-ubyte${gzipped ? '.gz' : ''}`, gzipped ? zlib.gzipSync(labelsBytes) : labelsBytes);
        const data = await datasets.idx({ images, labels });
        assert.equal(data.rows, 4);
        assert.equal(data.inputSize, 6);
        assert.equal(data.outputSize, 3);
        assert.ok(data.x instanceof Float32Array && data.y instanceof Int32Array);
        assert.deepEqual(Array.from(data.y), labelValues);
        assert.deepEqual(Array.from(data.x), pixels.map((p) => Math.fround(p / 255)));
        assert.equal(data.x[23], 1);
      });
    }

    it('keeps raw values with normalize: false, and stops at limit', async () => {
      const images = write('raw-images-idx3-ubyte', imagesBytes);
      const labels = write('raw-labels-idx1-ubyte', labelsBytes);
      const data = await datasets.idx({ images, labels, normalize: false, limit: 2, classes: 5 });
      assert.equal(data.rows, 2);
      assert.equal(data.outputSize, 5);
      assert.deepEqual(Array.from(data.x), pixels.slice(0, 12));
      assert.deepEqual(Array.from(data.y), [0, 2]);
    });

    it('rejects a labels file with a different count: INPUT_SHAPE_MISMATCH at the count (byte 4)', async () => {
      const images = write('n-images-idx3-ubyte', imagesBytes);
      const labels = write('n-labels-idx1-ubyte', idxBytes(0x08, [3], [0, 1, 2]));
      const error = await rejection(datasets.idx({ images, labels }), 'INPUT_SHAPE_MISMATCH');
      assert.equal(error.details.offset, 4);
      assert.equal(error.details.path, labels);
      assert.equal(error.details.labels, 3);
      assert.equal(error.details.images, 4);
      assert.match(error.message, /3 labels .* 4 images/);
    });

    it('rejects a label at or above classes: INPUT_LABEL_RANGE at that byte', async () => {
      const images = write('r-images-idx3-ubyte', imagesBytes);
      const labels = write('r-labels-idx1-ubyte', idxBytes(0x08, [4], [0, 1, 7, 1]));
      const error = await rejection(datasets.idx({ images, labels, classes: 3 }), 'INPUT_LABEL_RANGE');
      assert.equal(error.details.offset, 8 + 2);
      assert.equal(error.details.row, 2);
      assert.equal(error.details.label, 7);
      assert.match(error.message, /raise classes to at least 8/);
    });

    it('rejects a negative or fractional label: INPUT_LABEL_RANGE at that byte', async () => {
      const images = write('s-images-idx3-ubyte', imagesBytes);
      const negative = write('s-labels-idx1-byte', idxBytes(0x09, [4], [0, 1, 2, -1]));
      assert.equal((await rejection(datasets.idx({ images, labels: negative }), 'INPUT_LABEL_RANGE')).details.offset, 8 + 3);
      const fraction = write('f-labels-idx1-float', idxBytes(0x0d, [4], [0, 0.5, 1, 1]));
      assert.equal((await rejection(datasets.idx({ images, labels: fraction }), 'INPUT_LABEL_RANGE')).details.offset, 8 + 4);
    });

    it('rejects images and labels swapped: INPUT_SHAPE_MISMATCH naming the fix', async () => {
      const images = write('w-images-idx3-ubyte', imagesBytes);
      const labels = write('w-labels-idx1-ubyte', labelsBytes);
      const error = await rejection(datasets.idx({ images: labels, labels: images }), 'INPUT_SHAPE_MISMATCH');
      assert.match(error.message, /holds labels, not images/);
    });

    it('passes a broken file through as INPUT_PARSE with its offset', async () => {
      const images = write('b-images-idx3-ubyte', imagesBytes.subarray(0, 20));
      const labels = write('b-labels-idx1-ubyte', labelsBytes);
      const error = await rejection(datasets.idx({ images, labels }), 'INPUT_PARSE');
      assert.equal(error.details.offset, 20);
    });

    it('checks its options', async () => {
      const checks = [
        [{}, 'images'],
        [{ images: 'a-idx3-ubyte', labels: '' }, 'labels'],
        [{ images: 'a', labels: 'b', normalize: 1 }, 'normalize'],
        [{ images: 'a', labels: 'b', limit: 0 }, 'limit'],
        [{ images: 'a', labels: 'b', classes: 1 }, 'classes'],
        [{ images: 'a', labels: 'b', label: 'x' }, 'label'],
      ];
      for (const [options, field] of checks) {
        const error = await rejection(datasets.idx(options), 'CONFIG_INVALID');
        assert.equal(error.details.field, field, error.message);
      }
    });
  });

  describe('as a training data file', () => {
    it('loadDataFile reads an IDX images file with its labels file', async () => {
      const images = write('ld-images-idx3-ubyte.gz', zlib.gzipSync(imagesBytes));
      const labels = write('ld-labels-idx1-ubyte', labelsBytes);
      const loaded = await loadDataFile(images, { labels });
      assert.equal(loaded.format, 'idx');
      assert.equal(loaded.rows, 4);
      assert.equal(loaded.featureNames.length, 6);
      assert.deepEqual(Array.from(loaded.y), labelValues);
      assert.equal(loaded.x[6], Math.fround(10 / 255));
    });

    it('labels is required for IDX data, rejected for CSV, and label is rejected for IDX', () => {
      let error = thrown(() => resolveTrainOptions({}, 'train-images-idx3-ubyte.gz'), 'CONFIG_INVALID');
      assert.equal(error.details.field, 'labels');
      assert.match(error.message, /labels: 'train-labels-idx1-ubyte.gz'/);
      error = thrown(() => resolveTrainOptions({ labels: 'y-idx1-ubyte' }, 'data.csv'), 'CONFIG_INVALID');
      assert.equal(error.details.field, 'labels');
      assert.match(error.message, /not an IDX images file/);
      error = thrown(() => resolveTrainOptions({ labels: 'y-idx1-ubyte', label: 'y' }, 'x-idx3-ubyte'), 'CONFIG_INVALID');
      assert.equal(error.details.field, 'label');
      error = thrown(() => resolveTrainOptions({ labels: 'y-idx1-ubyte' }, { x: new Float32Array(2), y: new Int32Array(1) }), 'CONFIG_INVALID');
      assert.equal(error.details.field, 'labels');
      error = thrown(() => resolveTrainOptions({ labels: 3 }, 'x-idx3-ubyte'), 'CONFIG_INVALID');
      assert.equal(error.details.field, 'labels');
      assert.equal(resolveTrainOptions({ labels: 'y-idx1-ubyte' }, 'x-idx3-ubyte').labels, 'y-idx1-ubyte');
    });

    it('Trainer.train(imagesFile, { labels }) trains on it, and rejects a missing labels option before reading', async () => {
      const images = write('tr-images-idx3-ubyte', imagesBytes);
      const labels = write('tr-labels-idx1-ubyte', labelsBytes);
      const trainer = new Trainer({ model: { inputSize: 6, hiddenLayers: [8], outputSize: 3 }, device: 'cpu', threads: 1 });
      const run = await trainer.train(images, { labels, epochs: 3, batchSize: 2 });
      assert.equal(run.steps, 6);
      const error = await rejection(trainer.train(images, { epochs: 1 }), 'CONFIG_INVALID');
      assert.equal(error.details.field, 'labels');
    });

    it('MultiRunTrainer.run(imagesFile, { labels }) trains each run on its chunk of the images, and checks labels before any work', async () => {
      const images = write('mr-images-idx3-ubyte.gz', zlib.gzipSync(imagesBytes));
      const labels = write('mr-labels-idx1-ubyte', labelsBytes);
      const checkpointDir = path.join(dir, 'mr-session');
      const config = { numRuns: 2, samplesPerRun: 2, stepsPerRun: 3, batchSize: 2, validationSamples: 0, validateEveryRun: false, enableGpuMonitoring: false, saveEveryRun: false, checkpointDir };
      const trainer = new MultiRunTrainer({ model: { inputSize: 6, hiddenLayers: [8], outputSize: 3 }, device: 'cpu', threads: 1, seed: 3, config });
      const result = await trainer.run(images, { labels });
      assert.equal(result.totalRuns, 2);
      assert.deepEqual(result.runs.map((r) => [r.steps, r.samples, r.failed]), [[3, 2, false], [3, 2, false]]);
      assert.ok(result.runs.every((r) => Number.isFinite(r.finalLoss)));

      // The same pixels and labels in memory train to the same losses: the file was read as Trainer.train reads it.
      const x = Float32Array.from(pixels, (p) => p / 255);
      const inMemory = new MultiRunTrainer({ model: { inputSize: 6, hiddenLayers: [8], outputSize: 3 }, device: 'cpu', threads: 1, seed: 3, config: { ...config, checkpointDir: path.join(dir, 'mr-memory') } });
      const expected = await inMemory.run({ x, y: Int32Array.from(labelValues) });
      assert.deepEqual(result.runs.map((r) => r.lossHistory), expected.runs.map((r) => r.lossHistory));

      const fresh = path.join(dir, 'mr-refused');
      const refused = new MultiRunTrainer({ model: { inputSize: 6, hiddenLayers: [8], outputSize: 3 }, device: 'cpu', threads: 1, config: { ...config, checkpointDir: fresh } });
      let error = await rejection(refused.run(images), 'CONFIG_INVALID');
      assert.equal(error.details.field, 'labels');
      assert.match(error.message, /labels: 'train-labels-idx1-ubyte.gz'/);
      error = await rejection(refused.run({ x, y: Int32Array.from(labelValues) }, { labels }), 'CONFIG_INVALID');
      assert.equal(error.details.field, 'labels');
      error = await rejection(refused.run(images, { labels, label: 'y' }), 'CONFIG_INVALID');
      assert.equal(error.details.field, 'label');
      assert.equal(fs.existsSync(fresh), false, 'a refused run() writes no session folder');
    });

    it('backprop train <images> --labels <labels> trains on IDX files; a missing or misplaced --labels is a usage error', async () => {
      const images = write('cli-images-idx3-ubyte.gz', zlib.gzipSync(imagesBytes));
      const labels = write('cli-labels-idx1-ubyte', labelsBytes);
      const ok = await runCli(['train', images, '--labels', labels, '--epochs', '2', '--batch-size', '2', '--validation-split', '0', '--json']);
      assert.equal(ok.code, 0, ok.stderr);
      const start = parseNdjson(ok.stdout).find((e) => e.event === 'start');
      assert.equal(start.rows, 4, ok.stdout);
      assert.equal(parseNdjson(ok.stdout).find((e) => e.event === 'complete').steps, 4);
      const missing = await runCli(['train', images]);
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /pass its labels file too, e\.g\. --labels/);
      const csv = await runCli(['train', 'data.csv', '--labels', labels]);
      assert.equal(csv.code, 2);
      assert.match(csv.stderr, /--labels is for IDX images files/);
    });
  });
});
