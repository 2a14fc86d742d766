'use strict';
// ScenarioContext: what one scenario pass gets from the runner: its own
// random generator, a time budget split into rounds, temporary folders,
// counters for the summary table, and fail() for invariant violations.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

/** Most violations printed per scenario pass (all are counted). */
const MAX_KEPT_VIOLATIONS = 40;

class ScenarioContext {
  /**
   * name: the scenario's name; random: its generator; budgetMs: how long it
   * should keep starting new rounds; mode: 'short' | 'long'; verbose: print
   * each violation at once.
   */
  constructor({ name, random, budgetMs, mode, verbose }) {
    this.name = name;
    this.random = random;
    this.mode = mode;
    this.long = mode === 'long';
    this.verbose = verbose;
    this.startedAt = Date.now();
    this.deadline = this.startedAt + budgetMs;
    this.rounds = 0;
    this.counts = { runs: 0, aborts: 0, events: 0, checkpoints: 0 };
    this.violations = [];
    this.violationCount = 0;
    this.notes = [];
    this.tmpRoots = [];
  }

  /** True while a new round should start: always for the first, then while the budget lasts. */
  nextRound() {
    if (this.rounds > 0 && Date.now() >= this.deadline) return false;
    this.rounds++;
    return true;
  }

  get timeLeftMs() {
    return Math.max(0, this.deadline - Date.now());
  }

  fail(message) {
    this.violationCount++;
    if (this.violations.length < MAX_KEPT_VIOLATIONS) this.violations.push(message);
    if (this.verbose) console.error(`  VIOLATION [${this.name}] ${message}`);
  }

  /** A remark for the report that is not a violation (e.g. a part skipped because a tool is missing). */
  note(message) {
    if (!this.notes.includes(message)) this.notes.push(message);
  }

  count(kind, n = 1) {
    this.counts[kind] = (this.counts[kind] || 0) + n;
  }

  /** A fresh temporary folder, removed by cleanup(). */
  tmpDir(label) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `bp-stress-${this.name}-${label}-`));
    this.tmpRoots.push(dir);
    return dir;
  }

  cleanup() {
    for (const dir of this.tmpRoots.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  }
}

module.exports = { ScenarioContext };
