#!/usr/bin/env node
// Where a CPU training step's time goes: samples `bp_gemm_bench --step` (the
// trainer's CPU step loop without Node: forward + backward on the minibatch's
// rows, read in place, and the optimizer) with `perf record` and groups the cycles by what they do. Prints
// a markdown table (bench/README.md keeps the latest).
//
//   node bench/step-profile.js [--exe build-native-release/bp_gemm_bench] [--batch 128] [--threads 2] [--steps 2000]
//
// Needs Linux `perf` (apt-get install linux-perf) and the engine bench built
// (`npm run test:native` builds build-native-release; then
// `cmake --build build-native-release --target bp_gemm_bench`).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const exe = arg('exe', path.join(__dirname, '..', 'build-native-release', 'bp_gemm_bench'));
const batch = arg('batch', '128');
const threads = arg('threads', '2');
const steps = arg('steps', '2000');

// First match wins; the symbol names are the engine's (and glibc's / the kernel's).
const groups = [
  ['GEMM micro-kernel', /micro8x32|micro8x16|micro6x16|microGeneric|runBlock|bp::sgemm|epilogue/],
  ['GEMM packing', /packA|packB/],
  ['optimizer', /Optimizer|adam|sumSquares/i],
  ['activations, bias, loss', /Mlp::|applyActivation|activationBackward|columnSums|addBias|__ieee754|^exp|^log|expf|logf/],
  // The engine reads the minibatch in place (packing reads its rows); copies left are the loop's own.
  ['step loop, copies', /stepBench|^main$|memcpy|memmove/],
  ['allocation, page faults', /malloc|free|operator new|operator delete|page_fault|clear_page|mmap|munmap|_M_fill|memset/],
  ['thread pool: spin, wake, sleep', /ThreadPool|TaskRef|spinUntil|pthread_|futex|lll_lock|lll_unlock|clock_gettime|vdso/],
];
// Kernel samples: page faults belong to allocation; the rest (futex wake-ups, scheduling, the
// hypervisor's interrupt handling around them) to the thread pool's sleeping and waking.
const kernelGroup = (sym) => (/page_fault|clear_page|mmap|do_anonymous|folio|lru/.test(sym) ? 'allocation, page faults' : 'thread pool: spin, wake, sleep');

const data = path.join(os.tmpdir(), `bp-step-profile-${process.pid}.data`);
const rec = spawnSync('perf', ['record', '-F', '4999', '-o', data, exe, '--step', batch, threads, steps], { encoding: 'utf8' });
if (rec.status !== 0) {
  console.error(`perf record failed: ${(rec.stderr || rec.error?.message || '').trim()}`);
  process.exit(1);
}
const stepLine = rec.stdout.trim().split('\n').pop();
const rep = spawnSync('perf', ['report', '-i', data, '--no-children', '--sort', 'dso,symbol', '--stdio', '-q'], { encoding: 'utf8', maxBuffer: 64 << 20 });
fs.rmSync(data, { force: true });
if (rep.status !== 0) {
  console.error(`perf report failed: ${rep.stderr.trim()}`);
  process.exit(1);
}
const totals = new Map(groups.map(([g]) => [g, 0]));
totals.set('other', 0);
const top = [];
for (const line of rep.stdout.split('\n')) {
  const m = line.match(/^\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.+?)\s*$/);
  if (!m) continue;
  const pct = Number(m[1]);
  const kernel = m[3] === 'k';
  const sym = m[4].replace(/\s+-\s+-\s*$/, '');
  const name = kernel ? `[k] ${sym}` : sym;
  const hit = groups.find(([, re]) => re.test(sym));
  const g = kernel ? kernelGroup(sym) : hit ? hit[0] : 'other';
  totals.set(g, totals.get(g) + pct);
  if (top.length < 12) top.push(`${pct.toFixed(2)}% ${name}`);
}
console.log(`${stepLine}\n(perf cycles of both threads, ${steps} steps)\n`);
console.log('| where | share of CPU cycles |\n|---|---:|');
for (const [g, pct] of totals) console.log(`| ${g} | ${pct.toFixed(1)} % |`);
console.log(`\nTop symbols:\n${top.map((t) => `  ${t}`).join('\n')}`);
