'use strict';
// The process-wide invariants checked after every scenario pass, against a
// baseline taken once after warm-up:
//
//  - native threads (/proc/self/task) back to the baseline count: every
//    GPU sampling thread and worker joined, every training thread and kernel
//    pool worker gone (they exit 2 s after a trainer's last run);
//  - active resources (process.getActiveResourcesInfo(), timers aside) back
//    to the baseline: no handle left that would keep the process alive;
//  - RSS bounded: at no sample above baseline + RSS_PEAK_BOUND_MB, and after
//    each scenario (after a full GC) within baseline + RSS_SETTLED_BOUND_MB,
//    so memory that grows round after round in a long run is caught.

const {
  threadCount,
  activeResources,
  sameResources,
  formatResources,
  collectGarbage,
  rssMB,
  waitUntil,
  tick,
} = require('./util');

// Under AddressSanitizer (npm run sanitize preloads libasan) RSS measures
// ASan's shadow memory and freed-memory quarantine, not this package: the RSS
// bounds are checked in normal runs only; threads and resources still are.
const RSS_CHECKED = !/libasan/.test(process.env.LD_PRELOAD || '');
const RSS_PEAK_BOUND_MB = 600;
const RSS_SETTLED_BOUND_MB = 150;
const THREADS_SETTLE_MS = 15000;
const RESOURCES_SETTLE_MS = 10000;

async function settle() {
  collectGarbage();
  await tick();
  await tick();
  collectGarbage();
}

async function takeBaseline() {
  await settle();
  return { threads: threadCount(), resources: activeResources(), rss: rssMB() };
}

/**
 * Waits for threads and resources to return to the baseline (bounded waits:
 * joins and closes may finish a little after the last promise settles),
 * then checks all three bounds. Returns the settled RSS and thread count.
 */
async function checkAgainstBaseline(base, fail, peakRss) {
  await settle();
  const threadsBack = await waitUntil(() => threadCount() <= base.threads, THREADS_SETTLE_MS, 25);
  if (!threadsBack) fail(`native threads: ${threadCount()} alive ${THREADS_SETTLE_MS / 1000} s after the scenario, baseline ${base.threads} (/proc/self/task)`);
  const resourcesBack = await waitUntil(() => sameResources(activeResources(), base.resources), RESOURCES_SETTLE_MS, 25);
  if (!resourcesBack) fail(`active resources ${formatResources(activeResources())} after the scenario, baseline ${formatResources(base.resources)}`);
  await settle();
  const settledRss = rssMB();
  if (RSS_CHECKED && settledRss > base.rss + RSS_SETTLED_BOUND_MB) {
    fail(`RSS ${settledRss.toFixed(0)} MB after the scenario (after GC), above baseline ${base.rss.toFixed(0)} + ${RSS_SETTLED_BOUND_MB} MB`);
  }
  if (RSS_CHECKED && peakRss > base.rss + RSS_PEAK_BOUND_MB) {
    fail(`RSS peaked at ${peakRss.toFixed(0)} MB, above baseline ${base.rss.toFixed(0)} + ${RSS_PEAK_BOUND_MB} MB`);
  }
  return { settledRss, threads: threadCount() };
}

module.exports = { takeBaseline, checkAgainstBaseline, RSS_CHECKED, RSS_PEAK_BOUND_MB, RSS_SETTLED_BOUND_MB };
