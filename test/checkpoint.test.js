'use strict';
// Checkpoints: save()/Trainer.load() round trip, the safetensors layout,
// corruption detection, and bit-identical resume.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const dist = process.env.BP_DIST || path.join(__dirname, '..', 'dist');
const { Trainer, datasets, BackpropError, readCheckpoint } = require(dist);
const { createSpy } = require('./helpers');

const FILES = ['model.safetensors', 'optimizer.safetensors', 'trainer_state.json'];
/** 320 rows: 10 steps per epoch at batchSize 32. */
const DATA = datasets.spirals({ samples: 320, classes: 3, seed: 2 });
const MODEL = Object.freeze({ inputSize: 2, hiddenLayers: [16], outputSize: 3 });
const PROBE = Float32Array.from(DATA.x.subarray(0, 60));

function trainerOptions(overrides = {}) {
  return { model: { ...MODEL, hiddenLayers: [...MODEL.hiddenLayers] }, seed: 2, learningRate: 0.01, threads: 1, ...overrides };
}

/** Parses a safetensors file: { headerLength, header, dataStart, bytes }. */
function readSafetensors(file) {
  const bytes = fs.readFileSync(file);
  assert.ok(bytes.length >= 8, `${file} is too short`);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  assert.ok(8 + headerLength <= bytes.length, 'the header fits in the file');
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
  return { headerLength, header, dataStart: 8 + headerLength, bytes };
}

function tensor(st, name) {
  const entry = st.header[name];
  assert.ok(entry, `tensor ${name} is in the header`);
  const [begin, end] = entry.data_offsets;
  const raw = st.bytes.subarray(st.dataStart + begin, st.dataStart + end);
  const copy = new Float32Array(raw.length / 4);
  Buffer.from(copy.buffer).set(raw);
  return { ...entry, data: copy };
}

function copyFolder(from, to) {
  fs.mkdirSync(to, { recursive: true });
  for (const f of fs.readdirSync(from)) fs.copyFileSync(path.join(from, f), path.join(to, f));
  return to;
}

/** Rewrites trainer_state.json so its file hashes and its own checksum match the files as they are now. */
function resign(folder) {
  const file = path.join(folder, 'trainer_state.json');
  const state = JSON.parse(fs.readFileSync(file, 'utf8'));
  for (const name of Object.keys(state.files)) {
    const bytes = fs.readFileSync(path.join(folder, name));
    state.files[name] = { sha256: crypto.createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length };
  }
  state.checksum = '';
  const blank = JSON.stringify(state);
  const sum = crypto.createHash('sha256').update(blank).digest('hex');
  fs.writeFileSync(file, blank.replace('"checksum":""', `"checksum":"${sum}"`));
}

/** Asserts that every way of reading the folder rejects with `code`, and that resuming from it runs no step. */
async function expectUnreadable(folder, code) {
  const check = (e) => {
    assert.ok(e instanceof BackpropError, `expected a BackpropError, got ${e && e.stack}`);
    assert.equal(e.code, code, e.message);
    return true;
  };
  await assert.rejects(readCheckpoint(folder), check);
  await assert.rejects(Trainer.load(folder), check);
  const trainer = new Trainer(trainerOptions());
  const onStep = createSpy('onStep');
  const onError = createSpy('onError');
  await assert.rejects(trainer.train(DATA, { epochs: 3, batchSize: 32, resumeFrom: folder }, { onStep, onError }), check);
  onStep.assertCalled(0);
  onError.assertCalled(0);
  assert.equal(trainer.status.step, 0);
}

describe('checkpoints', () => {
  let root;
  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'bp-ckpt-'));
  });
  after(() => {
    fs.rmSync(root, { recursive: true, force: true });
  });

  describe('save() / Trainer.load() round trip', () => {
    let trainer;
    let saved;
    before(async () => {
      trainer = new Trainer(trainerOptions());
      await trainer.train(DATA, { epochs: 3, batchSize: 32 });
      saved = await trainer.save(path.join(root, 'model'));
    });

    it('save() resolves with the absolute folder, which holds the three files', () => {
      assert.equal(saved, path.join(root, 'model'));
      assert.ok(path.isAbsolute(saved));
      assert.deepEqual(fs.readdirSync(saved).sort(), FILES);
    });

    it('Trainer.load() gives identical predict() and evaluate() output', async () => {
      const loaded = await Trainer.load(saved);
      assert.deepStrictEqual(loaded.predict(PROBE), trainer.predict(PROBE));
      assert.deepStrictEqual(loaded.evaluate(DATA), trainer.evaluate(DATA));
      assert.deepEqual(loaded.options.model, trainer.options.model);
      assert.equal(loaded.options.optimizer, trainer.options.optimizer);
      assert.equal(loaded.options.seed, trainer.options.seed);
      assert.equal(loaded.options.learningRate, trainer.options.learningRate);
    });

    it('a loaded trainer trains on', async () => {
      const loaded = await Trainer.load(saved);
      const before = loaded.evaluate(DATA).loss;
      const run = await loaded.train(DATA, { epochs: 5, batchSize: 32 });
      assert.equal(run.steps, 50);
      assert.ok(loaded.evaluate(DATA).loss < before);
    });

    it('a save() checkpoint records no run position and cannot be resumed', async () => {
      const ckpt = await readCheckpoint(saved);
      assert.equal(ckpt.run, null);
      const other = new Trainer(trainerOptions());
      await assert.rejects(other.train(DATA, { epochs: 1, resumeFrom: saved }), (e) => e.code === 'CHECKPOINT_INCOMPATIBLE');
    });

    it('model.safetensors is a valid safetensors file: 8-byte LE header length, JSON header, F32 [out, in] weights', () => {
      const st = readSafetensors(path.join(saved, 'model.safetensors'));
      const expected = {
        'layers.0.weight': [16, 2],
        'layers.0.bias': [16],
        'layers.1.weight': [3, 16],
        'layers.1.bias': [3],
      };
      const names = Object.keys(st.header).filter((k) => k !== '__metadata__');
      assert.deepEqual(names.sort(), Object.keys(expected).sort());
      let total = 0;
      const ranges = [];
      for (const [name, shape] of Object.entries(expected)) {
        const entry = st.header[name];
        assert.equal(entry.dtype, 'F32', `${name} dtype`);
        assert.deepEqual(entry.shape, shape, `${name} shape`);
        const [begin, end] = entry.data_offsets;
        assert.equal(end - begin, shape.reduce((a, b) => a * b, 1) * 4, `${name} byte range matches its shape`);
        ranges.push([begin, end]);
        total += end - begin;
      }
      ranges.sort((a, b) => a[0] - b[0]);
      assert.equal(ranges[0][0], 0);
      for (let i = 1; i < ranges.length; i++) assert.equal(ranges[i][0], ranges[i - 1][1], 'tensors are packed without gaps');
      assert.equal(st.bytes.length, st.dataStart + total, 'the file is header plus tensor data, nothing more');
      if (st.header.__metadata__) assert.equal(typeof st.header.__metadata__, 'object');
    });

    it('the stored tensors are the model: a forward pass with them reproduces predict()', () => {
      const st = readSafetensors(path.join(saved, 'model.safetensors'));
      const w0 = tensor(st, 'layers.0.weight').data;
      const b0 = tensor(st, 'layers.0.bias').data;
      const w1 = tensor(st, 'layers.1.weight').data;
      const b1 = tensor(st, 'layers.1.bias').data;
      const got = trainer.predict(PROBE);
      for (let r = 0; r < PROBE.length / 2; r++) {
        const x = [PROBE[2 * r], PROBE[2 * r + 1]];
        const h = [];
        for (let j = 0; j < 16; j++) h.push(Math.max(0, b0[j] + w0[j * 2] * x[0] + w0[j * 2 + 1] * x[1]));
        const logits = [];
        for (let k = 0; k < 3; k++) {
          let z = b1[k];
          for (let j = 0; j < 16; j++) z += w1[k * 16 + j] * h[j];
          logits.push(z);
        }
        const m = Math.max(...logits);
        const e = logits.map((z) => Math.exp(z - m));
        const s = e.reduce((a, b) => a + b, 0);
        for (let k = 0; k < 3; k++) assert.ok(Math.abs(e[k] / s - got[3 * r + k]) < 1e-4, `row ${r} class ${k}: ${e[k] / s} vs ${got[3 * r + k]}`);
      }
    });

    it('optimizer.safetensors holds the AdamW moments under PyTorch-style names', () => {
      const st = readSafetensors(path.join(saved, 'optimizer.safetensors'));
      for (const base of ['layers.0.weight', 'layers.0.bias', 'layers.1.weight', 'layers.1.bias']) {
        assert.equal(st.header[`${base}.exp_avg`].dtype, 'F32');
        assert.equal(st.header[`${base}.exp_avg_sq`].dtype, 'F32');
      }
      assert.deepEqual(st.header['layers.0.weight.exp_avg'].shape, [16, 2]);
    });
  });

  describe('corruption', () => {
    let good;
    let n = 0;
    const fresh = () => copyFolder(good, path.join(root, `corrupt-${n++}`));
    before(async () => {
      const trainer = new Trainer(trainerOptions());
      const run = await trainer.train(DATA, { epochs: 2, batchSize: 32, outputDir: path.join(root, 'good-run') });
      good = run.outputPath;
      await readCheckpoint(good); // the pristine copy reads fine
    });

    it('an intact copy reads and loads, also after re-signing it unchanged', async () => {
      const folder = fresh();
      const ckpt = await readCheckpoint(folder);
      assert.equal(ckpt.run.step, 20);
      await Trainer.load(folder);
      // The re-signing helper used below is faithful: re-signing an intact copy keeps it readable.
      resign(folder);
      assert.equal((await readCheckpoint(folder)).run.step, 20);
    });

    it('a truncated model.safetensors -> CHECKPOINT_CORRUPT', async () => {
      const folder = fresh();
      const file = path.join(folder, 'model.safetensors');
      const bytes = fs.readFileSync(file);
      fs.writeFileSync(file, bytes.subarray(0, bytes.length - 10));
      await expectUnreadable(folder, 'CHECKPOINT_CORRUPT');
    });

    it('a model.safetensors cut inside its header -> CHECKPOINT_CORRUPT', async () => {
      const folder = fresh();
      const file = path.join(folder, 'model.safetensors');
      fs.writeFileSync(file, fs.readFileSync(file).subarray(0, 5));
      await expectUnreadable(folder, 'CHECKPOINT_CORRUPT');
    });

    it('trainer_state.json with one digit changed -> CHECKPOINT_CORRUPT', async () => {
      const folder = fresh();
      const file = path.join(folder, 'trainer_state.json');
      const text = fs.readFileSync(file, 'utf8');
      const m = /"seed":(\d)/.exec(text);
      assert.ok(m, 'trainer_state.json records the seed');
      const edited = text.slice(0, m.index) + `"seed":${(Number(m[1]) + 1) % 10}` + text.slice(m.index + m[0].length);
      assert.notEqual(edited, text);
      JSON.parse(edited); // still valid JSON: only the checksum can tell
      fs.writeFileSync(file, edited);
      await expectUnreadable(folder, 'CHECKPOINT_CORRUPT');
    });

    it('trainer_state.json with a changed step in its run position -> CHECKPOINT_CORRUPT', async () => {
      const folder = fresh();
      const file = path.join(folder, 'trainer_state.json');
      const text = fs.readFileSync(file, 'utf8');
      const edited = text.replace('"step":20', '"step":21');
      assert.notEqual(edited, text);
      fs.writeFileSync(file, edited);
      await expectUnreadable(folder, 'CHECKPOINT_CORRUPT');
    });

    it('trainer_state.json that is not JSON -> CHECKPOINT_CORRUPT', async () => {
      const folder = fresh();
      const file = path.join(folder, 'trainer_state.json');
      fs.writeFileSync(file, fs.readFileSync(file, 'utf8').slice(0, 40));
      await expectUnreadable(folder, 'CHECKPOINT_CORRUPT');
    });

    it('one flipped bit in the tensor data of model.safetensors -> CHECKPOINT_CORRUPT', async () => {
      const folder = fresh();
      const file = path.join(folder, 'model.safetensors');
      const bytes = fs.readFileSync(file);
      bytes[bytes.length - 3] ^= 0x01;
      fs.writeFileSync(file, bytes);
      await expectUnreadable(folder, 'CHECKPOINT_CORRUPT');
    });

    it('one flipped byte in optimizer.safetensors -> CHECKPOINT_CORRUPT', async () => {
      const folder = fresh();
      const file = path.join(folder, 'optimizer.safetensors');
      const bytes = fs.readFileSync(file);
      bytes[bytes.length - 100] ^= 0xff;
      fs.writeFileSync(file, bytes);
      await expectUnreadable(folder, 'CHECKPOINT_CORRUPT');
    });

    it('a missing optimizer.safetensors -> CHECKPOINT_CORRUPT', async () => {
      const folder = fresh();
      fs.rmSync(path.join(folder, 'optimizer.safetensors'));
      await expectUnreadable(folder, 'CHECKPOINT_CORRUPT');
    });

    it('a re-signed model.safetensors whose header lies about a shape -> CHECKPOINT_CORRUPT', async () => {
      const folder = fresh();
      const file = path.join(folder, 'model.safetensors');
      const st = readSafetensors(file);
      st.header['layers.0.weight'].shape = [2, 16];
      const json = Buffer.from(JSON.stringify(st.header));
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(json.length));
      fs.writeFileSync(file, Buffer.concat([len, json, st.bytes.subarray(st.dataStart)]));
      resign(folder);
      await assert.rejects(readCheckpoint(folder), (e) => e.code === 'CHECKPOINT_CORRUPT' && /shape/.test(e.message));
      await expectUnreadable(folder, 'CHECKPOINT_CORRUPT');
    });

    it('a missing folder -> CHECKPOINT_NOT_FOUND', async () => {
      await expectUnreadable(path.join(root, 'no-such-checkpoint'), 'CHECKPOINT_NOT_FOUND');
    });

    it('a file instead of a folder -> CHECKPOINT_NOT_FOUND', async () => {
      const file = path.join(root, 'not-a-folder.txt');
      fs.writeFileSync(file, 'hello');
      await expectUnreadable(file, 'CHECKPOINT_NOT_FOUND');
    });
  });

  describe('resume equivalence', () => {
    /**
     * Trains `epochs` on trainer A writing checkpoints, resumes a fresh trainer B
     * (same options) from A's checkpoint at `step`, and checks B ends exactly where A did.
     */
    async function checkResume({ label, trainer = {}, train = {}, data = DATA, epochs = 3, step, saveEveryEpoch = false, saveEverySteps = 0 }) {
      const out = path.join(root, `resume-${label}`);
      const a = new Trainer(trainerOptions(trainer));
      const runA = await a.train(data, { epochs, batchSize: 32, outputDir: out, saveEverySteps, saveEveryEpoch, ...train });
      const folder = path.join(out, `checkpoint-${step}`);
      assert.ok(fs.existsSync(folder), `A wrote ${folder}`);
      const ckpt = await readCheckpoint(folder);
      assert.equal(ckpt.run.step, step);
      assert.deepStrictEqual(ckpt.run.lossHistory, runA.lossHistory.slice(0, step), 'the checkpoint holds the exact loss history so far');

      const b = new Trainer(trainerOptions(trainer));
      const steps = [];
      const runB = await b.train(data, { epochs, batchSize: 32, resumeFrom: folder, stepEvents: 'block', ...train }, { onStep: (s) => steps.push(s) });
      assert.deepStrictEqual(runB.lossHistory, runA.lossHistory, 'resumed run is bit-identical to the uninterrupted one');
      assert.equal(runB.steps, runA.steps);
      assert.equal(runB.samplesSeen, runA.samplesSeen);
      assert.equal(runB.finalLoss, runA.finalLoss);
      assert.equal(runB.metadata.epochs, runA.metadata.epochs);
      assert.equal(runB.runId, runA.runId, 'a resumed run keeps the id of the run it continues');
      assert.equal(runB.metadata.resumedFrom, path.resolve(folder));
      assert.deepEqual(steps, Array.from({ length: runA.steps - step }, (_, i) => step + 1 + i), 'B reports only the steps it took');
      assert.deepStrictEqual(b.predict(PROBE), a.predict(PROBE), 'final parameters are identical');
      if (runA.metadata.validationLoss !== null) assert.equal(runB.metadata.validationLoss, runA.metadata.validationLoss);
      return { runA, runB };
    }

    it('resume from a checkpoint in the middle of epoch 2 (saveEverySteps) reproduces the run exactly', async () => {
      await checkResume({ label: 'mid-epoch', step: 15, saveEverySteps: 15 });
    });

    it('resume from an epoch-end checkpoint (saveEveryEpoch) reproduces the run exactly', async () => {
      await checkResume({ label: 'epoch-end', step: 10, saveEveryEpoch: true });
    });

    it('resume with a validation split reproduces the run and its validation loss', async () => {
      // 400 rows, 20% held out: 320 training rows, 10 steps per epoch.
      await checkResume({ label: 'validation', data: datasets.spirals({ samples: 400, classes: 3, seed: 2 }), train: { validationSplit: 0.2 }, step: 17, saveEverySteps: 17 });
    });

    it('resume with SGD + momentum reproduces the run exactly', async () => {
      await checkResume({ label: 'sgd', trainer: { optimizer: 'sgd', momentum: 0.9, learningRate: 0.05 }, step: 12, saveEverySteps: 12 });
    });

    it('resume without shuffling reproduces the run exactly', async () => {
      await checkResume({ label: 'no-shuffle', train: { shuffle: false }, step: 25, saveEverySteps: 25 });
    });

    it('resuming with a different batchSize or model -> CHECKPOINT_INCOMPATIBLE, before any step', async () => {
      const out = path.join(root, 'resume-incompatible');
      const run = await new Trainer(trainerOptions()).train(DATA, { epochs: 1, batchSize: 32, outputDir: out });
      const onStep = createSpy('onStep');
      const wrongBatch = new Trainer(trainerOptions());
      await assert.rejects(wrongBatch.train(DATA, { epochs: 2, batchSize: 16, resumeFrom: run.outputPath }, { onStep }), (e) => e.code === 'CHECKPOINT_INCOMPATIBLE');
      const wrongModel = new Trainer(trainerOptions({ model: { ...MODEL, hiddenLayers: [8] } }));
      await assert.rejects(wrongModel.train(DATA, { epochs: 2, batchSize: 32, resumeFrom: run.outputPath }, { onStep }), (e) => e.code === 'CHECKPOINT_INCOMPATIBLE');
      onStep.assertCalled(0);
    });
  });
});
