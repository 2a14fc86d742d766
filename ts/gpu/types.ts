/**
 * GPU health vocabulary: conditions, safety thresholds and status samples.
 */
import { BackpropError } from '../errors';
import { rejectUnknownKeys } from '../validation';

/** GPU safety conditions, from harmless to dangerous; 'unknown' when nothing could be read. */
export const GPUCondition = Object.freeze({
  SAFE: 'safe',
  WARM: 'warm',
  WARNING: 'warning',
  CRITICAL: 'critical',
  EMERGENCY: 'emergency',
  UNKNOWN: 'unknown',
} as const);
export type GPUCondition = (typeof GPUCondition)[keyof typeof GPUCondition];

const severityOrder: readonly GPUCondition[] = ['safe', 'warm', 'warning', 'critical', 'emergency'];

/** 0 (safe) .. 4 (emergency); -1 for 'unknown' (or anything else), which is not ranked. */
export function conditionSeverity(condition: GPUCondition | string): number {
  return severityOrder.indexOf(condition as GPUCondition);
}

export interface GPUSafetyConfigOptions {
  tempWarning?: number;
  tempCritical?: number;
  tempEmergency?: number;
  vramWarning?: number;
  vramCritical?: number;
  powerWarning?: number;
  powerCritical?: number;
  checkIntervalMs?: number;
  cooldownMs?: number;
  maxCooldownAttempts?: number;
  pauseOnCritical?: boolean;
  abortOnEmergency?: boolean;
  logWarnings?: boolean;
}

const numericFields = ['tempWarning', 'tempCritical', 'tempEmergency', 'vramWarning', 'vramCritical', 'powerWarning', 'powerCritical', 'checkIntervalMs', 'cooldownMs', 'maxCooldownAttempts'] as const;
const booleanFields = ['pauseOnCritical', 'abortOnEmergency', 'logWarnings'] as const;

/** Safety thresholds (°C, % of VRAM, % of the power limit) and the monitor's timing; every field has the documented default. */
export class GPUSafetyConfig {
  tempWarning = 80;
  tempCritical = 90;
  tempEmergency = 95;
  vramWarning = 90;
  vramCritical = 95;
  powerWarning = 95;
  powerCritical = 100;
  checkIntervalMs = 5000;
  cooldownMs = 30000;
  maxCooldownAttempts = 6;
  pauseOnCritical = true;
  abortOnEmergency = true;
  logWarnings = true;

  constructor(options: GPUSafetyConfigOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new BackpropError('CONFIG_INVALID', 'GPUSafetyConfig takes an object of options, e.g. new GPUSafetyConfig({ tempCritical: 85 }).', { field: 'gpuSafety', value: options });
    }
    for (const [key, value] of Object.entries(options)) {
      if (value === undefined) continue;
      if ((numericFields as readonly string[]).includes(key)) {
        if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
          throw new BackpropError('CONFIG_INVALID', `gpuSafety.${key} must be a finite number >= 0 (got ${String(value)}).`, { field: `gpuSafety.${key}`, value });
        }
      } else if ((booleanFields as readonly string[]).includes(key)) {
        if (typeof value !== 'boolean') {
          throw new BackpropError('CONFIG_INVALID', `gpuSafety.${key} must be true or false (got ${String(value)}).`, { field: `gpuSafety.${key}`, value });
        }
      } else {
        rejectUnknownKeys({ [key]: value }, [...numericFields, ...booleanFields], 'gpuSafety.', { ignore: ['source'] });
      }
      if (key !== 'source') (this as Record<string, unknown>)[key] = value;
    }
    if (!(this.tempWarning <= this.tempCritical && this.tempCritical <= this.tempEmergency)) {
      throw new BackpropError('CONFIG_INVALID', `GPU temperature thresholds must satisfy tempWarning <= tempCritical <= tempEmergency (got ${this.tempWarning}, ${this.tempCritical}, ${this.tempEmergency}).`, { field: 'gpuSafety.tempCritical', value: this.tempCritical });
    }
    if (this.vramWarning > this.vramCritical) {
      throw new BackpropError('CONFIG_INVALID', `vramWarning (${this.vramWarning}) must not exceed vramCritical (${this.vramCritical}).`, { field: 'gpuSafety.vramWarning', value: this.vramWarning });
    }
    if (this.powerWarning > this.powerCritical) {
      throw new BackpropError('CONFIG_INVALID', `powerWarning (${this.powerWarning}) must not exceed powerCritical (${this.powerCritical}).`, { field: 'gpuSafety.powerWarning', value: this.powerWarning });
    }
    if (!Number.isInteger(this.maxCooldownAttempts) || this.maxCooldownAttempts < 1) {
      throw new BackpropError('CONFIG_INVALID', `maxCooldownAttempts must be a whole number >= 1 (got ${this.maxCooldownAttempts}).`, { field: 'gpuSafety.maxCooldownAttempts', value: this.maxCooldownAttempts });
    }
    if (this.checkIntervalMs < 1) {
      throw new BackpropError('CONFIG_INVALID', `checkIntervalMs must be >= 1 (got ${this.checkIntervalMs}).`, { field: 'gpuSafety.checkIntervalMs', value: this.checkIntervalMs });
    }
  }
}

export interface GPUProcess {
  pid: number;
  /** MiB, or null when the driver cannot attribute memory. */
  usedMemoryMb: number | null;
}

/** One sample of one GPU. Every reading is null when the device does not report it. */
export interface GPUStatus {
  /** False when the GPU could not be read (no driver, no NVML, no device). */
  readonly available: boolean;
  readonly deviceName: string | null;
  readonly deviceIndex: number;
  readonly uuid: string | null;
  readonly temperatureC: number | null;
  /** The card's own shutdown temperature threshold. */
  readonly temperatureMaxC: number | null;
  readonly temperatureSlowdownC: number | null;
  readonly vramTotalGb: number | null;
  readonly vramUsedGb: number | null;
  readonly vramFreeGb: number | null;
  readonly vramPercent: number | null;
  readonly powerDrawW: number | null;
  readonly powerLimitW: number | null;
  readonly powerPercent: number | null;
  readonly gpuUtilization: number | null;
  readonly memoryUtilization: number | null;
  readonly smClockMhz: number | null;
  readonly memClockMhz: number | null;
  readonly fanPercent: number | null;
  /** Decoded clock-event (throttle) reasons, e.g. ['sw_thermal_slowdown']. */
  readonly throttleReasons: readonly string[] | null;
  readonly processes: readonly GPUProcess[] | null;
  readonly condition: GPUCondition;
  /** Every metric past a threshold, or why the condition is 'unknown'. */
  readonly conditionReason: string;
  /** Milliseconds since the Unix epoch, taken when the sample was read. */
  readonly timestamp: number;
}

/** A partial GPUStatus for scripted (simulated) sources, or a failed read. */
export type GPUReading =
  | Partial<Omit<GPUStatus, 'condition' | 'conditionReason' | 'available' | 'timestamp' | 'vramPercent' | 'powerPercent'>>
  | { fail: string };
