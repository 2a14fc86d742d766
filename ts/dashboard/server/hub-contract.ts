/**
 * The narrow view of an event hub that the HTTP/WebSocket server needs. The
 * hub implements it; the server never imports the hub, so there is no import
 * circle between them.
 */
import type { Registry } from 'prom-client';
import type { ClientConnection } from '../client';
import type { HubState } from '../protocol';

export interface HubForServer {
  readonly sessionId: string;
  readonly seq: number;
  readonly state: HubState;
  readonly watched: string[];
  readonly closed: boolean;
  readonly metricsRegistry: Registry;
  registerClient(client: ClientConnection): void;
  unregisterClient(client: ClientConnection, code: number, reason: string): void;
  handleClientText(client: ClientConnection, text: string): void;
  helloTimeout(client: ClientConnection): void;
  noteError(error: unknown): void;
  /** Registers a server/attachment to close with the hub; returns its unregister function. */
  addCloser(fn: () => Promise<void>): () => void;
}
