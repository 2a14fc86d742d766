/** Options shared by `train` and `multi-run`: where the data comes from, the model, the device and GPU safety. */
import { Option, type Command } from 'commander';
import type { Activation, Optimizer, Task } from '../../config';
import { isIdxPath } from '../../idx-data';
import { DEMOS, type DemoName } from '../data';
import { device, hiddenLayers, integer, UsageError } from '../options';
import { SCENARIO_NAMES } from '../scenarios';

export interface DataFlags {
  demo?: DemoName;
  /** Default 3000 for the generated demo sets; all rows for Fashion-MNIST. */
  samples?: number;
  label?: string;
  labels?: string;
  task: Task;
  classes?: number;
  outputs?: number;
}

export interface ModelFlags {
  hidden: number[];
  activation: Activation;
  optimizer: Optimizer;
  device: string;
  seed: number;
  batchSize: number;
  threads?: number;
}

export interface GpuFlags {
  gpuSafety?: boolean;
  simulateGpu?: string;
  gpuInterval?: number;
}

export function addDataOptions(command: Command): Command {
  return command
    .addOption(new Option('--demo <name>', 'use a built-in data set instead of a file').choices(DEMOS))
    .option('--samples <n>', 'rows of demo data (default: 3000; fashion-mnist: all 60,000 training images)', integer(2, 10_000_000))
    .option('--label <column>', 'label column (default: the last column)')
    .option('--labels <file>', 'IDX labels file, for an IDX images file such as train-images-idx3-ubyte.gz')
    .addOption(new Option('--task <task>', 'what the label is').choices(['classification', 'regression']).default('classification'))
    .option('--classes <n>', 'number of classes (default: largest label + 1)', integer(2, 1_000_000))
    .option('--outputs <n>', 'regression: target columns per row, starting at --label (default: 1)', integer(1, 1_000_000));
}

export function addModelOptions(command: Command): Command {
  return command
    .addOption(new Option('--hidden <sizes>', 'hidden layer widths, comma-separated ("none" for none)').argParser(hiddenLayers).default([64, 64], '64,64'))
    .addOption(new Option('--activation <fn>', 'hidden layer activation').choices(['relu', 'tanh', 'gelu']).default('relu'))
    .addOption(new Option('--optimizer <name>', 'optimizer').choices(['adamw', 'sgd']).default('adamw'))
    .option('--batch-size <n>', 'rows per step', integer(1, 65536), 32)
    .option('--device <device>', 'auto, cpu, cuda or cuda:N', device, 'auto')
    .option('--seed <n>', 'random seed (same seed, same data: same run)', integer(0, 2 ** 32 - 1), 42)
    .option('--threads <n>', 'CPU threads (default: one per core)', integer(1, 256));
}

export function addGpuOptions(command: Command): Command {
  return command
    .option('--gpu-safety', 'watch the GPU and hold or stop training when it overheats (default: on when training on a GPU)')
    .option('--no-gpu-safety', 'do not watch the GPU')
    .addOption(new Option('--simulate-gpu <scenario>', 'watch a simulated GPU instead (demos and tests; implies --gpu-safety)').choices(SCENARIO_NAMES))
    .option('--gpu-interval <ms>', 'GPU check interval in milliseconds (default: 5000)', integer(1, 3_600_000));
}

/** Usage errors for the data flags: exactly one of a file and --demo, and flags that fit the task. */
export function checkDataFlags(file: string | undefined, o: DataFlags & GpuFlags, command: string): void {
  if (file && o.demo) throw new UsageError(`Pass a data file or --demo ${o.demo}, not both.`);
  if (!file && !o.demo) throw new UsageError(`Pass a data file (e.g. backprop ${command} data.csv) or --demo spirals.`);
  if (o.demo && o.label) throw new UsageError('--label applies to data files; the demo sets have their own labels.');
  if (o.demo && o.labels) throw new UsageError('--labels applies to IDX data files; the demo sets have their own labels.');
  if (file && isIdxPath(file) && !o.labels) throw new UsageError(`${file} is an IDX images file: pass its labels file too, e.g. --labels train-labels-idx1-ubyte.gz.`);
  if (file && !isIdxPath(file) && o.labels) throw new UsageError('--labels is for IDX images files (such as train-images-idx3-ubyte.gz); for CSV/JSONL pick the label column with --label.');
  if (file && isIdxPath(file) && o.label) throw new UsageError('--label picks a CSV/JSONL column; an IDX file has its labels in the --labels file.');
  if (o.demo && o.task === 'regression') throw new UsageError('The demo sets are classification data; leave out --task regression.');
  if (o.classes !== undefined && o.task === 'regression') throw new UsageError('--classes is for classification; for regression use --outputs.');
  if (o.outputs !== undefined && o.task !== 'regression') throw new UsageError('--outputs is for regression (--task regression).');
  if (o.simulateGpu && o.gpuSafety === false) throw new UsageError('--simulate-gpu turns GPU safety on; leave out --no-gpu-safety.');
}
