/**
 * `backprop serve`: the live dashboard in the browser (this machine's GPUs, a
 * demo session with --demo, or every job of a fleet queue with --redis).
 */
import type { Command } from 'commander';
import { attachDashboard, type AttachedDashboard } from '../../dashboard';
import { startDashboardCli } from '../../dashboard/cli';
import { action } from '../command';
import { EXIT_OK } from '../errors';
import { integer, UsageError } from '../options';
import type { Output } from '../output';
import { onInterrupt } from '../signals';
import { loadFleet } from './fleet-shared';
import type { TrainingQueue } from '../../fleet';

interface ServeFlags {
  port: number;
  host: string;
  token?: string;
  demo?: boolean;
  gpuInterval?: number;
  redis?: string;
  queue: string;
}

/** How long serve --redis waits for Redis before saying it does not answer (it keeps trying). */
const REDIS_ANSWER_MS = 5000;

export const DEFAULT_DASHBOARD_PORT = 8765;

const EXAMPLES = `
Examples:
  $ backprop serve --demo                  a demo session with a simulated GPU: open the printed URL
  $ backprop serve                         this machine's GPUs, live
  $ backprop serve --port 9000 --token "$DASHBOARD_TOKEN"
  $ backprop train data.csv --dashboard    (or multi-run --dashboard): training on the same page
  $ backprop serve --redis redis://queue-host:6379 --queue backprop
                                           every job of a fleet queue: runs table with each job's
                                           worker host, curves, Pause/Resume/Abort per job

The URL carries the access token (?token=...), like Jupyter's; without it the page and its
WebSocket are refused. The server listens on 127.0.0.1 only unless --host says otherwise.
Prometheus metrics: GET /metrics with "Authorization: Bearer <token>"; liveness: GET /healthz.
Ctrl-C stops the server (and the demo).`;

export function registerServe(program: Command): void {
  program
    .command('serve')
    .summary('live dashboard in the browser: GPU health, or a demo training session (--demo)')
    .description(
      'Serve the live dashboard: loss curves, learning rate, throughput, validation loss, GPU panel, runs table, event log and Pause/Resume/Abort buttons, over a token-protected WebSocket.',
    )
    .option('--port <n>', `port to listen on (0 picks a free one)`, integer(0, 65535), DEFAULT_DASHBOARD_PORT)
    .option('--host <address>', 'address to listen on (127.0.0.1: this machine only)', '127.0.0.1')
    .option('--token <token>', 'access token, 8 to 512 printable characters (default: a random one, printed with the URL)')
    .option('--demo', 'train on the built-in spirals data with a simulated GPU, so every panel has something to show')
    .option('--gpu-interval <ms>', 'GPU sampling interval in milliseconds (default: 1000; the demo: 500)', integer(1, 3_600_000))
    .option('--redis <url>', "show every job of a fleet queue on this Redis (redis://[:password@]host:port[/db], rediss:// for TLS) instead of this machine's GPUs")
    .option('--queue <name>', 'fleet queue name (with --redis)', 'backprop')
    .addHelpText('after', EXAMPLES)
    .action(action<ServeFlags>((out, _args, flags) => serve(out, flags)));
}

/** Loopback addresses: only this machine can connect. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

async function serve(out: Output, o: ServeFlags): Promise<number> {
  if (o.host.trim() === '') throw new UsageError('--host needs an address such as 127.0.0.1 or 0.0.0.0.');
  if (o.redis !== undefined && o.demo) throw new UsageError('--redis and --demo show different things: pass one of them.');
  const fleet = o.redis !== undefined ? await loadFleet() : null;
  // Built (and its URL checked) before the server starts, so a bad URL fails without serving anything.
  const queue = fleet ? new fleet.TrainingQueue({ connection: o.redis!, name: o.queue }) : null;
  const handle = await startDashboardCli({
    port: o.port,
    host: o.host,
    token: o.token,
    demo: o.demo ? (o.gpuInterval !== undefined ? { gpuIntervalMs: o.gpuInterval } : true) : false,
    gpuIntervalMs: o.gpuInterval,
    ...(queue ? { gpu: false } : {}),
    log: (line) => out.log(line),
  }).catch(async (error: unknown) => {
    await queue?.close();
    throw error;
  });
  try {
    if (queue) await watchQueue(out, handle.hub, queue);
    announce(out, handle.url, handle.server.port, handle.server.token, o.host);
    let stopping = false;
    const stopped = new Promise<'SIGINT' | 'SIGTERM'>((resolve) => {
      const release = onInterrupt((signal) => {
        stopping = true;
        release();
        resolve(signal);
      });
    });
    void handle.done.then(
      (result) => {
        if (!result || stopping) return;
        out.event('demoFinished', { runs: result.totalRuns, finalLoss: result.finalLoss, aborted: result.aborted, abortReason: result.abortReason });
        out.log(`Demo session ${result.aborted ? `stopped: ${result.abortReason}` : `finished: ${result.totalRuns} runs`}. The dashboard stays up until Ctrl-C.`);
      },
      (error: unknown) => stopping || out.warn(`Demo session failed: ${error instanceof Error ? error.message : String(error)}`),
    );
    const signal = await stopped;
    out.event('stopped', { signal });
    out.log('Stopping the dashboard…');
  } finally {
    await handle.close();
    await queue?.close();
  }
  // Ctrl-C is how a server is meant to stop: not a failure.
  return EXIT_OK;
}

/** Puts the queue's jobs on the page; says so when Redis does not answer yet (the queue keeps trying). */
async function watchQueue(out: Output, hub: AttachedHub, queue: TrainingQueue): Promise<void> {
  hub.watch(queue, { label: `queue:${queue.name}` });
  let timer: NodeJS.Timeout | undefined;
  const answered = await Promise.race([
    queue.counts().then((counts) => counts, () => null),
    new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), REDIS_ANSWER_MS))),
  ]);
  clearTimeout(timer);
  if (answered) {
    out.event('queue', { queue: queue.name, ...answered });
    out.log(`Queue '${queue.name}': ${answered.active} running, ${answered.waiting + answered.prioritized + answered.delayed} waiting, ${answered.completed} completed, ${answered.failed} failed.`);
  } else {
    out.warn(`Redis does not answer for queue '${queue.name}' yet; its jobs appear on the page once it does.`);
  }
}

type AttachedHub = Awaited<ReturnType<typeof startDashboardCli>>['hub'];

/** Prints where the dashboard is (the URL carries the token), in every output mode. */
export function announce(out: Output, url: string, port: number, token: string, host: string): void {
  out.event('dashboard', { url, port, token });
  if (out.json) return;
  // The URL is needed even with --quiet: without it nobody can open the page.
  out.notice(`Dashboard: ${out.ce.bold(url)}`);
  if (!isLoopback(host)) out.warn(`Listening on ${host}: anyone who can reach this address and has the URL can pause or abort training.`);
}

export interface RunDashboardFlags {
  dashboard?: boolean;
  dashboardPort?: number;
}

/** Adds --dashboard and --dashboard-port to a training command. */
export function addDashboardOptions(command: Command): Command {
  return command
    .option('--dashboard', 'serve the live dashboard for this run (the URL, with its token, is printed)')
    .option('--dashboard-port <n>', 'dashboard port (default: a free one; implies --dashboard)', integer(0, 65535));
}

/**
 * With --dashboard: a dashboard watching `source` on 127.0.0.1, announced on
 * stderr; null without. close() it when the command ends.
 */
export async function openRunDashboard(out: Output, source: object, flags: RunDashboardFlags, batchSize?: number): Promise<AttachedDashboard | null> {
  if (!flags.dashboard && flags.dashboardPort === undefined) return null;
  const dashboard = await attachDashboard(source, { port: flags.dashboardPort ?? 0, ...(batchSize !== undefined ? { batchSize } : {}) });
  announce(out, dashboard.url, dashboard.port, dashboard.token, dashboard.host);
  return dashboard;
}
