/** The dashboard server's options, checked through the shared validation module. */
import { randomBytes } from 'node:crypto';
import type * as http from 'node:http';
import * as path from 'node:path';
import { BackpropError } from '../../errors';
import { rejectUnknownKeys, requireRecord } from '../../validation';
import type { ClientLimits } from '../client';

export interface EndpointOptions {
  /** The access token; default 24 random bytes (crypto.randomBytes), base64url. */
  token?: string;
  /** Browser origins allowed besides the page's own (e.g. 'https://grafana.example.com'); '*' allows any. */
  allowedOrigins?: string[];
  /** Largest incoming WebSocket frame in bytes; larger ones close the connection with 1009. Default 16 KiB. */
  maxPayload?: number;
  /** Bytes a client may have unsent before its messages are queued and coalesced. Default 1 MiB. */
  highWaterMark?: number;
  /** A client over highWaterMark for longer than this is closed with 1013. Default 5000 ms. */
  stallTimeoutMs?: number;
  /** A client with more queued (non-coalesced) messages than this is closed with 1013. Default 2000. */
  maxQueue?: number;
  /** After a close, the socket is terminated if the client has not answered within this. Default 5000 ms. */
  closeGraceMs?: number;
  /** A client that sends no hello within this gets a snapshot. Default 2000 ms. */
  helloTimeoutMs?: number;
  /** Concurrent clients; more get HTTP 503. Default 64. */
  maxClients?: number;
  /** Incoming messages per second per client (burst twice that); more get RATE_LIMITED. Default 20. */
  messageRate?: number;
  /** Require the token on /metrics (Prometheus: `authorization: { credentials: <token> }`). Default true. */
  metricsAuth?: boolean;
  /** WebSocket ping interval; a client that misses a pong is terminated. Default 30000 ms. */
  pingIntervalMs?: number;
  /** Folder with index.html, app.js, style.css. Default: the package's dashboard/. */
  staticDir?: string;
}

export interface ListenOptions extends EndpointOptions {
  /** Default 0: a free port. */
  port?: number;
  /** Default '127.0.0.1' (loopback only). */
  host?: string;
}

export interface AttachOptions extends EndpointOptions {
  /** Mount point. Default '/dashboard'. */
  path?: string;
  /**
   * Route the server's HTTP requests for the mount point to the dashboard
   * (the server's existing 'request' listeners get every other request).
   * false: only WebSocket upgrades are taken; serve the pages yourself with
   * attachment.handleRequest(req, res) (returns false when not ours). Default true.
   */
  interceptRequests?: boolean;
}

export interface DashboardServer {
  /** The page's URL, with the token (like Jupyter's). */
  readonly url: string;
  readonly token: string;
  readonly host: string;
  readonly port: number;
  readonly server: http.Server;
  /** Closes clients (1001) and the server. */
  close(): Promise<void>;
}

export interface DashboardAttachment {
  readonly path: string;
  readonly token: string;
  /** The page's URL with the token, once the server is listening (else null). */
  readonly url: string | null;
  /** Serves a dashboard route; false when the request is not for the dashboard. */
  handleRequest(req: http.IncomingMessage, res: http.ServerResponse): boolean;
  /** Closes this attachment's clients and restores the server's listeners. */
  close(): Promise<void>;
}

export interface ResolvedEndpoint {
  token: string;
  allowedOrigins: string[];
  maxPayload: number;
  limits: ClientLimits;
  helloTimeoutMs: number;
  maxClients: number;
  metricsAuth: boolean;
  pingIntervalMs: number;
  staticDir: string;
}

const ENDPOINT_KEYS = ['token', 'allowedOrigins', 'maxPayload', 'highWaterMark', 'stallTimeoutMs', 'maxQueue', 'closeGraceMs', 'helloTimeoutMs', 'maxClients', 'messageRate', 'metricsAuth', 'pingIntervalMs', 'staticDir'];

function num(o: Record<string, unknown>, key: string, fallback: number, min: number): number {
  const v = o[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) {
    throw new BackpropError('CONFIG_INVALID', `dashboard option ${key} must be a number >= ${min} (got ${String(v)}).`, { field: key, value: v });
  }
  return v;
}

/** A fresh random access token (24 bytes from crypto.randomBytes, base64url). */
export function generateToken(): string {
  return randomBytes(24).toString('base64url');
}

export function resolveEndpoint(options: EndpointOptions, extraKeys: string[]): ResolvedEndpoint {
  const o = requireRecord(options, 'options', 'dashboard options must be an object, e.g. { port: 0 }.');
  const given = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
  rejectUnknownKeys(given, [...extraKeys, ...ENDPOINT_KEYS], '', { noun: 'dashboard' });
  let token = o.token;
  if (token === undefined || token === null) token = generateToken();
  if (typeof token !== 'string' || !/^[\x21-\x7e]{8,512}$/.test(token)) {
    throw new BackpropError('CONFIG_INVALID', 'dashboard token must be 8 to 512 printable ASCII characters without spaces (or leave it out for a random one).', { field: 'token' });
  }
  const origins = o.allowedOrigins ?? [];
  if (!Array.isArray(origins) || !origins.every((x) => typeof x === 'string')) {
    throw new BackpropError('CONFIG_INVALID', "allowedOrigins must be a list of origins such as ['https://example.com'].", { field: 'allowedOrigins' });
  }
  if (o.metricsAuth !== undefined && typeof o.metricsAuth !== 'boolean') throw new BackpropError('CONFIG_INVALID', 'metricsAuth must be true or false.', { field: 'metricsAuth' });
  if (o.staticDir !== undefined && typeof o.staticDir !== 'string') throw new BackpropError('CONFIG_INVALID', 'staticDir must be a folder path.', { field: 'staticDir' });
  return {
    token,
    allowedOrigins: origins.map((x: string) => x.replace(/\/+$/, '').toLowerCase()),
    maxPayload: num(o, 'maxPayload', 16 * 1024, 64),
    limits: {
      highWaterMark: num(o, 'highWaterMark', 1024 * 1024, 0),
      stallTimeoutMs: num(o, 'stallTimeoutMs', 5000, 0),
      maxQueue: num(o, 'maxQueue', 2000, 1),
      closeGraceMs: num(o, 'closeGraceMs', 5000, 0),
      messageRate: num(o, 'messageRate', 20, 0.1),
    },
    helloTimeoutMs: num(o, 'helloTimeoutMs', 2000, 0),
    maxClients: num(o, 'maxClients', 64, 1),
    metricsAuth: (o.metricsAuth as boolean | undefined) ?? true,
    pingIntervalMs: num(o, 'pingIntervalMs', 30000, 100),
    staticDir: path.resolve((o.staticDir as string | undefined) ?? path.join(__dirname, '..', '..', '..', 'dashboard')),
  };
}

