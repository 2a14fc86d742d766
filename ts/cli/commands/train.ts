/** `backprop train`: train an MLP on a data file or a demo set, with live progress. */
import * as path from 'node:path';
import type { Command } from 'commander';
import { TrainingCallback } from '../../callback';
import { readCheckpoint, type LoadedCheckpoint } from '../../checkpoint';
import type { Task, TrainOptions } from '../../config';
import { BackpropError } from '../../errors';
import { scriptedGPUSource } from '../../gpu';
import type { GPUReadErrorEvent, GPUStatus } from '../../gpu';
import type { CallbackErrorInfo } from '../../handler-guard';
import { Trainer } from '../../trainer';
import type { TrainingRun } from '../../run';
import { action, given } from '../command';
import { loadTrainingData, type CliData } from '../data';
import { EXIT_OK } from '../errors';
import { checkOutputFolder, resolveCheckpoint } from '../files';
import { integer, number, saveEvery, UsageError } from '../options';
import type { Output } from '../output';
import { TrainReporter, type TrainStartInfo } from '../train-reporter';
import { SCENARIOS } from '../scenarios';
import { addDashboardOptions, openRunDashboard, type RunDashboardFlags } from './serve';
import { addDataOptions, addGpuOptions, addModelOptions, checkDataFlags, type DataFlags, type GpuFlags, type ModelFlags } from './shared';
import { exitCodeFor, onInterrupt } from '../signals';

export interface TrainFlags extends DataFlags, ModelFlags, GpuFlags, RunDashboardFlags {
  epochs?: number;
  maxSteps?: number;
  lr: number;
  validationSplit: number;
  output?: string;
  saveEvery?: number | 'epoch';
  resume?: string;
}

export const DEFAULT_EPOCHS = 10;
/** `--demo fashion-mnist` defaults: a 784-256-128-10 MLP at batch 128, no validation split (the test split scores it). */
const FASHION_MNIST_HIDDEN = [256, 128];
const FASHION_MNIST_BATCH = 128;

const EXAMPLES = `
Examples:
  $ backprop train --demo spirals --epochs 20 --lr 0.01
  $ backprop train data.csv --label species --hidden 128,64 --epochs 30 --output runs/iris
  $ backprop train prices.jsonl --task regression --lr 3e-4 --max-steps 5000 --save-every 500 --output runs/prices
  $ backprop train data.csv --resume runs/iris/checkpoint-400 --output runs/iris
  $ backprop train --demo blobs --json > events.ndjson
  $ backprop train --demo fashion-mnist            (784-256-128-10, batch 128; prints the test accuracy)
  $ backprop train train-images-idx3-ubyte.gz --labels train-labels-idx1-ubyte.gz --hidden 256,128

Data: a .csv/.tsv file with a header row, .jsonl/.ndjson with one object per line, or an
IDX images file (plain or .gz, pixels scaled to [0, 1]) with its IDX labels file in --labels.
The label is the last column (JSONL: the "label" key, else the last key) unless --label.
Input size and classes (largest label + 1) come from the file.
Ctrl-C stops at the next step and saves a checkpoint; Ctrl-C twice quits at once.`;

export function registerTrain(program: Command): void {
  const command = program
    .command('train')
    .summary('train a model on a CSV/JSONL file or a built-in demo set')
    .description('Train a multi-layer perceptron on a CSV/TSV/JSONL file or a built-in demo set, with a live progress bar and a summary at the end.')
    .argument('[data]', 'training data file (.csv, .tsv, .jsonl, .ndjson, or IDX images with --labels)');
  addDataOptions(command);
  addModelOptions(command);
  command
    .option('--epochs <n>', `passes over the data (default: ${DEFAULT_EPOCHS}, or unbounded with --max-steps)`, integer(1, 1_000_000))
    .option('--max-steps <n>', 'stop after this many optimizer steps', integer(1))
    .option('--lr <rate>', 'learning rate', number('> 0 and <= 10', (n) => n > 0 && n <= 10, '0.001'), 1e-3)
    .option('--validation-split <fraction>', 'fraction of rows held out for validation', number('from 0 to 0.9', (n) => n >= 0 && n <= 0.9, '0.1'), 0.1)
    .option('--output <dir>', 'write checkpoints here (checkpoint-<step>/; the last one at the end)')
    .option('--save-every <n|epoch>', 'also save every N steps, or every epoch (needs --output)', saveEvery)
    .option('--resume <checkpoint>', 'continue the run saved in this checkpoint (model and settings come from it)');
  addGpuOptions(command);
  addDashboardOptions(command);
  command
    .addHelpText('after', EXAMPLES)
    .action(action<TrainFlags>((out, args, flags, command) => train(out, args[0], flags, command)));
}

const MODEL_FLAGS: Array<[keyof TrainFlags, string]> = [
  ['hidden', '--hidden'],
  ['activation', '--activation'],
  ['task', '--task'],
  ['classes', '--classes'],
  ['outputs', '--outputs'],
  ['optimizer', '--optimizer'],
  ['lr', '--lr'],
];

function checkFlags(file: string | undefined, o: TrainFlags, command: Command): void {
  checkDataFlags(file, o, 'train');
  if (o.saveEvery !== undefined && !o.output) throw new UsageError('--save-every needs --output DIR to know where to write checkpoints.');
  if (o.resume) {
    for (const [key, flag] of MODEL_FLAGS) {
      if (given(command, key)) throw new UsageError(`${flag} cannot be combined with --resume: the checkpoint fixes the model and optimizer (learning rate included).`);
    }
  }
}

async function train(out: Output, file: string | undefined, o: TrainFlags, command: Command): Promise<number> {
  checkFlags(file, o, command);
  if (o.output) await checkOutputFolder(o.output, '--output');
  const resume = o.resume ? await loadResume(o.resume) : null;
  const run = resume?.run ?? null;
  const ckptModel = resume?.config.model ?? null;
  const task: Task = ckptModel ? ckptModel.task : o.task;

  const data = await loadTrainingData({
    file,
    demo: o.demo,
    samples: o.samples,
    seed: o.seed,
    label: o.label,
    labels: o.labels,
    task,
    classes: ckptModel ? (task === 'classification' ? ckptModel.outputSize : undefined) : o.classes,
    outputs: ckptModel ? (task === 'regression' ? ckptModel.outputSize : undefined) : o.outputs,
  });
  if (ckptModel && data.inputSize !== ckptModel.inputSize) {
    throw new BackpropError(
      'CHECKPOINT_INCOMPATIBLE',
      `The checkpoint's model takes ${ckptModel.inputSize} inputs but ${data.source} has ${data.inputSize} feature columns. Resume with the data the run was trained on.`,
      { path: resume!.path, expected: ckptModel.inputSize, actual: data.inputSize },
    );
  }

  // Fashion-MNIST is scored on its own test split, with the model and batch size it is usually benchmarked with.
  const fashion = o.demo === 'fashion-mnist';
  const hidden = fashion && !given(command, 'hidden') ? FASHION_MNIST_HIDDEN : o.hidden;
  const trainer = new Trainer({
    model: ckptModel ? { ...ckptModel } : { inputSize: data.inputSize, hiddenLayers: hidden, outputSize: data.outputSize, activation: o.activation, task },
    device: o.device as never,
    seed: o.seed,
    optimizer: resume ? resume.config.optimizer : o.optimizer,
    learningRate: resume ? resume.config.learningRate : o.lr,
    weightDecay: resume ? resume.config.weightDecay : undefined,
    momentum: resume ? resume.config.momentum : undefined,
    gradientClipNorm: resume && resume.config.gradientClipNorm > 0 ? resume.config.gradientClipNorm : undefined,
    threads: o.threads,
  });

  const pick = <K extends keyof TrainFlags, V>(key: K, fromRun: V | undefined, fallback: V): V =>
    given(command, key) ? (o[key] as unknown as V) : fromRun !== undefined ? fromRun : fallback;
  const batchSize = pick('batchSize', run?.batchSize, fashion ? FASHION_MNIST_BATCH : o.batchSize);
  const validationSplit = pick('validationSplit', run?.validationSplit, fashion ? 0 : o.validationSplit);
  const maxSteps = o.maxSteps ?? (run && run.maxSteps > 0 ? run.maxSteps : undefined);
  const epochs = o.epochs ?? (run ? (run.epochs > 0 ? run.epochs : undefined) : maxSteps !== undefined ? undefined : DEFAULT_EPOCHS);

  const options: TrainOptions = {
    epochs,
    maxSteps,
    batchSize,
    validationSplit,
    shuffle: run ? run.shuffle : true,
    outputDir: o.output,
    saveEverySteps: typeof o.saveEvery === 'number' ? o.saveEvery : undefined,
    saveEveryEpoch: o.saveEvery === 'epoch' ? true : undefined,
    resumeFrom: resume ? resume.path : undefined,
    gpuSafety: gpuSafetyOption(o, trainer),
  };

  const info = startInfo(data, trainer, o, { epochs: epochs ?? 0, maxSteps, batchSize, validationSplit, resume });
  const dashboard = await openRunDashboard(out, trainer, o, batchSize);
  const reporter = new TrainReporter(out, () => readLearningRate(trainer));
  wire(trainer, reporter);
  const callback = new TrainingCallback({
    onStep: (step, loss) => {
      reporter.step(step, loss);
      injectedFault('onStep');
    },
    onEpoch: () => injectedFault('onEpoch'),
    onSave: (p) => {
      reporter.save(p);
      injectedFault('onSave');
    },
  });

  let interruptedBy: 'SIGINT' | 'SIGTERM' | null = null;
  const release = onInterrupt((signal) => {
    interruptedBy = signal;
    reporter.interrupting(signal);
    trainer.abort(`interrupted (${signal})`);
  });
  try {
    reporter.start(info);
    let result: TrainingRun;
    try {
      result = await trainer.train({ x: data.x, y: data.y }, options, callback);
    } catch (error) {
      const aborted = error instanceof Error && error.name === 'AbortError';
      if (!aborted || interruptedBy === null) {
        const last = (error as { run?: TrainingRun }).run?.outputPath;
        reporter.close();
        if (last) out.notice(`Last checkpoint: ${last}`);
        throw error;
      }
      const partial = (error as Error & { run: TrainingRun }).run;
      return await saveInterrupted(out, reporter, trainer, partial, info, o, interruptedBy);
    }
    reporter.complete(result);
    if (data.test) reportTest(out, trainer, data.test);
    return EXIT_OK;
  } finally {
    reporter.close();
    release();
    await dashboard?.close();
  }
}

/** The trained model's accuracy on a demo set's separate test split. */
function reportTest(out: Output, trainer: Trainer, test: NonNullable<CliData['test']>): void {
  const { loss, accuracy } = trainer.evaluate({ x: test.x, y: test.y });
  out.event('test', { rows: test.rows, loss, accuracy });
  out.print(`  test accuracy ${out.c.bold(accuracy === null ? '-' : `${(accuracy * 100).toFixed(2)}%`)} on ${test.rows.toLocaleString('en-US')} test images (loss ${loss.toFixed(4)})`);
}

async function loadResume(target: string): Promise<LoadedCheckpoint> {
  const ckpt = await readCheckpoint(await resolveCheckpoint(target));
  if (!ckpt.run) {
    throw new BackpropError(
      'CHECKPOINT_INCOMPATIBLE',
      `Checkpoint '${target}' holds weights but no run position (it was written by save(), e.g. after Ctrl-C without --output), so there is nothing to resume. ` +
        `Start a new run, or evaluate/predict with it.`,
      { path: target },
    );
  }
  return ckpt;
}

function gpuSafetyOption(o: TrainFlags, trainer: Trainer): TrainOptions['gpuSafety'] {
  if (o.gpuSafety === false) return false;
  const base = { logWarnings: false, ...(o.gpuInterval !== undefined ? { checkIntervalMs: o.gpuInterval } : {}) };
  if (o.simulateGpu) return { ...base, source: scriptedGPUSource(SCENARIOS[o.simulateGpu]!.readings) };
  if (o.gpuSafety === true || trainer.device === 'cuda') return base;
  return undefined;
}

function startInfo(
  data: CliData,
  trainer: Trainer,
  o: TrainFlags,
  s: { epochs: number; maxSteps: number | undefined; batchSize: number; validationSplit: number; resume: LoadedCheckpoint | null },
): TrainStartInfo {
  // The engine's split: floor(rows x split) rows, at least 1 and at most rows - 1.
  const validationRows = s.validationSplit > 0 && data.rows >= 2 ? Math.min(data.rows - 1, Math.max(1, Math.floor(data.rows * s.validationSplit))) : 0;
  const trainRows = data.rows - validationRows;
  const stepsPerEpoch = Math.ceil(trainRows / s.batchSize);
  let totalSteps = s.epochs > 0 ? s.epochs * stepsPerEpoch : Number.POSITIVE_INFINITY;
  if (s.maxSteps !== undefined) totalSteps = Math.min(totalSteps, s.maxSteps);
  const model = trainer.options.model;
  return {
    source: data.source,
    rows: data.rows,
    trainRows,
    validationRows,
    model,
    optimizer: trainer.options.optimizer,
    learningRate: trainer.options.learningRate,
    seed: o.seed,
    batchSize: s.batchSize,
    epochs: s.epochs,
    stepsPerEpoch,
    totalSteps,
    startStep: s.resume?.run?.step ?? 0,
    device: trainer.device,
    deviceReason: trainer.deviceReason,
    outputDir: o.output ? path.resolve(o.output) : null,
    resumedFrom: s.resume?.path ?? null,
    parameterCount: trainer.parameterCount,
  };
}

function wire(trainer: Trainer, reporter: TrainReporter): void {
  trainer.on('epoch', (epoch: number, v: { validationLoss: number | null; validationAccuracy: number | null }) => reporter.epoch(epoch, v.validationLoss, v.validationAccuracy));
  trainer.on('paused', () => reporter.paused());
  trainer.on('resumed', () => reporter.resumed());
  trainer.on('gpuStatus', (s: GPUStatus) => reporter.gpu.status(s));
  trainer.on('gpuReadError', (e: GPUReadErrorEvent) => reporter.gpu.readError(e));
  trainer.on('callbackError', (error: unknown, i: CallbackErrorInfo) => reporter.callbackError(String(i.hook), error));
}

function readLearningRate(trainer: Trainer): number | null {
  try {
    return trainer.status.learningRate;
  } catch {
    return null;
  }
}

/** Test hook: BACKPROP_CLI_FAULT=onEpoch (or onStep, onSave) makes that handler throw, to show how handler errors are reported. */
function injectedFault(hook: string): void {
  if (process.env.BACKPROP_CLI_FAULT === hook) throw new Error(`injected fault in ${hook} (BACKPROP_CLI_FAULT)`);
}

async function saveInterrupted(
  out: Output,
  reporter: TrainReporter,
  trainer: Trainer,
  partial: TrainingRun,
  info: TrainStartInfo,
  o: TrainFlags,
  signal: 'SIGINT' | 'SIGTERM',
): Promise<number> {
  let checkpoint = o.output ? partial.outputPath : null;
  const resumable = checkpoint !== null;
  if (!checkpoint && partial.steps > info.startStep) {
    checkpoint = await trainer.save(`backprop-interrupted-${timestamp()}`);
  }
  reporter.interrupted({
    step: partial.steps,
    totalSteps: info.totalSteps,
    checkpoint,
    resumable,
    resumeCommand: resumable ? resumeCommand(checkpoint!) : null,
  });
  if (!checkpoint) out.notice('No step was completed; nothing was saved.');
  return exitCodeFor(signal);
}

function timestamp(d = new Date()): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** This command line with --resume pointing at `checkpoint`. */
function resumeCommand(checkpoint: string): string {
  const args = process.argv.slice(2);
  const kept: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--resume') {
      i++;
      continue;
    }
    if (args[i]!.startsWith('--resume=')) continue;
    kept.push(args[i]!);
  }
  kept.push('--resume', checkpoint);
  return ['backprop', ...kept].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
