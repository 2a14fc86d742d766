/**
 * The per-client protocol session: a client's hello (replay or snapshot),
 * pings, commands with their ack/error, rate limiting, and the pump that
 * writes queued messages to every connected client.
 */
import type { EventEmitter } from 'node:events';
import { Outgoing, type ClientConnection, type ClientInfo } from '../client';
import { parseClientMessage, PROTOCOL_VERSION, type CommandMessage } from '../protocol';
import type { CommandInput, CommandResult } from './model';
import type { MessageLog } from './replay';

const PUMP_INTERVAL_MS = 50;

/** What a session needs from its hub. */
export interface SessionHost {
  readonly events: EventEmitter;
  readonly log: MessageLog;
  snapshot(): Record<string, unknown>;
  command(input: CommandInput, from: string): CommandResult;
  noteError(error: unknown): void;
}

export class ClientSessions {
  private readonly set = new Set<ClientConnection>();
  private pumpTimer: NodeJS.Timeout | null = null;
  readonly stats = { droppedClients: 0, clientsTotal: 0 };

  constructor(private readonly host: SessionHost) {}

  get size(): number {
    return this.set.size;
  }

  /** Every ready client is offered `out` (queued, coalesced by key when it falls behind). */
  offer(out: Outgoing): void {
    for (const client of this.set) if (client.ready) client.offer(out);
  }

  register(client: ClientConnection): void {
    this.set.add(client);
    this.stats.clientsTotal++;
    if (!this.pumpTimer) {
      this.pumpTimer = setInterval(() => this.pumpAll(), PUMP_INTERVAL_MS);
      this.pumpTimer.unref();
    }
    if (this.host.events.listenerCount('clientConnected') > 0) this.host.events.emit('clientConnected', client.info());
  }

  unregister(client: ClientConnection, code: number, reason: string): void {
    if (!this.set.delete(client)) return;
    client.closedByPeer();
    if (client.dropReason) this.stats.droppedClients++;
    if (this.set.size === 0) this.stopPump();
    if (this.host.events.listenerCount('clientClosed') > 0) {
      this.host.events.emit('clientClosed', { id: client.id, code, reason, dropped: client.dropReason !== null, dropReason: client.dropReason, coalesced: client.coalesced, sent: client.sent });
    }
  }

  info(): ClientInfo[] {
    return [...this.set].map((c) => c.info());
  }

  /** Closes every client (the hub is closing) and stops the pump. */
  closeAll(code: number, reason: string): void {
    for (const c of this.set) c.close(code, reason);
    this.stopPump();
  }

  private stopPump(): void {
    if (this.pumpTimer) clearInterval(this.pumpTimer);
    this.pumpTimer = null;
  }

  private pumpAll(): void {
    const now = Date.now();
    for (const c of this.set) {
      try {
        c.pump(now);
      } catch (error) {
        this.host.noteError(error);
      }
    }
  }

  handleText(client: ClientConnection, text: string): void {
    if (!client.takeToken()) {
      reply(client, { v: PROTOCOL_VERSION, type: 'error', id: null, code: 'RATE_LIMITED', message: 'Too many messages; slow down.' });
      return;
    }
    const parsed = parseClientMessage(text);
    if (!parsed.ok) {
      reply(client, { v: PROTOCOL_VERSION, type: 'error', id: parsed.id, code: parsed.code, message: parsed.message });
      return;
    }
    const m = parsed.message;
    if (m.type === 'hello') {
      if (client.ready) {
        reply(client, { v: PROTOCOL_VERSION, type: 'error', id: null, code: 'BAD_MESSAGE', message: 'hello was already received on this connection.' });
        return;
      }
      this.hello(client, m.lastSeq, m.sessionId);
      return;
    }
    if (!client.ready) this.hello(client, null, null);
    if (m.type === 'ping') {
      reply(client, { v: PROTOCOL_VERSION, type: 'pong', id: m.id, time: Date.now(), seq: this.host.log.seq });
      return;
    }
    this.clientCommand(client, m);
  }

  /** A client that sent no hello in time gets a snapshot. */
  helloTimeout(client: ClientConnection): void {
    if (!client.ready && !client.closed) this.hello(client, null, null);
  }

  private clientCommand(client: ClientConnection, m: CommandMessage): void {
    const result = this.host.command({ command: m.command, target: m.target, reason: m.reason, learningRate: m.learningRate }, `client ${client.id} (${client.remoteAddress})`);
    if (result.ok) reply(client, { v: PROTOCOL_VERSION, type: 'ack', id: m.id, command: m.command, targets: result.targets });
    else reply(client, { v: PROTOCOL_VERSION, type: 'error', id: m.id, code: result.code, message: result.message });
  }

  private hello(client: ClientConnection, lastSeq: number | null, sessionId: string | null): void {
    if (client.helloTimer) {
      clearTimeout(client.helloTimer);
      client.helloTimer = null;
    }
    client.ready = true;
    const plan = this.host.log.plan(lastSeq, sessionId, () => this.host.snapshot());
    client.offer(new Outgoing(plan.welcome, null));
    for (const out of plan.messages) client.offer(out);
  }
}

function reply(client: ClientConnection, msg: Record<string, unknown>): void {
  client.offer(new Outgoing(msg, null));
}
