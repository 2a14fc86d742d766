/**
 * Prometheus metrics of a queue, with prom-client (which the dashboard
 * already uses): jobs per state, and each worker's throughput as it last
 * reported it. A fresh registry per scrape, since the numbers live in Redis.
 */
import { Gauge, Registry } from 'prom-client';
import type { JobCounts, WorkerInfo } from './queue';

export async function queueMetrics(queue: string, counts: JobCounts, workers: readonly WorkerInfo[]): Promise<string> {
  const registry = new Registry();
  const jobs = new Gauge({ name: 'backprop_fleet_jobs', help: 'Jobs in the queue, by state.', labelNames: ['queue', 'state'], registers: [registry] });
  for (const state of ['waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized', 'paused'] as const) jobs.set({ queue, state }, counts[state]);
  const rate = new Gauge({ name: 'backprop_fleet_worker_samples_per_second', help: 'Training samples per second of each worker (last 2 s).', labelNames: ['queue', 'worker', 'host'], registers: [registry] });
  const samples = new Gauge({ name: 'backprop_fleet_worker_samples_total', help: 'Training samples each worker has trained since it started.', labelNames: ['queue', 'worker', 'host'], registers: [registry] });
  const steps = new Gauge({ name: 'backprop_fleet_worker_steps_total', help: 'Optimizer steps each worker has taken since it started.', labelNames: ['queue', 'worker', 'host'], registers: [registry] });
  const done = new Gauge({ name: 'backprop_fleet_worker_jobs_total', help: 'Jobs each worker finished, by outcome.', labelNames: ['queue', 'worker', 'host', 'outcome'], registers: [registry] });
  for (const w of workers) {
    const labels = { queue, worker: w.worker, host: w.host };
    rate.set(labels, w.samplesPerSecond);
    samples.set(labels, w.samples);
    steps.set(labels, w.steps);
    done.set({ ...labels, outcome: 'completed' }, w.completed);
    done.set({ ...labels, outcome: 'failed' }, w.failed);
  }
  return registry.metrics();
}
