'use strict';
// The fleet commands as child processes: `backprop worker`, `submit --follow`
// (NDJSON with --json), a bad job file, `sweep`.
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { startRedis, available } = require('./helpers/redis');
const { trainJob } = require('./helpers/fleet');

const BIN = path.join(__dirname, '..', 'bin', 'backprop.js');

describe('fleet command line', function () {
  this.timeout(60000);
  let redis, dir, worker;
  before(async function () {
    if (!available()) this.skip();
    redis = await startRedis();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bp-fleet-cli-'));
    worker = spawn(process.execPath, [BIN, '--json', 'worker', '--redis', redis.url, '--checkpoint-root', path.join(dir, 'ckpt'), '--host', 'cli-worker'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((resolve, reject) => {
      readline.createInterface({ input: worker.stdout }).on('line', (line) => JSON.parse(line).event === 'ready' && resolve());
      worker.once('exit', (code) => reject(new Error(`worker exited with ${code}`)));
    });
  });
  after(async () => {
    if (worker && worker.exitCode === null) {
      const exited = new Promise((r) => worker.once('exit', r));
      worker.kill('SIGTERM');
      await exited;
    }
    await redis?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const run = (...args) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 40000 });

  it('submit --follow --json: NDJSON events of the job, ending with complete', () => {
    const file = path.join(dir, 'job.json');
    fs.writeFileSync(file, JSON.stringify(trainJob({ epochs: 3 })));
    const r = run('--json', 'submit', file, '--follow', '--redis', redis.url);
    assert.equal(r.status, 0, r.stderr);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(events[0].event, 'submitted');
    assert.deepEqual(events.filter((e) => e.event === 'epoch').map((e) => e.epoch), [1, 2, 3]);
    assert.equal(events[events.length - 1].event, 'complete');
    assert.equal(events[events.length - 1].host, 'cli-worker');
  });

  it('a job file that is not JSON, or not a valid job: exit 1 with the code', () => {
    const broken = path.join(dir, 'broken.json');
    fs.writeFileSync(broken, '{ "kind": "train", ');
    let r = run('submit', broken, '--redis', redis.url);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /INPUT_PARSE/);
    const invalid = path.join(dir, 'invalid.json');
    fs.writeFileSync(invalid, JSON.stringify({ ...trainJob(), train: { epochz: 2 } }));
    r = run('submit', invalid, '--redis', redis.url);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /CONFIG_INVALID/);
    assert.match(r.stderr, /epochs/);
  });

  it('sweep: one line per trial and the best', () => {
    const file = path.join(dir, 'sweep.json');
    fs.writeFileSync(file, JSON.stringify({ base: trainJob({ epochs: 2, train: { validationSplit: 0.2 } }), grid: { learningRate: [0.001, 0.01, 0.05] } }));
    const r = run('--json', 'sweep', file, '--redis', redis.url);
    assert.equal(r.status, 0, r.stderr);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(events.filter((e) => e.event === 'trial').length, 3);
    const best = events.find((e) => e.event === 'best');
    assert.ok([0, 1, 2].includes(best.index));
  });
});
