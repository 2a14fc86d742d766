/** `backprop inspect`: what a checkpoint holds, with its checksums verified. */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { parameterCount, readCheckpoint, type LoadedCheckpoint } from '../../checkpoint';
import { isBackpropError } from '../../errors';
import { action } from '../command';
import { EXIT_FAILURE, EXIT_OK } from '../errors';
import { resolveCheckpoint } from '../files';
import { fmtBytes, fmtInt, fmtLoss, fmtLr, fmtShape, keyValues, sparkline } from '../format';
import type { Output } from '../output';

const EXAMPLES = `
Examples:
  $ backprop inspect runs/iris/checkpoint-400
  $ backprop inspect runs/iris            (the latest checkpoint-<step> in it)
  $ backprop inspect runs/iris --json

Every file's SHA-256 checksum is verified; a damaged or edited checkpoint
prints CHECKPOINT_CORRUPT with what failed and exits 1.`;

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .summary('show what a checkpoint holds and verify its checksums')
    .description('Show what a checkpoint holds: model shape, parameter count, optimizer, position in its run, loss history, and whether its checksums verify.')
    .argument('<checkpoint>', 'checkpoint folder, or a training --output folder (its latest checkpoint)')
    .addHelpText('after', EXAMPLES)
    .action(action<Record<string, never>>((out, args) => inspect(out, args[0]!)));
}

async function inspect(out: Output, target: string): Promise<number> {
  const folder = await resolveCheckpoint(target);
  let ckpt: LoadedCheckpoint;
  try {
    ckpt = await readCheckpoint(folder);
  } catch (error) {
    if (isBackpropError(error) && error.code === 'CHECKPOINT_CORRUPT') {
      out.event('error', { code: error.code, message: error.message, details: error.details, checksum: 'failed' });
      const c = out.ce;
      out.notice(`${c.red(c.bold('error'))} ${c.bold('CHECKPOINT_CORRUPT')}: checksum verification failed for ${path.resolve(folder)}`);
      out.notice(`  ${error.message}`);
      out.notice(c.dim('  Do not load or resume from it: use an earlier checkpoint, or retrain.'));
      return EXIT_FAILURE;
    }
    throw error;
  }
  const files = await fileSizes(ckpt.path);
  const m = ckpt.config.model;
  const run = ckpt.run;
  const history = run?.lossHistory ?? [];
  out.event('checkpoint', {
    path: ckpt.path,
    checksum: 'ok',
    model: m,
    parameters: parameterCount(m),
    optimizer: ckpt.config.optimizer,
    learningRate: ckpt.config.learningRate,
    weightDecay: ckpt.config.weightDecay,
    momentum: ckpt.config.momentum,
    gradientClipNorm: ckpt.config.gradientClipNorm,
    seed: ckpt.config.seed,
    optimizerStep: ckpt.optimizerStep,
    resumable: run !== null,
    run: run ? { ...run, lossHistory: undefined, shuffleRngState: undefined, lossHistoryLength: history.length } : null,
    files,
  });
  if (!out.human) return EXIT_OK;

  const c = out.c;
  out.print(`${c.bold('Checkpoint')} ${ckpt.path}`);
  const pairs: Array<[string, string]> = [
    ['checksums', `${c.green('✔ verified')} (trainer_state.json, ${files.filter((f) => f.name.endsWith('.safetensors')).map((f) => f.name).join(', ')})`],
    ['model', `${fmtShape(m)}, ${m.activation}, ${m.task}`],
    ['parameters', fmtInt(parameterCount(m))],
    ['optimizer', `${ckpt.config.optimizer}, lr ${fmtLr(ckpt.config.learningRate)}, weight decay ${short(ckpt.config.weightDecay)}${ckpt.config.optimizer === 'sgd' ? `, momentum ${short(ckpt.config.momentum)}` : ''}${ckpt.config.gradientClipNorm > 0 ? `, clip ${short(ckpt.config.gradientClipNorm)}` : ''}`],
    ['seed', String(ckpt.config.seed)],
  ];
  if (run) {
    const bound = [run.epochs > 0 ? `${run.epochs} epochs` : '', run.maxSteps > 0 ? `max ${fmtInt(run.maxSteps)} steps` : ''].filter(Boolean).join(', ');
    pairs.push(
      ['run id', run.runId],
      ['step', `${fmtInt(run.step)} (${run.stepInEpoch === 0 && run.epoch > 1 ? `end of epoch ${run.epoch - 1}` : `epoch ${run.epoch}, step ${run.stepInEpoch} of the epoch`})`],
      ['samples seen', fmtInt(run.samplesSeen)],
      ['loss', fmtLoss(run.loss)],
      ['learning rate', fmtLr(run.learningRate)],
      ['training', `batch size ${run.batchSize}, validation split ${run.validationSplit}, shuffle ${run.shuffle ? 'on' : 'off'}${bound ? `, ${bound}` : ''}`],
    );
    if (history.length > 0) {
      const finite = history.filter((v) => Number.isFinite(v));
      pairs.push(['loss history', `${sparkline(history)}  ${fmtLoss(history[0])} → ${fmtLoss(history[history.length - 1])} (min ${fmtLoss(Math.min(...finite))}, ${fmtInt(history.length)} steps)`]);
    }
    if (run.resumedFrom) pairs.push(['resumed from', run.resumedFrom]);
    pairs.push(['resumable', c.green('yes') + c.dim(' (backprop train <data> --resume <this folder>)')]);
  } else {
    pairs.push(['run', c.dim('none: written by save() (weights and optimizer state only); not resumable')]);
  }
  pairs.push(['files', files.map((f) => `${f.name} ${fmtBytes(f.bytes)}`).join(', ')]);
  for (const line of keyValues(pairs, c)) out.print(line);
  return EXIT_OK;
}

/** A float32 setting as it was typed (0.01, not 0.009999999776482582). */
const short = (v: number): string => String(Number(v.toPrecision(6)));

async function fileSizes(folder: string): Promise<Array<{ name: string; bytes: number }>> {
  const names = (await fsp.readdir(folder)).sort();
  const out: Array<{ name: string; bytes: number }> = [];
  for (const name of names) {
    const st = await fsp.stat(path.join(folder, name));
    if (st.isFile()) out.push({ name, bytes: st.size });
  }
  return out;
}
