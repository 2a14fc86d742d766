/**
 * Simulation: scripted GPU readings for demos and tests. A scripted source
 * goes through the same native sampling thread, evaluation and dispatch as
 * NVML; only the numbers are made up.
 */
import { BackpropError } from '../errors';
import type { GPUReading } from './types';

export type GPUReadingFunction = (elapsedMs: number) => GPUReading;

export interface ScriptedGpuSource {
  readonly kind: 'scripted';
  /** Consumed one per sample; after the end the last repeats, unless `loop`. */
  readonly readings: readonly GPUReading[] | null;
  /** Or: a reading as a function of the time since the monitor started. */
  readonly fn: GPUReadingFunction | null;
  readonly loop: boolean;
}

/** A GPU source for GPUMonitor, getGpuStatus(), checkGpuSafe(), waitForSafeGpu(), train({ gpuSafety }) and MultiRunTrainer. */
export type GpuSource = ScriptedGpuSource | { readonly kind: 'nvml'; readonly libraryPath?: string };

/**
 * A simulated GPU. `readings` is a list of partial GPUStatus objects
 * ({ temperatureC, temperatureMaxC, vramUsedGb, vramTotalGb, powerDrawW, powerLimitW, ... },
 * or { fail: 'message' } for a failed read), or a function of elapsed milliseconds.
 *
 * A function is sampled natively on the monitor's time grid (0, interval,
 * 2 x interval, ...): it is evaluated up front for the first 10 000 samples or
 * one hour, whichever is fewer; after that the last reading repeats.
 */
export function scriptedGpuSource(readings: readonly GPUReading[] | GPUReadingFunction, options: { loop?: boolean } = {}): ScriptedGpuSource {
  const loop = options.loop ?? false;
  if (typeof loop !== 'boolean') throw new BackpropError('CONFIG_INVALID', 'scriptedGpuSource: loop must be a boolean.', { field: 'loop' });
  if (typeof readings === 'function') return Object.freeze({ kind: 'scripted', readings: null, fn: readings, loop });
  if (!Array.isArray(readings) || readings.length === 0) {
    throw new BackpropError('CONFIG_INVALID', 'scriptedGpuSource needs a non-empty list of readings or a function of elapsed time.', { field: 'readings' });
  }
  readings.forEach((r, i) => checkReading(r, `readings[${i}]`));
  return Object.freeze({ kind: 'scripted', readings: Object.freeze(readings.map((r) => Object.freeze({ ...r }))), fn: null, loop });
}

const numericFields = new Set([
  'deviceIndex', 'temperatureC', 'temperatureMaxC', 'temperatureSlowdownC', 'vramTotalGb', 'vramUsedGb', 'vramFreeGb',
  'powerDrawW', 'powerLimitW', 'gpuUtilization', 'memoryUtilization', 'smClockMhz', 'memClockMhz', 'fanPercent',
]);

export function checkReading(r: unknown, field: string): void {
  if (typeof r !== 'object' || r === null) {
    throw new BackpropError('CONFIG_INVALID', `${field} must be an object such as { temperatureC: 70 } or { fail: 'reason' }.`, { field });
  }
  for (const [key, value] of Object.entries(r)) {
    if (value === undefined || value === null) continue;
    if (numericFields.has(key) && (typeof value !== 'number' || !Number.isFinite(value))) {
      throw new BackpropError('CONFIG_INVALID', `${field}.${key} must be a finite number (got ${String(value)}).`, { field: `${field}.${key}` });
    }
  }
}

/** The readings a monitor with this interval sees, as a list for the native thread. */
export function materialise(source: ScriptedGpuSource, intervalMs: number): GPUReading[] {
  if (source.readings) return [...source.readings];
  const fn = source.fn as GPUReadingFunction;
  const count = Math.max(1, Math.min(10000, Math.ceil(3_600_000 / intervalMs)));
  const out: GPUReading[] = [];
  for (let k = 0; k < count; k++) {
    const r = fn(k * intervalMs);
    checkReading(r, `reading at ${k * intervalMs} ms`);
    out.push(r);
  }
  return out;
}

/** For synchronous reads (getGpuStatus): the next reading of the source, tracked per source object. */
const cursors = new WeakMap<ScriptedGpuSource, { index: number; startedAt: number }>();
export function nextScriptedReading(source: ScriptedGpuSource): GPUReading {
  let cursor = cursors.get(source);
  if (!cursor) {
    cursor = { index: 0, startedAt: Date.now() };
    cursors.set(source, cursor);
  }
  if (source.fn) {
    const r = source.fn(Date.now() - cursor.startedAt);
    checkReading(r, 'reading');
    return r;
  }
  const list = source.readings as readonly GPUReading[];
  const i = cursor.index++;
  return list[source.loop ? i % list.length : Math.min(i, list.length - 1)];
}
