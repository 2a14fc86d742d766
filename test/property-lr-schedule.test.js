'use strict';
// Property tests (fast-check) for the multi-run learning-rate schedule
// (ts/multi-run/schedule.ts): run 1 trains at initialLr, the last run at
// exactly finalLr (linear, cosine), the runs between move monotonically from
// one to the other and never leave that interval, and 'constant' keeps
// initialLr throughout.
const assert = require('node:assert/strict');
const path = require('node:path');
const fc = require('fast-check');

const dist = process.env.BP_DIST || path.join(__dirname, '..', 'dist');
const { learningRateForRun, learningRateSchedule } = require(path.join(dist, 'multi-run', 'schedule'));

const RUNS = 500;
const lr = fc.double({ min: 1e-8, max: 10, noNaN: true });
const schedule = fc.record({
  numRuns: fc.integer({ min: 1, max: 300 }),
  initialLr: lr,
  finalLr: lr,
  lrDecay: fc.constantFrom('linear', 'cosine', 'constant'),
});

describe('property: multi-run learning-rate schedule', () => {
  it('run 1 trains at initialLr; with linear or cosine the last run at exactly finalLr', () => {
    fc.assert(
      fc.property(schedule, (s) => {
        const rates = learningRateSchedule(s);
        assert.equal(rates.length, s.numRuns);
        assert.equal(rates[0], s.initialLr);
        if (s.numRuns > 1 && s.lrDecay !== 'constant') assert.equal(rates[s.numRuns - 1], s.finalLr);
      }),
      { numRuns: RUNS },
    );
  });

  it('linear and cosine move monotonically from initialLr to finalLr and stay between them', () => {
    fc.assert(
      fc.property(schedule.filter((s) => s.lrDecay !== 'constant'), (s) => {
        const rates = learningRateSchedule(s);
        const low = Math.min(s.initialLr, s.finalLr);
        const high = Math.max(s.initialLr, s.finalLr);
        const direction = Math.sign(s.finalLr - s.initialLr);
        for (let i = 0; i < rates.length; i++) {
          assert.ok(rates[i] >= low && rates[i] <= high, `run ${i + 1}: ${rates[i]} outside [${low}, ${high}]`);
          if (i > 0) assert.ok((rates[i] - rates[i - 1]) * direction >= 0, `run ${i + 1}: ${rates[i - 1]} -> ${rates[i]} against the direction ${direction}`);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("'constant' keeps initialLr for every run, whatever finalLr is", () => {
    fc.assert(
      fc.property(schedule.map((s) => ({ ...s, lrDecay: 'constant' })), (s) => {
        assert.ok(learningRateSchedule(s).every((v) => v === s.initialLr));
      }),
      { numRuns: RUNS },
    );
  });

  it('learningRateForRun(i) is the i-th entry of the schedule; an index outside 1..numRuns is a RangeError', () => {
    fc.assert(
      fc.property(schedule, fc.integer({ min: -5, max: 310 }), (s, i) => {
        if (Number.isInteger(i) && i >= 1 && i <= s.numRuns) assert.equal(learningRateForRun(s, i), learningRateSchedule(s)[i - 1]);
        else assert.throws(() => learningRateForRun(s, i), RangeError);
        assert.throws(() => learningRateForRun(s, 1.5), RangeError);
      }),
      { numRuns: RUNS },
    );
  });
});
