/**
 * Where the CLI writes, by mode:
 *
 * - human: results and summaries on stdout; progress, log lines (start,
 *   verbose events, warnings) and errors on stderr, so `> file` or `| cmd`
 *   keeps only the results.
 * - json: one JSON object per event on stdout (NDJSON) and nothing else;
 *   errors also as a plain line on stderr.
 * - quiet: errors (and the few lines a person must see, such as where an
 *   interrupted run was saved) on stderr; nothing on stdout but data asked for.
 */
import { colorsFor, type Colors } from './format';

export type Mode = 'human' | 'json' | 'quiet';

export interface GlobalFlags {
  verbose?: boolean;
  quiet?: boolean;
  json?: boolean;
  color?: boolean;
}

export class Output {
  readonly mode: Mode;
  readonly verbose: boolean;
  /** Colours for stdout and stderr (each on only when that stream is a terminal). */
  readonly c: Colors;
  readonly ce: Colors;
  private logSink: ((line: string) => void) | null = null;

  constructor(
    flags: GlobalFlags,
    readonly stdout: NodeJS.WriteStream = process.stdout,
    readonly stderr: NodeJS.WriteStream = process.stderr,
  ) {
    this.mode = flags.json ? 'json' : flags.quiet ? 'quiet' : 'human';
    this.verbose = this.mode === 'human' && flags.verbose === true;
    const color = flags.color !== false;
    this.c = colorsFor(stdout, color);
    this.ce = colorsFor(stderr, color);
  }

  get human(): boolean {
    return this.mode === 'human';
  }

  get json(): boolean {
    return this.mode === 'json';
  }

  /** A result line on stdout (human mode). */
  print(line = ''): void {
    if (this.mode === 'human') this.stdout.write(line + '\n');
  }

  /** Raw data on stdout in human and quiet mode (e.g. predictions). */
  data(text: string): void {
    if (this.mode !== 'json') this.stdout.write(text);
  }

  /** One NDJSON event on stdout (json mode). */
  event(name: string, fields: Record<string, unknown> = {}): void {
    if (this.mode !== 'json') return;
    this.stdout.write(JSON.stringify({ event: name, ...fields }, jsonReplacer) + '\n');
  }

  /** A log line on stderr (human mode), above the progress bar when one is shown. */
  log(line: string): void {
    if (this.mode !== 'human') return;
    this.writeErr(line);
  }

  /** A log line only with --verbose. */
  debug(line: string): void {
    if (this.verbose) this.writeErr(line);
  }

  /** A warning on stderr (human and quiet mode). */
  warn(line: string): void {
    if (this.mode === 'json') return;
    this.writeErr(this.ce.yellow(line));
  }

  /** A line on stderr in every mode (errors, where an interrupted run was saved). */
  notice(line: string): void {
    this.writeErr(line);
  }

  /** The progress display routes log lines through itself while a bar is drawn. */
  setLogSink(sink: ((line: string) => void) | null): void {
    this.logSink = sink;
  }

  private writeErr(line: string): void {
    if (this.logSink) this.logSink(line);
    else this.stderr.write(line + '\n');
  }
}

/** NaN and ±Infinity as null (JSON has no such numbers); typed arrays as arrays. */
function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'number' && !Number.isFinite(value)) return null;
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return Array.from(value as unknown as ArrayLike<number>);
  return value;
}
