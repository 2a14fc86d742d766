/**
 * The dashboard's wire protocol (version 1): the JSON messages the event hub
 * broadcasts, the replies it sends to one client, and the messages a client
 * may send, with hand-written validation of the latter.
 *
 * Every broadcast message is an envelope
 *   { v: 1, type, seq, sessionId, runId, runIndex, time, payload }
 * where `seq` increases by exactly one per broadcast message of a hub (so a
 * client can tell what it missed), `sessionId` identifies the hub (a new hub,
 * e.g. after a server restart, has a new one, and seq starts again at 1),
 * `runId` is the trainer's run id (a MultiRunTrainer's session id, shared by
 * its runs), `runIndex` the multi-run run (1-based) or null, and `time` the
 * wall-clock time in milliseconds since the Unix epoch.
 *
 * Replies to one client (`welcome`, `ack`, `error`, `pong`) carry no seq; a
 * `snapshot` carries the seq of the last broadcast message it includes.
 */

export const PROTOCOL_VERSION = 1 as const;

/** Broadcast message types (each gets the next seq). */
export const BROADCAST_TYPES = [
  'watch',
  'unwatch',
  'runStart',
  'step',
  'epoch',
  'save',
  'runEnd',
  'state',
  'gpu',
  'gpuAlert',
  'command',
  'log',
] as const;
export type BroadcastType = (typeof BROADCAST_TYPES)[number];

/** 'fleetQueue': a TrainingQueue (its jobs are watched as 'fleetJob' sources, one per JobHandle). */
export type SourceKind = 'trainer' | 'multiRun' | 'gpuMonitor' | 'fleetQueue' | 'fleetJob';
export type SourceActivity = 'idle' | 'running' | 'paused' | 'stopping';
export type RunStatus = 'running' | 'completed' | 'aborted' | 'failed';
/** The hub's overall state, as the page's banner shows it. */
export type HubState = 'idle' | 'running' | 'paused' | 'finished' | 'aborted' | 'failed';

export interface Envelope<T extends string = string, P = Record<string, unknown>> {
  readonly v: typeof PROTOCOL_VERSION;
  readonly type: T;
  readonly seq: number;
  readonly sessionId: string;
  readonly runId: string | null;
  readonly runIndex: number | null;
  readonly time: number;
  readonly payload: P;
}

export type HubMessage = Envelope<string, Record<string, unknown>>;

export const COMMANDS = ['pause', 'resume', 'abort', 'setLearningRate'] as const;
export type CommandName = (typeof COMMANDS)[number];

/** Error codes of `{ type: 'error', code }` replies. */
export type ClientErrorCode =
  | 'BAD_JSON'
  | 'BAD_MESSAGE'
  | 'RATE_LIMITED'
  | 'COMMANDS_DISABLED'
  | 'UNKNOWN_TARGET'
  | 'NOT_RUNNING'
  | 'UNSUPPORTED'
  | 'INVALID_VALUE'
  | 'COMMAND_FAILED';

export interface HelloMessage {
  type: 'hello';
  lastSeq: number | null;
  sessionId: string | null;
}

export interface CommandMessage {
  type: 'command';
  id: string | number;
  command: CommandName;
  target: string | null;
  reason: string | null;
  learningRate: number | null;
}

export interface PingMessage {
  type: 'ping';
  id: string | number | null;
}

export type ClientMessage = HelloMessage | CommandMessage | PingMessage;

export type ValidationResult = { ok: true; message: ClientMessage } | { ok: false; code: ClientErrorCode; message: string; id: string | number | null };

const ID_MAX = 128;
const TARGET_MAX = 256;
const REASON_MAX = 512;

function isId(v: unknown): v is string | number {
  return (typeof v === 'string' && v.length > 0 && v.length <= ID_MAX) || (typeof v === 'number' && Number.isFinite(v));
}

function extraKeys(o: Record<string, unknown>, allowed: readonly string[]): string[] {
  return Object.keys(o).filter((k) => !allowed.includes(k));
}

/**
 * Parses and checks one text frame from a client. Never throws: a bad frame
 * gives { ok: false, code, message, id } (id when one could be read, so the
 * error can be matched to its request).
 */
export function parseClientMessage(text: string): ValidationResult {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    return { ok: false, code: 'BAD_JSON', message: `The message is not valid JSON (${(error as Error).message}).`, id: null };
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return { ok: false, code: 'BAD_MESSAGE', message: 'A message must be a JSON object with a "type".', id: null };
  }
  const o = data as Record<string, unknown>;
  const id = isId(o.id) ? o.id : null;
  const bad = (message: string): ValidationResult => ({ ok: false, code: 'BAD_MESSAGE', message, id });
  switch (o.type) {
    case 'hello': {
      const extra = extraKeys(o, ['type', 'lastSeq', 'sessionId', 'v']);
      if (extra.length) return bad(`Unknown field(s) in hello: ${extra.join(', ')}.`);
      if (o.lastSeq !== undefined && o.lastSeq !== null && !(typeof o.lastSeq === 'number' && Number.isInteger(o.lastSeq) && o.lastSeq >= 0)) {
        return bad('hello.lastSeq must be an integer >= 0 or null.');
      }
      if (o.sessionId !== undefined && o.sessionId !== null && !(typeof o.sessionId === 'string' && o.sessionId.length <= ID_MAX)) {
        return bad('hello.sessionId must be a string or null.');
      }
      return { ok: true, message: { type: 'hello', lastSeq: (o.lastSeq as number | null | undefined) ?? null, sessionId: (o.sessionId as string | null | undefined) ?? null } };
    }
    case 'ping': {
      const extra = extraKeys(o, ['type', 'id', 'v']);
      if (extra.length) return bad(`Unknown field(s) in ping: ${extra.join(', ')}.`);
      return { ok: true, message: { type: 'ping', id } };
    }
    case 'command': {
      const extra = extraKeys(o, ['type', 'id', 'command', 'target', 'reason', 'learningRate', 'v']);
      if (extra.length) return bad(`Unknown field(s) in command: ${extra.join(', ')}.`);
      if (id === null) return bad(`command.id must be a non-empty string (at most ${ID_MAX} characters) or a finite number.`);
      if (typeof o.command !== 'string' || !(COMMANDS as readonly string[]).includes(o.command)) {
        return bad(`command.command must be one of ${COMMANDS.join(', ')}.`);
      }
      if (o.target !== undefined && o.target !== null && !(typeof o.target === 'string' && o.target.length > 0 && o.target.length <= TARGET_MAX)) {
        return bad('command.target must be a run id or a source label (a non-empty string).');
      }
      if (o.reason !== undefined && o.reason !== null && !(typeof o.reason === 'string' && o.reason.length <= REASON_MAX)) {
        return bad(`command.reason must be a string of at most ${REASON_MAX} characters.`);
      }
      if (o.command === 'setLearningRate') {
        if (typeof o.learningRate !== 'number' || !Number.isFinite(o.learningRate)) return bad('setLearningRate needs a finite number learningRate.');
      } else if (o.learningRate !== undefined && o.learningRate !== null) {
        return bad('learningRate is only allowed with setLearningRate.');
      }
      return {
        ok: true,
        message: {
          type: 'command',
          id,
          command: o.command as CommandName,
          target: (o.target as string | null | undefined) ?? null,
          reason: (o.reason as string | null | undefined) ?? null,
          learningRate: (o.learningRate as number | null | undefined) ?? null,
        },
      };
    }
    default:
      return bad(`Unknown message type ${typeof o.type === 'string' ? JSON.stringify(o.type.slice(0, 40)) : String(o.type)} (known: hello, command, ping).`);
  }
}
