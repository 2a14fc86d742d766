/**
 * Checks the options of MultiRunTrainer.run() and the gpuMonitor option of
 * the MultiRunTrainer constructor, and names the settings every session of a
 * MultiRunTrainer runs with.
 */
import type { ResolvedTrainerOptions, StepEventsMode } from '../config';
import { BackpropError, formatValue } from '../errors';
import type { GPUSource } from '../gpu/scripted-source';
import { GPUSafetyConfig, type GPUSafetyConfigOptions } from '../gpu/types';
import { resolveLabelsOption } from '../idx-data';
import { rejectUnknownKeys } from '../validation';
import type { MultiRunConfig } from './config';
import type { GPUMonitorOption } from './multi-run-trainer';

const RUN_OPTION_KEYS = ['resume', 'label', 'labels'] as const;
const GPU_MONITOR_OPTION_KEYS = ['source', 'config', 'deviceIndex'] as const;

/** The MultiRunTrainer's validated options, as each session reads them. */
export interface SessionSettings {
  readonly config: Readonly<MultiRunConfig>;
  /** learningRate is the schedule's, per run. */
  readonly trainerOptions: Readonly<Omit<ResolvedTrainerOptions, 'learningRate'>>;
  readonly gpuMonitor: Readonly<GPUMonitorOption> | null;
  readonly stepDelivery: Readonly<{ stepEvents: StepEventsMode; queueCapacity: number }>;
}

/** run()'s options, checked. */
export interface ResolvedRunOptions {
  resume: boolean;
  label: string | null;
  /** The IDX labels file of an IDX images data path, or null. */
  labels: string | null;
}

/** run()'s options, checked against `data` (labels belongs to IDX images file paths only) before anything is read. */
export function resolveRunOptions(options: unknown, data: unknown): ResolvedRunOptions {
  if (options === undefined) return { resume: false, label: null, labels: resolveLabelsOption(data, undefined, null) };
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new BackpropError('CONFIG_INVALID', `run() options must be an object such as { resume: true } (got ${formatValue(options)}).`, { field: 'options', value: options });
  }
  const o = options as Record<string, unknown>;
  rejectUnknownKeys(o, RUN_OPTION_KEYS, '', { where: 'for run()' });
  if (o.resume !== undefined && typeof o.resume !== 'boolean') {
    throw new BackpropError('CONFIG_INVALID', `resume must be true or false (got ${formatValue(o.resume)}).`, { field: 'resume', value: o.resume });
  }
  if (o.label !== undefined && o.label !== null && (typeof o.label !== 'string' || o.label.trim() === '')) {
    throw new BackpropError('CONFIG_INVALID', `label must be a non-empty column name (got ${formatValue(o.label)}).`, { field: 'label', value: o.label });
  }
  const label = (o.label as string | undefined) ?? null;
  return { resume: o.resume === true, label, labels: resolveLabelsOption(data, o.labels, label) };
}

export function resolveGpuMonitorOption(value: unknown): Readonly<GPUMonitorOption> | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new BackpropError('CONFIG_INVALID', `gpuMonitor must be an object { source, config, deviceIndex } (got ${formatValue(value)}).`, { field: 'gpuMonitor', value });
  }
  const o = value as Record<string, unknown>;
  rejectUnknownKeys(o, GPU_MONITOR_OPTION_KEYS, 'gpuMonitor.');
  if (o.deviceIndex !== undefined && (typeof o.deviceIndex !== 'number' || !Number.isInteger(o.deviceIndex) || o.deviceIndex < 0)) {
    throw new BackpropError('CONFIG_INVALID', `gpuMonitor.deviceIndex must be an integer >= 0 (got ${formatValue(o.deviceIndex)}).`, { field: 'gpuMonitor.deviceIndex', value: o.deviceIndex });
  }
  const source = o.source as { kind?: unknown } | undefined;
  if (source !== undefined && (typeof source !== 'object' || source === null || (source.kind !== 'scripted' && source.kind !== 'nvml'))) {
    throw new BackpropError('CONFIG_INVALID', 'gpuMonitor.source must come from scriptedGPUSource(), or be left out for NVML.', { field: 'gpuMonitor.source', value: source });
  }
  // Checked now (CONFIG_INVALID, field gpuSafety.<key>) rather than when the session starts.
  const config = o.config === undefined || o.config instanceof GPUSafetyConfig ? o.config : new GPUSafetyConfig(o.config as GPUSafetyConfigOptions);
  return Object.freeze({ source: source as GPUSource | undefined, config: config as GPUSafetyConfig | undefined, deviceIndex: o.deviceIndex as number | undefined });
}

