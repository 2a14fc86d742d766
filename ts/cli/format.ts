/**
 * Text formatting for people: numbers, durations, colours, small tables.
 * Nothing here writes anywhere.
 */
import { createColors } from 'picocolors';
import type { GPUCondition } from '../gpu';

export type Colors = ReturnType<typeof createColors>;

/** Colours only on a terminal, never with NO_COLOR or --no-color (FORCE_COLOR forces them on). */
export function colorsFor(stream: NodeJS.WriteStream, flag: boolean, env: NodeJS.ProcessEnv = process.env): Colors {
  const noColor = env.NO_COLOR !== undefined && env.NO_COLOR !== '';
  const force = env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '' && env.FORCE_COLOR !== '0';
  const enabled = flag && !noColor && (force || (stream.isTTY === true && env.TERM !== 'dumb'));
  return createColors(enabled);
}

export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function fmtLoss(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return v === null || v === undefined ? '-' : String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(3);
  return v.toFixed(4);
}

export function fmtLr(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '-';
  return v.toExponential(2);
}

export function fmtPercent(fraction: number | null | undefined, digits = 1): string {
  if (fraction === null || fraction === undefined || !Number.isFinite(fraction)) return '-';
  return `${(fraction * 100).toFixed(digits)}%`;
}

/** 0.42s, 12.3s, 4m 05s, 2h 03m. */
export function fmtDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '-';
  if (seconds < 10) return `${seconds.toFixed(2)}s`;
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const s = Math.round(seconds);
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Remaining time, whole seconds: 7s, 4m 05s, 2h 03m. */
export function fmtEta(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds) || seconds < 0) return '--';
  if (seconds < 60) return `${Math.ceil(seconds)}s`;
  return fmtDuration(seconds);
}

export function fmtRate(perSecond: number | null): string {
  if (perSecond === null || !Number.isFinite(perSecond)) return '-';
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(1)}M`;
  if (perSecond >= 1e4) return `${(perSecond / 1e3).toFixed(0)}k`;
  return fmtInt(perSecond);
}

export function fmtBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

/** A shape such as 2 → 64 → 64 → 3. */
export function fmtShape(model: { inputSize: number; hiddenLayers: readonly number[]; outputSize: number }): string {
  return [model.inputSize, ...model.hiddenLayers, model.outputSize].join(' → ');
}

/** Condition text coloured by severity. */
export function fmtCondition(condition: GPUCondition | string, c: Colors): string {
  switch (condition) {
    case 'safe':
      return c.green(condition);
    case 'warm':
      return c.cyan(condition);
    case 'warning':
      return c.yellow(condition);
    case 'critical':
      return c.red(condition);
    case 'emergency':
      return c.bold(c.red(condition.toUpperCase()));
    default:
      return c.dim(condition);
  }
}

const SPARKS = '▁▂▃▄▅▆▇█';

/** A one-line chart of `values`, downsampled (by bucket means) to at most `width` characters. */
export function sparkline(values: readonly number[], width = 40): string {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return '';
  const buckets = Math.min(width, finite.length);
  const means: number[] = [];
  for (let b = 0; b < buckets; b++) {
    const from = Math.floor((b * finite.length) / buckets);
    const to = Math.max(from + 1, Math.floor(((b + 1) * finite.length) / buckets));
    let sum = 0;
    for (let i = from; i < to; i++) sum += finite[i]!;
    means.push(sum / (to - from));
  }
  const lo = Math.min(...means);
  const hi = Math.max(...means);
  return means.map((m) => SPARKS[hi === lo ? 0 : Math.min(SPARKS.length - 1, Math.floor(((m - lo) / (hi - lo)) * SPARKS.length))]).join('');
}

/** Visible width of a string, ignoring ANSI colour codes. */
export function visibleLength(text: string): number {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;]*m/g, '').length;
}

export function padEnd(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - visibleLength(text)));
}

/** Rows of cells as aligned columns (two spaces apart); the first row is the header. */
export function table(rows: readonly (readonly string[])[], c: Colors): string[] {
  if (rows.length === 0) return [];
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, visibleLength(cell))));
  return rows.map((row, r) => {
    const line = row.map((cell, i) => (i === row.length - 1 ? cell : padEnd(cell, widths[i]!))).join('  ');
    return r === 0 ? c.bold(line) : line;
  });
}

/** "  label      value" lines for summaries. */
export function keyValues(pairs: readonly (readonly [string, string])[], c: Colors, indent = '  '): string[] {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${indent}${c.dim(k.padEnd(width))}  ${v}`);
}
