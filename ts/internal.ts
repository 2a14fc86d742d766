/**
 * `backpropagate/internal`: helpers for the package's own benchmarks and
 * tests, and for diagnosing the engine. Not part of the stable API: names and
 * signatures may change in any release.
 */
import type { NativeEventBatchHandler } from '../binding';
import { native } from './native';

export { resetNvmlState } from './gpu/queries';
export { native } from './native';

/** GFLOP/s of the engine's SGEMM (C = A·B, m×k by k×n) on `threads` threads, best of `reps`. */
export function sgemmBenchmark(m: number, n: number, k: number, threads: number, reps: number): number {
  return native().sgemmBenchmark(m, n, k, threads, reps);
}

/** Microseconds per full NVML device read on device `index` (the stub library's path where given). */
export function nvmlSampleCost(index: number, reps: number, libraryPath?: string): number {
  return native().nvmlSampleCost(index, reps, libraryPath);
}

/** Delivers `count` synthetic step events to JS, batched (the trainer's path) or one call per event (the naive baseline). */
export function dispatchBenchmark(count: number, mode: 'batched', onEvents: NativeEventBatchHandler): Promise<void>;
export function dispatchBenchmark(count: number, mode: 'naive', onEvent: (step: number, loss: number) => void): Promise<void>;
export function dispatchBenchmark(count: number, mode: 'batched' | 'naive', handler: NativeEventBatchHandler | ((step: number, loss: number) => void)): Promise<void> {
  return new Promise((resolve) => {
    if (mode === 'batched') native().dispatchBenchmark(count, 'batched', handler as NativeEventBatchHandler, resolve);
    else native().dispatchBenchmark(count, 'naive', handler as (step: number, loss: number) => void, resolve);
  });
}
