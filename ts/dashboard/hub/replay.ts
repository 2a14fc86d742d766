/**
 * The replay ring and snapshots: every broadcast message gets the next seq
 * and goes into a bounded ring (so a client that reconnects with its last
 * seq gets exactly what it missed), non-sample messages also into the event
 * log ring; a client too far behind (or of another session) gets a snapshot
 * of the current state instead.
 */
import { SeqRing } from '../history';
import { Outgoing } from '../client';
import { PROTOCOL_VERSION, type HubMessage } from '../protocol';

export type Broadcast = (type: string, runId: string | null, runIndex: number | null, payload: Record<string, unknown>, key?: string | null) => Outgoing;

/** What a client's hello gets: a replay from its last seq, or a snapshot. */
export interface ReplayPlan {
  replay: boolean;
  welcome: Record<string, unknown>;
  messages: Outgoing[];
}

export class MessageLog {
  private seqValue = 0;
  private readonly ring: SeqRing<Outgoing>;
  private readonly logRing: SeqRing<Outgoing>;

  constructor(bufferSize: number, logSize: number, private readonly sessionId: string) {
    this.ring = new SeqRing(bufferSize);
    this.logRing = new SeqRing(logSize);
  }

  /** Seq of the latest message (0 before the first). */
  get seq(): number {
    return this.seqValue;
  }

  /** Seq of the oldest message still in the ring (null when empty). */
  get oldestSeq(): number | null {
    return this.ring.firstSeq;
  }

  /** Numbers, records and returns a new message. */
  append(type: string, runId: string | null, runIndex: number | null, payload: Record<string, unknown>, key: string | null): Outgoing {
    const seq = ++this.seqValue;
    const msg: HubMessage = { v: PROTOCOL_VERSION, type, seq, sessionId: this.sessionId, runId, runIndex, time: Date.now(), payload };
    const out = new Outgoing(msg, key);
    this.ring.push(seq, out);
    if (type !== 'step' && type !== 'gpu') this.logRing.push(this.logRing.nextSeq, out);
    return out;
  }

  /** Messages with seq > afterSeq still in the ring, oldest first. */
  since(afterSeq: number): Outgoing[] {
    return this.ring.since(afterSeq);
  }

  /** The recent non-sample messages (the page's event log). */
  eventLog(): unknown[] {
    return this.logRing.since(0).map((o) => o.msg);
  }

  /** A snapshot message carrying `state`, stamped with the current seq. */
  snapshotMessage(state: Record<string, unknown>): Outgoing {
    return new Outgoing(
      { v: PROTOCOL_VERSION, type: 'snapshot', seq: this.seqValue, sessionId: this.sessionId, runId: null, runIndex: null, time: Date.now(), payload: state },
      null,
    );
  }

  /**
   * What a hello with `lastSeq` (of `sessionId`) gets: a replay when every
   * message after lastSeq is still in the ring and the session is ours, else
   * a snapshot (built by `snapshot` only then).
   */
  plan(lastSeq: number | null, sessionId: string | null, snapshot: () => Record<string, unknown>): ReplayPlan {
    const first = this.ring.firstSeq;
    const current = this.seqValue;
    const sameSession = sessionId === null || sessionId === this.sessionId;
    const replay = lastSeq !== null && sameSession && lastSeq <= current && (lastSeq === current || (first !== null && lastSeq >= first - 1));
    const welcome = {
      v: PROTOCOL_VERSION,
      type: 'welcome',
      sessionId: this.sessionId,
      mode: replay ? 'replay' : 'snapshot',
      serverSeq: current,
      replayFrom: replay ? (lastSeq as number) + 1 : null,
      replayCount: replay ? current - (lastSeq as number) : 0,
      oldestSeq: first,
      time: Date.now(),
    };
    return { replay, welcome, messages: replay ? this.ring.since(lastSeq as number) : [this.snapshotMessage(snapshot())] };
  }
}
