/**
 * Typed option parsers for commander. Each one turns a flag's text into a
 * value or throws commander's InvalidArgumentError, which commander reports
 * as a usage error (exit 2, with the command's help).
 */
import { InvalidArgumentError } from 'commander';

/** A usage error found after parsing (a missing argument, flags that do not go together): exit 2 with the command's help. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

const INTEGER = /^[0-9]+$/;
const NUMBER = /^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)(e[+-]?[0-9]+)?$/i;

/** A whole number in [min, max]. */
export function integer(min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const text = value.trim();
    const n = INTEGER.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
      throw new InvalidArgumentError(`Expected a whole number ${range}, such as ${Math.max(min, Math.min(max, 10))}.`);
    }
    return n;
  };
}

/** A finite number satisfying `check` (described by `rule`, e.g. '> 0'). */
export function number(rule: string, check: (n: number) => boolean, example: string): (value: string) => number {
  return (value) => {
    const text = value.trim();
    const n = NUMBER.test(text) ? Number(text) : NaN;
    if (!Number.isFinite(n) || !check(n)) throw new InvalidArgumentError(`Expected a number ${rule}, such as ${example}.`);
    return n;
  };
}

/** Hidden layer widths: "256,128"; "" or "none" for no hidden layer. */
export function hiddenLayers(value: string): number[] {
  const text = value.trim();
  if (text === '' || text.toLowerCase() === 'none') return [];
  const parts = text.split(',').map((p) => p.trim());
  const widths = parts.map((p) => (INTEGER.test(p) ? Number(p) : NaN));
  const bad = widths.findIndex((w) => !Number.isSafeInteger(w) || w < 1 || w > 1_000_000);
  if (bad >= 0) {
    throw new InvalidArgumentError(
      `Layer ${bad + 1} is ${JSON.stringify(parts[bad])}, not a width. Pass comma-separated whole numbers such as 256,128 (or "none" for no hidden layer).`,
    );
  }
  return widths;
}

/** 'auto', 'cpu', 'cuda' or 'cuda:N'. */
export function device(value: string): string {
  const text = value.trim();
  if (text === 'auto' || text === 'cpu' || text === 'cuda' || /^cuda:(0|[1-9][0-9]{0,8})$/.test(text)) return text;
  throw new InvalidArgumentError(`Expected auto, cpu, cuda or cuda:N (N a GPU index such as 0).`);
}

/** --save-every: a step interval, or "epoch". */
export function saveEvery(value: string): number | 'epoch' {
  const text = value.trim().toLowerCase();
  if (text === 'epoch') return 'epoch';
  return integer(1)(text);
}
