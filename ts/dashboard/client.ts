/**
 * One connected dashboard client: a bounded, coalescing send queue in front
 * of a WebSocket, so that a slow client can never block the trainer, the hub
 * or another client.
 *
 *  - A message goes straight to ws.send() while nothing is queued and the
 *    socket's bufferedAmount is at most highWaterMark; otherwise it is queued.
 *  - Queued messages with a coalescing key (step: one per run; gpu: one per
 *    device) replace the older queued message with the same key, so a slow
 *    client gets the latest step of each run rather than every step.
 *  - The hub pumps queues on a timer. A client whose bufferedAmount stays
 *    over highWaterMark for longer than stallTimeoutMs, or whose queue holds
 *    more than maxQueue messages, is closed with 1013 (try again later); the
 *    page reconnects and catches up from the ring buffer or a snapshot.
 * Nothing here awaits the client: ws.send() only appends to the socket.
 */
import type { WebSocket } from 'ws';

/** A message on its way out: serialised once, however many clients get it. */
export class Outgoing {
  private text: string | null = null;
  constructor(
    readonly msg: object,
    /** Messages with the same non-null key coalesce in a slow client's queue. */
    readonly key: string | null,
  ) {}

  get json(): string {
    if (this.text === null) this.text = JSON.stringify(this.msg);
    return this.text;
  }
}

export interface ClientLimits {
  highWaterMark: number;
  stallTimeoutMs: number;
  maxQueue: number;
  closeGraceMs: number;
  /** Incoming messages per second (burst twice that). */
  messageRate: number;
}

interface Node {
  out: Outgoing;
  prev: Node | null;
  next: Node | null;
}

export interface ClientInfo {
  id: number;
  remoteAddress: string;
  ready: boolean;
  queued: number;
  bufferedAmount: number;
  sent: number;
  coalesced: number;
  connectedAt: number;
  /** Why the server is closing this client (e.g. too slow: 1013), or null. */
  dropReason: string | null;
}

export class ClientConnection {
  ready = false;
  closed = false;
  /** Why the server closed this client (1013 too slow, ...), or null. */
  dropReason: string | null = null;
  sent = 0;
  coalesced = 0;
  alive = true;
  readonly connectedAt = Date.now();
  helloTimer: NodeJS.Timeout | null = null;
  private head: Node | null = null;
  private tail: Node | null = null;
  private live = 0;
  private readonly keyed = new Map<string, Node>();
  private stalledSince: number | null = null;
  private tokens: number;
  private refilledAt = Date.now();

  constructor(
    readonly id: number,
    readonly ws: WebSocket,
    readonly remoteAddress: string,
    readonly limits: ClientLimits,
  ) {
    this.tokens = limits.messageRate * 2;
  }

  get queued(): number {
    return this.live;
  }

  info(): ClientInfo {
    return {
      id: this.id,
      remoteAddress: this.remoteAddress,
      ready: this.ready,
      queued: this.live,
      bufferedAmount: this.ws.bufferedAmount,
      sent: this.sent,
      coalesced: this.coalesced,
      connectedAt: this.connectedAt,
      dropReason: this.dropReason,
    };
  }

  /** Token bucket for incoming messages; false when over the rate. */
  takeToken(): boolean {
    const now = Date.now();
    const rate = this.limits.messageRate;
    this.tokens = Math.min(rate * 2, this.tokens + ((now - this.refilledAt) / 1000) * rate);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Sends now if the socket keeps up, else queues (coalescing by key). O(1). */
  offer(out: Outgoing): void {
    if (this.closed) return;
    if (this.head === null && this.ws.bufferedAmount <= this.limits.highWaterMark) {
      this.write(out);
      return;
    }
    if (out.key !== null) {
      const old = this.keyed.get(out.key);
      if (old) {
        this.unlink(old);
        this.coalesced++;
      }
    }
    const node: Node = { out, prev: this.tail, next: null };
    if (this.tail) this.tail.next = node;
    else this.head = node;
    this.tail = node;
    this.live++;
    if (out.key !== null) this.keyed.set(out.key, node);
    if (this.live > this.limits.maxQueue) this.drop(`client too slow: more than ${this.limits.maxQueue} messages queued; reconnect`);
  }

  /** Sends queued messages while the socket keeps up; closes a stalled client. */
  pump(now: number): void {
    if (this.closed) return;
    const limit = this.limits.highWaterMark;
    while (this.head !== null && this.ws.bufferedAmount <= limit) {
      const node = this.head;
      this.unlink(node);
      this.write(node.out);
      if (this.closed) return;
    }
    if (this.ws.bufferedAmount > limit) {
      if (this.stalledSince === null) this.stalledSince = now;
      else if (now - this.stalledSince > this.limits.stallTimeoutMs) {
        this.drop(`client too slow: over ${limit} bytes unsent for more than ${this.limits.stallTimeoutMs} ms; reconnect`);
      }
    } else {
      this.stalledSince = null;
    }
  }

  /** Closes the connection with 1013 (try again later); terminates it after closeGraceMs. */
  drop(reason: string): void {
    if (this.closed) return;
    this.dropReason = reason;
    this.close(1013, 'client too slow; reconnect');
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.clearQueue();
    if (this.helloTimer) clearTimeout(this.helloTimer);
    try {
      this.ws.close(code, reason);
    } catch {
      this.ws.terminate();
    }
    const ws = this.ws;
    setTimeout(() => ws.terminate(), this.limits.closeGraceMs).unref();
  }

  /** Called when the socket has closed (whoever closed it). */
  closedByPeer(): void {
    this.closed = true;
    this.clearQueue();
    if (this.helloTimer) clearTimeout(this.helloTimer);
  }

  private write(out: Outgoing): void {
    if (this.ws.readyState !== 1) return;
    try {
      this.ws.send(out.json);
      this.sent++;
    } catch {
      this.closed = true;
      this.ws.terminate();
    }
  }

  private unlink(node: Node): void {
    if (node.prev) node.prev.next = node.next;
    else this.head = node.next;
    if (node.next) node.next.prev = node.prev;
    else this.tail = node.prev;
    node.prev = node.next = null;
    this.live--;
    const key = node.out.key;
    if (key !== null && this.keyed.get(key) === node) this.keyed.delete(key);
  }

  private clearQueue(): void {
    this.head = this.tail = null;
    this.live = 0;
    this.keyed.clear();
  }
}
