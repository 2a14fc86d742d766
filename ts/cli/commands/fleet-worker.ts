/** `backprop worker`: serve a fleet queue from this machine until Ctrl-C. */
import type { Command } from 'commander';
import { action } from '../command';
import { EXIT_OK } from '../errors';
import { integer } from '../options';
import type { Output } from '../output';
import { onInterrupt } from '../signals';
import { addRedisOptions, loadFleet, type RedisFlags } from './fleet-shared';

interface WorkerFlags extends RedisFlags {
  dataRoot?: string;
  checkpointRoot: string;
  concurrency: number;
  host?: string;
  lockDuration?: number;
  stalledInterval?: number;
}

const EXAMPLES = `
Examples:
  $ backprop worker --redis redis://queue-host:6379 --data-root /data --checkpoint-root /shared/checkpoints
  $ backprop worker --redis rediss://:secret@queue-host:6380 --concurrency 2

Jobs name data files relative to --data-root; a path outside it is refused (JOB_PATH_FORBIDDEN).
Checkpoints go to --checkpoint-root/<jobId>/: put it on storage every worker shares, so a job
whose worker died resumes elsewhere from its last checkpoint. Ctrl-C finishes the running jobs
and stops; a second Ctrl-C quits at once (the jobs are retried by other workers).`;

export function registerFleetWorker(program: Command): void {
  addRedisOptions(
    program
      .command('worker')
      .summary('take training jobs from a fleet queue (Redis) and run them here')
      .description('Run a fleet worker: take jobs from the queue, train them on this machine, relay their events and obey remote commands.'),
  )
    .option('--data-root <dir>', 'folder every job data path must be inside (without it: built-in data sets only)')
    .option('--checkpoint-root <dir>', 'checkpoint folder shared by the workers', 'fleet-checkpoints')
    .option('--concurrency <n>', 'jobs at once', integer(1, 256), 1)
    .option('--host <name>', 'worker name in events (default: the host name)')
    .option('--lock-duration <ms>', 'job lock: a worker silent this long is taken as dead (default 30000)', integer(1000, 86_400_000))
    .option('--stalled-interval <ms>', 'how often dead workers are looked for (default 30000)', integer(500, 86_400_000))
    .addHelpText('after', EXAMPLES)
    .action(action<WorkerFlags>((out, _args, flags) => work(out, flags)));
}

async function work(out: Output, o: WorkerFlags): Promise<number> {
  const { TrainingWorker } = await loadFleet();
  const worker = new TrainingWorker({
    connection: o.redis,
    name: o.queue,
    concurrency: o.concurrency,
    checkpointRoot: o.checkpointRoot,
    ...(o.dataRoot ? { dataRoot: o.dataRoot } : {}),
    ...(o.host ? { hostName: o.host } : {}),
    ...(o.lockDuration ? { lockDuration: o.lockDuration } : {}),
    ...(o.stalledInterval ? { stalledInterval: o.stalledInterval } : {}),
  });
  worker.on('error', (error) => out.warn(`worker: ${error.message}`));
  worker.on('jobStart', (jobId, attempt) => {
    out.event('jobStart', { jobId, attempt });
    out.log(`job ${jobId} started (attempt ${attempt})`);
  });
  worker.on('jobEnd', (jobId, outcome) => {
    out.event('jobEnd', { jobId, outcome });
    out.log(`job ${jobId} ${outcome === 'retry' ? 'failed, will be retried' : outcome}`);
  });
  await worker.waitUntilReady();
  out.event('ready', { host: worker.host, queue: worker.name });
  out.log(`Worker ${worker.host} serving queue '${worker.name}' (concurrency ${worker.concurrency}). Ctrl-C stops it.`);
  const signal = await new Promise<string>((resolve) => {
    const release = onInterrupt((s) => {
      release();
      resolve(s);
    });
  });
  out.log('Finishing the running jobs…');
  await worker.close();
  out.event('stopped', { signal });
  return EXIT_OK;
}
