'use strict';
// Builds and runs the engine's own C++ test executable (no Node-API, see
// native/tests/): event queue, trainer run loop,
// checkpoints, GEMM, NVML loading through the stub library, GPU monitor.
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const path = require('node:path');

describe('native engine test executable (C++, no Node)', function () {
  this.timeout(600000);
  it('builds with CMake and passes every engine test', function () {
    if (spawnSync('cmake', ['--version']).error) {
      console.log('    skipped: cmake is not installed, so the engine tests cannot be built');
      this.skip();
    }
    const r = spawnSync(process.execPath, [path.join(__dirname, '..', 'scripts', 'native-test.js')], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const summary = (r.stdout.match(/^(\d+) passed, (\d+) failed$/m) || []).slice(1).map(Number);
    assert.equal(r.status, 0, `${r.stdout.split('\n').filter((l) => l.startsWith('FAIL') || l.startsWith('   ')).join('\n')}\n${r.stderr.slice(-2000)}`);
    assert.ok(summary.length === 2 && summary[0] > 0 && summary[1] === 0, `unexpected summary: ${summary}`);
  });
});

describe('CPU kernel choice (cpuInfo().gemmKernel, BACKPROP_GEMM_KERNEL)', function () {
  this.timeout(60000);
  const root = path.join(__dirname, '..');
  const probe = `const b = require(${JSON.stringify(path.join(root, 'dist'))});
    const t = new b.Trainer({ model: { inputSize: 2, hiddenLayers: [8], outputSize: 2 }, threads: 1, seed: 1 });
    const d = b.datasets.spirals({ samples: 64, classes: 2, seed: 1 });
    t.train(d, { epochs: 1, batchSize: 16 }).then((run) => console.log(JSON.stringify({ ...b.cpuInfo(), kernel: run.metadata.kernel })));`;
  const inChild = (env) => {
    const r = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8', env: { ...process.env, ...env } });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout.trim().split('\n').pop());
  };

  it('picks the widest family the CPU reports, and runs report it', function () {
    const info = inChild({ BACKPROP_GEMM_KERNEL: '' });
    const expected = info.simd.includes('avx512f') ? 'avx512' : info.simd.includes('avx2') && info.simd.includes('fma') ? 'avx2-fma' : 'generic';
    assert.equal(info.gemmKernel, expected);
    assert.equal(info.kernel, expected);
  });

  it('BACKPROP_GEMM_KERNEL=avx2 / =generic caps the choice for the whole process', function () {
    const avx2 = inChild({ BACKPROP_GEMM_KERNEL: 'avx2' });
    assert.equal(avx2.gemmKernel, avx2.simd.includes('avx2') && avx2.simd.includes('fma') ? 'avx2-fma' : 'generic');
    assert.equal(avx2.kernel, avx2.gemmKernel);
    const generic = inChild({ BACKPROP_GEMM_KERNEL: 'generic' });
    assert.equal(generic.gemmKernel, 'generic');
    assert.equal(generic.kernel, 'generic');
  });
});

describe('floating-point mode (denormals flushed inside the engine only)', function () {
  this.timeout(60000);
  it("the JS thread's doubles keep IEEE denormals after train, predict and evaluate", async function () {
    const b = require('../dist');
    const tiny = () => Number.MIN_VALUE * 1.5; // a denormal double: 0 if the SSE mode leaked
    assert.ok(tiny() > 0);
    const t = new b.Trainer({ model: { inputSize: 2, hiddenLayers: [16], outputSize: 2 }, threads: 2, seed: 1 });
    const d = b.datasets.spirals({ samples: 256, classes: 2, seed: 1 });
    await t.train(d, { epochs: 2, batchSize: 32 }, { onStep: () => assert.ok(tiny() > 0, 'inside onStep') });
    assert.ok(tiny() > 0, 'after train');
    t.predict(new Float32Array([0.5, -0.5, 1, 1]));
    assert.ok(tiny() > 0, 'after predict');
    t.evaluate(d);
    assert.ok(tiny() > 0, 'after evaluate');
  });
});
