/**
 * Glue between commander and the command modules: builds the Output from the
 * global flags, runs the command, turns what it throws into an exit code.
 */
import type { Command } from 'commander';
import { EXIT_USAGE, reportError } from './errors';
import { UsageError } from './options';
import { Output, type GlobalFlags } from './output';

/** The exit code of the last command run (main.ts sets process.exitCode from it). */
export const outcome = { exitCode: 0 };

export type CommandBody<O> = (out: Output, args: string[], options: O, command: Command) => Promise<number>;

/** A commander action running `body`; usage errors exit 2 with the command's help, failures 1. */
export function action<O>(body: CommandBody<O>): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const command = args[args.length - 1] as Command;
    const options = args[args.length - 2] as O;
    const positional = args.slice(0, -2).map((a) => a as string);
    const flags = command.optsWithGlobals() as GlobalFlags;
    const out = new Output(flags);
    try {
      if (flags.quiet && flags.verbose) throw new UsageError('--quiet and --verbose cannot be used together.');
      outcome.exitCode = await body(out, positional, options, command);
    } catch (error) {
      if (error instanceof UsageError) {
        usageError(command, error.message);
        outcome.exitCode = EXIT_USAGE;
      } else {
        outcome.exitCode = reportError(out, error);
      }
    }
  };
}

/** Prints "error: ..." and the command's help on stderr, as commander does for its own usage errors. */
export function usageError(command: Command, message: string): void {
  process.stderr.write(`error: ${message}\n\n`);
  command.outputHelp({ error: true });
}

/** True when the user gave the option on the command line (not a default). */
export function given(command: Command, name: string): boolean {
  const source = command.getOptionValueSource(name);
  return source === 'cli' || source === 'env';
}
