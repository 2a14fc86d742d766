/**
 * Watching a fleet TrainingQueue: every job of the queue, live. The queue
 * is not an event source; its jobs are found by listing them (queue.jobs())
 * every second, and each job not seen before is attached (queue.attach(),
 * replaying every event stored so far, steps included) and watched as a 'fleetJob'
 * source of its own (fleet-job.ts), labelled with the job's name and id.
 * A job that ends is unwatched; its run stays in the snapshot.
 *
 * Unwatching the queue (or closing the hub) stops the listing and closes
 * every handle it made; the queue itself belongs to whoever made it.
 */
import { errorSummary } from '../model';
import { thresholdsOf } from '../options';
import type { AdapterContext, SourceAdapter } from './adapter';

/** What the adapter uses of a TrainingQueue (ts/fleet/queue.ts), without loading fleet mode. */
interface QueueLike {
  readonly closed?: boolean;
  jobs(limit?: number): Promise<Array<{ jobId: string; name: string; state: string }>>;
  attach(jobId: string, options: { replay: 'all' }): Promise<JobLike>;
}

interface JobLike {
  readonly id: string;
  on(event: 'event', fn: (e: { type: string }) => void): unknown;
  close(): void;
}

export const FLEET_POLL_MS = 1000;
/** Jobs listed per state: the running and waiting ones, and the most recent finished ones. */
const JOBS_PER_STATE = 50;

class QueueFollower {
  private readonly queue: QueueLike;
  private readonly handles = new Map<string, JobLike | null>();
  private readonly labels = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private stopped = false;
  private lastProblem: string | null = null;

  constructor(private readonly ctx: AdapterContext) {
    this.queue = ctx.src.obj as unknown as QueueLike;
  }

  start(): () => Promise<void> {
    this.schedule(0);
    return () => this.stop();
  }

  private schedule(delayMs: number): void {
    if (this.stopped || this.queue.closed === true) return;
    // Not unref'd: the listing is what this source is, and stop() clears it.
    this.timer = setTimeout(() => {
      this.timer = null;
      this.polling = this.poll().finally(() => {
        this.polling = null;
        this.schedule(FLEET_POLL_MS);
      });
    }, delayMs);
  }

  private async poll(): Promise<void> {
    let listed: Awaited<ReturnType<QueueLike['jobs']>>;
    try {
      listed = await this.queue.jobs(JOBS_PER_STATE);
    } catch (error) {
      this.problem(`listing the jobs of the queue failed: ${errorSummary(error).message}`);
      return;
    }
    this.lastProblem = null;
    const fresh = listed.filter((j) => !this.handles.has(j.jobId));
    for (const job of fresh) this.handles.set(job.jobId, null);
    await Promise.all(fresh.map((job) => this.follow(job.jobId, job.name)));
  }

  private async follow(jobId: string, name: string): Promise<void> {
    let handle: JobLike;
    try {
      // Every stored event, so a job found late still shows its whole curve.
      handle = await this.queue.attach(jobId, { replay: 'all' });
    } catch (error) {
      // Removed between the listing and the attach (retention), or Redis away: the next listing decides.
      this.handles.delete(jobId);
      if ((error as { code?: unknown }).code !== 'JOB_NOT_FOUND') this.problem(`attaching to job ${jobId} failed: ${errorSummary(error).message}`);
      return;
    }
    // Watched before the replay starts (attach() hands the stored events over on the next turn).
    if (this.stopped) {
      handle.close();
      return;
    }
    this.handles.set(jobId, handle);
    try {
      this.ctx.watch(handle, { kind: 'fleetJob', label: this.labelFor(name, jobId) });
    } catch (error) {
      handle.close();
      this.problem(`watching job ${jobId} failed: ${errorSummary(error).message}`);
      return;
    }
    handle.on('event', (e) => {
      // After the job's own adapter has recorded the end (its listener came first).
      if (e.type === 'complete' || e.type === 'error') setImmediate(() => this.ctx.unwatch(handle));
    });
  }

  private labelFor(name: string, jobId: string): string {
    const short = `${name}-${jobId.slice(0, 8)}`;
    const label = this.labels.has(short) ? `${name}-${jobId}` : short;
    this.labels.add(label);
    return label.slice(0, 100);
  }

  private problem(message: string): void {
    // Once per distinct problem, not once per second while Redis is away.
    if (message === this.lastProblem) return;
    this.lastProblem = message;
    this.ctx.broadcast('log', null, null, { level: 'warning', message: `${this.ctx.src.label}: ${message}` });
  }

  private async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.polling;
    for (const handle of this.handles.values()) {
      if (!handle) continue;
      this.ctx.unwatch(handle);
      handle.close();
    }
    this.handles.clear();
  }
}

export const fleetQueueAdapter: SourceAdapter = {
  kind: 'fleetQueue',
  labelPrefix: 'queue',
  polled: false,
  eventSource: false,
  detect: (o) => typeof o.attach === 'function' && typeof o.jobs === 'function' && typeof o.submit === 'function',
  describe: (_o, options) => ({ thresholds: thresholdsOf(null, options.gpuThresholds, null), batchSize: options.batchSize ?? null, numRuns: null }),
  subscribe: (ctx) => new QueueFollower(ctx).start(),
  controls: () => [],
};
