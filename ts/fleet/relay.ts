/**
 * The worker's side of the event transport for one attempt of one job.
 *
 * Every event is sent on one client, so events reach the stream in the
 * order the trainer produced them, also while Redis is away
 * (ioredis queues the commands and sends them on reconnect). Step events are
 * coalesced to at most `stepsPerSecond`: the newest pending step replaces
 * older ones, a pending step is always sent before the next critical event
 * (so "the last step before epoch e" keeps its place), and the last step of
 * the run is sent by flush().
 */
import type { Redis } from 'ioredis';
import { appendEvent, type StreamKeys } from './transport';
import type { FleetEventType } from './types';

export class EventRelay {
  private chain: Promise<unknown> = Promise.resolve();
  private pendingStep: Record<string, unknown> | null = null;
  private lastStepSent = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly intervalMs: number;
  private index = 0;
  /** Step events handed in, and those sent (the rest were coalesced). */
  stepsSeen = 0;
  stepsSent = 0;
  lastError: unknown = null;

  constructor(
    private readonly client: Redis,
    private readonly keys: StreamKeys,
    private readonly attempt: number,
    private readonly host: string,
    stepsPerSecond: number,
  ) {
    this.intervalMs = 1000 / stepsPerSecond;
  }

  /** Any event but a step: sent in order, never dropped. */
  event(type: FleetEventType, data: Record<string, unknown>): void {
    this.sendPendingStep();
    this.enqueue(type, data);
  }

  step(data: Record<string, unknown>): void {
    this.stepsSeen++;
    this.pendingStep = data;
    const now = Date.now();
    if (now - this.lastStepSent >= this.intervalMs) {
      this.sendPendingStep();
    } else if (this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.sendPendingStep();
      }, this.lastStepSent + this.intervalMs - now);
    }
  }

  /** Sends the last pending step and waits until everything handed in is in Redis. */
  async flush(): Promise<void> {
    this.sendPendingStep();
    await this.chain;
  }

  private sendPendingStep(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.pendingStep === null) return;
    const data = this.pendingStep;
    this.pendingStep = null;
    this.lastStepSent = Date.now();
    this.stepsSent++;
    this.enqueue('step', data);
  }

  private enqueue(type: FleetEventType, data: Record<string, unknown>): void {
    const body = { type, attempt: this.attempt, host: this.host, time: Date.now(), data };
    // One client sends (and Redis applies) commands in the order they were issued, so events need no
    // chaining to stay in order, and replies come back in that order too: awaiting the newest
    // send in flush() waits for all of them.
    const sent = appendEvent(this.client, this.keys, body, ++this.index).catch((error: unknown) => {
      this.lastError = error;
    });
    this.chain = sent;
  }
}
