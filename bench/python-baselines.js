// The Python side of `npm run bench`: Debian's /usr/bin/python3 running numpy/OpenBLAS and PyTorch
// scripts in this folder, and the PyTorch configurations tried so that every ratio is against
// PyTorch at its best.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const PYTHON = '/usr/bin/python3';

/** Runs one script of this folder; its last stdout line is JSON. `{ error }` when it fails. */
function python(script, args, env = {}) {
  const r = spawnSync(PYTHON, [path.join(__dirname, script), ...args.map(String)], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 600000 });
  if (r.status !== 0) return { error: (r.stderr || r.error?.message || '').trim().split('\n').pop() };
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

function hasPython(module) {
  return spawnSync(PYTHON, ['-c', `import ${module}`]).status === 0;
}

// Each 128 x 784 minibatch gather (401 KB) is above glibc's initial mmap threshold: without these
// every step maps and faults in fresh pages and the script measures malloc, not PyTorch (about
// 3.5x slower). Any program that loaded its data first has the raised threshold anyway.
const TORCH_MALLOC_ENV = { MALLOC_MMAP_THRESHOLD_: '4294967296', MALLOC_TRIM_THRESHOLD_: '4294967296' };

// torch threads x OpenBLAS threads (Debian's pthread OpenBLAS does not follow
// torch.set_num_threads) x denormals flushed (torch.set_flush_denormal, as our engine flushes them;
// it sets only the calling thread's mode, so it is tried both ways).
const TORCH_CONFIGS = [1, 2].flatMap((torch) =>
  [1, 2].flatMap((openblas) => [false, true].map((flush) => ({ torch, openblas, flush }))),
);

const torchEnv = (config) => ({
  ...TORCH_MALLOC_ENV,
  OPENBLAS_NUM_THREADS: String(config.openblas),
  BENCH_TORCH_FLUSH_DENORMAL: config.flush ? '1' : '0',
});

const configName = (c) =>
  `torch ${c.torch} thread${c.torch > 1 ? 's' : ''}, OpenBLAS ${c.openblas}${c.flush ? ', denormals flushed' : ''}`;

/** PyTorch training the bench's synthetic 784-256-128-10 task: `{ samplesPerSecond, torch }` or `{ error }`. */
const torchTraining = (batch, config, epochs) => python('pytorch_mlp.py', [batch, config.torch, 8192, epochs], torchEnv(config));

/** numpy/OpenBLAS SGEMM n x n x n on `threads` threads: `{ gflops }` or `{ error }`. */
const openblasSgemm = (n, threads) => python('openblas_sgemm.py', [n], { OPENBLAS_NUM_THREADS: String(threads) });

module.exports = { python, hasPython, TORCH_CONFIGS, torchEnv, configName, torchTraining, openblasSgemm };
