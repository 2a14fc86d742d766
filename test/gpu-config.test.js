'use strict';
// GPU safety vocabulary and evaluation: GPUCondition, conditionSeverity,
// GPUSafetyConfig (defaults, validation) and the evaluation rules, checked
// through getGpuStatus()/checkGpuSafe()/waitForSafeGpu()/listGpus() with
// scripted (simulated) sources. NVML-backed paths are in gpu-nvml.test.js.
const assert = require('node:assert/strict');
const path = require('node:path');

const dist = process.env.BP_DIST || path.join(__dirname, '..', 'dist');
const {
  GPUCondition,
  conditionSeverity,
  GPUSafetyConfig,
  GPUMonitor,
  scriptedGpuSource,
  getGpuStatus,
  checkGpuSafe,
  waitForSafeGpu,
  listGpus,
  nvmlInfo,
  resetNvmlState,
  BackpropError,
} = require(dist);

const DEFAULTS = Object.freeze({
  tempWarning: 80,
  tempCritical: 90,
  tempEmergency: 95,
  vramWarning: 90,
  vramCritical: 95,
  powerWarning: 95,
  powerCritical: 100,
  checkIntervalMs: 5000,
  cooldownMs: 30000,
  maxCooldownAttempts: 6,
  pauseOnCritical: true,
  abortOnEmergency: true,
  logWarnings: true,
});

const STATUS_KEYS = [
  'available', 'deviceName', 'deviceIndex', 'uuid', 'temperatureC', 'temperatureMaxC', 'temperatureSlowdownC',
  'vramTotalGb', 'vramUsedGb', 'vramFreeGb', 'vramPercent', 'powerDrawW', 'powerLimitW', 'powerPercent',
  'gpuUtilization', 'memoryUtilization', 'smClockMhz', 'memClockMhz', 'fanPercent', 'throttleReasons', 'processes',
  'condition', 'conditionReason', 'timestamp',
];

/** The status of one scripted reading, evaluated against `config`. */
function evaluate(reading, config) {
  return getGpuStatus({ source: scriptedGpuSource([reading]), config });
}

function assertConfigInvalid(fn, fieldPattern) {
  assert.throws(fn, (error) => {
    assert.ok(error instanceof BackpropError, `expected a BackpropError, got ${error && error.constructor && error.constructor.name}: ${error && error.message}`);
    assert.equal(error.code, 'CONFIG_INVALID');
    if (fieldPattern) assert.match(`${error.details.field} ${error.message}`, fieldPattern);
    return true;
  });
}

describe('GPUCondition', () => {
  it('is a frozen object with the six condition names', () => {
    assert.ok(Object.isFrozen(GPUCondition));
    assert.deepEqual({ ...GPUCondition }, {
      SAFE: 'safe', WARM: 'warm', WARNING: 'warning', CRITICAL: 'critical', EMERGENCY: 'emergency', UNKNOWN: 'unknown',
    });
    assert.throws(() => {
      GPUCondition.SAFE = 'hot';
    }, TypeError);
    assert.throws(() => {
      GPUCondition.EXTRA = 'x';
    }, TypeError);
    assert.equal(GPUCondition.SAFE, 'safe');
  });
});

describe('conditionSeverity', () => {
  it('orders safe < warm < warning < critical < emergency', () => {
    const order = [GPUCondition.SAFE, GPUCondition.WARM, GPUCondition.WARNING, GPUCondition.CRITICAL, GPUCondition.EMERGENCY];
    const ranks = order.map(conditionSeverity);
    assert.deepEqual(ranks, [0, 1, 2, 3, 4]);
  });

  it("ranks 'unknown' and anything else below every known condition (-1)", () => {
    assert.equal(conditionSeverity('unknown'), -1);
    assert.equal(conditionSeverity('bogus'), -1);
    assert.ok(conditionSeverity('unknown') < conditionSeverity('safe'));
  });
});

describe('GPUSafetyConfig', () => {
  it('has the documented defaults', () => {
    const c = new GPUSafetyConfig();
    for (const [key, value] of Object.entries(DEFAULTS)) assert.equal(c[key], value, key);
    assert.deepEqual({ ...new GPUSafetyConfig({}) }, { ...c });
  });

  it('new GPUSafetyConfig({ tempCritical: 85 }) sets that field and fills in the rest', () => {
    const c = new GPUSafetyConfig({ tempCritical: 85 });
    assert.equal(c.tempCritical, 85);
    for (const [key, value] of Object.entries(DEFAULTS)) if (key !== 'tempCritical') assert.equal(c[key], value, key);
  });

  it('accepts every option at once', () => {
    const options = {
      tempWarning: 60, tempCritical: 70, tempEmergency: 75, vramWarning: 50, vramCritical: 60, powerWarning: 70,
      powerCritical: 80, checkIntervalMs: 100, cooldownMs: 200, maxCooldownAttempts: 2, pauseOnCritical: false,
      abortOnEmergency: false, logWarnings: false,
    };
    assert.deepEqual({ ...new GPUSafetyConfig(options) }, options);
  });

  it('ignores options passed as undefined', () => {
    assert.equal(new GPUSafetyConfig({ tempCritical: undefined }).tempCritical, 90);
  });

  it('rejects non-numeric, negative and non-finite numbers with CONFIG_INVALID', () => {
    for (const bad of ['85', -1, NaN, Infinity, null, {}, true]) {
      assertConfigInvalid(() => new GPUSafetyConfig({ tempCritical: bad }), /tempCritical/);
    }
    assertConfigInvalid(() => new GPUSafetyConfig({ cooldownMs: -5 }), /cooldownMs/);
    assertConfigInvalid(() => new GPUSafetyConfig({ vramWarning: 'high' }), /vramWarning/);
  });

  it('rejects non-boolean flags with CONFIG_INVALID', () => {
    assertConfigInvalid(() => new GPUSafetyConfig({ pauseOnCritical: 'yes' }), /pauseOnCritical/);
    assertConfigInvalid(() => new GPUSafetyConfig({ abortOnEmergency: 1 }), /abortOnEmergency/);
    assertConfigInvalid(() => new GPUSafetyConfig({ logWarnings: null }), /logWarnings/);
  });

  it('rejects unknown options, naming them', () => {
    assertConfigInvalid(() => new GPUSafetyConfig({ tempCritcal: 85 }), /tempCritcal/);
  });

  it('rejects a non-object', () => {
    assertConfigInvalid(() => new GPUSafetyConfig(null));
    assertConfigInvalid(() => new GPUSafetyConfig(85));
  });

  it('rejects thresholds out of order and a zero check interval', () => {
    assertConfigInvalid(() => new GPUSafetyConfig({ tempWarning: 92 }), /temp/); // 92 > tempCritical 90
    assertConfigInvalid(() => new GPUSafetyConfig({ tempCritical: 97 }), /temp/); // > tempEmergency 95
    assertConfigInvalid(() => new GPUSafetyConfig({ vramWarning: 96 }), /vram/i);
    assertConfigInvalid(() => new GPUSafetyConfig({ powerWarning: 101 }), /power/i);
    assertConfigInvalid(() => new GPUSafetyConfig({ checkIntervalMs: 0 }), /checkIntervalMs/);
  });

  it('rejects a fractional maxCooldownAttempts (a count of waits)', () => {
    assertConfigInvalid(() => new GPUSafetyConfig({ maxCooldownAttempts: 2.5 }), /maxCooldownAttempts/);
  });

  it('bad config given to GPUMonitor and to the queries is CONFIG_INVALID too', () => {
    assertConfigInvalid(() => new GPUMonitor({ config: { tempCritical: 'hot' } }), /tempCritical/);
    assertConfigInvalid(() => getGpuStatus({ source: scriptedGpuSource([{ temperatureC: 50 }]), config: { tempEmergency: -3 } }), /tempEmergency/);
  });
});

describe('scriptedGpuSource', () => {
  it('is frozen and rejects an empty list or bad readings', () => {
    const s = scriptedGpuSource([{ temperatureC: 50 }]);
    assert.ok(Object.isFrozen(s));
    assert.equal(s.kind, 'scripted');
    assertConfigInvalid(() => scriptedGpuSource([]));
    assertConfigInvalid(() => scriptedGpuSource([{ temperatureC: 'hot' }]), /temperatureC/);
    assertConfigInvalid(() => scriptedGpuSource([{ temperatureC: NaN }]), /temperatureC/);
    assertConfigInvalid(() => scriptedGpuSource([42]));
    assertConfigInvalid(() => scriptedGpuSource([{ temperatureC: 50 }], { loop: 'yes' }), /loop/);
  });

  it('is consumed one reading per query; after the end the last repeats', () => {
    const s = scriptedGpuSource([{ temperatureC: 50 }, { temperatureC: 60 }, { temperatureC: 70 }]);
    const temps = Array.from({ length: 5 }, () => getGpuStatus({ source: s }).temperatureC);
    assert.deepEqual(temps, [50, 60, 70, 70, 70]);
  });

  it('with loop: true starts over after the end', () => {
    const s = scriptedGpuSource([{ temperatureC: 50 }, { temperatureC: 60 }], { loop: true });
    const temps = Array.from({ length: 5 }, () => getGpuStatus({ source: s }).temperatureC);
    assert.deepEqual(temps, [50, 60, 50, 60, 50]);
  });

  it('a function of elapsed time is read at the time of the query', async () => {
    const s = scriptedGpuSource((ms) => ({ temperatureC: ms < 100 ? 50 : 91 }));
    assert.equal(getGpuStatus({ source: s }).temperatureC, 50);
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal(getGpuStatus({ source: s }).condition, 'critical');
  });

  it('{ fail } readings are failed reads: available false, unknown, with the message', () => {
    const status = evaluate({ fail: 'sensor gone' });
    assert.equal(status.available, false);
    assert.equal(status.condition, 'unknown');
    assert.match(status.conditionReason, /sensor gone/);
    assert.equal(status.temperatureC, null);
  });

  it('carries every scripted field into the status', () => {
    const reading = {
      deviceName: 'Sim GPU', uuid: 'GPU-sim-1', temperatureC: 55, temperatureMaxC: 100, temperatureSlowdownC: 93,
      vramTotalGb: 80, vramUsedGb: 20, powerDrawW: 150, powerLimitW: 300, gpuUtilization: 40, memoryUtilization: 12,
      smClockMhz: 1500, memClockMhz: 2600, fanPercent: 33, throttleReasons: ['sw_power_cap'],
      processes: [{ pid: 4242, usedMemoryMb: 1024 }],
    };
    const s = evaluate(reading);
    assert.deepEqual(Object.keys(s).sort(), [...STATUS_KEYS].sort());
    assert.ok(Object.isFrozen(s));
    assert.equal(s.available, true);
    for (const [k, v] of Object.entries(reading)) assert.deepEqual(s[k], v, k);
    assert.equal(s.vramFreeGb, 60);
    assert.equal(s.vramPercent, 25);
    assert.equal(s.powerPercent, 50);
    assert.equal(s.deviceIndex, 0);
    assert.equal(typeof s.timestamp, 'number');
    assert.ok(Math.abs(s.timestamp - Date.now()) < 5000, 'timestamp is milliseconds since the epoch, taken now');
  });
});

describe('GPU condition evaluation', () => {
  const cases = [
    // [temperatureC, condition]
    [40, 'safe'],
    [69.9, 'safe'],
    [70, 'warm'],
    [79.9, 'warm'],
    [80, 'warning'],
    [89.9, 'warning'],
    [90, 'critical'],
    [94.9, 'critical'],
    [95, 'emergency'],
    [120, 'emergency'],
  ];
  for (const [t, expected] of cases) {
    it(`temperature ${t} °C with the default config is '${expected}'`, () => {
      assert.equal(evaluate({ temperatureC: t }).condition, expected);
    });
  }

  it('>= 70 °C is at least warm even when the config thresholds are higher', () => {
    const config = { tempWarning: 85, tempCritical: 92, tempEmergency: 97 };
    assert.equal(evaluate({ temperatureC: 70 }, config).condition, 'warm');
    assert.equal(evaluate({ temperatureC: 84 }, config).condition, 'warm');
    assert.equal(evaluate({ temperatureC: 85 }, config).condition, 'warning');
  });

  it('uses the configured temperature thresholds', () => {
    const config = new GPUSafetyConfig({ tempWarning: 60, tempCritical: 65, tempEmergency: 68 });
    assert.equal(evaluate({ temperatureC: 59 }, config).condition, 'safe');
    assert.equal(evaluate({ temperatureC: 60 }, config).condition, 'warning');
    assert.equal(evaluate({ temperatureC: 66 }, config).condition, 'critical');
    assert.equal(evaluate({ temperatureC: 68 }, config).condition, 'emergency');
  });

  it("within 3 °C of the card's shutdown threshold (inclusive) is 'emergency' whatever the config", () => {
    const lax = { tempWarning: 150, tempCritical: 160, tempEmergency: 170 };
    const at = evaluate({ temperatureC: 87, temperatureMaxC: 90 }, lax);
    assert.equal(at.condition, 'emergency');
    assert.match(at.conditionReason, /shutdown/i);
    assert.equal(evaluate({ temperatureC: 89, temperatureMaxC: 90 }, lax).condition, 'emergency');
    assert.equal(evaluate({ temperatureC: 93, temperatureMaxC: 90 }, lax).condition, 'emergency');
    // Just outside the margin: the config decides (86.9 < 150 but >= 70: warm).
    assert.equal(evaluate({ temperatureC: 86.9, temperatureMaxC: 90 }, lax).condition, 'warm');
    // Default config: 86.9 is 'warning', 87 with a 90 °C card is 'emergency'.
    assert.equal(evaluate({ temperatureC: 86.9, temperatureMaxC: 90 }).condition, 'warning');
    assert.equal(evaluate({ temperatureC: 87, temperatureMaxC: 90 }).condition, 'emergency');
    // A card with a high shutdown threshold does not lower the configured emergency.
    assert.equal(evaluate({ temperatureC: 96, temperatureMaxC: 110 }).condition, 'emergency');
  });

  it('VRAM percent: 90 warning, 95 critical (of total)', () => {
    const v = (used) => evaluate({ vramUsedGb: used, vramTotalGb: 100 });
    assert.equal(v(89.9).condition, 'safe');
    assert.equal(v(90).condition, 'warning');
    assert.equal(v(94.9).condition, 'warning');
    assert.equal(v(95).condition, 'critical');
    assert.equal(v(100).condition, 'critical');
    assert.equal(v(90).vramPercent, 90);
    assert.match(v(96).conditionReason, /VRAM/);
  });

  it('power percent of the limit: 95 warning, 100 critical', () => {
    const p = (draw) => evaluate({ powerDrawW: draw, powerLimitW: 400 });
    assert.equal(p(376).condition, 'safe'); // 94 %
    assert.equal(p(380).condition, 'warning'); // 95 %
    assert.equal(p(399).condition, 'warning');
    assert.equal(p(400).condition, 'critical');
    assert.equal(p(420).condition, 'critical');
    assert.equal(p(380).powerPercent, 95);
    assert.match(p(420).conditionReason, /power/i);
  });

  it('the condition is the most severe metric, and the reason names every metric past a threshold', () => {
    const s = evaluate({ temperatureC: 91, vramUsedGb: 92, vramTotalGb: 100, powerDrawW: 404, powerLimitW: 400 });
    assert.equal(s.condition, 'critical');
    assert.match(s.conditionReason, /temperature/i);
    assert.match(s.conditionReason, /VRAM/);
    assert.match(s.conditionReason, /power/i);

    const vramWorst = evaluate({ temperatureC: 82, vramUsedGb: 96, vramTotalGb: 100, powerDrawW: 100, powerLimitW: 400 });
    assert.equal(vramWorst.condition, 'critical');
    assert.match(vramWorst.conditionReason, /temperature/i);
    assert.match(vramWorst.conditionReason, /VRAM/);
    assert.doesNotMatch(vramWorst.conditionReason, /power/i);

    const emergencyWins = evaluate({ temperatureC: 96, vramUsedGb: 96, vramTotalGb: 100 });
    assert.equal(emergencyWins.condition, 'emergency');
    assert.match(emergencyWins.conditionReason, /VRAM/);
  });

  it('a safe reading has a reason that names no metric', () => {
    const s = evaluate({ temperatureC: 40, vramUsedGb: 10, vramTotalGb: 100, powerDrawW: 50, powerLimitW: 400 });
    assert.equal(s.condition, 'safe');
    assert.equal(typeof s.conditionReason, 'string');
    assert.doesNotMatch(s.conditionReason, /temperature|VRAM|power/i);
  });

  it('a missing metric is skipped; no metric at all is unknown', () => {
    const vramOnly = evaluate({ vramUsedGb: 91, vramTotalGb: 100 });
    assert.equal(vramOnly.condition, 'warning');
    assert.equal(vramOnly.temperatureC, null);
    assert.equal(vramOnly.powerPercent, null);
    const nothing = evaluate({ deviceName: 'no sensors' });
    assert.equal(nothing.condition, 'unknown');
    assert.ok(nothing.conditionReason.length > 0);
  });
});

describe('checkGpuSafe', () => {
  const expectations = [
    [{ temperatureC: 40 }, 'safe', true],
    [{ temperatureC: 75 }, 'warm', true],
    [{ temperatureC: 85 }, 'warning', true],
    [{ fail: 'unreadable' }, 'unknown', true],
    [{ temperatureC: 91 }, 'critical', false],
    [{ temperatureC: 96 }, 'emergency', false],
  ];
  for (const [reading, condition, safe] of expectations) {
    it(`is ${safe} for '${condition}'`, () => {
      assert.equal(evaluate(reading).condition, condition);
      const result = checkGpuSafe({ source: scriptedGpuSource([reading]) });
      assert.equal(result, safe);
    });
  }

  it('is synchronous (returns a boolean, not a promise)', () => {
    assert.equal(typeof checkGpuSafe({ source: scriptedGpuSource([{ temperatureC: 40 }]) }), 'boolean');
    assert.equal(typeof getGpuStatus({ source: scriptedGpuSource([{ temperatureC: 40 }]) }).condition, 'string');
  });

  it('applies the given config', () => {
    const source = () => scriptedGpuSource([{ temperatureC: 86 }]);
    assert.equal(checkGpuSafe({ source: source() }), true);
    assert.equal(checkGpuSafe({ source: source(), config: { tempCritical: 85 } }), false);
  });
});

describe('waitForSafeGpu', () => {
  it('resolves true once a cooling GPU becomes safe', async () => {
    const started = Date.now();
    const source = scriptedGpuSource((ms) => ({ temperatureC: ms < 150 ? 93 : 60 }));
    const p = waitForSafeGpu({ source, checkIntervalMs: 10, maxWaitMs: 10000 });
    assert.ok(p instanceof Promise);
    assert.equal(await p, true);
    assert.ok(Date.now() - started >= 140, 'not before the scripted cool-down');
  });

  it('resolves true at once when already safe', async () => {
    assert.equal(await waitForSafeGpu({ source: scriptedGpuSource([{ temperatureC: 40 }]), checkIntervalMs: 10000 }), true);
  });

  it('counts a list reading per check (critical, critical, safe)', async () => {
    const source = scriptedGpuSource([{ temperatureC: 91 }, { temperatureC: 92 }, { temperatureC: 50 }]);
    assert.equal(await waitForSafeGpu({ source, checkIntervalMs: 5, maxWaitMs: 10000 }), true);
  });

  it('resolves false when maxWaitMs passes without recovery', async () => {
    const started = Date.now();
    const ok = await waitForSafeGpu({ source: scriptedGpuSource([{ temperatureC: 96 }]), checkIntervalMs: 20, maxWaitMs: 200 });
    const waited = Date.now() - started;
    assert.equal(ok, false);
    assert.ok(waited >= 150, `gave up after ${waited} ms, well before maxWaitMs 200`);
    assert.ok(waited < 5000, `took ${waited} ms for maxWaitMs 200`);
  });

  it('resolves false promptly when the signal aborts', async () => {
    const controller = new AbortController();
    const p = waitForSafeGpu({ source: scriptedGpuSource([{ temperatureC: 96 }]), checkIntervalMs: 60000, maxWaitMs: 600000, signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 30));
    const abortedAt = Date.now();
    controller.abort();
    const ok = await p;
    const delay = Date.now() - abortedAt;
    assert.equal(ok, false);
    assert.ok(delay < 1000, `resolved ${delay} ms after the abort`);
  });

  it('resolves false with an already-aborted signal', async () => {
    const controller = new AbortController();
    controller.abort();
    assert.equal(await waitForSafeGpu({ source: scriptedGpuSource([{ temperatureC: 96 }]), signal: controller.signal }), false);
  });
});

describe('queries without a GPU', () => {
  const missing = path.join(__dirname, 'fixtures', 'gpu-no-such-dir', 'libnvidia-ml.so.1');
  beforeEach(() => resetNvmlState());
  after(() => resetNvmlState());

  it('getGpuStatus(): available false, condition unknown, with the reason', () => {
    const s = getGpuStatus({ libraryPath: missing });
    assert.equal(s.available, false);
    assert.equal(s.condition, 'unknown');
    assert.match(s.conditionReason, /not found|cannot open/i);
    assert.ok(s.conditionReason.includes(missing), s.conditionReason);
    for (const key of STATUS_KEYS) {
      if (['available', 'deviceIndex', 'condition', 'conditionReason', 'timestamp'].includes(key)) continue;
      assert.equal(s[key], null, key);
    }
    assert.equal(checkGpuSafe({ libraryPath: missing }), true, "'unknown' counts as safe");
  });

  it('nvmlInfo() and listGpus() report no devices', () => {
    const info = nvmlInfo(missing);
    assert.equal(info.available, false);
    assert.equal(info.deviceCount, 0);
    assert.ok(info.reason.length > 0);
    assert.deepEqual(listGpus({ libraryPath: missing }), []);
  });

  it('listGpus() with a scripted source gives its one status', () => {
    const list = listGpus({ source: scriptedGpuSource([{ temperatureC: 42 }]) });
    assert.equal(list.length, 1);
    assert.equal(list[0].temperatureC, 42);
  });

  it('a negative deviceIndex is CONFIG_INVALID', () => {
    assertConfigInvalid(() => getGpuStatus({ deviceIndex: -1, source: scriptedGpuSource([{ temperatureC: 40 }]) }), /deviceIndex/);
  });
});
