#!/usr/bin/env node
'use strict';
// The stress suite: `npm run stress` (short mode, about a minute) or
// `npm run stress -- --long` (several minutes, scenarios repeated in cycles).
// See stress/lib/options.js for the flags.
//
// Each scenario pass hammers one part of the package with randomised, seeded
// work and checks invariants as it goes (stress/scenarios/*.js); after every
// pass the runner checks the process itself against a baseline
// (stress/lib/process-checks.js). At the end it prints a summary table and
// every violation, and exits non-zero if there was any.

const os = require('node:os');
const { parseStressOptions } = require('./lib/options');
const { ScenarioContext } = require('./lib/scenario-context');
const { takeBaseline, checkAgainstBaseline, RSS_CHECKED, RSS_PEAK_BOUND_MB, RSS_SETTLED_BOUND_MB } = require('./lib/process-checks');
const { formatSummaryTable } = require('./lib/summary-table');
const { createRandom, createRssSampler, activeResources, sameResources, formatResources, DIST } = require('./lib/util');
const { warmUp } = require('./lib/warm-up');

const SCENARIOS = [
  require('./scenarios/trainers'),
  require('./scenarios/monitors'),
  require('./scenarios/nvml-monitors'),
  require('./scenarios/multi-run'),
  require('./scenarios/workers'),
  require('./scenarios/processes'),
];

/** A long run is a series of cycles of at most this length, each giving every scenario its share. */
const LONG_CYCLE_MS = 60000;
/** How long the process may stay alive after the summary before that counts as a leaked handle. */
const EXIT_GRACE_MS = 10000;

function selectScenarios(only) {
  if (!only) return SCENARIOS;
  const unknown = only.filter((name) => !SCENARIOS.some((s) => s.name === name));
  if (unknown.length > 0) throw new Error(`unknown scenario(s) ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  return SCENARIOS.filter((s) => only.includes(s.name));
}

async function main() {
  let options;
  let scenarios;
  try {
    options = parseStressOptions(process.argv.slice(2));
    scenarios = selectScenarios(options.only);
  } catch (error) {
    console.error(error.message);
    process.exitCode = 2;
    return;
  }
  if (options.list) {
    for (const s of SCENARIOS) console.log(`${s.name.padEnd(14)} ${s.description}`);
    return;
  }

  const totalMs = options.durationS * 1000;
  console.log(
    `backpropagate stress suite: ${options.mode} mode, seed ${options.seed} (rerun with --seed ${options.seed}), ` +
      `${options.durationS} s of scenarios, ${os.availableParallelism()} CPU(s), node ${process.version}, ${DIST}`,
  );
  const globalViolations = [];
  // Every in-process trainer and session listens for 'callbackError': a handler warning means a report went astray.
  process.on('warning', (w) => {
    if (w.code === 'BACKPROP_CALLBACK_ERROR') globalViolations.push(`a handler error became a process warning although 'callbackError' was listened to: ${w.message}`);
  });

  await warmUp();
  const base = await takeBaseline();
  console.log(`baseline: ${base.threads} threads, RSS ${base.rss.toFixed(0)} MB, resources ${formatResources(base.resources)}`);
  const rss = createRssSampler(50);
  const root = createRandom(options.seed);
  const weightSum = scenarios.reduce((a, s) => a + s.weight, 0);
  const rows = new Map(scenarios.map((s) => [s.name, { name: s.name, passes: 0, rounds: 0, counts: {}, violations: 0, maxRss: 0, ms: 0 }]));
  const violations = [];
  const notes = new Set();
  const started = Date.now();
  const cycleMs = options.mode === 'long' ? Math.min(LONG_CYCLE_MS, totalMs) : totalMs;

  for (let cycle = 1; cycle === 1 || Date.now() - started < totalMs; cycle++) {
    for (const scenario of scenarios) {
      const ctx = new ScenarioContext({
        name: scenario.name,
        random: root.fork(`${scenario.name}#${cycle}`),
        budgetMs: (cycleMs * scenario.weight) / weightSum,
        mode: options.mode,
        verbose: options.verbose,
      });
      rss.reset();
      const t0 = Date.now();
      try {
        await scenario.run(ctx);
      } catch (error) {
        ctx.fail(`the scenario itself threw: ${error && error.stack}`);
      }
      const ms = Date.now() - t0;
      const peak = rss.max();
      const { settledRss } = await checkAgainstBaseline(base, (m) => ctx.fail(`process: ${m}`), peak);
      ctx.cleanup();

      const row = rows.get(scenario.name);
      row.passes++;
      row.rounds += ctx.rounds;
      for (const [k, v] of Object.entries(ctx.counts)) row.counts[k] = (row.counts[k] || 0) + v;
      row.violations += ctx.violationCount;
      row.maxRss = Math.max(row.maxRss, peak);
      row.ms += ms;
      for (const n of ctx.notes) notes.add(`${scenario.name}: ${n}`);
      for (const v of ctx.violations) violations.push(`[${scenario.name} pass ${cycle}] ${v}`);
      if (ctx.violationCount > ctx.violations.length) violations.push(`[${scenario.name} pass ${cycle}] ... and ${ctx.violationCount - ctx.violations.length} more`);
      console.log(
        `  ${scenario.name} pass ${cycle}: ${ctx.rounds} round(s), ${ctx.counts.runs || 0} runs, ${ctx.counts.events || 0} events checked, ` +
          `${ctx.violationCount} violation(s), RSS peak ${peak.toFixed(0)} MB, settled ${settledRss.toFixed(0)} MB, ${(ms / 1000).toFixed(1)} s`,
      );
    }
    if (options.mode !== 'long') break;
  }
  rss.stop();
  const elapsed = (Date.now() - started) / 1000;
  for (const v of globalViolations) violations.push(`[process] ${v}`);

  console.log('');
  console.log(formatSummaryTable([...rows.values()]));
  console.log('');
  console.log(
    `${options.mode} mode, seed ${options.seed}, ${elapsed.toFixed(1)} s. Bounds: native threads and active resources back to the baseline after every scenario; ` +
      (RSS_CHECKED
        ? `RSS at most baseline + ${RSS_PEAK_BOUND_MB} MB at any sample and baseline + ${RSS_SETTLED_BOUND_MB} MB after each scenario (baseline ${base.rss.toFixed(0)} MB).`
        : `RSS not bounded under AddressSanitizer (its shadow memory and quarantine dominate; baseline ${base.rss.toFixed(0)} MB).`),
  );
  for (const n of notes) console.log(`note: ${n}`);
  if (violations.length > 0) {
    console.log(`\n${violations.length} violation(s):`);
    for (const v of violations) console.log(`  - ${v}`);
    process.exitCode = 1;
  } else {
    console.log('no violations');
  }

  // Nothing of the suite's may keep the process alive now: it must exit by itself.
  const left = activeResources();
  if (!sameResources(left, base.resources)) {
    console.log(`active resources at the end ${formatResources(left)} differ from the baseline ${formatResources(base.resources)}`);
    process.exitCode = 1;
  }
  setTimeout(() => {
    console.error(`the stress process is still alive ${EXIT_GRACE_MS / 1000} s after its end; resources: ${process.getActiveResourcesInfo().join(', ')}`);
    process.exit(1);
  }, EXIT_GRACE_MS).unref();
}

main().catch((error) => {
  console.error(error && error.stack);
  process.exitCode = 1;
});
