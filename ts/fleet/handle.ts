/**
 * JobHandle: a job seen from any process. It emits the job's events with the
 * same names, arguments and order as a local Trainer (or MultiRunTrainer),
 * resolves result() on 'complete' and rejects it on 'error', and sends
 * commands to whichever worker runs the job.
 *
 * Events are read from the job's stream from the last id seen, so nothing is
 * missed or repeated across reconnects; `seq` is checked as well, so an event
 * is never emitted twice. A handle made by queue.attach() replays the
 * critical events already in the stream (steps before now only update
 * `status`), then goes on live.
 */
import { EventEmitter } from 'node:events';
import { BackpropError } from '../errors';
import { configError } from '../validation';
import { deserializeError } from './serialize';
import { parseEvent } from './transport';
import { CRITICAL_EVENTS, type FleetCommand, type FleetEvent, type FleetJob, type JobState, type JobStatus, type SerializedError } from './types';

export interface JobHandleEvents {
  /** Every event as it travelled (all types, with seq, attempt and host). */
  event: [event: FleetEvent];
  step: [step: number, loss: number] | [runIndex: number, step: number, loss: number];
  epoch: [epoch: number, info: { validationLoss: number | null; validationAccuracy: number | null }];
  save: [path: string];
  complete: [result: unknown];
  error: [error: Error];
  runStart: [runIndex: number];
  runComplete: [result: unknown];
  gpuStatus: [status: unknown];
  attempt: [info: { attempt: number; host: string }];
  retry: [info: { attempt: number; error: Error }];
  paused: [];
  resumed: [];
  learningRate: [learningRate: number];
}

/** @internal How a handle reads its job's events and sends it commands (the queue provides it). */
export interface HandleTransport {
  send(command: FleetCommand): Promise<void>;
  /** Hands each stream entry after `fromId` over, in order, until unsubscribe(). */
  subscribe(fromId: string, onEntry: (id: string, fields: string[]) => void): void;
  unsubscribe(): void;
}

export class JobHandle extends EventEmitter {
  readonly id: string;
  /** The job's kind, or null when the queue no longer holds the job (only its events are left). */
  readonly kind: FleetJob['kind'] | null;
  private readonly transport: HandleTransport;
  private state: JobState = 'waiting';
  private attempt = 0;
  private host: string | null = null;
  private step = 0;
  private epoch = 0;
  private loss: number | null = null;
  private learningRate: number | null = null;
  private runIndex: number | null = null;
  private lastSeq = 0;
  private ended = false;
  private readonly settled: Promise<unknown>;
  private resolveResult!: (value: unknown) => void;
  private rejectResult!: (error: Error) => void;

  /** @internal Made by TrainingQueue.submit() and attach(). */
  constructor(jobId: string, kind: FleetJob['kind'] | null, transport: HandleTransport) {
    super();
    this.id = jobId;
    this.kind = kind;
    this.transport = transport;
    this.settled = new Promise<unknown>((resolve, reject) => {
      this.resolveResult = resolve;
      this.rejectResult = reject;
    });
    // The failure is also delivered through result(); without this a job nobody awaits would be an unhandled rejection.
    this.settled.catch(() => undefined);
  }

  /** @internal Starts reading at `fromId`, after handing the already-stored `replay` entries over (every one of them with `replayAll`). */
  listen(fromId: string, replay: [string, string[]][] = [], replayAll = false): void {
    for (const [id, fields] of replay) {
      const event = parseEvent(this.id, id, fields);
      if (event) this.take(event, !replayAll);
    }
    if (this.ended) return;
    const last = replay.length > 0 ? replay[replay.length - 1]![0] : fromId;
    this.transport.subscribe(last, (id, fields) => {
      const event = parseEvent(this.id, id, fields);
      if (event) this.take(event, false);
    });
  }

  /** Resolves with the TrainingRun (or MultiRunResult); rejects with a BackpropError or an AbortError. */
  result(): Promise<unknown> {
    return this.settled;
  }

  get status(): JobStatus {
    return Object.freeze({
      jobId: this.id, state: this.state, attempt: this.attempt, host: this.host, step: this.step, epoch: this.epoch,
      loss: this.loss, learningRate: this.learningRate, runIndex: this.runIndex, seq: this.lastSeq,
    });
  }

  /** Stops the job at its next step boundary; it fails with an AbortError and is not retried. */
  abort(reason = 'aborted'): Promise<void> {
    return this.send({ type: 'abort', reason: String(reason) });
  }

  /** Holds a train job at its next step boundary. A multi-run job rejects with JOB_COMMAND_UNSUPPORTED. */
  pause(): Promise<void> {
    return this.unsupported('pause') ?? this.send({ type: 'pause' });
  }

  resume(): Promise<void> {
    return this.unsupported('resume') ?? this.send({ type: 'resume' });
  }

  setLearningRate(learningRate: number): Promise<void> {
    const refused = this.unsupported('setLearningRate');
    if (refused) return refused;
    if (typeof learningRate !== 'number' || !Number.isFinite(learningRate) || learningRate <= 0 || learningRate > 10) {
      return Promise.reject(configError('learningRate', learningRate, `learningRate must be a finite number in (0, 10] (got ${String(learningRate)}). Pass a positive step size such as 1e-3.`));
    }
    return this.send({ type: 'setLearningRate', learningRate });
  }

  /** Stops listening (the job goes on). */
  close(): void {
    this.transport.unsubscribe();
  }

  /** A multi-run session follows its own schedule run by run: only abort steers it from outside. */
  private unsupported(command: 'pause' | 'resume' | 'setLearningRate'): Promise<never> | null {
    if (this.kind !== 'multi-run') return null;
    return Promise.reject(
      new BackpropError(
        'JOB_COMMAND_UNSUPPORTED',
        `Job ${this.id} is a multi-run job, which does not take ${command}(): its runs follow the session's own learning-rate schedule and GPU pauses. Use abort() to stop it, or submit kind 'train' jobs to steer them live.`,
        { jobId: this.id, command, kind: this.kind },
      ),
    );
  }

  private send(command: FleetCommand): Promise<void> {
    return this.transport.send(command);
  }

  private take(event: FleetEvent, replaying: boolean): void {
    if (event.seq <= this.lastSeq || this.ended) return;
    this.lastSeq = event.seq;
    this.attempt = event.attempt;
    this.host = event.host;
    const d = event.data as Record<string, unknown>;
    const critical = (CRITICAL_EVENTS as readonly string[]).includes(event.type);
    const emit = !replaying || critical;
    if (emit) this.emit('event', event);
    switch (event.type) {
      case 'attempt':
        this.state = 'running';
        if (emit) this.emit('attempt', { attempt: event.attempt, host: event.host });
        break;
      case 'step':
        this.step = Number(d.step);
        this.loss = typeof d.loss === 'number' ? d.loss : null;
        if (typeof d.runIndex === 'number') {
          this.runIndex = d.runIndex;
          if (emit) this.emit('step', d.runIndex, this.step, d.loss);
        } else if (emit) this.emit('step', this.step, d.loss);
        break;
      case 'epoch':
        this.epoch = Number(d.epoch);
        this.emit('epoch', this.epoch, Object.freeze({ validationLoss: (d.validationLoss ?? null) as number | null, validationAccuracy: (d.validationAccuracy ?? null) as number | null }));
        break;
      case 'save':
        this.emit('save', d.path);
        break;
      case 'runStart':
        this.runIndex = Number(d.runIndex);
        this.emit('runStart', this.runIndex);
        break;
      case 'runComplete':
        this.emit('runComplete', d.result);
        break;
      case 'gpuStatus':
        if (emit) this.emit('gpuStatus', d.status);
        break;
      case 'paused':
        this.state = 'paused';
        if (emit) this.emit('paused');
        break;
      case 'resumed':
        this.state = 'running';
        if (emit) this.emit('resumed');
        break;
      case 'learningRate':
        this.learningRate = Number(d.learningRate);
        if (emit) this.emit('learningRate', this.learningRate);
        break;
      case 'retry':
        this.state = 'waiting';
        if (emit) this.emit('retry', { attempt: event.attempt, error: deserializeError(d.error as SerializedError, this.id) });
        break;
      case 'complete':
        this.finish('completed');
        this.emit('complete', d.result);
        this.resolveResult(d.result);
        break;
      case 'error': {
        this.finish('failed');
        const error = deserializeError(d.error as SerializedError, this.id);
        // As a local Trainer: 'error' is emitted only to listeners (the promise always carries it).
        if (this.listenerCount('error') > 0) this.emit('error', error);
        this.rejectResult(error);
        break;
      }
    }
  }

  private finish(state: JobState): void {
    this.state = state;
    this.ended = true;
    this.close();
  }
}
