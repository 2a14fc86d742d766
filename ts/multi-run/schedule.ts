/**
 * The base learning rate of each run of a session (before the per-run
 * warm-up, which the native trainer applies within the run).
 *
 * linear and cosine go from initialLr (run 1) to exactly finalLr (the last
 * run); constant uses initialLr for every run. A one-run session uses initialLr.
 */
import type { LrDecay } from './config';

export interface LrSchedule {
  numRuns: number;
  initialLr: number;
  finalLr: number;
  lrDecay: LrDecay;
}

/** Base learning rate of run `runIndex` (1-based). */
export function learningRateForRun(schedule: LrSchedule, runIndex: number): number {
  const { numRuns, initialLr, finalLr, lrDecay } = schedule;
  if (!Number.isInteger(runIndex) || runIndex < 1 || runIndex > numRuns) {
    throw new RangeError(`runIndex must be an integer from 1 to ${numRuns} (got ${runIndex})`);
  }
  if (lrDecay === 'constant' || runIndex === 1) return initialLr;
  // Exact at the end, whatever floating point would make of the formula.
  if (runIndex === numRuns) return finalLr;
  const t = (runIndex - 1) / (numRuns - 1);
  if (lrDecay === 'linear') return initialLr + (finalLr - initialLr) * t;
  return finalLr + (initialLr - finalLr) * 0.5 * (1 + Math.cos(Math.PI * t));
}

/** Every run's base learning rate, run 1 first. */
export function learningRateSchedule(schedule: LrSchedule): number[] {
  return Array.from({ length: schedule.numRuns }, (_, i) => learningRateForRun(schedule, i + 1));
}
