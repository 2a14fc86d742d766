/**
 * Redis connections for fleet mode. A connection is given once, as ioredis
 * options or a URL; BullMQ gets the options, and the event and command
 * transports open their own ioredis clients from the same options (a
 * blocking XREAD needs a connection of its own).
 */
import type { ConnectionOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { formatValue } from '../errors';
import { configError } from '../validation';
import type { FleetConnection } from './types';

/** The connection as ioredis options; a URL is parsed (user, password, db, rediss:// for TLS). */
export function connectionOptions(connection: unknown, field = 'connection'): RedisOptions {
  if (typeof connection === 'string') return parseRedisUrl(connection, field);
  if (typeof connection !== 'object' || connection === null || Array.isArray(connection)) {
    throw configError(
      field,
      connection,
      `${field} must be a redis:// or rediss:// URL or an ioredis options object (got ${formatValue(connection)}). Pass e.g. 'redis://127.0.0.1:6379'.`,
    );
  }
  return { ...(connection as RedisOptions) };
}

function parseRedisUrl(text: string, field: string): RedisOptions {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw configError(field, text, `${field} is not a valid URL (got ${formatValue(text)}). Pass e.g. 'redis://:password@host:6379/0'.`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw configError(field, text, `${field} must start with redis:// or rediss:// (got ${formatValue(url.protocol)}). Use rediss:// for TLS.`);
  }
  const options: RedisOptions = { host: url.hostname || '127.0.0.1', port: url.port ? Number(url.port) : 6379 };
  if (url.username) options.username = decodeURIComponent(url.username);
  if (url.password) options.password = decodeURIComponent(url.password);
  const db = url.pathname.replace(/^\//, '');
  if (db !== '') {
    if (!/^\d+$/.test(db)) throw configError(field, text, `${field} names database '${db}', which is not a number. Use e.g. redis://host:6379/0.`);
    options.db = Number(db);
  }
  if (url.protocol === 'rediss:') options.tls = { servername: url.hostname };
  return options;
}

/**
 * A client for our own commands. `maxRetriesPerRequest: null` keeps commands
 * queued while Redis is away (a restart), instead of failing them, so an
 * event is sent late rather than lost; BullMQ asks the same of its workers.
 */
export function createClient(options: RedisOptions, name: string): Redis {
  return new Redis({ ...options, maxRetriesPerRequest: null, connectionName: name, lazyConnect: false });
}

/** The options BullMQ gets (it opens and closes its own connections from them). */
export function bullConnection(options: RedisOptions): ConnectionOptions {
  // BullMQ declares its own (looser) copy of ioredis's options type; the object is the same.
  return { ...options, maxRetriesPerRequest: null } as ConnectionOptions;
}

export type { FleetConnection };
