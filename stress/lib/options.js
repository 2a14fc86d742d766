'use strict';
// Command-line options of stress/run.js.
//
//   (none)              short mode: every scenario once, about a minute in all
//   --long              long mode: the scenarios over and over, 5 minutes by default
//   --duration <s>      total scenario time in seconds (overrides the mode's default)
//   --seed <n>          seed of every random choice (default: derived from the clock, printed)
//   --only <a,b>        run only the named scenarios
//   --list              print the scenario names and exit
//   --verbose           print each violation as it happens

const { parseArgs } = require('node:util');

const SHORT_DURATION_S = 35;
const LONG_DURATION_S = 300;

function usageError(message) {
  const error = new Error(`${message}\nusage: node stress/run.js [--long] [--duration <seconds>] [--seed <n>] [--only <names>] [--list] [--verbose]`);
  error.code = 'STRESS_USAGE';
  return error;
}

function positiveNumber(text, name) {
  const v = Number(text);
  if (!Number.isFinite(v) || v <= 0) throw usageError(`--${name} must be a positive number (got ${JSON.stringify(text)})`);
  return v;
}

/** Parses argv (without node and the script) into the suite's settings. */
function parseStressOptions(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        long: { type: 'boolean', default: false },
        duration: { type: 'string' },
        seed: { type: 'string' },
        only: { type: 'string' },
        list: { type: 'boolean', default: false },
        verbose: { type: 'boolean', default: false },
      },
      allowPositionals: false,
    });
  } catch (error) {
    throw usageError(error.message);
  }
  const v = parsed.values;
  const mode = v.long ? 'long' : 'short';
  const durationS = v.duration !== undefined ? positiveNumber(v.duration, 'duration') : mode === 'long' ? LONG_DURATION_S : SHORT_DURATION_S;
  let seed;
  if (v.seed !== undefined) {
    seed = Number(v.seed);
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw usageError(`--seed must be an integer from 0 to 4294967295 (got ${JSON.stringify(v.seed)})`);
  } else {
    seed = (Date.now() ^ (process.pid << 16)) >>> 0;
  }
  const only = v.only ? v.only.split(',').map((s) => s.trim()).filter(Boolean) : null;
  return { mode, durationS, seed, only, list: v.list, verbose: v.verbose };
}

module.exports = { parseStressOptions, SHORT_DURATION_S, LONG_DURATION_S };
