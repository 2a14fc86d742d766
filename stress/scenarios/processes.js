'use strict';
// Scenario "processes": child processes that end while training.
//
//  - process.exit(code) from a step handler while the native thread trains
//    and writes checkpoints: the child exits with that code, promptly, with
//    no crash; every checkpoint folder it left reads back (a folder being
//    written at that moment stays under its temporary name, never half
//    renamed);
//  - SIGTERM during training, with a handler that exits (code 0) and with
//    none (the default action: ended by SIGTERM, not by a crash);
//  - a child whose handlers throw with no 'callbackError' listener: its runs
//    keep the dispatch contract, each throwing hook warns exactly once, and
//    the child then exits by itself (nothing keeps it alive).

const path = require('node:path');
const { spawn } = require('node:child_process');
const { DIST, validateCheckpointsUnder } = require('../lib/util');

const { readCheckpoint } = require(DIST);

const CHILD = path.join(__dirname, '..', 'fixtures', 'child-trainer.js');
const CHILD_TIMEOUT_MS = 60000;
/** What a native crash or an abort looks like on stderr. */
const CRASH_PATTERN = /Segmentation fault|Aborted|terminate called|FATAL ERROR|Assertion failed|core dumped|double free|corrupted/i;

/**
 * Runs the child; onLine(line, child) sees each stdout line. Resolves with
 * { code, signal, stdout, stderr, timedOut }; a child that outlives the
 * timeout is killed and reported.
 */
function runChild(options, onLine) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CHILD, JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let pending = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, CHILD_TIMEOUT_MS);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      pending += chunk;
      let nl;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (onLine) onLine(line, child);
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

function checkNoCrash(ctx, label, r) {
  if (r.timedOut) ctx.fail(`${label}: still running after ${CHILD_TIMEOUT_MS / 1000} s (hung), killed`);
  if (CRASH_PATTERN.test(r.stderr)) ctx.fail(`${label}: crash output on stderr: ${r.stderr.trim().split('\n').slice(-5).join(' | ')}`);
}

async function exitDuringTraining(ctx, seed) {
  const exitCode = ctx.random.int(3, 120);
  const exitAtStep = ctx.random.int(1, 200);
  const stepEvents = ctx.random.pick(['block', 'coalesce']);
  const label = `child process.exit(${exitCode}) at step ${exitAtStep} (${stepEvents})`;
  const outputDir = ctx.tmpDir(`exit${seed}`);
  const r = await runChild({ mode: 'exit', seed, outputDir, stepEvents, exitAtStep, exitCode });
  checkNoCrash(ctx, label, r);
  if (!r.timedOut && (r.code !== exitCode || r.signal !== null)) ctx.fail(`${label}: ended with code ${r.code}, signal ${r.signal}`);
  // A folder being written at exit keeps its temporary name; every renamed one must be whole.
  ctx.count('checkpoints', await validateCheckpointsUnder(outputDir, readCheckpoint, (m) => ctx.fail(`${label}: ${m}`), label, { allowTemporary: true }));
  ctx.count('runs');
  ctx.count('aborts');
}

async function sigtermDuringTraining(ctx, seed, withHandler) {
  const stepEvents = ctx.random.pick(['block', 'coalesce']);
  const label = `child SIGTERM ${withHandler ? 'with a handler' : 'default action'} (${stepEvents})`;
  const delayMs = ctx.random.int(0, 50);
  let sawSigtermLine = false;
  const r = await runChild({ mode: withHandler ? 'sigterm-handler' : 'sigterm-default', seed, stepEvents }, (line, child) => {
    if (line === 'training') setTimeout(() => child.kill('SIGTERM'), delayMs);
    if (line === 'sigterm') sawSigtermLine = true;
  });
  checkNoCrash(ctx, label, r);
  if (!r.timedOut) {
    if (withHandler && (r.code !== 0 || !sawSigtermLine)) ctx.fail(`${label}: ended with code ${r.code}, signal ${r.signal}, handler ran: ${sawSigtermLine}`);
    if (!withHandler && r.signal !== 'SIGTERM') ctx.fail(`${label}: ended with code ${r.code}, signal ${r.signal}; expected the SIGTERM default action`);
  }
  ctx.count('runs');
  ctx.count('aborts');
}

async function exitsByItself(ctx, seed) {
  const stepEvents = ctx.random.pick(['block', 'coalesce']);
  const label = `child with throwing handlers, no listener (${stepEvents})`;
  const r = await runChild({ mode: 'natural', seed, stepEvents });
  checkNoCrash(ctx, label, r);
  if (r.timedOut) return; // reported: it did not exit by itself
  if (r.code !== 0 || r.signal !== null) ctx.fail(`${label}: ended with code ${r.code}, signal ${r.signal}: ${r.stderr.trim().slice(-500)}`);
  const last = r.stdout.trim().split('\n').pop();
  let report;
  try {
    report = JSON.parse(last);
  } catch {
    ctx.fail(`${label}: no report line on stdout: ${JSON.stringify(r.stdout.slice(-300))}`);
    return;
  }
  for (const v of report.violations) ctx.fail(`${label}: ${v}`);
  ctx.count('events', report.events);
  ctx.count('runs', report.runs);
}

module.exports = {
  name: 'processes',
  description: 'child processes that call process.exit() or get SIGTERM while training, and one that must exit by itself',
  weight: 0.11,
  async run(ctx) {
    let seed = 0;
    while (ctx.nextRound()) {
      await Promise.all([
        exitDuringTraining(ctx, ++seed),
        sigtermDuringTraining(ctx, ++seed, true),
        sigtermDuringTraining(ctx, ++seed, false),
        exitsByItself(ctx, ++seed),
      ]);
    }
  },
};
