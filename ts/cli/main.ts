/**
 * The `backprop` command line: `main(argv)` parses the arguments with
 * commander, runs one command and sets process.exitCode:
 * 0 success, 1 failure (a BackpropError code and what to do), 2 usage error
 * (with the command's help), 130 interrupted by Ctrl-C.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Command, CommanderError } from 'commander';
import { outcome } from './command';
import { registerEvaluate } from './commands/evaluate';
import { registerFleetSubmit } from './commands/fleet-submit';
import { registerFleetWorker } from './commands/fleet-worker';
import { registerGpu } from './commands/gpu';
import { registerInspect } from './commands/inspect';
import { registerMultiRun } from './commands/multi-run';
import { registerPredict } from './commands/predict';
import { registerServe } from './commands/serve';
import { registerTrain } from './commands/train';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from './errors';
import { installSignalHandlers } from './signals';

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

const EXAMPLES = `
Examples:
  $ backprop train --demo spirals --epochs 20 --lr 0.01 --output runs/spirals
  $ backprop train data.csv --label y --hidden 256,128 --epochs 30 --output runs/model
  $ backprop multi-run data.csv --runs 5 --steps-per-run 200 --checkpoint-dir runs/session
  $ backprop inspect runs/model
  $ backprop evaluate runs/model test.csv
  $ backprop predict runs/model new.csv --output predictions.csv
  $ backprop gpu --watch
  $ backprop serve --demo
  $ backprop worker --redis redis://host:6379 --data-root /data --checkpoint-root /shared/ckpt
  $ backprop submit job.json --follow

Run \`backprop <command> --help\` for a command's options and examples.
Exit codes: 0 ok, 1 failed (the error code says why), 2 usage error, 130 interrupted (Ctrl-C).
Colours follow the terminal; NO_COLOR or --no-color turns them off.`;

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('backprop')
    .description('Train neural networks on native threads: train, resume, evaluate and predict from the command line, and watch GPU health.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .option('--verbose', 'a line for every epoch, checkpoint, GPU warning and callback error')
    .option('-q, --quiet', 'no progress or summaries; only errors')
    .option('--json', 'one JSON object per event on stdout (NDJSON), nothing else')
    .option('--no-color', 'no colours (NO_COLOR also works)')
    .helpOption('-h, --help', 'show help')
    .helpCommand('help [command]', 'show help for a command')
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .showHelpAfterError()
    .exitOverride()
    .addHelpText('after', EXAMPLES);
  registerTrain(program);
  registerMultiRun(program);
  registerGpu(program);
  registerInspect(program);
  registerEvaluate(program);
  registerPredict(program);
  registerServe(program);
  registerFleetWorker(program);
  registerFleetSubmit(program);
  return program;
}

/** Runs the command line; resolves with the exit code (also set as process.exitCode). */
export async function main(argv: string[] = process.argv.slice(2)): Promise<number> {
  installSignalHandlers();
  // `backprop ... | head` closes stdout early: stop quietly.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(EXIT_OK);
    throw error;
  });
  const program = buildProgram();
  let code: number;
  try {
    outcome.exitCode = EXIT_OK;
    await program.parseAsync(argv, { from: 'user' });
    code = outcome.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and --version exit 0; every parse error (and help shown for one) is a usage error.
      code = error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    } else {
      process.stderr.write(`error: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
      code = EXIT_FAILURE;
    }
  }
  process.exitCode = code;
  return code;
}
