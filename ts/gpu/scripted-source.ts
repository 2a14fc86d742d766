/**
 * Simulation: scripted GPU readings for demos and tests. A scripted source
 * goes through the same native sampling thread, evaluation and dispatch as
 * NVML; only the numbers are made up.
 */
import { BackpropError } from '../errors';
import type { SimulatedGPUSource } from './simulated-source';
import type { GPUReading } from './types';

export type GPUReadingFunction = (elapsedMs: number) => GPUReading;

export interface ScriptedGPUSource {
  readonly kind: 'scripted';
  /** Consumed one per sample; after the end the last repeats, unless `loop`. */
  readonly readings: readonly GPUReading[] | null;
  /** Or: a reading as a function of the time since the monitor started. */
  readonly fn: GPUReadingFunction | null;
  readonly loop: boolean;
  /** Set (true) only on a simulatedGPU() source, whose reading changes live. */
  readonly live?: false;
}

/**
 * A GPU source for GPUMonitor, getGPUStatus(), checkGPUSafe(), waitForSafeGPU(), train({ gpuSafety }) and MultiRunTrainer:
 * NVML, a scripted list or function (scriptedGPUSource), or a live simulated GPU (simulatedGPU).
 */
export type GPUSource = ScriptedGPUSource | SimulatedGPUSource | { readonly kind: 'nvml'; readonly libraryPath?: string };

/**
 * A simulated GPU. `readings` is a list of partial GPUStatus objects
 * ({ temperatureC, temperatureMaxC, vramUsedGb, vramTotalGb, powerDrawW, powerLimitW, ... },
 * or { fail: 'message' } for a failed read), or a function of elapsed milliseconds.
 *
 * A function is sampled up front, on the monitor's time grid (0, interval,
 * 2 x interval, ...): it is evaluated when the monitor starts for the first
 * 10 000 samples or one hour, whichever is fewer, and the native thread then
 * replays the list (after its end the last reading repeats). So it must be a
 * pure function of elapsed time: changes to variables it reads later are not
 * seen. For a GPU you change while it is sampled, use simulatedGPU().
 */
export function scriptedGPUSource(readings: readonly GPUReading[] | GPUReadingFunction, options: { loop?: boolean } = {}): ScriptedGPUSource {
  const loop = options.loop ?? false;
  if (typeof loop !== 'boolean') throw new BackpropError('CONFIG_INVALID', 'scriptedGPUSource: loop must be a boolean.', { field: 'loop' });
  if (typeof readings === 'function') return Object.freeze({ kind: 'scripted', readings: null, fn: readings, loop });
  if (!Array.isArray(readings) || readings.length === 0) {
    throw new BackpropError('CONFIG_INVALID', 'scriptedGPUSource needs a non-empty list of readings or a function of elapsed time.', { field: 'readings' });
  }
  readings.forEach((r, i) => checkReading(r, `readings[${i}]`));
  return Object.freeze({ kind: 'scripted', readings: Object.freeze(readings.map((r) => Object.freeze({ ...r }))), fn: null, loop });
}

const numericFields = new Set([
  'deviceIndex', 'temperatureC', 'temperatureMaxC', 'temperatureSlowdownC', 'vramTotalGb', 'vramUsedGb', 'vramFreeGb',
  'powerDrawW', 'powerLimitW', 'gpuUtilization', 'memoryUtilization', 'smClockMhz', 'memClockMhz', 'fanPercent',
]);

const stringFields = new Set(['fail', 'deviceName', 'uuid']);

export function checkReading(r: unknown, field: string): void {
  if (typeof r !== 'object' || r === null || Array.isArray(r)) {
    throw new BackpropError('CONFIG_INVALID', `${field} must be an object such as { temperatureC: 70 } or { fail: 'reason' }.`, { field });
  }
  for (const [key, value] of Object.entries(r)) {
    if (value === undefined || value === null) continue;
    const bad = (rule: string): never => {
      throw new BackpropError('CONFIG_INVALID', `${field}.${key} must be ${rule} (got ${String(value)}).`, { field: `${field}.${key}`, value });
    };
    if (numericFields.has(key) && (typeof value !== 'number' || !Number.isFinite(value))) bad('a finite number');
    if (key === 'deviceIndex' && (!Number.isInteger(value) || (value as number) < 0)) bad('a non-negative integer');
    if (stringFields.has(key) && typeof value !== 'string') bad('a string');
    if (key === 'throttleReasons' && (!Array.isArray(value) || !value.every((v) => typeof v === 'string'))) bad('an array of strings');
    if (key === 'processes' && (!Array.isArray(value) || !value.every((p) => typeof p === 'object' && p !== null && !Array.isArray(p)))) {
      bad('an array of { pid, usedMemoryMb } objects');
    }
  }
}

/** The readings a monitor with this interval sees, as a list for the native thread. */
export function materialise(source: ScriptedGPUSource, intervalMs: number): GPUReading[] {
  if (source.readings) return [...source.readings];
  if (!source.fn) throw new BackpropError('CONFIG_INVALID', 'source must come from scriptedGPUSource() or simulatedGPU().', { field: 'source' });
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

/** For synchronous reads (getGPUStatus): the next reading of the source, tracked per source object. */
const cursors = new WeakMap<ScriptedGPUSource, { index: number; startedAt: number }>();
export function nextScriptedReading(source: ScriptedGPUSource | SimulatedGPUSource): GPUReading {
  if (source.live) return source.reading;
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
