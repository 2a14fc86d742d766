'use strict';
// Small shared pieces of the stress suite: a seeded random generator, sleeps
// and polling, the process probes (native threads, active resources, RSS) and
// the checkpoint-folder validator.

const fs = require('node:fs');
const path = require('node:path');
const v8 = require('node:v8');
const vm = require('node:vm');

const ROOT = path.join(__dirname, '..', '..');
const DIST = process.env.BP_DIST || path.join(ROOT, 'dist');

/** mulberry32: a tiny, fast, seedable PRNG; every random choice of the suite goes through one. */
function createRandom(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    seed,
    next,
    /** Integer in [lo, hi] (inclusive). */
    int(lo, hi) {
      return lo + Math.floor(next() * (hi - lo + 1));
    },
    pick(list) {
      return list[Math.floor(next() * list.length)];
    },
    chance(p) {
      return next() < p;
    },
    /** A derived generator, so adding draws in one place does not shift every other choice. */
    fork(label) {
      let h = seed >>> 0;
      for (const c of String(label)) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
      return createRandom(h);
    },
  };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const tick = () => new Promise((resolve) => setImmediate(resolve));

/** Resolves true once predicate() is truthy, false after timeoutMs (never throws). */
async function waitUntil(predicate, timeoutMs, intervalMs = 20) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (predicate()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(intervalMs);
  }
}

/** Busy-waits without yielding (the same as test/helpers blockEventLoop). */
function blockEventLoop(ms) {
  const started = performance.now();
  while (performance.now() - started < ms) {
    // spin
  }
}

/** Rejects after ms with `what` in the message; the timer does not hold the process. */
function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------
// Process probes

const threadCount = () => fs.readdirSync('/proc/self/task').length;

/** Resource kinds that are timers: ignored, the suite makes its own. */
const TIMER_KINDS = new Set(['Timeout', 'Immediate']);

/** process.getActiveResourcesInfo() without timers, as a sorted multiset { kind: count }. */
function activeResources() {
  const counts = {};
  for (const kind of process.getActiveResourcesInfo()) {
    if (TIMER_KINDS.has(kind)) continue;
    counts[kind] = (counts[kind] || 0) + 1;
  }
  return counts;
}

function sameResources(a, b) {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) if ((a[k] || 0) !== (b[k] || 0)) return false;
  return true;
}

const formatResources = (r) => JSON.stringify(r);

let gcFn = null;
/** A full garbage collection (exposed through V8 flags when node was not started with --expose-gc). */
function collectGarbage() {
  if (!gcFn) {
    if (typeof global.gc === 'function') gcFn = global.gc;
    else {
      v8.setFlagsFromString('--expose-gc');
      gcFn = vm.runInNewContext('gc');
    }
  }
  gcFn();
}

const rssMB = () => process.memoryUsage().rss / (1024 * 1024);

/** Samples RSS every intervalMs (unref'd timer); max() since the last reset. */
function createRssSampler(intervalMs = 100) {
  let max = rssMB();
  let overall = max;
  const timer = setInterval(() => {
    const v = rssMB();
    if (v > max) max = v;
    if (v > overall) overall = v;
  }, intervalMs);
  timer.unref();
  return {
    reset() {
      max = rssMB();
    },
    max() {
      const v = rssMB();
      if (v > max) max = v;
      if (v > overall) overall = v;
      return max;
    },
    overall: () => Math.max(overall, rssMB()),
    stop() {
      clearInterval(timer);
    },
  };
}

// ---------------------------------------------------------------------------
// Checkpoints on disk

const CHECKPOINT_NAME = /^(checkpoint-\d+|run-\d+|accumulator|latest)$/;
const TEMP_NAME = /^\..*\.(tmp|old)-/;

/** Every checkpoint folder under root (recursively) and every temporary folder left behind. */
function findCheckpointFolders(root) {
  const folders = [];
  const temps = [];
  const walk = (dir) => {
    let entries;
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const full = path.join(dir, e.name);
      if (CHECKPOINT_NAME.test(e.name) && fs.existsSync(path.join(full, 'trainer_state.json'))) folders.push(full);
      else if (TEMP_NAME.test(e.name)) temps.push(full);
      else walk(full);
    }
  };
  walk(root);
  return { folders, temps };
}

/**
 * readCheckpoint() on every checkpoint folder under root; returns the number
 * checked and reports a violation for each that fails, and for each temporary
 * folder left behind unless allowTemporary (a process that exited while a
 * checkpoint was being written may leave one; it must never be renamed half done).
 */
async function validateCheckpointsUnder(root, readCheckpoint, fail, label = root, { allowTemporary = false } = {}) {
  const { folders, temps } = findCheckpointFolders(root);
  for (const folder of folders) {
    try {
      await readCheckpoint(folder);
    } catch (error) {
      fail(`${label}: checkpoint ${folder} does not read back: ${error.code || ''} ${error.message}`);
    }
  }
  if (!allowTemporary) for (const t of temps) fail(`${label}: temporary checkpoint folder left behind: ${t}`);
  return folders.length;
}

module.exports = {
  ROOT,
  DIST,
  createRandom,
  sleep,
  tick,
  waitUntil,
  blockEventLoop,
  withTimeout,
  threadCount,
  activeResources,
  sameResources,
  formatResources,
  collectGarbage,
  rssMB,
  createRssSampler,
  findCheckpointFolders,
  validateCheckpointsUnder,
};
