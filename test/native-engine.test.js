'use strict';
// Builds and runs the engine's own C++ test executable (no Node-API, see
// native/tests/): event queue under several producers, trainer run loop,
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
