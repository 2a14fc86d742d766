'use strict';
// One spelling of GPU in the public names (GPUStatus, getGPUStatus,
// scriptedGPUSource, ...); the earlier 'Gpu' spellings still work as
// deprecated aliases of the very same functions; benchmark and test helpers
// live in 'backpropagate/internal', not the main entry.
const assert = require('node:assert/strict');
const bp = require('../dist');
const internal = require('../dist/internal');

const renamed = {
  scriptedGpuSource: 'scriptedGPUSource',
  getGpuStatus: 'getGPUStatus',
  checkGpuSafe: 'checkGPUSafe',
  waitForSafeGpu: 'waitForSafeGPU',
  listGpus: 'listGPUs',
  simulatedGpu: 'simulatedGPU',
  demoGpuReading: 'demoGPUReading',
};

describe('public names', () => {
  it('every GPU function is exported with the GPU spelling', () => {
    for (const name of Object.values(renamed)) assert.equal(typeof bp[name], 'function', `${name} is not exported`);
    for (const name of ['GPUMonitor', 'GPUSafetyConfig']) assert.equal(typeof bp[name], 'function');
  });

  it('the earlier spellings are the same functions (deprecated aliases)', () => {
    for (const [old, name] of Object.entries(renamed)) assert.equal(bp[old], bp[name], `${old} is not an alias of ${name}`);
  });

  it('no exported function name still spells it Gpu, except the deprecated aliases', () => {
    const aliases = new Set([...Object.keys(renamed), 'resetNvmlState']);
    const mixed = Object.keys(bp).filter((k) => /Gpu/.test(k) && !aliases.has(k));
    assert.deepEqual(mixed, []);
  });

  it('benchmark and test helpers are in backpropagate/internal, not the main entry', () => {
    for (const name of ['sgemmBenchmark', 'dispatchBenchmark', 'nvmlSampleCost']) {
      assert.equal(bp[name], undefined, `${name} leaks into the main entry`);
      assert.equal(typeof internal[name], 'function', `${name} is missing from internal`);
    }
    assert.equal(typeof internal.resetNvmlState, 'function');
    assert.ok(internal.sgemmBenchmark(32, 32, 32, 1, 1) > 0);
  });

  it('package.json maps the entries: ".", "./internal", "./fleet", "./package.json"', () => {
    const pkg = require('../package.json');
    assert.equal(pkg.exports['.'].default, './dist/index.js');
    assert.equal(pkg.exports['./internal'].default, './dist/internal.js');
    assert.deepEqual(pkg.exports['./fleet'], { types: './dist/fleet/index.d.ts', default: './dist/fleet/index.js' });
    assert.equal(pkg.exports['./package.json'], './package.json');
  });

  it('fleet names are on the main entry as the very same values as backpropagate/fleet, loaded on first use', () => {
    const { spawnSync } = require('node:child_process');
    const probe = `
      const bp = require('./dist');
      const before = Object.keys(require.cache).some((k) => k.includes('bullmq'));
      const fleet = require('./dist/fleet');
      const same = ['TrainingQueue', 'TrainingWorker', 'JobHandle', 'sweepTrials'].every((n) => bp[n] === fleet[n]) && bp.validateFleetJob === fleet.validateJob;
      console.log(JSON.stringify({ before, same }));`;
    const r = spawnSync(process.execPath, ['-e', probe], { cwd: require('node:path').join(__dirname, '..'), encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { before: false, same: true });
  });
});
