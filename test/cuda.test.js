'use strict';
// The CUDA backend as JavaScript sees it: device listing, device selection
// and its errors, the CUDA library shipped next to the addon, training with
// that library missing or broken, and (on machines with a GPU) CPU/GPU
// parity, checkpoint cross-loading, determinism and out-of-memory recovery.
// The GPU tests skip with the reason printed where no GPU is usable.
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const dist = process.env.BP_DIST || path.join(__dirname, '..', 'dist');
const { Trainer, datasets } = require(dist);
const { devices, cudaAvailability } = require(path.join(dist, 'device'));

const MODEL = Object.freeze({ inputSize: 2, hiddenLayers: [32, 32], outputSize: 3 });
const DATA = datasets.spirals({ samples: 384, classes: 3, seed: 5 });

function options(overrides = {}) {
  return { model: { ...MODEL, hiddenLayers: [...MODEL.hiddenLayers] }, seed: 3, learningRate: 0.01, threads: 1, ...overrides };
}

function expectDeviceUnavailable(fn) {
  let caught;
  assert.throws(fn, (e) => {
    caught = e;
    return true;
  });
  assert.equal(caught.name, 'BackpropError', String(caught));
  assert.equal(caught.code, 'DEVICE_UNAVAILABLE');
  assert.equal(caught.details.field, 'device');
  return caught;
}

/** Runs `script` in a fresh Node process (the CUDA library is looked up once per process). */
function runChild(script, env) {
  const r = spawnSync(process.execPath, ['-e', script], {
    encoding: 'utf8',
    env: { ...process.env, BP_DIST: dist, ...env },
    timeout: 120000,
  });
  assert.equal(r.status, 0, `child failed:\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

const CHILD_PROBE = `
  const { Trainer, datasets } = require(process.env.BP_DIST);
  const { cudaAvailability } = require(require('path').join(process.env.BP_DIST, 'device'));
  const out = { availability: cudaAvailability() };
  try { new Trainer({ model: { inputSize: 2, hiddenLayers: [8], outputSize: 3 }, device: 'cuda' }); out.cuda = 'created'; }
  catch (e) { out.cuda = { code: e.code, message: e.message }; }
  const data = datasets.spirals({ samples: 240, classes: 3, seed: 1 });
  const t = new Trainer({ model: { inputSize: 2, hiddenLayers: [16], outputSize: 3 }, seed: 1, learningRate: 0.02, threads: 1 });
  t.train(data, { epochs: 8, batchSize: 16 }).then((run) => {
    out.device = t.device;
    out.metadata = run.metadata;
    out.first = run.lossHistory[0];
    out.last = run.lossHistory.slice(-10).reduce((a, b) => a + b, 0) / 10;
    console.log(JSON.stringify(out));
  }, (e) => { console.error(e); process.exit(1); });
`;

describe('CUDA backend', function () {
  this.timeout(120000);
  const availability = cudaAvailability();

  describe('devices() and cudaAvailability()', () => {
    it('cudaAvailability() says whether a GPU is usable, and why not', () => {
      assert.equal(typeof availability.available, 'boolean');
      assert.equal(typeof availability.built, 'boolean');
      assert.ok(Object.isFrozen(availability));
      if (availability.available) {
        assert.equal(availability.reason, null);
        assert.equal(availability.libraryLoaded, true);
      } else {
        assert.equal(typeof availability.reason, 'string');
        assert.ok(availability.reason.length > 10, `reason too short: ${availability.reason}`);
      }
    });

    it('devices() lists the CPU first, then each usable GPU with memory and compute capability', () => {
      const list = devices();
      assert.ok(Array.isArray(list) && list.length >= 1);
      const cpu = list[0];
      assert.deepEqual(
        { id: cpu.id, kind: cpu.kind, index: cpu.index, computeCapability: cpu.computeCapability },
        { id: 'cpu', kind: 'cpu', index: 0, computeCapability: null },
      );
      assert.equal(cpu.memoryTotalBytes, os.totalmem());
      assert.ok(typeof cpu.name === 'string' && cpu.name.length > 0);
      assert.equal(cpu.units, os.availableParallelism());
      const gpus = list.slice(1);
      assert.equal(gpus.length > 0, availability.available, 'GPUs are listed exactly when CUDA is usable');
      gpus.forEach((g, i) => {
        assert.equal(g.kind, 'cuda');
        assert.equal(g.id, `cuda:${g.index}`);
        assert.equal(g.index, i);
        assert.match(g.computeCapability, /^\d+\.\d+$/);
        assert.ok(g.memoryTotalBytes > 0 && g.units > 0 && g.name.length > 0);
      });
    });
  });

  describe('the CUDA library', () => {
    it('is built next to the addon, loads, and links neither libcuda nor a shared CUDA runtime', function () {
      if (!availability.built) {
        console.log(`    skipped: this addon was built without nvcc (${availability.reason})`);
        assert.match(availability.reason, /CUDA library not found at .*libbackpropagate_cuda\.so/);
        this.skip();
      }
      assert.ok(fs.existsSync(availability.libraryPath), `${availability.libraryPath} exists`);
      assert.equal(availability.libraryLoaded, true, `loaded: ${availability.reason}`);
      assert.match(availability.buildInfo, /^backpropagate CUDA backend, CUDA \d+\.\d+, targets \S/);
      if (!availability.available) {
        // The library answered: the reason is the driver's, not a missing file.
        assert.match(availability.reason, /^the CUDA driver reports: .+\(cuda\w+\)$/);
      }
      const readelf = spawnSync('readelf', ['-d', '--dyn-syms', '-W', availability.libraryPath], { encoding: 'utf8' });
      if (readelf.error) {
        console.log('    (readelf not installed: dependency check skipped)');
        return;
      }
      const needed = [...readelf.stdout.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
      assert.ok(needed.length > 0, readelf.stdout.slice(0, 500));
      for (const lib of needed) assert.doesNotMatch(lib, /cuda|nvidia|stdc\+\+/i, `unexpected dependency ${lib}`);
      const exported = [...readelf.stdout.matchAll(/ GLOBAL\s+DEFAULT\s+\d+\s+(\S+)/g)].map((m) => m[1]);
      assert.deepEqual(exported, ['bp_cuda_get_api']);
    });
  });

  describe('without a usable GPU', () => {
    before(function () {
      if (availability.available) {
        console.log('    skipped: a GPU is usable here (these tests cover machines without one)');
        this.skip();
      }
    });

    it("device 'cuda', 'cuda:0' and 'cuda:3' fail with DEVICE_UNAVAILABLE, the reason and what to do", () => {
      for (const device of ['cuda', 'cuda:0', 'cuda:3']) {
        const e = expectDeviceUnavailable(() => new Trainer(options({ device })));
        assert.ok(e.message.includes(availability.reason), e.message);
        assert.match(e.message, /Use device 'cpu' or 'auto'/);
        assert.equal(e.details.value, device);
        assert.equal(e.details.reason, availability.reason);
      }
    });

    it("Trainer.load(folder, { device: 'cuda' }) fails the same way", async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bp-cuda-'));
      try {
        const t = new Trainer(options({ device: 'cpu' }));
        await t.save(path.join(dir, 'ckpt'));
        await assert.rejects(Trainer.load(path.join(dir, 'ckpt'), { device: 'cuda' }), { code: 'DEVICE_UNAVAILABLE' });
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it("'auto' (the default) trains on the CPU and records why in run.metadata", async () => {
      for (const t of [new Trainer(options({ device: 'auto' })), new Trainer(options())]) {
        assert.equal(t.device, 'cpu');
        assert.equal(t.deviceIndex, null);
        assert.equal(t.deviceReason, `no usable GPU: ${availability.reason}`);
        const run = await t.train(DATA, { maxSteps: 30, batchSize: 32 });
        assert.equal(run.metadata.device, 'cpu');
        assert.equal(run.metadata.deviceName, 'cpu');
        assert.equal(run.metadata.deviceReason, `no usable GPU: ${availability.reason}`);
        assert.doesNotMatch(run.metadata.kernel, /^cuda/);
        assert.equal(run.steps, 30);
      }
    });

    it("device 'cpu' records no fallback reason", async () => {
      const t = new Trainer(options({ device: 'cpu' }));
      assert.equal(t.deviceReason, null);
      const run = await t.train(DATA, { maxSteps: 3 });
      assert.equal(run.metadata.deviceReason, null);
    });
  });

  describe('with the CUDA library missing or broken (BACKPROP_CUDA_LIBRARY)', () => {
    it('a missing library: the addon loads and trains on the CPU, and cuda names the path it looked at', () => {
      const missing = path.join(os.tmpdir(), 'no-such-dir', 'libbackpropagate_cuda.so');
      const out = runChild(CHILD_PROBE, { BACKPROP_CUDA_LIBRARY: missing });
      assert.equal(out.availability.available, false);
      assert.equal(out.availability.libraryLoaded, false);
      assert.equal(out.cuda.code, 'DEVICE_UNAVAILABLE');
      assert.ok(out.cuda.message.includes(`CUDA library not found at ${missing}`), out.cuda.message);
      assert.equal(out.device, 'cpu');
      assert.equal(out.metadata.device, 'cpu');
      assert.ok(out.metadata.deviceReason.includes(`CUDA library not found at ${missing}`));
      assert.ok(out.last < out.first * 0.8, `loss falls on the CPU: ${out.first} -> ${out.last}`);
    });

    it('a file that is not a shared library is reported as unloadable, and training still works', () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bp-cuda-'));
      const bogus = path.join(dir, 'libbackpropagate_cuda.so');
      fs.writeFileSync(bogus, 'not an ELF file\n');
      try {
        const out = runChild(CHILD_PROBE, { BACKPROP_CUDA_LIBRARY: bogus });
        assert.equal(out.cuda.code, 'DEVICE_UNAVAILABLE');
        assert.ok(out.cuda.message.includes(`could not load the CUDA library ${bogus}`), out.cuda.message);
        assert.equal(out.device, 'cpu');
        assert.ok(out.last < out.first * 0.8, `loss falls: ${out.first} -> ${out.last}`);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('a shared library without our entry point is refused as not matching this build', function () {
      const libm = ['/lib/x86_64-linux-gnu/libm.so.6', '/usr/lib/x86_64-linux-gnu/libm.so.6', '/lib64/libm.so.6'].find((p) => fs.existsSync(p));
      if (!libm) {
        console.log('    skipped: no libm.so.6 at a known path to stand in for a foreign library');
        this.skip();
      }
      const out = runChild(CHILD_PROBE, { BACKPROP_CUDA_LIBRARY: libm });
      assert.equal(out.availability.libraryLoaded, false);
      assert.equal(out.cuda.code, 'DEVICE_UNAVAILABLE');
      assert.match(out.cuda.message, /does not match this build \(ABI version \d+ expected\)\. Rebuild or reinstall backpropagate/);
      assert.equal(out.device, 'cpu');
    });
  });

  describe('on a GPU (parity with the CPU engine)', () => {
    before(function () {
      if (!availability.available) {
        console.log(`    skipped: no usable GPU (${availability.reason})`);
        this.skip();
      }
    });

    const X = Float32Array.from(DATA.x.subarray(0, 200));

    it("'auto' picks cuda:0 and the run says so", async () => {
      const t = new Trainer(options());
      assert.equal(t.device, 'cuda');
      assert.equal(t.deviceIndex, 0);
      assert.equal(t.deviceReason, null);
      const run = await t.train(DATA, { maxSteps: 5 });
      assert.equal(run.metadata.device, 'cuda');
      assert.match(run.metadata.deviceName, /\(cuda:0, sm_\d+, fp32\)$/);
      assert.equal(run.metadata.kernel, 'cuda-fp32');
    });

    it('CPU and GPU losses agree after 80 steps with the same seed (relative 2e-3)', async () => {
      // Float32 on both sides; only GEMM summation order differs (about 1e-6
      // relative per step). AdamW can turn a near-zero gradient component's
      // rounding into an update of up to lr (1e-3), which over 80 steps moves the
      // loss by far less than 2e-3.
      const cpu = await new Trainer(options({ device: 'cpu', learningRate: 1e-3 })).train(DATA, { maxSteps: 80, batchSize: 32 });
      const gpu = await new Trainer(options({ device: 'cuda', learningRate: 1e-3 })).train(DATA, { maxSteps: 80, batchSize: 32 });
      assert.equal(gpu.lossHistory.length, 80);
      cpu.lossHistory.forEach((l, i) => {
        const diff = Math.abs(l - gpu.lossHistory[i]) / Math.max(1, Math.abs(l));
        assert.ok(diff <= 2e-3, `step ${i + 1}: cpu ${l} gpu ${gpu.lossHistory[i]}`);
      });
    });

    it("one step's gradients agree element-wise by relative norm (1e-4)", async () => {
      // Plain SGD (no momentum, no decay), one full-batch step: grad = (p0 - p1) / lr.
      const lr = 0.5;
      const opts = options({ optimizer: 'sgd', momentum: 0, weightDecay: 0, learningRate: lr });
      const grads = [];
      for (const device of ['cpu', 'cuda']) {
        const t = new Trainer({ ...opts, device });
        const p0 = t.getParameters();
        await t.train(DATA, { maxSteps: 1, batchSize: DATA.y.length, shuffle: false });
        const p1 = t.getParameters();
        grads.push(p0.map((v, i) => (v - p1[i]) / lr));
      }
      let num = 0, den = 0;
      grads[0].forEach((g, i) => {
        num += (g - grads[1][i]) ** 2;
        den += g * g;
      });
      assert.ok(Math.sqrt(num / den) <= 1e-4, `relative L2 ${Math.sqrt(num / den)}`);
    });

    it('predictions and evaluation agree for the same parameters (1e-5)', async () => {
      const cpu = new Trainer(options({ device: 'cpu' }));
      await cpu.train(DATA, { maxSteps: 40 });
      const gpu = new Trainer(options({ device: 'cuda' }));
      gpu.setParameters(cpu.getParameters());
      const a = cpu.predict(X), b = gpu.predict(X);
      a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) <= 1e-5, `output ${i}: ${v} vs ${b[i]}`));
      const ea = cpu.evaluate(DATA), eb = gpu.evaluate(DATA);
      assert.ok(Math.abs(ea.loss - eb.loss) <= 1e-5, `${ea.loss} vs ${eb.loss}`);
      assert.ok(Math.abs(ea.accuracy - eb.accuracy) <= 2 / DATA.y.length);
    });

    it('a GPU checkpoint loads on the CPU and a CPU checkpoint on the GPU, with the same predictions', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bp-cuda-'));
      try {
        const gpu = new Trainer(options({ device: 'cuda' }));
        const run = await gpu.train(DATA, { maxSteps: 25, outputDir: dir, saveEverySteps: 25 });
        const onCpu = await Trainer.load(run.outputPath, { device: 'cpu' });
        assert.deepEqual(onCpu.getParameters(), gpu.getParameters());
        const a = gpu.predict(X), b = onCpu.predict(X);
        a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) <= 1e-5));
        await onCpu.save(path.join(dir, 'from-cpu'));
        const back = await Trainer.load(path.join(dir, 'from-cpu'), { device: 'cuda' });
        assert.equal(back.device, 'cuda');
        assert.deepEqual(back.getParameters(), onCpu.getParameters());
        // Resuming the GPU run on the CPU continues it.
        const resumed = await new Trainer(options({ device: 'cpu' })).train(DATA, { maxSteps: 30, resumeFrom: run.outputPath });
        assert.equal(resumed.steps, 30);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('regression (MSE) with SGD and gradient clipping agrees with the CPU', async () => {
      const n = 300;
      const x = new Float32Array(n * 3), y = new Float32Array(n * 2);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < 3; j++) x[i * 3 + j] = Math.sin(i * 0.37 + j);
        y[i * 2] = x[i * 3] - 0.5 * x[i * 3 + 1];
        y[i * 2 + 1] = x[i * 3 + 2] * x[i * 3];
      }
      const opts = (device) => ({
        model: { inputSize: 3, hiddenLayers: [24], outputSize: 2, task: 'regression', activation: 'tanh' },
        optimizer: 'sgd', learningRate: 0.05, gradientClipNorm: 0.5, seed: 4, device,
      });
      const a = await new Trainer(opts('cpu')).train({ x, y }, { maxSteps: 60, batchSize: 32 });
      const b = await new Trainer(opts('cuda')).train({ x, y }, { maxSteps: 60, batchSize: 32 });
      a.lossHistory.forEach((l, i) => assert.ok(Math.abs(l - b.lossHistory[i]) <= 1e-4 * Math.max(1, l), `step ${i + 1}: ${l} vs ${b.lossHistory[i]}`));
    });

    it('abort from onStep stops a GPU run within one step, and the trainer trains again', async () => {
      const t = new Trainer(options({ device: 'cuda' }));
      let err;
      await t.train(DATA, { epochs: 50, stepEvents: 'block' }, { onStep: (step) => step === 5 && t.abort('enough') }).catch((e) => (err = e));
      assert.equal(err.name, 'AbortError');
      assert.ok(err.run.steps >= 5 && err.run.steps <= 6, `stopped at ${err.run.steps}`);
      const run = await t.train(DATA, { maxSteps: 3 });
      assert.equal(run.steps, 3);
    });

    it('the same seed on the GPU gives bit-identical loss histories', async () => {
      const a = await new Trainer(options({ device: 'cuda' })).train(DATA, { maxSteps: 40, validationSplit: 0.1 });
      const b = await new Trainer(options({ device: 'cuda' })).train(DATA, { maxSteps: 40, validationSplit: 0.1 });
      assert.deepEqual(a.lossHistory, b.lossHistory);
      assert.equal(a.metadata.validationLoss, b.metadata.validationLoss);
    });

    it('out of GPU memory is RUNTIME_GPU_OOM with the bytes asked for, and the trainer stays usable', async () => {
      // 4M rows in one batch through an 8192-wide layer: 134 GB of activations.
      const rows = 4_000_000;
      const big = { x: new Float32Array(rows * 2), y: new Int32Array(rows) };
      const t = new Trainer({ model: { inputSize: 2, hiddenLayers: [8192], outputSize: 3 }, device: 'cuda', seed: 1 });
      await assert.rejects(t.train(big, { maxSteps: 1, batchSize: rows }), (e) => {
        assert.equal(e.code, 'RUNTIME_GPU_OOM');
        assert.match(e.message, /\d+ bytes requested/);
        assert.match(e.message, /smaller batchSize/);
        return true;
      });
      const run = await t.train(DATA, { maxSteps: 5, batchSize: 32 });
      assert.equal(run.steps, 5);
      assert.ok(Number.isFinite(run.finalLoss));
    });
  });
});
