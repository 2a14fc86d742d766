/** What the fleet commands share: the --redis and --queue options, reading a JSON file, loading fleet mode on use. */
import { promises as fs } from 'node:fs';
import type { Command } from 'commander';
import { BackpropError } from '../../errors';
import type * as Fleet from '../../fleet';

export interface RedisFlags {
  redis: string;
  queue: string;
}

export function addRedisOptions(command: Command): Command {
  return command
    .option('--redis <url>', 'Redis URL (redis://[:password@]host:port[/db], rediss:// for TLS)', process.env.BACKPROP_REDIS_URL ?? 'redis://127.0.0.1:6379')
    .option('--queue <name>', 'queue name', 'backprop');
}

/** Fleet mode is loaded only by the commands that use it (it brings bullmq and ioredis along). */
export async function loadFleet(): Promise<typeof Fleet> {
  return import('../../fleet');
}

export async function readJsonFile(file: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    throw new BackpropError('INPUT_NOT_FOUND', `Cannot read the ${what} file '${file}': ${(error as Error).message}. Check the path.`, { path: file });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new BackpropError('INPUT_PARSE', `The ${what} file '${file}' is not valid JSON: ${(error as Error).message}. Fix the file.`, { path: file });
  }
}
