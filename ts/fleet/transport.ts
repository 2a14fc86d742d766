/**
 * The event and command transport: one Redis stream per job for its events
 * and one for the commands sent to it.
 *
 * Events are appended by a Lua script that INCRs the job's seq counter and
 * XADDs in one atomic step, so seq is strictly increasing per job whichever
 * worker (attempt) writes. Readers XREAD from the last stream id they saw:
 * a reader that reconnects (ioredis re-sends the blocked XREAD with the same
 * id) resumes with no gap and no duplicate. A stream is kept while the job
 * lives and expires a retention time after it ends.
 */
import type { Redis } from 'ioredis';
import type { FleetCommand, FleetEvent, FleetEventType } from './types';

export interface StreamKeys {
  events: string;
  seq: string;
  commands: string;
  attempt: string;
  /** Per attempt, the index of the last event appended (a re-sent append after a reconnect is dropped). */
  sent: string;
}

/** Keys share the queue's hash tag, so a Redis Cluster keeps a job's keys on one slot. */
export function jobKeys(queue: string, jobId: string): StreamKeys {
  const base = `bp:{${queue}}:job:${jobId}`;
  return { events: `${base}:events`, seq: `${base}:seq`, commands: `${base}:commands`, attempt: `${base}:attempt`, sent: `${base}:sent` };
}

export function workersKey(queue: string): string {
  return `bp:{${queue}}:workers`;
}

export function sweepKey(queue: string, sweepId: string, epoch: number): string {
  return `bp:{${queue}}:sweep:${sweepId}:epoch:${epoch}`;
}

/** Events kept per job at most (approximate trim); a long run's steps are coalesced well below this. */
const MAX_STREAM_LENGTH = 200_000;

/**
 * ARGV[3] names the writer (the attempt) and ARGV[4] the event's index within it: ioredis
 * re-sends commands that were in flight when a connection dropped, and one of
 * those may already have been applied; the index makes the append idempotent.
 */
const APPEND_SCRIPT = `
local last = tonumber(redis.call('HGET', KEYS[3], ARGV[3]) or '0')
if tonumber(ARGV[4]) <= last then return {0, ''} end
redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
local seq = redis.call('INCR', KEYS[1])
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'seq', seq, 'ev', ARGV[1])
return {seq, id}`;

type AppendingRedis = Redis & { bpAppendEvent(seqKey: string, streamKey: string, sentKey: string, body: string, maxLen: number, writer: string, index: number): Promise<[number, string]> };

function withAppend(client: Redis): AppendingRedis {
  const c = client as AppendingRedis;
  if (typeof c.bpAppendEvent !== 'function') client.defineCommand('bpAppendEvent', { numberOfKeys: 3, lua: APPEND_SCRIPT });
  return c;
}

export interface EventBody {
  type: FleetEventType;
  attempt: number;
  host: string;
  time: number;
  data: Record<string, unknown>;
}

/**
 * Appends one event; resolves with its seq (0 when `index` was already appended for `writer`).
 * Calls on one client are sent, and applied, in call order. `writer` names who
 * appends (by default the attempt): each writer's indexes are idempotent.
 */
export async function appendEvent(client: Redis, keys: StreamKeys, body: EventBody, index: number, writer: string = String(body.attempt)): Promise<number> {
  const [seq] = await withAppend(client).bpAppendEvent(keys.seq, keys.events, keys.sent, JSON.stringify(body), MAX_STREAM_LENGTH, writer, index);
  return Number(seq);
}

export async function expireJobKeys(client: Redis, keys: StreamKeys, retentionMs: number): Promise<void> {
  const seconds = Math.max(1, Math.ceil(retentionMs / 1000));
  await client.multi().expire(keys.events, seconds).expire(keys.seq, seconds).expire(keys.commands, seconds).expire(keys.attempt, seconds).expire(keys.sent, seconds).exec();
}

export function parseEvent(jobId: string, id: string, fields: string[]): FleetEvent | null {
  let seq = 0;
  let body: EventBody | null = null;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === 'seq') seq = Number(fields[i + 1]);
    else if (fields[i] === 'ev') {
      try {
        body = JSON.parse(fields[i + 1]!) as EventBody;
      } catch {
        body = null;
      }
    }
  }
  if (!body) return null;
  return Object.freeze({ type: body.type, jobId, attempt: body.attempt, seq, host: body.host, time: body.time, id, data: Object.freeze(body.data ?? {}) });
}

export async function sendCommand(client: Redis, keys: StreamKeys, command: FleetCommand): Promise<void> {
  await client.xadd(keys.commands, '*', 'cmd', JSON.stringify({ ...command, sentAt: Date.now() }));
}

export function parseCommand(fields: string[]): (FleetCommand & { sentAt?: number }) | null {
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] !== 'cmd') continue;
    try {
      return JSON.parse(fields[i + 1]!) as FleetCommand & { sentAt?: number };
    } catch {
      return null;
    }
  }
  return null;
}

type StreamReply = [key: string, entries: [id: string, fields: string[]][]][] | null;

/** One reader of one stream: where it is, and what it hands entries to. */
export interface StreamSubscription {
  readonly key: string;
  lastId: string;
  readonly onEntry: (id: string, fields: string[]) => void;
}

/** Orders Redis stream ids ('<ms>-<n>'; a bare '0' is the start). */
export function compareStreamIds(a: string, b: string): number {
  const [am = '0', an = '0'] = a.split('-');
  const [bm = '0', bn = '0'] = b.split('-');
  return Number(am) - Number(bm) || Number(an) - Number(bn);
}

/**
 * Reads many streams over one blocking connection (XREAD over every stream
 * registered), handing each entry to its subscribers in stream order. A
 * stream may have many subscribers, each at its own position (a handle
 * replaying from the start next to one following live): the stream is read
 * from the position furthest behind, and each subscriber gets only the
 * entries after its own. A subscriber added while the read is blocked is
 * picked up within `blockMs`.
 */
export class StreamReader {
  private readonly streams = new Map<string, Set<StreamSubscription>>();
  private running = false;
  private closed = false;
  private loop: Promise<void> | null = null;

  constructor(private readonly client: Redis, private readonly blockMs = 200) {}

  add(key: string, fromId: string, onEntry: (id: string, fields: string[]) => void): StreamSubscription {
    const subscription: StreamSubscription = { key, lastId: fromId, onEntry };
    if (this.closed) return subscription;
    let subscribers = this.streams.get(key);
    if (!subscribers) this.streams.set(key, (subscribers = new Set()));
    subscribers.add(subscription);
    if (!this.running) {
      this.running = true;
      this.loop = this.run();
    }
    return subscription;
  }

  remove(subscription: StreamSubscription): void {
    const subscribers = this.streams.get(subscription.key);
    if (!subscribers) return;
    subscribers.delete(subscription);
    if (subscribers.size === 0) this.streams.delete(subscription.key);
  }

  /** Streams being read. */
  get size(): number {
    return this.streams.size;
  }

  private earliest(subscribers: Set<StreamSubscription>): string {
    let min: string | null = null;
    for (const s of subscribers) if (min === null || compareStreamIds(s.lastId, min) < 0) min = s.lastId;
    return min ?? '0';
  }

  private async run(): Promise<void> {
    while (!this.closed && this.streams.size > 0) {
      const keys = [...this.streams.keys()];
      const ids = keys.map((k) => this.earliest(this.streams.get(k)!));
      let reply: StreamReply;
      try {
        reply = (await this.client.xread('COUNT', 1000, 'BLOCK', this.blockMs, 'STREAMS', ...keys, ...ids)) as StreamReply;
      } catch (error) {
        if (this.closed) break;
        // Connection trouble: ioredis reconnects by itself; wait a little and read again from the same ids.
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      if (!reply) continue;
      for (const [key, entries] of reply) {
        for (const [id, fields] of entries) {
          const subscribers = this.streams.get(key);
          if (!subscribers) break;
          for (const s of [...subscribers]) {
            // A subscriber removed by an earlier one's handler gets nothing more.
            if (!subscribers.has(s) || compareStreamIds(id, s.lastId) <= 0) continue;
            s.lastId = id;
            s.onEntry(id, fields);
          }
        }
      }
    }
    this.running = false;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.streams.clear();
    this.client.disconnect();
    await this.loop?.catch(() => undefined);
  }
}
