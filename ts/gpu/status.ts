/** Turns native samples into frozen GPUStatus objects. */
import type { NativeGpuSample } from '../../binding';
import type { GPUSafetyConfig } from './types';
import type { GPUStatus } from './types';

export function toStatus(s: NativeGpuSample): GPUStatus {
  return Object.freeze({
    available: s.ok,
    deviceName: s.deviceName,
    deviceIndex: s.deviceIndex,
    uuid: s.uuid,
    temperatureC: s.temperatureC,
    temperatureMaxC: s.temperatureMaxC,
    temperatureSlowdownC: s.temperatureSlowdownC,
    vramTotalGb: s.vramTotalGb,
    vramUsedGb: s.vramUsedGb,
    vramFreeGb: s.vramFreeGb,
    vramPercent: s.vramPercent,
    powerDrawW: s.powerDrawW,
    powerLimitW: s.powerLimitW,
    powerPercent: s.powerPercent,
    gpuUtilization: s.gpuUtilization,
    memoryUtilization: s.memoryUtilization,
    smClockMhz: s.smClockMhz,
    memClockMhz: s.memClockMhz,
    fanPercent: s.fanPercent,
    throttleReasons: s.throttleReasons ? Object.freeze([...s.throttleReasons]) : null,
    processes: s.processes ? Object.freeze(s.processes.map((p) => Object.freeze({ ...p }))) : null,
    condition: s.condition,
    conditionReason: s.ok ? s.conditionReason : s.error || s.conditionReason,
    timestamp: s.timestamp,
  });
}

export function nativeConfig(c: GPUSafetyConfig): {
  tempWarning: number; tempCritical: number; tempEmergency: number; vramWarning: number; vramCritical: number; powerWarning: number; powerCritical: number;
} {
  return {
    tempWarning: c.tempWarning,
    tempCritical: c.tempCritical,
    tempEmergency: c.tempEmergency,
    vramWarning: c.vramWarning,
    vramCritical: c.vramCritical,
    powerWarning: c.powerWarning,
    powerCritical: c.powerCritical,
  };
}
