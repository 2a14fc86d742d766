/** `backprop multi-run`: a continual-learning session of several short runs, one line per run. */
import * as path from 'node:path';
import { Option, type Command } from 'commander';
import { resolveDevice } from '../../device';
import { BackpropError } from '../../errors';
import { scriptedGPUSource, type GPUStatus } from '../../gpu';
import { learningRateForRun, MultiRunTrainer, type MultiRunResult, type RunResult } from '../../multi-run';
import type { CallbackErrorInfo } from '../../handler-guard';
import { action } from '../command';
import { loadTrainingData } from '../data';
import { checkOutputFolder } from '../files';
import { EXIT_OK } from '../errors';
import { integer, number, UsageError } from '../options';
import type { Output } from '../output';
import { MultiRunReporter } from '../multi-run-reporter';
import { SCENARIOS } from '../scenarios';
import { exitCodeFor, onInterrupt } from '../signals';
import { addDashboardOptions, openRunDashboard, type RunDashboardFlags } from './serve';
import { addDataOptions, addGpuOptions, addModelOptions, checkDataFlags, type DataFlags, type GpuFlags, type ModelFlags } from './shared';

interface MultiRunFlags extends DataFlags, ModelFlags, GpuFlags, RunDashboardFlags {
  runs: number;
  stepsPerRun: number;
  samplesPerRun?: number;
  merge: 'simple' | 'average';
  initialLr: number;
  finalLr: number;
  lrDecay: 'linear' | 'cosine' | 'constant';
  warmupSteps: number;
  replay: number;
  replayStrategy: 'recent' | 'random' | 'all_previous';
  validationSamples: number;
  validate: boolean;
  earlyStopping?: boolean;
  patience: number;
  checkpointDir: string;
  keepBest: number;
  resume?: boolean;
  maxTemp: number;
}

const DEFAULT_SAMPLES_PER_RUN = 1000;

const EXAMPLES = `
Examples:
  $ backprop multi-run --demo spirals --samples 6000 --runs 5 --steps-per-run 200 --initial-lr 0.01 --final-lr 0.002
  $ backprop multi-run stream.csv --runs 10 --samples-per-run 5000 --replay 0.2 --merge average --checkpoint-dir runs/session
  $ backprop multi-run stream.csv --runs 10 --checkpoint-dir runs/session --resume      (continue an interrupted session)
  $ backprop multi-run --demo blobs --runs 3 --json

Each run trains --steps-per-run steps on its own chunk of --samples-per-run fresh rows (plus --replay x that
many rows from earlier chunks), starting from the previous run's weights (--merge simple) or the average
of all runs so far (--merge average). After each run: validation, checkpoint run-<i>/ in --checkpoint-dir,
pruning (the best --keep-best and the last are kept), and run_history.json for --resume.
Ctrl-C stops the current run; completed runs stay saved and --resume continues from there.`;

export function registerMultiRun(program: Command): void {
  const command = program
    .command('multi-run')
    .summary('a continual-learning session: several short runs on fresh chunks of the data')
    .description('Run a multi-run (continual learning) session: several short training runs in sequence, each on a fresh chunk of the data, carrying the model forward, with a line per run under a bar for the current run.')
    .argument('[data]', 'training data file (.csv, .tsv, .jsonl, .ndjson)');
  addDataOptions(command);
  addModelOptions(command);
  command
    .option('--runs <n>', 'number of runs', integer(1, 1_000_000), 5)
    .option('--steps-per-run <n>', 'optimizer steps per run', integer(1), 100)
    .option('--samples-per-run <n>', `fresh rows per run (default: ${DEFAULT_SAMPLES_PER_RUN}, or as many as the data allows)`, integer(1))
    .addOption(new Option('--merge <mode>', 'how a run starts: from the last run (simple) or the average of all runs (average)').choices(['simple', 'average']).default('simple'))
    .option('--initial-lr <rate>', 'learning rate of run 1', number('> 0 and <= 10', (n) => n > 0 && n <= 10, '2e-4'), 2e-4)
    .option('--final-lr <rate>', 'learning rate of the last run', number('> 0 and <= 10', (n) => n > 0 && n <= 10, '5e-5'), 5e-5)
    .addOption(new Option('--lr-decay <shape>', 'learning rate from run to run').choices(['linear', 'cosine', 'constant']).default('linear'))
    .option('--warmup-steps <n>', 'learning-rate warm-up steps at the start of each run', integer(0), 10)
    .option('--replay <fraction>', 'rows replayed from earlier runs, as a fraction of --samples-per-run (0 to 0.5)', number('from 0 to 0.5', (n) => n >= 0 && n <= 0.5, '0.2'), 0)
    .addOption(new Option('--replay-strategy <strategy>', 'which earlier rows are replayed').choices(['recent', 'random', 'all_previous']).default('recent'))
    .option('--validation-samples <n>', 'rows held out to validate after every run', integer(0), 100)
    .option('--no-validate', 'skip validation after each run')
    .option('--early-stopping', 'stop when the validation loss stops improving')
    .option('--patience <n>', 'runs without improvement before early stopping', integer(1), 2)
    .option('--checkpoint-dir <dir>', 'session folder: run checkpoints and run_history.json', './output/multi_run')
    .option('--keep-best <n>', 'run checkpoints kept for their validation loss (plus the last)', integer(0), 3)
    .option('--resume', 'continue the interrupted session in --checkpoint-dir (same data and settings)')
    .option('--max-temp <celsius>', 'with GPU safety: pause training while the GPU is at or above this temperature', number('from 1 to 200', (n) => n > 0 && n <= 200, '85'), 85);
  addGpuOptions(command);
  addDashboardOptions(command);
  command.addHelpText('after', EXAMPLES).action(action<MultiRunFlags>((out, args, flags) => multiRun(out, args[0], flags)));
}

async function multiRun(out: Output, file: string | undefined, o: MultiRunFlags): Promise<number> {
  checkDataFlags(file, o, 'multi-run');
  if (o.earlyStopping && !o.validate) throw new UsageError('--early-stopping needs validation; leave out --no-validate.');
  await checkOutputFolder(o.checkpointDir, '--checkpoint-dir');
  const data = await loadTrainingData({ file, demo: o.demo, samples: o.samples, seed: o.seed, label: o.label, labels: o.labels, task: o.task, classes: o.classes, outputs: o.outputs });

  const validationSamples = o.validate ? o.validationSamples : 0;
  if (o.validate && validationSamples < 1) throw new UsageError('--validation-samples 0 needs --no-validate.');
  const available = data.rows - validationSamples;
  const samplesPerRun = o.samplesPerRun ?? Math.min(DEFAULT_SAMPLES_PER_RUN, Math.floor(available / o.runs));
  if (samplesPerRun < 1 || o.runs * samplesPerRun > available) {
    throw new BackpropError(
      'CONFIG_INVALID',
      `The session needs --runs x --samples-per-run + --validation-samples = ${o.runs} x ${samplesPerRun} + ${validationSamples} = ${o.runs * samplesPerRun + validationSamples} rows, ` +
        `but ${data.source} has ${data.rows}. Lower --samples-per-run (at most ${Math.max(0, Math.floor(available / o.runs))} here), --runs or --validation-samples, or use more data.`,
      { field: 'samplesPerRun', value: samplesPerRun, rows: data.rows },
    );
  }

  const gpuOn = o.gpuSafety === true || o.simulateGpu !== undefined || (o.gpuSafety !== false && o.device.startsWith('cuda'));
  const config = {
    numRuns: o.runs,
    stepsPerRun: o.stepsPerRun,
    samplesPerRun,
    mergeMode: o.merge,
    initialLr: o.initialLr,
    finalLr: o.finalLr,
    lrDecay: o.lrDecay,
    warmupStepsPerRun: o.warmupSteps,
    replayFraction: o.replay,
    replayStrategy: o.replayStrategy,
    checkpointDir: o.checkpointDir,
    validationSamples,
    validateEveryRun: o.validate,
    earlyStopping: o.earlyStopping === true,
    earlyStoppingPatience: o.patience,
    checkpointKeepBestN: o.keepBest,
    batchSize: o.batchSize,
    enableGpuMonitoring: gpuOn,
    maxTempC: o.maxTemp,
  };
  const reporter = new MultiRunReporter(out);
  const gpuConfig = { logWarnings: false, ...(o.gpuInterval !== undefined ? { checkIntervalMs: o.gpuInterval } : {}) };
  const trainer = new MultiRunTrainer({
    model: { inputSize: data.inputSize, hiddenLayers: o.hidden, outputSize: data.outputSize, activation: o.activation, task: data.task },
    device: o.device as never,
    seed: o.seed,
    optimizer: o.optimizer,
    threads: o.threads,
    config,
    onRunStart: (runIndex: number) => reporter.runStart(runIndex, learningRateForRun(config, runIndex)),
    onRunComplete: (result: RunResult) => reporter.runComplete(result),
    onStep: (runIndex: number, step: number, loss: number) => reporter.step(runIndex, step, loss),
    onGpuStatus: (status: GPUStatus) => reporter.gpu.status(status),
    gpuMonitor: gpuOn ? { config: gpuConfig, ...(o.simulateGpu ? { source: scriptedGPUSource(SCENARIOS[o.simulateGpu]!.readings) } : {}) } : null,
  });
  trainer.on('paused', () => reporter.paused());
  trainer.on('resumed', () => reporter.resumed());
  trainer.on('callbackError', (error: unknown, i: CallbackErrorInfo) => reporter.callbackError(String(i.hook), error));

  const dashboard = await openRunDashboard(out, trainer, o);
  let interruptedBy: 'SIGINT' | 'SIGTERM' | null = null;
  const release = onInterrupt((signal) => {
    interruptedBy = signal;
    reporter.interrupting(signal);
    trainer.abort(`interrupted (${signal})`);
  });
  try {
    reporter.start({
      source: data.source,
      rows: data.rows,
      model: trainer.trainerOptions.model,
      numRuns: o.runs,
      stepsPerRun: o.stepsPerRun,
      samplesPerRun,
      batchSize: o.batchSize,
      mergeMode: o.merge,
      replayFraction: o.replay,
      initialLr: o.initialLr,
      finalLr: o.finalLr,
      checkpointDir: path.resolve(o.checkpointDir),
      resume: o.resume === true,
      earlyStopping: o.earlyStopping === true,
      device: resolveDevice(trainer.trainerOptions.device).kind,
    });
    const result: MultiRunResult = await trainer.run({ x: data.x, y: data.y }, { resume: o.resume === true });
    const interrupted = interruptedBy !== null && result.aborted;
    reporter.complete(result, interrupted, interrupted ? resumeCommand() : null);
    return interrupted ? exitCodeFor(interruptedBy!) : EXIT_OK;
  } finally {
    reporter.close();
    release();
    await dashboard?.close();
  }
}

/** This command line with --resume. */
function resumeCommand(): string {
  const args = process.argv.slice(2).filter((a) => a !== '--resume');
  return ['backprop', ...args, '--resume'].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
