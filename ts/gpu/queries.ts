/**
 * One-off GPU questions: the status now, whether it is safe, waiting until
 * it is, and the list of devices. Synchronous reads go to NVML directly (or to
 * a scripted source), outside any monitor.
 */
import { BackpropError } from '../errors';
import { native } from '../native';
import { nextScriptedReading, type GPUSource } from './scripted-source';
import { nativeConfig, toStatus } from './status';
import { GPUSafetyConfig, type GPUSafetyConfigOptions, type GPUStatus } from './types';

export interface GPUQueryOptions {
  deviceIndex?: number;
  config?: GPUSafetyConfig | GPUSafetyConfigOptions;
  source?: GPUSource;
  libraryPath?: string;
}

const configOf = (c: GPUQueryOptions['config']): GPUSafetyConfig => (c instanceof GPUSafetyConfig ? c : new GPUSafetyConfig(c ?? {}));

/** The status of one GPU now; `available: false` and condition 'unknown' (with the reason) when it cannot be read. */
export function getGPUStatus(options: GPUQueryOptions = {}): GPUStatus {
  const config = configOf(options.config);
  const index = options.deviceIndex ?? 0;
  if (!Number.isInteger(index) || index < 0) throw new BackpropError('CONFIG_INVALID', 'deviceIndex must be a non-negative integer.', { field: 'deviceIndex' });
  const source = options.source;
  if (source && source.kind === 'scripted') {
    const reading = nextScriptedReading(source);
    return toStatus(native().evaluateGpuReading({ deviceIndex: index, ...reading } as never, nativeConfig(config)));
  }
  const lib = options.libraryPath ?? (source && source.kind === 'nvml' ? source.libraryPath ?? '' : '');
  return toStatus(native().readGpu(index, lib, nativeConfig(config)));
}

/** False for 'critical' and 'emergency'; true for safe, warm, warning and unknown. */
export function checkGPUSafe(options: GPUQueryOptions = {}): boolean {
  const c = getGPUStatus(options).condition;
  return c !== 'critical' && c !== 'emergency';
}

export interface WaitForSafeGPUOptions extends GPUQueryOptions {
  /** Give up after this long (default 10 minutes). */
  maxWaitMs?: number;
  /** Re-check interval (default the config's checkIntervalMs). */
  checkIntervalMs?: number;
  signal?: AbortSignal;
}

/** Resolves true once checkGPUSafe() holds; false on timeout or abort. */
export function waitForSafeGPU(options: WaitForSafeGPUOptions = {}): Promise<boolean> {
  const config = configOf(options.config);
  const interval = options.checkIntervalMs ?? config.checkIntervalMs;
  const maxWait = options.maxWaitMs ?? 600000;
  const signal = options.signal;
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const started = Date.now();
    let timer: NodeJS.Timeout | null = null;
    const onAbort = (): void => {
      if (timer) clearTimeout(timer);
      resolve(false);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const check = (): void => {
      timer = null;
      if (checkGPUSafe({ ...options, config })) {
        signal?.removeEventListener('abort', onAbort);
        return resolve(true);
      }
      if (Date.now() - started + interval > maxWait) {
        signal?.removeEventListener('abort', onAbort);
        return resolve(false);
      }
      timer = setTimeout(check, interval);
    };
    check();
  });
}

export interface NvmlInfo {
  available: boolean;
  /** Why NVML is unavailable (library missing, init failed), or ''. */
  reason: string;
  libraryPath: string;
  deviceCount: number;
}

export function nvmlInfo(libraryPath?: string): NvmlInfo {
  return native().nvmlStatus(libraryPath ?? '');
}

/** A status for every GPU NVML sees (empty when none or no NVML). */
export function listGPUs(options: Omit<GPUQueryOptions, 'deviceIndex'> = {}): GPUStatus[] {
  if (options.source && options.source.kind === 'scripted') return [getGPUStatus(options)];
  const info = nvmlInfo(options.libraryPath);
  const out: GPUStatus[] = [];
  for (let i = 0; i < info.deviceCount; i++) out.push(getGPUStatus({ ...options, deviceIndex: i }));
  return out;
}

/** Forgets a cached NVML failure (or shuts NVML down) so the next read initialises again. */
export function resetNvmlState(): void {
  native().resetNvmlState();
}
