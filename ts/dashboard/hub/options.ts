/**
 * The hub's options and per-source watch options, checked through the shared
 * validation module (CONFIG_INVALID with details.field / value / suggestion).
 */
import { randomUUID } from 'node:crypto';
import { BackpropError } from '../../errors';
import { rejectUnknownKeys, requireRecord } from '../../validation';
import type { SourceKind } from '../protocol';

export interface EventHubOptions {
  /** Messages kept for replay after a reconnect. Default 10 000. */
  bufferSize?: number;
  /** Step messages per second per run; faster steps coalesce to the latest. 0: one message per step event. Default 200. */
  maxStepRate?: number;
  /** GPU status messages per second per device (a change of condition is always sent). 0: no bound. Default 10. */
  maxGpuRate?: number;
  /** Loss points kept per run for snapshots (decimated beyond that). Default 2000. */
  historyPoints?: number;
  /** Runs kept in the snapshot. Default 200. */
  maxRuns?: number;
  /** Recent non-step messages kept in the snapshot (the page's event log). Default 200. */
  logSize?: number;
  /** How often sources' status (state, learning rate) is read. Default 250 ms. */
  pollIntervalMs?: number;
  /** Accept pause/resume/abort/setLearningRate from clients. Default true. */
  allowCommands?: boolean;
  /** Identifies this hub in every message. Default: a random UUID. */
  sessionId?: string;
}

export type ResolvedHubOptions = Required<EventHubOptions>;

export interface WatchOptions {
  /** A unique name for the source (command targets, metrics labels). Default 'trainer-1', 'multi-run-1', 'gpu-1', ... */
  label?: string;
  /** Skip duck typing. */
  kind?: SourceKind;
  /** Rows per step, for samples/s of a Trainer (a MultiRunTrainer's comes from its config). */
  batchSize?: number;
  /** Temperature thresholds shown with this source's GPU samples (default: the source's GPU config, else 80/90/95 °C). */
  gpuThresholds?: Partial<GPUThresholds>;
}

export interface GPUThresholds {
  warning: number;
  critical: number;
  emergency: number;
  /** A MultiRunTrainer pauses at this temperature (maxTempC), or null. */
  pause: number | null;
}

export const DEFAULT_THRESHOLDS: GPUThresholds = Object.freeze({ warning: 80, critical: 90, emergency: 95, pause: null });

const HUB_KEYS = ['bufferSize', 'maxStepRate', 'maxGpuRate', 'historyPoints', 'maxRuns', 'logSize', 'pollIntervalMs', 'allowCommands', 'sessionId'];

function positiveInt(options: Record<string, unknown>, key: string, fallback: number, min = 1): number {
  const v = options[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new BackpropError('CONFIG_INVALID', `createEventHub: ${key} must be an integer >= ${min} (got ${String(v)}).`, { field: key, value: v });
  }
  return v;
}

function nonNegative(options: Record<string, unknown>, key: string, fallback: number): number {
  const v = options[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || Number.isNaN(v) || v < 0) {
    throw new BackpropError('CONFIG_INVALID', `createEventHub: ${key} must be a number >= 0 (got ${String(v)}); 0 turns the bound off.`, { field: key, value: v });
  }
  return v;
}

export function resolveHubOptions(options: EventHubOptions = {}): ResolvedHubOptions {
  const o = requireRecord(options, 'options', 'createEventHub takes an options object, e.g. { maxStepRate: 50 }.');
  rejectUnknownKeys(o, HUB_KEYS, '', { noun: 'event hub' });
  if (o.allowCommands !== undefined && typeof o.allowCommands !== 'boolean') {
    throw new BackpropError('CONFIG_INVALID', 'createEventHub: allowCommands must be true or false.', { field: 'allowCommands', value: o.allowCommands });
  }
  if (o.sessionId !== undefined && (typeof o.sessionId !== 'string' || o.sessionId.length === 0 || o.sessionId.length > 128)) {
    throw new BackpropError('CONFIG_INVALID', 'createEventHub: sessionId must be a non-empty string.', { field: 'sessionId', value: o.sessionId });
  }
  return {
    bufferSize: positiveInt(o, 'bufferSize', 10_000, 16),
    maxStepRate: nonNegative(o, 'maxStepRate', 200),
    maxGpuRate: nonNegative(o, 'maxGpuRate', 10),
    historyPoints: positiveInt(o, 'historyPoints', 2000, 16),
    maxRuns: positiveInt(o, 'maxRuns', 200),
    logSize: positiveInt(o, 'logSize', 200),
    pollIntervalMs: positiveInt(o, 'pollIntervalMs', 250, 10),
    allowCommands: (o.allowCommands as boolean | undefined) ?? true,
    sessionId: (o.sessionId as string | undefined) ?? randomUUID(),
  };
}

/** Thresholds shown with GPU samples: explicit ones, else the source's GPU config, else the defaults. */
export function thresholdsOf(config: unknown, extra: Partial<GPUThresholds> | undefined, pause: number | null): GPUThresholds {
  const c = (config ?? {}) as { tempWarning?: number; tempCritical?: number; tempEmergency?: number };
  return Object.freeze({
    warning: extra?.warning ?? c.tempWarning ?? DEFAULT_THRESHOLDS.warning,
    critical: extra?.critical ?? c.tempCritical ?? DEFAULT_THRESHOLDS.critical,
    emergency: extra?.emergency ?? c.tempEmergency ?? DEFAULT_THRESHOLDS.emergency,
    pause: extra?.pause ?? pause,
  });
}
