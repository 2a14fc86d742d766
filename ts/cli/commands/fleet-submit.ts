/** `backprop submit job.json [--follow]` and `backprop sweep sweep.json`. */
import type { Command } from 'commander';
import type { FleetEvent, FleetJob, JobHandle, SweepSpec } from '../../fleet';
import { action } from '../command';
import { EXIT_FAILURE, EXIT_OK } from '../errors';
import type { Output } from '../output';
import { ProgressDisplay } from '../progress';
import { onInterrupt } from '../signals';
import { addRedisOptions, loadFleet, readJsonFile, type RedisFlags } from './fleet-shared';

interface SubmitFlags extends RedisFlags {
  follow?: boolean;
}

const SUBMIT_EXAMPLES = `
Examples:
  $ backprop submit job.json                       prints the job id
  $ backprop submit job.json --follow              progress until the job ends
  $ backprop --json submit job.json --follow       one JSON object per event (NDJSON)

job.json: { "kind": "train", "trainer": { "model": { "inputSize": 2, "hiddenLayers": [64], "outputSize": 3 } },
            "train": { "epochs": 20 }, "data": { "dataset": "spirals", "samples": 3000 } }
With --follow, Ctrl-C aborts the job.`;

const SWEEP_EXAMPLES = `
Examples:
  $ backprop sweep sweep.json

sweep.json: { "base": { ...a job... }, "random": { "trials": 12, "space": { "learningRate": { "log": [1e-4, 1e-1] } } },
              "metric": "validationLoss", "direction": "min", "pruner": "median", "seed": 7 }`;

export function registerFleetSubmit(program: Command): void {
  addRedisOptions(program.command('submit').summary('submit a training job (JSON file) to a fleet queue').argument('<job.json>', 'the job'))
    .option('--follow', 'show the job\'s progress until it ends')
    .addHelpText('after', SUBMIT_EXAMPLES)
    .action(action<SubmitFlags>((out, args, flags) => submit(out, args[0]!, flags)));
  addRedisOptions(program.command('sweep').summary('run a hyperparameter sweep (JSON file) on a fleet queue').argument('<sweep.json>', 'the sweep'))
    .addHelpText('after', SWEEP_EXAMPLES)
    .action(action<RedisFlags>((out, args, flags) => sweep(out, args[0]!, flags)));
}

async function submit(out: Output, file: string, o: SubmitFlags): Promise<number> {
  const job = (await readJsonFile(file, 'job')) as FleetJob;
  const { TrainingQueue } = await loadFleet();
  const queue = new TrainingQueue({ connection: o.redis, name: o.queue });
  try {
    const handle = await queue.submit(job);
    out.event('submitted', { jobId: handle.id });
    if (!out.json) out.stdout.write(`${handle.id}\n`);
    if (!o.follow) {
      handle.close();
      return EXIT_OK;
    }
    return await follow(out, handle, job);
  } finally {
    await queue.close();
  }
}

async function follow(out: Output, handle: JobHandle, job: FleetJob): Promise<number> {
  const progress = new ProgressDisplay(out);
  const epochs = job.kind === 'train' ? job.train?.epochs ?? 1 : 0;
  let started = false;
  handle.on('event', (e: FleetEvent) => {
    out.event(e.type, { jobId: e.jobId, seq: e.seq, attempt: e.attempt, host: e.host, ...e.data });
    if (e.type === 'attempt') out.log(`attempt ${e.attempt} on ${e.host}`);
    if (e.type === 'retry') out.warn(`attempt ${e.attempt} failed; the job is retried`);
    if (e.type === 'step') {
      const state = { step: Number(e.data.step), total: 0, epoch: handle.status.epoch + 1, epochs, loss: Number(e.data.loss), learningRate: handle.status.learningRate, samplesPerSecond: null, etaSeconds: null };
      if (!started) {
        started = true;
        progress.start('', state);
      } else progress.update(state);
    }
  });
  const release = onInterrupt(() => void handle.abort('interrupted from the command line'));
  try {
    const result = (await handle.result()) as { finalLoss?: number | null; steps?: number };
    progress.close();
    out.print(`✔ Job ${handle.id} complete: ${result.steps ?? '?'} steps, final loss ${result.finalLoss ?? 'n/a'}`);
    return EXIT_OK;
  } catch (error) {
    progress.close();
    throw error;
  } finally {
    release();
  }
}

async function sweep(out: Output, file: string, o: RedisFlags): Promise<number> {
  const spec = (await readJsonFile(file, 'sweep')) as SweepSpec;
  const { TrainingQueue } = await loadFleet();
  const queue = new TrainingQueue({ connection: o.redis, name: o.queue });
  try {
    out.log('Sweep submitted; waiting for every trial…');
    const result = await queue.sweep(spec);
    for (const t of result.trials) {
      out.event('trial', { index: t.index, jobId: t.jobId, status: t.status, value: t.value, params: t.params, epochs: t.epochs });
      out.print(`trial ${String(t.index + 1).padStart(3)}  ${t.status.padEnd(9)}  ${result.metric} ${t.value === null ? '-' : t.value.toPrecision(4)}  ${JSON.stringify(t.params)}`);
    }
    out.event('best', { index: result.best?.index ?? null, value: result.best?.value ?? null, params: result.best?.params ?? null });
    if (!result.best) {
      out.notice('No trial completed.');
      return EXIT_FAILURE;
    }
    out.print(`best: trial ${result.best.index + 1}, ${result.metric} ${result.best.value}, ${JSON.stringify(result.best.params)}`);
    return EXIT_OK;
  } finally {
    await queue.close();
  }
}
