/**
 * TrainingQueue: submits jobs to a BullMQ queue on Redis and follows them.
 * submit() validates first (a bad job rejects with CONFIG_INVALID naming
 * details.field, and nothing is enqueued), then starts listening to the job's
 * event stream before the job is added, so not even its first event can be
 * missed. All handles of one queue object share one blocking reader, each
 * at its own position in its job's stream, so two handles on one job both
 * get every event. A job BullMQ fails for stalling too often gets its
 * terminal event from the queue side (stalls.ts).
 */
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { BackpropError } from '../errors';
import { optionalNonEmptyString, rejectUnknownKeys, requireRecord } from '../validation';
import { bullConnection, connectionOptions, createClient } from './connection';
import { JobHandle } from './handle';
import { validateJob } from './job';
import { queueMetrics } from './metrics';
import { runSweep, type SweepResult, type SweepSpec } from './sweep';
import { STALLED_REASON, StallWatch } from './stalls';
import { jobKeys, sendCommand, StreamReader, workersKey, type StreamSubscription } from './transport';
import type { FleetConnection, FleetJob, SweepTrialInfo } from './types';

export interface TrainingQueueOptions {
  connection: FleetConnection;
  /** Default 'backprop'. */
  name?: string;
}

export interface AttachOptions {
  /**
   * What a handle replays of the events stored before it attached: 'critical'
   * (the default: epoch, save, runStart, runComplete, complete, error; earlier
   * steps only update `status`) or 'all' (every stored event, steps included,
   * as a dashboard drawing the whole curve wants).
   */
  replay?: 'critical' | 'all';
}

export interface JobCounts {
  waiting: number;
  active: number;
  completed: number;
  failed: number;
  delayed: number;
  prioritized: number;
  paused: number;
}

export interface WorkerInfo {
  worker: string;
  host: string;
  steps: number;
  samples: number;
  samplesPerSecond: number;
  completed: number;
  failed: number;
  gpuHeld: boolean;
  startedAt: number;
  updatedAt: number;
}

export interface QueuedJobInfo {
  jobId: string;
  name: string;
  state: string;
  attemptsMade: number;
  timestamp: number;
}

/** Failed retries wait this long, so the job can go to another worker than the one it just failed on. */
const RETRY_DELAY_MS = 1000;
const KEEP_FINISHED_S = 24 * 3600;

export class TrainingQueue {
  readonly name: string;
  private readonly queue: Queue;
  private readonly client: Redis;
  private readonly reader: StreamReader;
  private readonly stalls: StallWatch;
  private closedFlag = false;

  constructor(options: TrainingQueueOptions) {
    const o = requireRecord(options, 'options', "Pass { connection: 'redis://127.0.0.1:6379' }.");
    rejectUnknownKeys(o, ['connection', 'name'], '', { noun: 'queue' });
    const redis = connectionOptions(o.connection);
    this.name = optionalNonEmptyString(o.name, 'name', 'Pass the queue name, or leave it out for "backprop".') ?? 'backprop';
    this.queue = new Queue(this.name, { connection: bullConnection(redis) });
    this.queue.on('error', () => undefined); // ioredis reconnects; calls wait meanwhile
    this.client = createClient(redis, 'bp-queue');
    this.client.on('error', () => undefined);
    const readerClient = createClient(redis, 'bp-queue-events');
    readerClient.on('error', () => undefined);
    this.reader = new StreamReader(readerClient);
    this.stalls = new StallWatch(this.name, redis, this.client);
  }

  /** True once close() was called. */
  get closed(): boolean {
    return this.closedFlag;
  }

  /** Validates and enqueues a job; resolves with its handle (listening already). */
  async submit(job: FleetJob): Promise<JobHandle> {
    return this.enqueue(validateJob(job), undefined);
  }

  /** @internal A sweep's trial: the job plus what its worker-side pruner needs. */
  async enqueue(job: FleetJob, sweep: SweepTrialInfo | undefined, jobId: string = randomUUID()): Promise<JobHandle> {
    this.checkOpen();
    const handle = this.handleFor(jobId, job.kind);
    handle.listen('0');
    try {
      await this.queue.add(job.name ?? job.kind, sweep ? { v: 1, job, sweep } : { v: 1, job }, {
        jobId,
        ...(job.priority !== undefined ? { priority: job.priority } : {}),
        attempts: job.attempts ?? 3,
        backoff: { type: 'fixed', delay: RETRY_DELAY_MS },
        removeOnComplete: { age: KEEP_FINISHED_S },
        removeOnFail: { age: KEEP_FINISHED_S },
      });
    } catch (error) {
      handle.close();
      throw error;
    }
    return handle;
  }

  /**
   * A handle on a job submitted elsewhere: replays its critical events so far,
   * then follows it live. Rejects with JOB_NOT_FOUND for an unknown id.
   */
  async attach(jobId: string, options: AttachOptions = {}): Promise<JobHandle> {
    this.checkOpen();
    const replay = options?.replay ?? 'critical';
    if (replay !== 'critical' && replay !== 'all') {
      throw new BackpropError('CONFIG_INVALID', `attach() replay must be 'critical' or 'all' (got ${String(replay)}). Leave it out for the critical events only.`, { field: 'replay', value: replay });
    }
    if (typeof jobId !== 'string' || jobId === '') {
      throw new BackpropError('CONFIG_INVALID', `attach(jobId) needs the id of a submitted job (got ${String(jobId)}). Use handle.id from submit().`, { field: 'jobId', value: jobId });
    }
    const keys = jobKeys(this.name, jobId);
    const job = await this.queue.getJob(jobId);
    // Failed for stalling while nobody listened: its stream gets the terminal event now.
    if (job?.failedReason === STALLED_REASON) await this.stalls.record(jobId);
    const entries = await this.client.xrange(keys.events, '-', '+');
    if (!job && entries.length === 0) {
      throw new BackpropError('JOB_NOT_FOUND', `No job '${jobId}' in queue '${this.name}' (never submitted, or removed after its retention time). Check the id and the queue name.`, { jobId, queue: this.name });
    }
    const kind = (job?.data as { job?: { kind?: unknown } } | undefined)?.job?.kind;
    const handle = this.handleFor(jobId, kind === 'train' || kind === 'multi-run' ? kind : null);
    // After the caller's `await` has resumed and added its listeners, so the replay reaches them.
    setImmediate(() => handle.listen('0', entries, replay === 'all'));
    return handle;
  }

  /** Runs a hyperparameter sweep: one job per trial; resolves with every trial's result and the best. */
  sweep(spec: SweepSpec): Promise<SweepResult> {
    return runSweep(this, spec);
  }

  async counts(): Promise<JobCounts> {
    const c = await this.queue.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized');
    return { waiting: c.waiting ?? 0, active: c.active ?? 0, completed: c.completed ?? 0, failed: c.failed ?? 0, delayed: c.delayed ?? 0, prioritized: c.prioritized ?? 0, paused: 0 };
  }

  /** The workers serving this queue, as each last reported itself (every 2 s). */
  async workers(): Promise<WorkerInfo[]> {
    const all = await this.client.hgetall(workersKey(this.name));
    return Object.values(all).map((v) => JSON.parse(v) as WorkerInfo);
  }

  /** The queue's jobs, newest first (at most `limit` per state). */
  async jobs(limit = 200): Promise<QueuedJobInfo[]> {
    const out: QueuedJobInfo[] = [];
    for (const state of ['active', 'waiting', 'prioritized', 'delayed', 'completed', 'failed'] as const) {
      const jobs = await this.queue.getJobs([state], 0, limit - 1);
      for (const j of jobs) if (j) out.push({ jobId: String(j.id), name: j.name, state, attemptsMade: j.attemptsMade, timestamp: j.timestamp });
    }
    return out;
  }

  /** Prometheus text exposition: jobs per state and per-worker throughput. */
  async metrics(): Promise<string> {
    return queueMetrics(this.name, await this.counts(), await this.workers());
  }

  async close(): Promise<void> {
    if (this.closedFlag) return;
    this.closedFlag = true;
    await this.stalls.close();
    await this.reader.close();
    await this.queue.close();
    this.client.disconnect();
  }

  private handleFor(jobId: string, kind: FleetJob['kind'] | null): JobHandle {
    const keys = jobKeys(this.name, jobId);
    this.stalls.start();
    let subscription: StreamSubscription | null = null;
    return new JobHandle(jobId, kind, {
      send: (command) => sendCommand(this.client, keys, command),
      subscribe: (fromId, onEntry) => {
        if (subscription) this.reader.remove(subscription);
        subscription = this.reader.add(keys.events, fromId, onEntry);
      },
      unsubscribe: () => {
        if (subscription) this.reader.remove(subscription);
        subscription = null;
      },
    });
  }

  private checkOpen(): void {
    if (this.closedFlag) throw new BackpropError('CONFIG_INVALID', 'This TrainingQueue is closed. Make a new one.', { field: 'queue' });
  }
}
