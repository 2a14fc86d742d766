/**
 * One mount of a hub: the HTTP routes (page, vendor files, /healthz,
 * /metrics, /api/session), token and origin checks, and the WebSocket
 * connections on /ws with their heartbeat.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import type * as http from 'node:http';
import type { Duplex } from 'node:stream';
import * as path from 'node:path';
import type { WebSocketServer, WebSocket } from 'ws';
import type * as Ws from 'ws';
import { ClientConnection, Outgoing } from '../client';
import type { HubForServer } from './hub-contract';
import type { ResolvedEndpoint } from './options';
import { STATIC, type StaticFile } from './static-files';
import { rejectUpgrade } from './upgrade';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

let nextClientId = 1;

/** One mount of a hub: routes, auth, and the WebSocket server. */
export class Endpoint {
  readonly wss: WebSocketServer;
  readonly clients = new Set<ClientConnection>();
  private readonly tokenDigest: Buffer;
  private readonly cache = new Map<string, Buffer>();
  private heartbeat: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    readonly hub: HubForServer,
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

