/**
 * What `backprop serve` runs: a dashboard server that watches this machine's
 * GPUs, or (demo) a multi-run session on the built-in spirals data with a
 * simulated GPU that heats up, makes the session pause, cools down and warms
 * again, so every panel of the page has something to show.
 *
 * The demo's pace: each run trains at full speed on one thread, and runs
 * start a short gap apart (runGapMs), so the curves grow run by run at a
 * pace a person can follow; the GPU scenario is a function of time.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { datasets } from '../datasets';
import { BackpropError } from '../errors';
import { rejectUnknownKeys } from '../validation';
import { GPUMonitor } from '../gpu/monitor';
import { nvmlInfo } from '../gpu/queries';
import { scriptedGPUSource } from '../gpu/scripted-source';
import type { GPUReading } from '../gpu/types';
import { MultiRunTrainer, type MultiRunResult } from '../multi-run';
import { createEventHub, type EventHub } from './hub';
import type { DashboardServer } from './server';

export interface DemoOptions {
  /** Runs in the session. Default 8. */
  runs?: number;
  /** Steps per run. Default 1500. */
  stepsPerRun?: number;
  /** Hidden layer widths. Default [128, 128, 128]. */
  hiddenLayers?: number[];
  /** Rows per step. Default 256. */
  batchSize?: number;
  /** Wait before each run starts (ms). Default 1500. */
  runGapMs?: number;
  /** Length of one heat-up / pause / cool-down cycle of the simulated GPU (ms). Default 60000. */
  gpuPeriodMs?: number;
  /** GPU sampling interval (ms). Default 500. */
  gpuIntervalMs?: number;
  /** Training threads. Default 1. */
  threads?: number;
}

export interface DashboardCliOptions {
  port?: number;
  host?: string;
  token?: string;
  /** Run the demo session (true for the defaults). */
  demo?: boolean | DemoOptions;
  /** Without the demo: watch this machine's GPUs through NVML when it has any. Default true. */
  gpu?: boolean;
  /** GPU sampling interval without the demo (ms). Default 1000. */
  gpuIntervalMs?: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

export interface DashboardCliHandle {
  readonly hub: EventHub;
  readonly server: DashboardServer;
  /** The page's URL with the token. */
  readonly url: string;
  /** Settles when the demo session ends (null without the demo). */
  readonly done: Promise<MultiRunResult | null>;
  /** Aborts the demo, stops GPU sampling, closes the server; removes the demo's checkpoint folder. */
  close(): Promise<void>;
}

const DEMO_DEFAULTS: Required<DemoOptions> = {
  runs: 8,
  stepsPerRun: 1500,
  hiddenLayers: [128, 128, 128],
  batchSize: 256,
  runGapMs: 1500,
  gpuPeriodMs: 60_000,
  gpuIntervalMs: 500,
  threads: 1,
};

/** The demo's pause threshold: the simulated GPU crosses it once per cycle. */
const DEMO_MAX_TEMP_C = 88;

const SIMULATED_CARD = {
  deviceName: 'Simulated GPU 80GB',
  uuid: 'GPU-5e1f0000-0000-4000-8000-00000000demo',
  temperatureMaxC: 105,
  temperatureSlowdownC: 98,
  vramTotalGb: 80,
  powerLimitW: 700,
  memClockMhz: 2619,
};

/** Linear interpolation through (phase, value) points, phase in [0, 1). */
function curve(points: ReadonlyArray<readonly [number, number]>, phase: number): number {
  for (let i = 1; i < points.length; i++) {
    const [p1, v1] = points[i]!;
    const [p0, v0] = points[i - 1]!;
    if (phase <= p1) return v0 + ((v1 - v0) * (phase - p0)) / (p1 - p0);
  }
  return points[points.length - 1]![1];
}

const TEMPERATURE: ReadonlyArray<readonly [number, number]> = [
  [0, 52],
  [0.2, 74], // warm
  [0.35, 84], // warning from 80 °C
  [0.45, 91], // critical from 90 °C; the session pauses from 88 °C
  [0.5, 91.5],
  [0.7, 66], // cooled down: the session resumes below 80 °C
  [1, 52],
];

/**
 * The demo's simulated GPU at `elapsedMs` into a cycle of `periodMs`: warms
 * under load, throttles and turns critical, cools while the session is held,
 * then warms again. Temperature, power, utilisation, clocks and throttle
 * reasons move together.
 */
export function demoGPUReading(elapsedMs: number, periodMs: number = DEMO_DEFAULTS.gpuPeriodMs): GPUReading {
  if (!(typeof elapsedMs === 'number' && Number.isFinite(elapsedMs) && elapsedMs >= 0)) {
    throw new BackpropError('CONFIG_INVALID', `demoGPUReading: elapsedMs must be a finite number >= 0 (got ${String(elapsedMs)}).`, { field: 'elapsedMs' });
  }
  if (!(typeof periodMs === 'number' && Number.isFinite(periodMs) && periodMs >= 100)) {
    throw new BackpropError('CONFIG_INVALID', `demoGPUReading: periodMs must be at least 100 (got ${String(periodMs)}).`, { field: 'periodMs' });
  }
  const phase = (elapsedMs % periodMs) / periodMs;
  const temp = Math.round(curve(TEMPERATURE, phase) * 10) / 10;
  // Load follows the session: near full while training, low while it is held for heat.
  const held = phase > 0.45 && phase < 0.7;
  const utilisation = held ? 4 : 96;
  const throttle = temp >= 90 ? ['sw_thermal_slowdown', 'hw_slowdown'] : temp >= 86 ? ['sw_thermal_slowdown'] : [];
  return {
    ...SIMULATED_CARD,
    temperatureC: temp,
    vramUsedGb: held ? 41.5 : 42 + 8 * Math.sin(phase * Math.PI * 2) ** 2,
    powerDrawW: Math.round(held ? 95 : 280 + (temp - 50) * 8),
    gpuUtilization: utilisation,
    memoryUtilization: held ? 2 : 58,
    smClockMhz: temp >= 86 ? 1410 : 1980,
    fanPercent: Math.min(100, Math.max(30, Math.round((temp - 30) * 1.5))),
    throttleReasons: throttle,
  };
}

function resolveDemo(demo: true | DemoOptions): Required<DemoOptions> {
  const o = demo === true ? {} : demo;
  if (typeof o !== 'object' || o === null) throw new BackpropError('CONFIG_INVALID', 'demo must be true or an options object.', { field: 'demo' });
  const known = Object.keys(DEMO_DEFAULTS);
  rejectUnknownKeys(o as Record<string, unknown>, known, 'demo.', { noun: 'demo' });
  const out = { ...DEMO_DEFAULTS, ...o } as Required<DemoOptions>;
  for (const key of ['runs', 'stepsPerRun', 'batchSize', 'threads'] as const) {
    if (!(Number.isInteger(out[key]) && out[key] >= 1)) throw new BackpropError('CONFIG_INVALID', `demo.${key} must be an integer >= 1 (got ${String(out[key])}).`, { field: `demo.${key}` });
  }
  for (const key of ['runGapMs', 'gpuPeriodMs', 'gpuIntervalMs'] as const) {
    if (!(typeof out[key] === 'number' && Number.isFinite(out[key]) && out[key] >= 0)) {
      throw new BackpropError('CONFIG_INVALID', `demo.${key} must be a number of milliseconds >= 0 (got ${String(out[key])}).`, { field: `demo.${key}` });
    }
  }
  if (out.gpuIntervalMs < 1) throw new BackpropError('CONFIG_INVALID', 'demo.gpuIntervalMs must be at least 1.', { field: 'demo.gpuIntervalMs' });
  if (out.gpuPeriodMs < 100) throw new BackpropError('CONFIG_INVALID', 'demo.gpuPeriodMs must be at least 100.', { field: 'demo.gpuPeriodMs' });
  return out;
}

const SAMPLES_PER_RUN = 2000;
const VALIDATION_SAMPLES = 500;

/** Starts `backprop serve`: the server, then the demo session or GPU watching. */
export async function startDashboardCli(options: DashboardCliOptions = {}): Promise<DashboardCliHandle> {
  if (typeof options !== 'object' || options === null) throw new BackpropError('CONFIG_INVALID', 'startDashboardCli takes an options object.', { field: 'options' });
  const log = options.log ?? (() => undefined);
  const demo = options.demo ? resolveDemo(options.demo) : null;
  const hub = createEventHub();
  const cleanups: Array<() => Promise<void>> = [];
  let trainer: MultiRunTrainer | null = null;
  let done: Promise<MultiRunResult | null> = Promise.resolve(null);
  let server: DashboardServer;
  try {
    server = await hub.listen({ port: options.port, host: options.host, token: options.token });
    if (demo) {
      const dir = await fsp.mkdtemp(path.join(os.tmpdir(), `backprop-demo-${randomBytes(3).toString('hex')}-`));
      cleanups.push(() => fsp.rm(dir, { recursive: true, force: true }));
      trainer = createDemoTrainer(demo, dir);
      hub.watch(trainer, { label: 'demo' });
      const data = datasets.spirals({ samples: demo.runs * SAMPLES_PER_RUN + VALIDATION_SAMPLES, classes: 3, seed: 11 });
      const session = trainer;
      done = session.run({ x: data.x, y: data.y });
      done.catch(() => undefined);
      log(`Demo: ${demo.runs} runs of ${demo.stepsPerRun} steps on the spirals data, with a simulated GPU that overheats once every ${Math.round(demo.gpuPeriodMs / 1000)} s.`);
    } else if (options.gpu !== false) {
      const info = nvmlInfo();
      if (info.available && info.deviceCount > 0) {
        const monitor = new GPUMonitor({ deviceIndices: Array.from({ length: info.deviceCount }, (_, i) => i), config: { checkIntervalMs: options.gpuIntervalMs ?? 1000, logWarnings: false } });
        hub.watch(monitor);
        monitor.start();
        cleanups.push(() => monitor.stop());
        log(`Watching ${info.deviceCount} GPU${info.deviceCount === 1 ? '' : 's'}.`);
      } else {
        log(`No GPU to watch (${info.available ? 'NVML reports no devices' : info.reason}); the page shows training started with --dashboard, or try --demo.`);
      }
    }
  } catch (error) {
    await hub.close();
    for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
    throw error;
  }
  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      if (trainer) {
        trainer.abort('the dashboard server is closing');
        await done.catch(() => undefined);
      }
      await hub.close();
      for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
    })();
    return closing;
  };
  return Object.freeze({ hub, server, url: server.url, done, close });
}

function createDemoTrainer(demo: Required<DemoOptions>, checkpointDir: string): MultiRunTrainer {
  const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
  return new MultiRunTrainer({
    model: { inputSize: 2, hiddenLayers: demo.hiddenLayers, outputSize: 3, activation: 'relu' },
    threads: demo.threads,
    seed: 11,
    config: {
      numRuns: demo.runs,
      stepsPerRun: demo.stepsPerRun,
      samplesPerRun: SAMPLES_PER_RUN,
      batchSize: demo.batchSize,
      initialLr: 0.01,
      finalLr: 0.001,
      lrDecay: 'cosine',
      warmupStepsPerRun: 50,
      replayFraction: 0.2,
      validationSamples: VALIDATION_SAMPLES,
      checkpointDir,
      checkpointKeepBestN: 2,
      enableGpuMonitoring: true,
      maxTempC: DEMO_MAX_TEMP_C,
      cooldownMs: Math.max(200, Math.min(2000, demo.gpuPeriodMs / 30)),
    },
    gpuMonitor: {
      source: scriptedGPUSource((elapsedMs) => demoGPUReading(elapsedMs, demo.gpuPeriodMs)),
      config: { checkIntervalMs: demo.gpuIntervalMs, logWarnings: false },
    },
    // The gap before each run sets the demo's pace.
    onRunStart: () => (demo.runGapMs > 0 ? sleep(demo.runGapMs) : undefined),
  });
}
