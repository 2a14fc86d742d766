/**
 * TrainingWorker: takes jobs from the queue (a BullMQ Worker), runs them in
 * this process on the native engine, relays their events and obeys remote
 * commands. Training runs on native threads and never blocks the event loop,
 * so BullMQ keeps renewing the job's lock while a job trains; a worker that
 * dies stops renewing it, and BullMQ's stalled-job check (lockDuration,
 * stalledInterval) hands the job to another worker, which resumes it from its
 * last checkpoint.
 */
import { EventEmitter } from 'node:events';
import * as os from 'node:os';
import * as path from 'node:path';
import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { isBackpropError } from '../errors';
import { GPUMonitor } from '../gpu/monitor';
import { conditionSeverity, GPUSafetyConfig, type GPUStatus } from '../gpu/types';
import { optionalInteger, optionalNonEmptyString, rejectUnknownKeys, requireRecord } from '../validation';
import { bullConnection, connectionOptions, createClient } from './connection';
import { isPermanentFailure, validateJob } from './job';
import { EventRelay } from './relay';
import { JobControl, runJob } from './runner';
import { serializeError } from './serialize';
import { TrialPruner } from './pruner';
import { expireJobKeys, jobKeys, parseCommand, StreamReader, workersKey } from './transport';
import type { FleetConnection, SweepTrialInfo, WorkerGPUSafety } from './types';

export interface TrainingWorkerOptions {
  connection: FleetConnection;
  /** Queue name. Default 'backprop'. */
  name?: string;
  /** Jobs run at once in this process. Default 1. */
  concurrency?: number;
  /** Every data path a job names must lie inside this folder. Without it, only built-in data sets are served. */
  dataRoot?: string;
  /** Checkpoints go to checkpointRoot/<jobId>/ (storage all workers share, so a retry can resume). Default ./fleet-checkpoints. */
  checkpointRoot?: string;
  /** GPU watching: `critical` stops taking jobs until safe, `emergency` fails the running job (retried elsewhere). false: off. */
  gpuSafety?: WorkerGPUSafety | false;
  /** Shown in every event. Default os.hostname(). */
  hostName?: string;
  /** Step events relayed per second per job, at most. Default 20. */
  stepEventsPerSecond?: number;
  /** BullMQ job lock (ms): a worker that stops renewing it for this long is taken as dead. Default 30000. */
  lockDuration?: number;
  /** How often BullMQ looks for stalled jobs (ms). Default 30000. */
  stalledInterval?: number;
  /** Stalls a job may have before it fails for good. Default 2. */
  maxStalledCount?: number;
  /** How long a finished job's events stay readable (ms). Default 24 h. */
  eventRetentionMs?: number;
}

const OPTION_KEYS = [
  'connection', 'name', 'concurrency', 'dataRoot', 'checkpointRoot', 'gpuSafety', 'hostName',
  'stepEventsPerSecond', 'lockDuration', 'stalledInterval', 'maxStalledCount', 'eventRetentionMs',
];

/** How long a job given back by a GPU-held worker waits before it is offered again. */
const GPU_HOLD_REQUEUE_MS = 500;

export interface JobData {
  v: 1;
  job: unknown;
  sweep?: SweepTrialInfo;
}

export interface WorkerEvents {
  jobStart: [jobId: string, attempt: number];
  jobEnd: [jobId: string, outcome: 'completed' | 'failed' | 'retry'];
  gpuHold: [status: GPUStatus | null];
  gpuRelease: [status: GPUStatus];
  error: [error: Error];
}

export class TrainingWorker extends EventEmitter {
  readonly name: string;
  readonly host: string;
  readonly concurrency: number;
  private readonly worker: Worker<JobData>;
  private readonly client: Redis;
  private readonly commands: StreamReader;
  private readonly dataRoot: string | null;
  private readonly checkpointRoot: string;
  private readonly gpuSafety: WorkerGPUSafety | null;
  private readonly stepRate: number;
  private readonly retentionMs: number;
  private readonly monitor: GPUMonitor | null = null;
  private readonly workerId: string;
  private readonly startedAt = Date.now();
  private readonly stats = { steps: 0, samples: 0, completed: 0, failed: 0, windowSamples: 0, windowStart: Date.now(), rate: 0 };
  private readonly statsTimer: NodeJS.Timeout;
  private gpuHeld = false;
  private closing: Promise<void> | null = null;

  constructor(options: TrainingWorkerOptions) {
    super();
    const o = requireRecord(options, 'options', "Pass { connection: 'redis://127.0.0.1:6379', dataRoot, checkpointRoot }.");
    rejectUnknownKeys(o, OPTION_KEYS, '', { noun: 'worker' });
    const redis = connectionOptions(o.connection);
    this.name = optionalNonEmptyString(o.name, 'name', 'Pass the queue name, or leave it out for "backprop".') ?? 'backprop';
    this.concurrency = optionalInteger(o.concurrency, 'concurrency', 1, 256, 'Pass how many jobs may run at once, such as 1.') ?? 1;
    const dataRoot = optionalNonEmptyString(o.dataRoot, 'dataRoot', 'Pass the folder job data files must be in.');
    this.dataRoot = dataRoot === null ? null : path.resolve(dataRoot);
    this.checkpointRoot = path.resolve(optionalNonEmptyString(o.checkpointRoot, 'checkpointRoot', 'Pass a folder every worker shares.') ?? 'fleet-checkpoints');
    this.host = optionalNonEmptyString(o.hostName, 'hostName', 'Pass a name for this worker.') ?? os.hostname();
    this.stepRate = optionalInteger(o.stepEventsPerSecond, 'stepEventsPerSecond', 1, 10_000, 'Pass a rate such as 20.') ?? 20;
    this.retentionMs = optionalInteger(o.eventRetentionMs, 'eventRetentionMs', 1000, Number.MAX_SAFE_INTEGER, 'Pass milliseconds, such as 86400000.') ?? 86_400_000;
    const lockDuration = optionalInteger(o.lockDuration, 'lockDuration', 1000, 86_400_000, 'Pass milliseconds, such as 30000.') ?? 30_000;
    const stalledInterval = optionalInteger(o.stalledInterval, 'stalledInterval', 500, 86_400_000, 'Pass milliseconds, such as 30000.') ?? 30_000;
    const maxStalledCount = optionalInteger(o.maxStalledCount, 'maxStalledCount', 0, 1000, 'Pass how many stalls to tolerate, such as 2.') ?? 2;
    if (o.gpuSafety !== undefined && o.gpuSafety !== false) requireRecord(o.gpuSafety, 'gpuSafety', 'Pass GPU safety options such as { tempCritical: 85, source }, or false.');
    this.gpuSafety = o.gpuSafety === undefined || o.gpuSafety === false ? null : (o.gpuSafety as WorkerGPUSafety);
    this.workerId = `${this.host}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;

    this.client = createClient(redis, `bp-worker-${this.host}`);
    this.client.on('error', () => undefined); // reconnects by itself; commands wait meanwhile
    const reader = createClient(redis, `bp-worker-commands-${this.host}`);
    reader.on('error', () => undefined);
    this.commands = new StreamReader(reader);

    if (this.gpuSafety) {
      const { source, ...config } = this.gpuSafety;
      this.monitor = new GPUMonitor({ config: new GPUSafetyConfig(config), source });
      this.monitor.on('status', (status: GPUStatus) => this.onGpuStatus(status));
      this.monitor.start();
    }

    this.worker = new Worker<JobData>(this.name, (job, token) => this.process(job, token), {
      connection: bullConnection(redis),
      concurrency: this.concurrency,
      lockDuration,
      stalledInterval,
      maxStalledCount,
    });
    this.worker.on('error', (error) => this.emitError(error));
    this.statsTimer = setInterval(() => void this.publishStats(), 2000);
    this.statsTimer.unref();
  }

  /** Resolves once the worker is connected and taking jobs. */
  async waitUntilReady(): Promise<void> {
    await this.worker.waitUntilReady();
    await this.client.ping();
  }

  /** True while a hot GPU keeps this worker from taking jobs. */
  get gpuHolding(): boolean {
    return this.gpuHeld;
  }

  private onGpuStatus(status: GPUStatus): void {
    const severity = conditionSeverity(status.condition);
    if (severity >= conditionSeverity('critical')) this.holdForGpu(status);
    else if (this.gpuHeld && severity >= 0 && severity <= conditionSeverity('warm')) {
      this.gpuHeld = false;
      this.worker.resume();
      this.emit('gpuRelease', status);
    }
  }

  private holdForGpu(status: GPUStatus | null): void {
    if (this.gpuHeld) return;
    this.gpuHeld = true;
    // doNotWaitActive: stop fetching at once; the running job goes on (or fails on its own guard).
    void this.worker.pause(true).catch(() => undefined);
    this.emit('gpuHold', status);
  }

  private async process(bullJob: Job<JobData>, token: string | undefined): Promise<unknown> {
    if (this.gpuHeld) {
      // Fetched just as the GPU turned hot (pause() does not recall a fetch in flight): give it back
      // untouched (no attempt used, no event sent) for a worker with a cool GPU, or for this one later.
      await bullJob.moveToDelayed(Date.now() + GPU_HOLD_REQUEUE_MS, token);
      throw new DelayedError();
    }
    const jobId = String(bullJob.id);
    const keys = jobKeys(this.name, jobId);
    const attempt = await this.client.incr(keys.attempt);
    const relay = new EventRelay(this.client, keys, attempt, this.host, this.stepRate);
    const control = new JobControl(relay);
    this.emit('jobStart', jobId, attempt);
    relay.event('attempt', { attempt, host: this.host, worker: this.workerId });
    const commands = this.commands.add(keys.commands, '0', (_id, fields) => {
      const command = parseCommand(fields);
      if (command) control.apply(command);
    });
    const sweep = bullJob.data?.sweep;
    const pruner = sweep ? new TrialPruner(this.client, this.name, sweep) : null;
    try {
      const job = validateJob(bullJob.data?.job);
      const result = await runJob({
        jobId,
        job,
        relay,
        control,
        dataRoot: this.dataRoot,
        checkpointRoot: this.checkpointRoot,
        gpuSafety: this.gpuSafety,
        shouldPrune: pruner ? (epoch, metrics) => pruner.observe(epoch, metrics) : undefined,
        onProgress: (steps, samples) => {
          this.stats.steps += steps;
          this.stats.samples += samples;
          this.stats.windowSamples += samples;
        },
      });
      const plain = JSON.parse(JSON.stringify(result)) as unknown;
      if (pruner) await pruner.commit(jobId);
      relay.event('complete', { result: plain });
      await relay.flush();
      await expireJobKeys(this.client, keys, this.retentionMs);
      this.stats.completed++;
      this.emit('jobEnd', jobId, 'completed');
      return plain;
    } catch (error) {
      if (isBackpropError(error) && error.code === 'RUNTIME_GPU_TEMPERATURE_CRITICAL') this.holdForGpu(null);
      const permanent = isPermanentFailure(error);
      const final = permanent || bullJob.attemptsMade + 1 >= (bullJob.opts.attempts ?? 1);
      relay.event(final ? 'error' : 'retry', { error: serializeError(error), willRetry: !final });
      await relay.flush();
      if (final) await expireJobKeys(this.client, keys, this.retentionMs);
      if (final) this.stats.failed++;
      this.emit('jobEnd', jobId, final ? 'failed' : 'retry');
      const message = error instanceof Error ? error.message : String(error);
      throw permanent ? new UnrecoverableError(message) : error instanceof Error ? error : new Error(message);
    } finally {
      this.commands.remove(commands);
    }
  }

  private async publishStats(): Promise<void> {
    const now = Date.now();
    const s = this.stats;
    s.rate = s.windowSamples / Math.max(0.001, (now - s.windowStart) / 1000);
    s.windowSamples = 0;
    s.windowStart = now;
    const record = {
      worker: this.workerId, host: this.host, steps: s.steps, samples: s.samples, samplesPerSecond: s.rate,
      completed: s.completed, failed: s.failed, gpuHeld: this.gpuHeld, startedAt: this.startedAt, updatedAt: now,
    };
    await this.client.hset(workersKey(this.name), this.workerId, JSON.stringify(record)).catch(() => undefined);
  }

  private emitError(error: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', error instanceof Error ? error : new Error(String(error)));
  }

  /** Stops taking jobs, waits for the running ones (or not, with force) and disconnects. */
  close(options: { force?: boolean } = {}): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.statsTimer);
      await this.worker.close(options.force === true);
      await this.client.hdel(workersKey(this.name), this.workerId).catch(() => undefined);
      await this.monitor?.stop();
      await this.commands.close();
      this.client.disconnect();
    })();
    return this.closing;
  }
}
