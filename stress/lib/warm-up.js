'use strict';
// Warm-up before the baseline: everything Node creates lazily and keeps for
// the rest of the process (libuv's thread pool, the addon's instance data,
// the first worker's platform threads) is created here, so the after-scenario
// thread and resource checks compare like with like.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { execFile } = require('node:child_process');
const { DIST } = require('./util');

const { Trainer, GPUMonitor, scriptedGpuSource, datasets, readCheckpoint } = require(DIST);

async function warmUp() {
  await fs.promises.stat(__dirname); // starts libuv's thread pool
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bp-stress-warmup-'));
  try {
    const trainer = new Trainer({ model: { inputSize: 2, hiddenLayers: [4], outputSize: 2 }, threads: 2 });
    const run = await trainer.train(datasets.blobs({ samples: 64, classes: 2, features: 2, seed: 1 }), { maxSteps: 3, outputDir: dir });
    await readCheckpoint(run.outputPath);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const monitor = new GPUMonitor({ source: scriptedGpuSource([{ temperatureC: 50 }]), config: { checkIntervalMs: 5, logWarnings: false } });
  monitor.start();
  await new Promise((resolve) => setTimeout(resolve, 20));
  await monitor.stop();
  const worker = new Worker('require("node:worker_threads").parentPort.postMessage("up")', { eval: true });
  await new Promise((resolve) => worker.once('message', resolve));
  await worker.terminate();
  await new Promise((resolve, reject) => execFile(process.execPath, ['-e', '0'], (error) => (error ? reject(error) : resolve())));
}

module.exports = { warmUp };
