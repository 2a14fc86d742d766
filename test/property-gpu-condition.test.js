'use strict';
// Property tests (fast-check) for the GPU condition evaluation (the native
// evaluation every sample goes through, reached here with getGpuStatus() on a
// one-reading scripted source): for any thresholds and any reading, raising
// the temperature, the VRAM in use or the power draw never lowers the
// severity; the condition is the most severe of the per-metric conditions;
// within 3 °C of the card's shutdown temperature it is always 'emergency';
// every threshold is inclusive.
const assert = require('node:assert/strict');
const path = require('node:path');
const fc = require('fast-check');

const dist = process.env.BP_DIST || path.join(__dirname, '..', 'dist');
const { getGpuStatus, scriptedGpuSource, conditionSeverity, GPUSafetyConfig } = require(dist);

const RUNS = 300;
const VRAM_TOTAL_GB = 80;
const POWER_LIMIT_W = 700;

const sortedTriple = (min, max) =>
  fc.tuple(fc.double({ min, max, noNaN: true }), fc.double({ min, max, noNaN: true }), fc.double({ min, max, noNaN: true })).map((t) => t.sort((a, b) => a - b));
const sortedPair = (min, max) => sortedTriple(min, max).map(([a, , c]) => [a, c]);

/** Valid thresholds (warning <= critical <= emergency), anywhere in plausible ranges. */
const config = fc
  .record({ temp: sortedTriple(40, 120), vram: sortedPair(1, 120), power: sortedPair(1, 150) })
  .map(({ temp, vram, power }) =>
    new GPUSafetyConfig({
      tempWarning: temp[0],
      tempCritical: temp[1],
      tempEmergency: temp[2],
      vramWarning: vram[0],
      vramCritical: vram[1],
      powerWarning: power[0],
      powerCritical: power[1],
    }),
  );

const temperature = fc.double({ min: 0, max: 130, noNaN: true });
const vramUsed = fc.double({ min: 0, max: VRAM_TOTAL_GB * 1.2, noNaN: true });
const powerDraw = fc.double({ min: 0, max: POWER_LIMIT_W * 1.6, noNaN: true });

/** A reading with each metric present or not (at least one present); the shutdown threshold sometimes. */
const reading = fc
  .record({
    temperatureC: fc.option(temperature, { nil: undefined }),
    temperatureMaxC: fc.option(fc.double({ min: 60, max: 130, noNaN: true }), { nil: undefined }),
    vramUsedGb: fc.option(vramUsed, { nil: undefined }),
    powerDrawW: fc.option(powerDraw, { nil: undefined }),
  })
  .filter((r) => r.temperatureC !== undefined || r.vramUsedGb !== undefined || r.powerDrawW !== undefined)
  .map(toReading);

function toReading(r) {
  const out = {};
  if (r.temperatureC !== undefined) out.temperatureC = r.temperatureC;
  if (r.temperatureMaxC !== undefined) out.temperatureMaxC = r.temperatureMaxC;
  if (r.vramUsedGb !== undefined) Object.assign(out, { vramUsedGb: r.vramUsedGb, vramTotalGb: VRAM_TOTAL_GB });
  if (r.powerDrawW !== undefined) Object.assign(out, { powerDrawW: r.powerDrawW, powerLimitW: POWER_LIMIT_W });
  return out;
}

function evaluate(r, cfg) {
  return getGpuStatus({ source: scriptedGpuSource([r]), config: cfg });
}

const severity = (r, cfg) => conditionSeverity(evaluate(r, cfg).condition);

/** The reading with one metric raised by `by` (added if it was missing: from nothing to something). */
function raised(r, metric, by) {
  const out = { ...r };
  if (metric === 'temperature') out.temperatureC = (r.temperatureC ?? 0) + by;
  if (metric === 'vram') Object.assign(out, { vramUsedGb: (r.vramUsedGb ?? 0) + by, vramTotalGb: VRAM_TOTAL_GB });
  if (metric === 'power') Object.assign(out, { powerDrawW: (r.powerDrawW ?? 0) + by, powerLimitW: POWER_LIMIT_W });
  return out;
}

describe('property: GPU condition evaluation', () => {
  it('every reading with a metric gets a ranked condition (never unknown)', () => {
    fc.assert(
      fc.property(reading, config, (r, cfg) => {
        const s = evaluate(r, cfg);
        assert.ok(conditionSeverity(s.condition) >= 0, `${JSON.stringify(r)} -> ${s.condition} (${s.conditionReason})`);
      }),
      { numRuns: RUNS },
    );
  });

  for (const metric of ['temperature', 'vram', 'power']) {
    it(`raising ${metric} never lowers the severity`, () => {
      fc.assert(
        fc.property(reading, config, fc.double({ min: 0, max: 100, noNaN: true }), (r, cfg, by) => {
          const before = severity(r, cfg);
          const after = severity(raised(r, metric, by), cfg);
          assert.ok(after >= before, `${JSON.stringify(r)} raised ${metric} by ${by}: severity ${before} -> ${after}`);
        }),
        { numRuns: RUNS },
      );
    });
  }

  it('the condition is the most severe of the per-metric conditions', () => {
    fc.assert(
      fc.property(reading, config, (r, cfg) => {
        const parts = [];
        if (r.temperatureC !== undefined) parts.push({ temperatureC: r.temperatureC, ...(r.temperatureMaxC !== undefined ? { temperatureMaxC: r.temperatureMaxC } : {}) });
        if (r.vramUsedGb !== undefined) parts.push({ vramUsedGb: r.vramUsedGb, vramTotalGb: r.vramTotalGb });
        if (r.powerDrawW !== undefined) parts.push({ powerDrawW: r.powerDrawW, powerLimitW: r.powerLimitW });
        const worst = Math.max(...parts.map((p) => severity(p, cfg)));
        const s = evaluate(r, cfg);
        assert.equal(conditionSeverity(s.condition), worst, `${JSON.stringify(r)}: ${s.condition} (${s.conditionReason}), per metric ${parts.map((p) => evaluate(p, cfg).condition)}`);
      }),
      { numRuns: RUNS },
    );
  });

  it("within 3 °C of the card's shutdown temperature is always 'emergency', whatever the thresholds", () => {
    fc.assert(
      fc.property(reading, config, fc.double({ min: 60, max: 130, noNaN: true }), fc.double({ min: -3, max: 20, noNaN: true }), (r, cfg, shutdown, over) => {
        const hot = { ...r, temperatureMaxC: shutdown, temperatureC: shutdown + over };
        const s = evaluate(hot, cfg);
        assert.equal(s.condition, 'emergency', `${JSON.stringify(hot)}: ${s.condition} (${s.conditionReason})`);
      }),
      { numRuns: RUNS },
    );
  });

  it('temperature thresholds are inclusive: exactly at one reaches that level', () => {
    fc.assert(
      fc.property(config, (cfg) => {
        const at = (t) => conditionSeverity(evaluate({ temperatureC: t }, cfg).condition);
        assert.ok(at(cfg.tempWarning) >= conditionSeverity('warning'), `at tempWarning ${cfg.tempWarning}`);
        assert.ok(at(cfg.tempCritical) >= conditionSeverity('critical'), `at tempCritical ${cfg.tempCritical}`);
        assert.equal(at(cfg.tempEmergency), conditionSeverity('emergency'), `at tempEmergency ${cfg.tempEmergency}`);
      }),
      { numRuns: 100 },
    );
  });

  it("a reading below every threshold and under 70 °C is 'safe'", () => {
    fc.assert(
      fc.property(config, fc.double({ min: 0, max: 0.999, noNaN: true }), (cfg, f) => {
        const t = Math.min(70, cfg.tempWarning) * f;
        const vram = (cfg.vramWarning / 100) * VRAM_TOTAL_GB * f;
        const power = (cfg.powerWarning / 100) * POWER_LIMIT_W * f;
        const s = evaluate({ temperatureC: t, vramUsedGb: vram, vramTotalGb: VRAM_TOTAL_GB, powerDrawW: power, powerLimitW: POWER_LIMIT_W }, cfg);
        assert.equal(s.condition, 'safe', `t ${t}, vram ${vram}, power ${power}: ${s.conditionReason}`);
      }),
      { numRuns: RUNS },
    );
  });
});
