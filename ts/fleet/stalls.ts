/**
 * Jobs BullMQ gives up on because they stalled too often. When a worker
 * stops renewing a job's lock more than maxStalledCount times, BullMQ's
 * stalled-job check (run by some other worker) moves the job to failed; no
 * worker runs it any more, so nothing would write a terminal event to its
 * stream and every handle's result() would wait forever.
 *
 * The queue side writes that terminal event: a `JOB_STALLED` error, appended
 * under its own writer name with index 1, so however many queue objects (in
 * however many processes) notice the failure, the stream gets it once. It is
 * noticed live through BullMQ's queue events, and on attach() for a job that
 * failed this way while nobody listened.
 */
import { QueueEvents } from 'bullmq';
import type { Redis, RedisOptions } from 'ioredis';
import { BackpropError } from '../errors';
import { bullConnection } from './connection';
import { serializeError } from './serialize';
import { appendEvent, expireJobKeys, jobKeys, parseEvent } from './transport';

/** BullMQ's failedReason for a job that stalled more than maxStalledCount times. */
export const STALLED_REASON = 'job stalled more than allowable limit';
/** The writer name of the queue side's terminal event (a worker's writer is its attempt number). */
const STALL_WRITER = 'stalled';
const RETENTION_MS = 24 * 3600 * 1000;

export function stalledError(jobId: string, queue: string): BackpropError {
  return new BackpropError(
    'JOB_STALLED',
    `Job ${jobId} failed: its worker stopped renewing the job lock more often than maxStalledCount allows (a worker that crashed or lost Redis each time). ` +
      "Look at the workers' logs for why they died, raise maxStalledCount or lockDuration if they are alive but cut off from Redis for long, and submit the job again.",
    { jobId, queue },
  );
}

export class StallWatch {
  private events: QueueEvents | null = null;
  private closed = false;

  constructor(
    private readonly queue: string,
    private readonly redis: RedisOptions,
    private readonly client: Redis,
  ) {}

  /** Starts following BullMQ's 'failed' events (once; the first handle asks). */
  start(): void {
    if (this.events || this.closed) return;
    this.events = new QueueEvents(this.queue, { connection: bullConnection(this.redis) });
    this.events.on('error', () => undefined); // ioredis reconnects by itself
    this.events.on('failed', ({ jobId, failedReason }) => {
      if (failedReason === STALLED_REASON) void this.record(jobId).catch(() => undefined);
    });
  }

  /** Writes the job's terminal JOB_STALLED event unless its stream already ends. */
  async record(jobId: string): Promise<void> {
    const keys = jobKeys(this.queue, jobId);
    const [last] = (await this.client.xrevrange(keys.events, '+', '-', 'COUNT', 1)) as [string, string[]][];
    const previous = last ? parseEvent(jobId, last[0], last[1]) : null;
    if (previous && (previous.type === 'complete' || previous.type === 'error')) return;
    const attempt = previous?.attempt ?? (Number(await this.client.get(keys.attempt)) || 1);
    const body = { type: 'error' as const, attempt, host: previous?.host ?? '', time: Date.now(), data: { error: serializeError(stalledError(jobId, this.queue)), willRetry: false } };
    await appendEvent(this.client, keys, body, 1, STALL_WRITER);
    await expireJobKeys(this.client, keys, RETENTION_MS);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.events?.close().catch(() => undefined);
  }
}
