/**
 * Prometheus metrics for one event hub, in a private prom-client Registry
 * (never the global one, so several hubs, or the embedding service's own
 * metrics, do not collide). Values are read from the hub at scrape time:
 * nothing is recorded on the training event path.
 */
import type * as PromClient from 'prom-client';
import type { Registry } from 'prom-client';
import { conditionSeverity } from '../gpu/types';
import type { GPUStatus } from '../gpu/types';
import type { SourceActivity, SourceKind } from './protocol';

/** Per-source figures a metrics scrape reads. */
export interface MetricsView {
  sources: Array<{
    label: string;
    kind: SourceKind;
    activity: SourceActivity;
    stepsTotal: number;
    runsTotal: Record<string, number>;
    loss: number | null;
    validationLoss: number | null;
    learningRate: number | null;
    stepsPerSecond: number | null;
    samplesPerSecond: number | null;
  }>;
  gpus: Array<{ status: GPUStatus }>;
  clients: number;
}

/** What the metrics registry reads from (the event hub implements it; metrics never imports the hub). */
export interface MetricsSource {
  metricsView(): MetricsView;
  readonly stats: { readonly messages: number; readonly droppedClients: number };
}

const GIB = 1024 ** 3;
const ACTIVITIES = ['idle', 'running', 'paused', 'stopping'] as const;
const CONDITIONS = ['safe', 'warm', 'warning', 'critical', 'emergency', 'unknown'] as const;

/** The names of every metric the hub exports (for docs and tests). */
export const METRIC_NAMES = [
  'backprop_training_steps_total',
  'backprop_training_runs_total',
  'backprop_training_loss',
  'backprop_training_validation_loss',
  'backprop_training_learning_rate',
  'backprop_training_steps_per_second',
  'backprop_training_samples_per_second',
  'backprop_training_state',
  'backprop_gpu_temperature_celsius',
  'backprop_gpu_memory_used_bytes',
  'backprop_gpu_memory_total_bytes',
  'backprop_gpu_memory_used_percent',
  'backprop_gpu_power_watts',
  'backprop_gpu_power_limit_watts',
  'backprop_gpu_utilization_percent',
  'backprop_gpu_condition',
  'backprop_gpu_condition_severity',
  'backprop_dashboard_clients',
  'backprop_dashboard_messages_total',
  'backprop_dashboard_clients_dropped_total',
] as const;

export function createMetricsRegistry(hub: MetricsSource): Registry {
  // Loaded on first use, so requiring the package costs nothing for the
  // many programs that never serve a dashboard.
  const { Counter, Gauge, Registry: PromRegistry } = require('prom-client') as typeof PromClient;
  const registry = new PromRegistry();
  const view = (): MetricsView => hub.metricsView();
  let cached: MetricsView | null = null;
  // One view per scrape: the first collect() of a scrape reads it, the rest reuse it.
  const read = (): MetricsView => {
    if (cached === null) {
      cached = view();
      setImmediate(() => {
        cached = null;
      });
    }
    return cached;
  };

  const sourceGauge = (name: string, help: string, pick: (s: MetricsView['sources'][number]) => number | null): void => {
    new Gauge({
      name,
      help,
      labelNames: ['source'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of read().sources) {
          const v = pick(s);
          if (v !== null && Number.isFinite(v)) this.set({ source: s.label }, v);
        }
      },
    });
  };
  const gpuGauge = (name: string, help: string, pick: (g: MetricsView['gpus'][number]['status']) => number | null): void => {
    new Gauge({
      name,
      help,
      labelNames: ['device', 'name'],
      registers: [registry],
      collect() {
        this.reset();
        for (const { status } of read().gpus) {
          const v = pick(status);
          if (v !== null && Number.isFinite(v)) this.set({ device: String(status.deviceIndex), name: status.deviceName ?? '' }, v);
        }
      },
    });
  };

  new Counter({
    name: 'backprop_training_steps_total',
    help: 'Training steps taken (all runs of the source).',
    labelNames: ['source'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of read().sources) this.inc({ source: s.label }, s.stepsTotal);
    },
  });
  new Counter({
    name: 'backprop_training_runs_total',
    help: 'Runs that ended, by outcome (completed, aborted, failed).',
    labelNames: ['source', 'status'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of read().sources) for (const [status, n] of Object.entries(s.runsTotal)) this.inc({ source: s.label, status }, n);
    },
  });
  sourceGauge('backprop_training_loss', 'Loss of the latest step.', (s) => s.loss);
  sourceGauge('backprop_training_validation_loss', 'Latest validation loss.', (s) => s.validationLoss);
  sourceGauge('backprop_training_learning_rate', 'Current learning rate.', (s) => s.learningRate);
  sourceGauge('backprop_training_steps_per_second', 'Training speed (steps per second, over the last 0.5 s or more).', (s) => s.stepsPerSecond);
  sourceGauge('backprop_training_samples_per_second', 'Training throughput (rows per second; needs the batch size).', (s) => s.samplesPerSecond);
  new Gauge({
    name: 'backprop_training_state',
    help: 'The source state: 1 for the current one of idle, running, paused, stopping.',
    labelNames: ['source', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of read().sources) for (const a of ACTIVITIES) this.set({ source: s.label, state: a }, s.activity === a ? 1 : 0);
    },
  });

  gpuGauge('backprop_gpu_temperature_celsius', 'GPU temperature.', (g) => g.temperatureC);
  gpuGauge('backprop_gpu_memory_used_bytes', 'GPU memory in use.', (g) => (g.vramUsedGb === null ? null : g.vramUsedGb * GIB));
  gpuGauge('backprop_gpu_memory_total_bytes', 'GPU memory in total.', (g) => (g.vramTotalGb === null ? null : g.vramTotalGb * GIB));
  gpuGauge('backprop_gpu_memory_used_percent', 'GPU memory in use, percent of the total.', (g) => g.vramPercent);
  gpuGauge('backprop_gpu_power_watts', 'GPU power draw.', (g) => g.powerDrawW);
  gpuGauge('backprop_gpu_power_limit_watts', 'GPU power limit.', (g) => g.powerLimitW);
  gpuGauge('backprop_gpu_utilization_percent', 'GPU utilisation.', (g) => g.gpuUtilization);
  gpuGauge('backprop_gpu_condition_severity', 'GPU condition: 0 safe, 1 warm, 2 warning, 3 critical, 4 emergency, -1 unknown.', (g) => conditionSeverity(g.condition));
  new Gauge({
    name: 'backprop_gpu_condition',
    help: 'GPU condition: 1 for the current one of safe, warm, warning, critical, emergency, unknown.',
    labelNames: ['device', 'name', 'condition'],
    registers: [registry],
    collect() {
      this.reset();
      for (const { status } of read().gpus) {
        for (const c of CONDITIONS) this.set({ device: String(status.deviceIndex), name: status.deviceName ?? '', condition: c }, status.condition === c ? 1 : 0);
      }
    },
  });

  new Gauge({
    name: 'backprop_dashboard_clients',
    help: 'Connected dashboard WebSocket clients.',
    registers: [registry],
    collect() {
      this.set(read().clients);
    },
  });
  new Counter({
    name: 'backprop_dashboard_messages_total',
    help: 'Messages broadcast by the event hub.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(hub.stats.messages);
    },
  });
  new Counter({
    name: 'backprop_dashboard_clients_dropped_total',
    help: 'Clients closed with 1013 for falling too far behind.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(hub.stats.droppedClients);
    },
  });
  return registry;
}
