/**
 * The median pruner of a sweep, as Optuna's MedianPruner: at the end of each
 * epoch a trial's best metric so far is compared with the median of the
 * metrics that completed trials had at the same epoch, and the trial stops
 * (pruned) when it is worse. Nothing is pruned before `startupTrials` trials
 * have completed or within the first `warmupEpochs` epochs.
 *
 * It runs on the worker, next to the trial: the decision is one Redis read,
 * taken while the trial is held at the epoch's end, so a pruned trial stops
 * there instead of racing on while a verdict travels. Completed trials write
 * their per-epoch metrics to one hash per epoch.
 */
import type { Redis } from 'ioredis';
import { sweepKey } from './transport';
import type { EpochMetrics } from './runner';
import { median } from './sweep-math';
import type { SweepTrialInfo } from './types';

export type { SweepTrialInfo };


export class TrialPruner {
  private best: number | null = null;
  private readonly history = new Map<number, number>();

  constructor(private readonly client: Redis, private readonly queue: string, private readonly info: SweepTrialInfo) {}

  /** Records the epoch's metric; resolves true when the trial should stop here. */
  async observe(epoch: number, metrics: EpochMetrics): Promise<boolean> {
    const value = metrics[this.info.metric];
    if (typeof value !== 'number' || !Number.isFinite(value)) return false;
    this.history.set(epoch, value);
    const better = (a: number, b: number): boolean => (this.info.direction === 'min' ? a < b : a > b);
    if (this.best === null || better(value, this.best)) this.best = value;
    if (this.info.pruner !== 'median' || epoch <= this.info.warmupEpochs) return false;
    const completed = await this.client.scard(completedKey(this.queue, this.info.sweepId));
    if (completed < this.info.startupTrials) return false;
    const values = (await this.client.hvals(sweepKey(this.queue, this.info.sweepId, epoch))).map(Number).filter(Number.isFinite);
    if (values.length === 0) return false;
    return better(median(values), this.best);
  }

  /** A completed trial's metrics become the reference for later trials. */
  async commit(jobId: string): Promise<void> {
    const multi = this.client.multi();
    for (const [epoch, value] of this.history) multi.hset(sweepKey(this.queue, this.info.sweepId, epoch), jobId, String(value));
    multi.sadd(completedKey(this.queue, this.info.sweepId), jobId);
    await multi.exec();
  }
}

export function completedKey(queue: string, sweepId: string): string {
  return `bp:{${queue}}:sweep:${sweepId}:completed`;
}
