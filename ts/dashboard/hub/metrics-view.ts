/**
 * The per-source figures /metrics exports (see ../metrics.ts), read from the
 * run book when Prometheus scrapes, never on the event path.
 */
import type { MetricsView } from '../metrics';
import type { RunBook } from './run-book';

export function metricsViewOf(book: RunBook, clients: number): MetricsView {
  return {
    sources: book.controllable().map((s) => ({
      label: s.label,
      kind: s.kind,
      activity: s.activity,
      stepsTotal: s.stepsTotal,
      runsTotal: s.runsTotal,
      loss: s.run?.loss ?? null,
      validationLoss: s.run?.validationLoss ?? null,
      learningRate: s.learningRate,
      stepsPerSecond: s.run?.status === 'running' ? s.run.stepsPerSecond : 0,
      samplesPerSecond: s.run?.status === 'running' ? s.run.samplesPerSecond : s.batchSize !== null ? 0 : null,
    })),
    gpus: [...book.gpus.values()].map((g) => ({ status: g.status })),
    clients,
  };
}
