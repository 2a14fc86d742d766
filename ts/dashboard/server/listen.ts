/** hub.listen() (a standalone server) and hub.attach() (routes on an existing http.Server). */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { BackpropError } from '../../errors';
import { Endpoint } from './endpoint';
import type { HubForServer } from './hub-contract';
import { resolveEndpoint, type AttachOptions, type DashboardAttachment, type DashboardServer, type ListenOptions } from './options';
import { rejectUpgrade } from './upgrade';

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

/** hub.listen(): a standalone HTTP + WebSocket server. */
export function listenHub(hub: HubForServer, options: ListenOptions = {}): Promise<DashboardServer> {
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
export function attachHub(hub: HubForServer, server: http.Server, options: AttachOptions = {}): DashboardAttachment {
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
