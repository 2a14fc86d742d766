/**
 * HTTP + WebSocket endpoints of an event hub: a standalone server
 * (hub.listen) or routes mounted on an existing http.Server (hub.attach).
 *
 * Routes, under the base path ('' for listen, '/dashboard' by default for attach):
 *   GET /            the page (dashboard/index.html), its modules (app.js, ...), style.css
 *   GET /vendor/...  uPlot (from node_modules/uplot)
 *   GET /healthz     200 "ok" (no token: for liveness probes)
 *   GET /metrics     Prometheus text (token required unless metricsAuth: false)
 *   GET /api/session JSON facts about the hub (token required)
 *   WS  /ws          the event stream (token required)
 *
 * The token is checked before the WebSocket upgrade completes (query
 * ?token= or Authorization: Bearer); a missing or wrong one gets HTTP 401 on
 * the raw socket, which is then closed. A browser Origin must match the Host
 * (or be listed in allowedOrigins); requests without an Origin (non-browser
 * clients) are allowed. Frames are limited to maxPayload bytes (close 1009).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as http from 'node:http';
import type { Duplex } from 'node:stream';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { WebSocketServer, WebSocket } from 'ws';
import type * as Ws from 'ws';
import { BackpropError } from '../errors';
import { ClientConnection, Outgoing, type ClientLimits } from './client';
import type { EventHub } from './hub';

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

interface ResolvedEndpoint {
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

function resolveEndpoint(options: EndpointOptions, extraKeys: string[]): ResolvedEndpoint {
  if (typeof options !== 'object' || options === null) throw new BackpropError('CONFIG_INVALID', 'dashboard options must be an object.', { field: 'options' });
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (o[key] !== undefined && !ENDPOINT_KEYS.includes(key) && !extraKeys.includes(key)) {
      throw new BackpropError('CONFIG_INVALID', `Unknown dashboard option '${key}' (known: ${[...extraKeys, ...ENDPOINT_KEYS].join(', ')}).`, { field: key });
    }
  }
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
    staticDir: path.resolve((o.staticDir as string | undefined) ?? path.join(__dirname, '..', '..', 'dashboard')),
  };
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

interface StaticFile {
  file: () => string;
  type: string;
  html?: boolean;
}

const STATIC: Record<string, StaticFile> = {
  '/': { file: () => 'index.html', type: 'text/html; charset=utf-8', html: true },
  '/index.html': { file: () => 'index.html', type: 'text/html; charset=utf-8', html: true },
  '/style.css': { file: () => 'style.css', type: 'text/css; charset=utf-8' },
  '/vendor/uPlot.iife.min.js': { file: () => require.resolve('uplot/dist/uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  '/vendor/uPlot.min.css': { file: () => require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

/** The page's ES modules (dashboard/*.js). */
const PAGE_MODULES = ['app.js', 'connection.js', 'store.js', 'charts.js', 'decimate.js', 'panels.js', 'format.js'];
for (const name of PAGE_MODULES) STATIC[`/${name}`] = { file: () => name, type: 'text/javascript; charset=utf-8' };

let nextClientId = 1;

/** One mount of a hub: routes, auth, and the WebSocket server. */
class Endpoint {
  readonly wss: WebSocketServer;
  readonly clients = new Set<ClientConnection>();
  private readonly tokenDigest: Buffer;
  private readonly cache = new Map<string, Buffer>();
  private heartbeat: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    readonly hub: EventHub,
    readonly opts: ResolvedEndpoint,
    /** '' or '/dashboard' (no trailing slash). */
    readonly base: string,
    /** Standalone server: unknown paths get 404 here rather than passing on. */
    readonly owner: boolean,
  ) {
    this.tokenDigest = digest(opts.token);
    // `ws` is loaded on first use: requiring the package must not pay for it.
    const { WebSocketServer: Server } = require('ws') as typeof Ws;
    this.wss = new Server({ noServer: true, maxPayload: opts.maxPayload, perMessageDeflate: false, clientTracking: false });
  }

  private setHeaders(res: http.ServerResponse, type: string): void {
    res.setHeader('Content-Type', type);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    // The token is in the page URL: never send it on as a Referer.
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cache-Control', 'no-store');
  }

  private send(res: http.ServerResponse, status: number, type: string, body: string | Buffer, head = false): void {
    this.setHeaders(res, type);
    res.statusCode = status;
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.end(head ? undefined : body);
  }

  private tokenOf(req: http.IncomingMessage, url: URL): string | null {
    const q = url.searchParams.get('token');
    if (q) return q;
    const auth = req.headers.authorization;
    if (typeof auth === 'string') {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
      if (m) return m[1]!;
    }
    return null;
  }

  /** Constant-time comparison (of SHA-256 digests, so lengths do not leak either). */
  authorized(req: http.IncomingMessage, url: URL): boolean {
    const t = this.tokenOf(req, url);
    if (t === null) return false;
    return timingSafeEqual(digest(t), this.tokenDigest);
  }

  originAllowed(req: http.IncomingMessage): boolean {
    const origin = req.headers.origin;
    if (origin === undefined) return true; // non-browser clients
    const o = String(origin).replace(/\/+$/, '').toLowerCase();
    if (this.opts.allowedOrigins.includes('*') || this.opts.allowedOrigins.includes(o)) return true;
    try {
      const u = new URL(o);
      const host = String(req.headers.host ?? '').toLowerCase();
      return (u.protocol === 'http:' || u.protocol === 'https:') && host !== '' && u.host === host;
    } catch {
      return false;
    }
  }

  /** Serves a dashboard route; false when the path is not ours (attach mode). */
  handleRequest(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      if (!this.owner) return false;
      this.send(res, 400, 'text/plain; charset=utf-8', 'bad request');
      return true;
    }
    const p = url.pathname;
    if (this.base !== '' && p === this.base) {
      res.statusCode = 301;
      res.setHeader('Location', `${this.base}/${url.search}`);
      res.setHeader('Referrer-Policy', 'no-referrer');
      res.end();
      return true;
    }
    if (!p.startsWith(`${this.base}/`)) {
      if (!this.owner) return false;
      this.send(res, 404, 'text/plain; charset=utf-8', 'not found');
      return true;
    }
    const route = p.slice(this.base.length);
    if (route === '/favicon.ico') {
      // No icon: answer rather than log a 404 in the browser console.
      res.statusCode = 204;
      res.end();
      return true;
    }
    const known = route in STATIC || route === '/healthz' || route === '/metrics' || route === '/api/session' || route === '/ws';
    if (!known) {
      if (!this.owner) return false;
      this.send(res, 404, 'text/plain; charset=utf-8', 'not found');
      return true;
    }
    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) {
      res.setHeader('Allow', 'GET, HEAD');
      this.send(res, 405, 'text/plain; charset=utf-8', 'method not allowed');
      return true;
    }
    if (route === '/healthz') {
      this.send(res, 200, 'text/plain; charset=utf-8', 'ok', head);
      return true;
    }
    if (route === '/ws') {
      this.send(res, 426, 'text/plain; charset=utf-8', 'upgrade to a WebSocket', head);
      return true;
    }
    if (route === '/metrics') {
      if (this.opts.metricsAuth && !this.authorized(req, url)) {
        res.setHeader('WWW-Authenticate', 'Bearer realm="backpropagate dashboard"');
        this.send(res, 401, 'text/plain; charset=utf-8', 'unauthorized: pass the dashboard token as Authorization: Bearer <token> or ?token=', head);
        return true;
      }
      const registry = this.hub.metricsRegistry;
      registry.metrics().then(
        (text) => this.send(res, 200, registry.contentType, text, head),
        (error: unknown) => this.send(res, 500, 'text/plain; charset=utf-8', `metrics failed: ${(error as Error)?.message ?? String(error)}`, head),
      );
      return true;
    }
    if (route === '/api/session') {
      if (!this.authorized(req, url)) {
        res.setHeader('WWW-Authenticate', 'Bearer realm="backpropagate dashboard"');
        this.send(res, 401, 'application/json; charset=utf-8', JSON.stringify({ error: 'unauthorized' }), head);
        return true;
      }
      const body = JSON.stringify({ sessionId: this.hub.sessionId, protocol: 1, seq: this.hub.seq, state: this.hub.state, watched: this.hub.watched });
      this.send(res, 200, 'application/json; charset=utf-8', body, head);
      return true;
    }
    this.serveStatic(route, STATIC[route]!, req, res, head);
    return true;
  }

  private serveStatic(route: string, entry: StaticFile, req: http.IncomingMessage, res: http.ServerResponse, head: boolean): void {
    const load = async (): Promise<Buffer> => {
      const cached = this.cache.get(route);
      if (cached) return cached;
      const name = entry.file();
      const file = path.isAbsolute(name) ? name : path.join(this.opts.staticDir, name);
      const data = await fsp.readFile(file);
      this.cache.set(route, data);
      return data;
    };
    load().then(
      (data) => {
        if (entry.html) {
          const host = String(req.headers.host ?? '');
          const ws = /^[A-Za-z0-9.\-:[\]]+$/.test(host) ? ` ws://${host} wss://${host}` : '';
          res.setHeader(
            'Content-Security-Policy',
            `default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'${ws}; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`,
          );
          res.setHeader('X-Frame-Options', 'DENY');
        }
        this.send(res, 200, entry.type, data, head);
      },
      (error: unknown) => this.send(res, 500, 'text/plain; charset=utf-8', `dashboard file missing: ${(error as Error)?.message ?? String(error)}`, head),
    );
  }

  /** Takes a WebSocket upgrade for our path; false when the path is not ours. */
  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): boolean {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      return false;
    }
    if (url.pathname !== `${this.base}/ws`) return false;
    socket.on('error', () => socket.destroy());
    if (this.closed) {
      rejectUpgrade(socket, 503, 'Service Unavailable', 'dashboard closed');
      return true;
    }
    if (!this.originAllowed(req)) {
      rejectUpgrade(socket, 403, 'Forbidden', 'origin not allowed');
      return true;
    }
    if (!this.authorized(req, url)) {
      rejectUpgrade(socket, 401, 'Unauthorized', 'missing or wrong token', { 'WWW-Authenticate': 'Bearer realm="backpropagate dashboard"' });
      return true;
    }
    if (this.clients.size >= this.opts.maxClients) {
      rejectUpgrade(socket, 503, 'Service Unavailable', 'too many dashboard clients');
      return true;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, req));
    return true;
  }

  private onConnection(ws: WebSocket, req: http.IncomingMessage): void {
    if (this.closed || this.hub.closed) {
      ws.close(1001, 'dashboard closed');
      return;
    }
    const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    const client = new ClientConnection(nextClientId++, ws, remote, this.opts.limits);
    this.clients.add(client);
    this.hub.registerClient(client);
    client.helloTimer = setTimeout(() => this.hub.helloTimeout(client), this.opts.helloTimeoutMs);
    client.helloTimer.unref();
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      if (client.closed) return;
      try {
        if (isBinary) {
          client.offer(new Outgoing({ v: 1, type: 'error', id: null, code: 'BAD_MESSAGE', message: 'Send JSON text frames, not binary ones.' }, null));
          return;
        }
        const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
        this.hub.handleClientText(client, text);
      } catch (error) {
        this.hub.noteError(error);
      }
    });
    ws.on('pong', () => {
      client.alive = true;
    });
    // Protocol errors (oversize frame: 1009, invalid UTF-8: 1007) close the socket; nothing to do but log nothing.
    ws.on('error', () => undefined);
    ws.on('close', (code: number, reason: Buffer) => {
      this.clients.delete(client);
      this.hub.unregisterClient(client, code, reason.toString());
    });
    if (!this.heartbeat) {
      this.heartbeat = setInterval(() => {
        for (const c of this.clients) {
          if (!c.alive) {
            c.ws.terminate();
            continue;
          }
          c.alive = false;
          try {
            c.ws.ping();
          } catch {
            c.ws.terminate();
          }
        }
      }, this.opts.pingIntervalMs);
      this.heartbeat.unref();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    const pending = [...this.clients].map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.ws.readyState === 3) return resolve();
          c.ws.once('close', () => resolve());
          c.close(1001, 'dashboard closed');
          // Do not wait for a stalled client.
          setTimeout(() => {
            c.ws.terminate();
            resolve();
          }, Math.min(1000, this.opts.limits.closeGraceMs)).unref();
        }),
    );
    await Promise.all(pending);
    this.wss.close();
  }
}

function rejectUpgrade(socket: Duplex, status: number, text: string, body: string, headers: Record<string, string> = {}): void {
  const lines = [
    `HTTP/1.1 ${status} ${text}`,
    'Connection: close',
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.once('finish', () => socket.destroy());
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

/** hub.listen(): a standalone HTTP + WebSocket server. */
export function listenHub(hub: EventHub, options: ListenOptions = {}): Promise<DashboardServer> {
  const opts = resolveEndpoint(options, ['port', 'host']);
  const port = options.port ?? 0;
  const host = options.host ?? '127.0.0.1';
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new BackpropError('CONFIG_INVALID', `port must be an integer from 0 to 65535 (got ${String(port)}); 0 picks a free one.`, { field: 'port', value: port });
  if (typeof host !== 'string' || host.length === 0) throw new BackpropError('CONFIG_INVALID', 'host must be an address such as 127.0.0.1.', { field: 'host', value: host });
  const endpoint = new Endpoint(hub, opts, '', true);
  const server = http.createServer((req, res) => {
    if (!endpoint.handleRequest(req, res)) {
      res.statusCode = 404;
      res.end('not found');
    }
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    if (!endpoint.handleUpgrade(req, socket, head)) {
      socket.on('error', () => socket.destroy());
      rejectUpgrade(socket, 404, 'Not Found', 'no WebSocket here; use /ws');
    }
  });
  server.on('clientError', (_error, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      reject(
        new BackpropError(
          'CONFIG_INVALID',
          error.code === 'EADDRINUSE' ? `Port ${port} on ${host} is already in use; pick another port (or 0 for a free one).` : `The dashboard could not listen on ${host}:${port}: ${error.message}`,
          { field: 'port', value: port, syscallCode: error.code },
          { cause: error },
        ),
      );
    };
    const onListening = (): void => {
      server.off('error', onError);
      const addr = server.address() as AddressInfo;
      const url = `http://${urlHost(host)}:${addr.port}/?token=${encodeURIComponent(opts.token)}`;
      let closing: Promise<void> | null = null;
      const close = (): Promise<void> => {
        closing ??= (async () => {
          unregister();
          await endpoint.close();
          await new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections?.();
          });
        })();
        return closing;
      };
      const unregister = hub.addCloser(close);
      resolve(Object.freeze({ url, token: opts.token, host, port: addr.port, server, close }));
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

/** hub.attach(): mounts the dashboard on an existing http.Server (Express, Fastify, plain Node). */
export function attachHub(hub: EventHub, server: http.Server, options: AttachOptions = {}): DashboardAttachment {
  if (!(server instanceof http.Server) && !(typeof server === 'object' && server !== null && typeof (server as http.Server).on === 'function' && typeof (server as http.Server).listeners === 'function')) {
    throw new BackpropError('CONFIG_INVALID', 'hub.attach(server) needs a Node http.Server (for Express: the value app.listen() returns; for Fastify: fastify.server).', { field: 'server' });
  }
  const opts = resolveEndpoint(options, ['path', 'interceptRequests']);
  let base = options.path ?? '/dashboard';
  if (typeof base !== 'string' || !/^\/[A-Za-z0-9._~\-/]*$/.test(base)) {
    throw new BackpropError('CONFIG_INVALID', `attach path must start with '/' and use URL-safe characters (got ${String(base)}).`, { field: 'path', value: base });
  }
  base = base.replace(/\/+$/, '');
  const endpoint = new Endpoint(hub, opts, base, false);
  const onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (endpoint.handleUpgrade(req, socket, head)) return;
    // Nobody else handles upgrades: answer rather than leave the socket hanging.
    if (server.listenerCount('upgrade') === 1) {
      socket.on('error', () => socket.destroy());
      rejectUpgrade(socket, 404, 'Not Found', 'no WebSocket here');
    }
  };
  server.on('upgrade', onUpgrade);

  const intercept = options.interceptRequests ?? true;
  let original: Array<(...args: unknown[]) => void> = [];
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    if (endpoint.handleRequest(req, res)) return;
    if (original.length === 0) {
      res.statusCode = 404;
      res.end('not found');
      return;
    }
    for (const l of original) l.call(server, req, res);
  };
  if (intercept) {
    original = server.listeners('request') as Array<(...args: unknown[]) => void>;
    server.removeAllListeners('request');
    server.on('request', onRequest);
  }
  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      unregister();
      server.off('upgrade', onUpgrade);
      if (intercept && server.listeners('request').includes(onRequest as never)) {
        server.off('request', onRequest);
        for (const l of original) server.on('request', l);
      }
      await endpoint.close();
    })();
    return closing;
  };
  const unregister = hub.addCloser(close);
  return Object.freeze({
    path: base,
    token: opts.token,
    get url(): string | null {
      const addr = server.address();
      if (!addr || typeof addr === 'string') return null;
      return `http://${urlHost(addr.address === '::' ? '::' : addr.address)}:${addr.port}${base}/?token=${encodeURIComponent(opts.token)}`;
    },
    handleRequest: (req: http.IncomingMessage, res: http.ServerResponse) => endpoint.handleRequest(req, res),
    close,
  });
}
