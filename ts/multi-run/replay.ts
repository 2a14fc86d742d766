/**
 * How a session cuts its data: the held-out validation rows, the fresh chunk
 * of each run, and the rows each run replays from earlier chunks.
 *
 * Everything is a pure function of (seed, row count, config, run index), so
 * an interrupted session that is resumed draws exactly the rows the
 * uninterrupted session would have drawn, with no generator state to save.
 * Each use has its own stream (deriveSeed(seed, stream, index)), so changing
 * e.g. the replay fraction never changes the chunks.
 */
import { BackpropError } from '../errors';
import type { ReplayStrategy } from './config';

/** Independent random streams derived from the session seed. */
export const Stream = Object.freeze({ validation: 1, chunks: 2, replay: 3 });

/** murmur3's 32-bit finaliser: a good bit mixer, identical on every platform. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A 32-bit seed for (seed, stream, index), well spread even for neighbouring inputs. */
export function deriveSeed(seed: number, stream: number, index = 0): number {
  return fmix32((fmix32((seed >>> 0) ^ Math.imul(stream, 0x9e3779b9)) + Math.imul(index + 1, 0x632be5ab)) >>> 0);
}

/** The native trainer seed of run `runIndex`: the session seed for run 1 (same initial weights as a Trainer with that seed). */
export function runSeed(seed: number, runIndex: number): number {
  return runIndex === 1 ? seed >>> 0 : deriveSeed(seed, 4, runIndex);
}

/** mulberry32: small, fast, deterministic. */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.uniform() * n);
  }
}

/** Fisher-Yates, in place. */
export function shuffleInPlace(values: Int32Array, random: SeededRandom): void {
  for (let i = values.length - 1; i > 0; i--) {
    const j = random.below(i + 1);
    const t = values[i]!;
    values[i] = values[j]!;
    values[j] = t;
  }
}

/** `k` distinct values of `from`, uniformly, in draw order (partial Fisher-Yates on a copy). */
export function sampleWithoutReplacement(from: ArrayLike<number>, k: number, random: SeededRandom): Int32Array {
  const pool = Int32Array.from(from as ArrayLike<number>);
  const n = pool.length;
  if (k > n) throw new RangeError(`cannot draw ${k} rows from ${n}`);
  for (let i = 0; i < k; i++) {
    const j = i + random.below(n - i);
    const t = pool[i]!;
    pool[i] = pool[j]!;
    pool[j] = t;
  }
  return pool.slice(0, k);
}

export interface PlanOptions {
  numRuns: number;
  samplesPerRun: number;
  validationSamples: number;
  shuffleData: boolean;
}

export interface DataPlan {
  rows: number;
  /** Held-out rows, ascending. */
  validationRows: Int32Array;
  /** chunks[i - 1]: the fresh rows of run i, in training order. */
  chunks: Int32Array[];
}

/**
 * Reserves validationSamples rows (seeded, uniformly from all rows), then cuts
 * the rest (in data order, or a seeded shuffle of it with shuffleData) into
 * numRuns chunks of samplesPerRun rows. Rows beyond numRuns chunks are unused.
 */
export function planData(rows: number, options: PlanOptions, seed: number): DataPlan {
  const { numRuns, samplesPerRun, validationSamples, shuffleData } = options;
  const needed = numRuns * samplesPerRun + validationSamples;
  if (needed > rows) {
    throw new BackpropError(
      'CONFIG_INVALID',
      `The session needs numRuns x samplesPerRun + validationSamples = ${numRuns} x ${samplesPerRun} + ${validationSamples} = ${needed} rows, ` +
        `but the data has ${rows}. Lower samplesPerRun (at most ${Math.floor(Math.max(0, rows - validationSamples) / numRuns)} here), numRuns or validationSamples, or pass more data.`,
      // validationSamples alone leaving nothing to train on is that field's fault; otherwise the chunks ask too much.
      validationSamples >= rows
        ? { field: 'validationSamples', value: validationSamples, needed, rows }
        : { field: 'samplesPerRun', value: samplesPerRun, needed, rows },
    );
  }
  const all = new Int32Array(rows);
  for (let i = 0; i < rows; i++) all[i] = i;
  const validationRows = sampleWithoutReplacement(all, validationSamples, new SeededRandom(deriveSeed(seed, Stream.validation))).sort();
  const held = new Uint8Array(rows);
  for (const r of validationRows) held[r] = 1;
  const pool = new Int32Array(rows - validationSamples);
  let n = 0;
  for (let i = 0; i < rows; i++) if (!held[i]) pool[n++] = i;
  if (shuffleData) shuffleInPlace(pool, new SeededRandom(deriveSeed(seed, Stream.chunks)));
  const chunks: Int32Array[] = [];
  for (let i = 0; i < numRuns; i++) chunks.push(pool.slice(i * samplesPerRun, (i + 1) * samplesPerRun));
  return { rows, validationRows, chunks };
}

/** Replayed rows in run `runIndex`: round(replayFraction x samplesPerRun), none in run 1. */
export function replayCount(replayFraction: number, samplesPerRun: number, runIndex: number): number {
  return runIndex <= 1 ? 0 : Math.round(replayFraction * samplesPerRun);
}

export interface ReplaySample {
  /** Row indices into the session's data, in draw order. */
  rows: Int32Array;
  /** counts[k]: rows drawn from run k+1's chunk (length runIndex - 1). */
  counts: number[];
}

/**
 * The rows run `runIndex` replays, `count` in all, without repeats:
 *  - 'recent': from the previous run's chunk;
 *  - 'random': uniformly from the union of all earlier chunks;
 *  - 'all_previous': evenly from every earlier chunk (the remainder goes to the most recent ones).
 */
export function sampleReplay(chunks: readonly Int32Array[], runIndex: number, count: number, strategy: ReplayStrategy, seed: number): ReplaySample {
  const earlier = runIndex - 1;
  const counts = new Array<number>(Math.max(0, earlier)).fill(0);
  if (earlier < 1 || count <= 0) return { rows: new Int32Array(0), counts };
  const random = new SeededRandom(deriveSeed(seed, Stream.replay, runIndex));
  if (strategy === 'recent') {
    counts[earlier - 1] = count;
    return { rows: sampleWithoutReplacement(chunks[earlier - 1]!, count, random), counts };
  }
  if (strategy === 'random') {
    const size = chunks[0]!.length;
    const union = new Int32Array(size * earlier);
    for (let k = 0; k < earlier; k++) union.set(chunks[k]!, k * size);
    // Draw positions, not rows, so the source chunk of each row is known.
    const positions = sampleWithoutReplacement(positionsOf(union.length), count, random);
    const rows = new Int32Array(count);
    positions.forEach((p, i) => {
      rows[i] = union[p]!;
      counts[Math.floor(p / size)]!++;
    });
    return { rows, counts };
  }
  const base = Math.floor(count / earlier);
  const extra = count % earlier;
  const rows = new Int32Array(count);
  let at = 0;
  for (let k = 0; k < earlier; k++) {
    const take = base + (k >= earlier - extra ? 1 : 0);
    counts[k] = take;
    rows.set(sampleWithoutReplacement(chunks[k]!, take, random), at);
    at += take;
  }
  return { rows, counts };
}

function positionsOf(n: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  return out;
}
