/**
 * Named GPU simulations for `backprop gpu --simulate` and
 * `backprop train --simulate-gpu`: scripted readings played through the real
 * GPUMonitor (scriptedGPUSource), one reading per sample, with the default
 * thresholds (warm 70 °C, warning 80, critical 90, emergency 95; VRAM 90/95 %;
 * power 95/100 % of the limit).
 */
import type { GPUReading } from '../gpu';

export interface Scenario {
  description: string;
  readings: GPUReading[];
}

const card = {
  deviceName: 'Simulated GPU 80GB',
  uuid: 'GPU-00000000-0000-0000-0000-000000000000',
  temperatureMaxC: 105,
  temperatureSlowdownC: 98,
  vramTotalGb: 80,
  powerLimitW: 700,
  memClockMhz: 2619,
};

function reading(fields: Partial<Record<string, unknown>>): GPUReading {
  const temp = (fields.temperatureC as number | undefined) ?? 60;
  const throttle = temp >= 95 ? ['hw_thermal_slowdown', 'sw_thermal_slowdown'] : temp >= 88 ? ['sw_thermal_slowdown'] : [];
  return {
    ...card,
    temperatureC: 60,
    vramUsedGb: 30,
    powerDrawW: 350,
    gpuUtilization: 97,
    memoryUtilization: 60,
    smClockMhz: temp >= 88 ? 1410 : 1980,
    fanPercent: Math.min(100, Math.max(30, Math.round((temp - 30) * 1.6))),
    throttleReasons: throttle,
    ...fields,
  } as GPUReading;
}

export const SCENARIOS: Readonly<Record<string, Scenario>> = Object.freeze({
  heatup: {
    description: 'temperature climbs under load: safe → warm → warning → critical → emergency',
    readings: [45, 58, 66, 72, 76, 81, 85, 88, 91, 93, 96].map((t, i) => reading({ temperatureC: t, powerDrawW: 200 + i * 45 })),
  },
  cooldown: {
    description: 'an overheated GPU cools down: emergency → critical → warning → warm → safe',
    readings: [97, 93, 90, 86, 81, 76, 71, 64, 55, 48].map((t, i) => reading({ temperatureC: t, powerDrawW: 640 - i * 50, gpuUtilization: Math.max(0, 90 - i * 10) })),
  },
  flaky: {
    description: 'reads fail four times in a row (thermal safety disabled from the third), then recover',
    readings: [
      reading({ temperatureC: 61 }),
      reading({ temperatureC: 62 }),
      { fail: 'GPU is lost (simulated NVML_ERROR_GPU_IS_LOST)' },
      { fail: 'GPU is lost (simulated NVML_ERROR_GPU_IS_LOST)' },
      { fail: 'GPU is lost (simulated NVML_ERROR_GPU_IS_LOST)' },
      { fail: 'GPU is lost (simulated NVML_ERROR_GPU_IS_LOST)' },
      reading({ temperatureC: 63 }),
      reading({ temperatureC: 63 }),
    ],
  },
  memory: {
    description: 'VRAM use climbs: 25 % → 90 % (warning) → 95 % (critical)',
    readings: [20, 40, 60, 68, 72, 74, 76, 77.5].map((gb) => reading({ temperatureC: 62, vramUsedGb: gb })),
  },
  power: {
    description: 'power draw climbs past the limit: 95 % (warning) → 100 % (critical)',
    readings: [300, 450, 600, 670, 690, 705].map((w) => reading({ temperatureC: 66, powerDrawW: w })),
  },
});

export const SCENARIO_NAMES = Object.keys(SCENARIOS);
