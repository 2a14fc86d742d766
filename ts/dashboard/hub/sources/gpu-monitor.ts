/** Watching a GPUMonitor: its status samples, read errors and recoveries. */
import type { GPUStatus } from '../../../gpu/types';
import { thresholdsOf } from '../options';
import type { GpuReadErrorInfo } from '../model';
import type { SourceAdapter } from './adapter';

export const gpuMonitorAdapter: SourceAdapter = {
  kind: 'gpuMonitor',
  labelPrefix: 'gpu',
  polled: false,
  detect: (o) => typeof o.getLatestStatus === 'function' && Array.isArray(o.deviceIndices),
  describe: (o, options) => ({ thresholds: thresholdsOf(o.config, options.gpuThresholds, null), batchSize: options.batchSize ?? null, numRuns: null }),
  subscribe({ src, book, on, broadcast }) {
    on('status', (status: GPUStatus) => book.recordGpu(src, status));
    on('readError', (event: GpuReadErrorInfo) => book.recordGpuReadError(src, event));
    on('recovered', (event: { afterFailures?: number; deviceIndex?: number }) =>
      broadcast('gpuAlert', null, null, { source: src.label, kind: 'recovered', deviceIndex: event?.deviceIndex ?? 0, afterFailures: event?.afterFailures ?? 0 }),
    );
  },
  initialGpuStatus: (o) => (o.getLatestStatus as (i?: number) => GPUStatus | null).call(o),
};
