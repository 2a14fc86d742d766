/** GPU statuses as a table (like gpustat) or as one line per sample. */
import { readFileSync } from 'node:fs';
import type { GPUStatus } from '../gpu';
import { conditionSeverity } from '../gpu';
import { fmtCondition, table, type Colors } from './format';

const num = (v: number | null, digits = 0): string => (v === null || !Number.isFinite(v) ? '-' : v.toFixed(digits));

function temperature(s: GPUStatus, c: Colors): string {
  if (s.temperatureC === null) return '-';
  const text = `${num(s.temperatureC)}°C`;
  const sev = conditionSeverity(s.condition);
  return sev >= 3 ? c.red(text) : sev >= 2 ? c.yellow(text) : text;
}

function vram(s: GPUStatus): string {
  if (s.vramTotalGb === null) return '-';
  return `${num(s.vramUsedGb, 1)}/${num(s.vramTotalGb, 1)} GB (${num(s.vramPercent)}%)`;
}

function power(s: GPUStatus): string {
  if (s.powerDrawW === null) return '-';
  return `${num(s.powerDrawW)}${s.powerLimitW !== null ? `/${num(s.powerLimitW)}` : ''} W`;
}

function clocks(s: GPUStatus): string {
  if (s.smClockMhz === null && s.memClockMhz === null) return '-';
  return `${num(s.smClockMhz)}/${num(s.memClockMhz)} MHz`;
}

function throttle(s: GPUStatus, c: Colors): string {
  if (s.throttleReasons === null) return '-';
  const reasons = s.throttleReasons.filter((r) => r !== 'gpu_idle');
  if (reasons.length === 0) return c.dim('none');
  const thermal = reasons.some((r) => r.includes('thermal') || r.includes('power'));
  const text = reasons.join(',');
  return thermal ? c.yellow(text) : text;
}

function processName(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

function processes(s: GPUStatus): string {
  if (s.processes === null) return '-';
  if (s.processes.length === 0) return 'none';
  const shown = s.processes.slice(0, 4).map((p) => `${processName(p.pid)}/${p.pid}${p.usedMemoryMb !== null ? `(${Math.round(p.usedMemoryMb)}M)` : ''}`);
  if (s.processes.length > 4) shown.push(`+${s.processes.length - 4} more`);
  return shown.join(' ');
}

const HEADER = ['GPU', 'NAME', 'TEMP', 'CONDITION', 'VRAM', 'POWER', 'UTIL', 'CLOCKS SM/MEM', 'FAN', 'THROTTLE', 'PROCESSES'];

/** One row per GPU under a header, then the reason for every GPU that is not safe. */
export function statusTable(statuses: readonly GPUStatus[], c: Colors): string[] {
  const rows = statuses.map((s) => [
    `[${s.deviceIndex}]`,
    s.deviceName ?? '?',
    temperature(s, c),
    fmtCondition(s.condition, c),
    vram(s),
    power(s),
    s.gpuUtilization === null ? '-' : `${num(s.gpuUtilization)}%`,
    clocks(s),
    s.fanPercent === null ? '-' : `${num(s.fanPercent)}%`,
    throttle(s, c),
    processes(s),
  ]);
  const lines = table([HEADER, ...rows], c);
  for (const s of statuses) {
    if (s.condition !== 'safe' && s.conditionReason) lines.push(`  ${c.dim(`[${s.deviceIndex}]`)} ${fmtCondition(s.condition, c)}: ${s.conditionReason}`);
  }
  return lines;
}

/** One compact line for a sample (watch and simulate modes, GPU warnings during training). */
export function statusLine(s: GPUStatus, c: Colors): string {
  const parts = [
    `[${s.deviceIndex}] ${s.deviceName ?? '?'}`,
    `${temperature(s, c)} ${fmtCondition(s.condition, c)}`,
    `VRAM ${vram(s)}`,
    `power ${power(s)}`,
    `util ${s.gpuUtilization === null ? '-' : `${num(s.gpuUtilization)}%`}`,
  ];
  const t = throttle(s, c);
  if (t !== '-' && s.throttleReasons && s.throttleReasons.length > 0) parts.push(`throttle ${t}`);
  let line = parts.join(' | ');
  if (s.condition !== 'safe' && s.conditionReason) line += c.dim(` (${s.conditionReason})`);
  return line;
}
