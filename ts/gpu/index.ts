import './trainer-safety';

export { GPUCondition, conditionSeverity, GPUSafetyConfig, type GPUSafetyConfigOptions, type GPUStatus, type GPUReading, type GPUProcess } from './types';
export { GPUMonitor, type GPUMonitorOptions, type GPUMonitorEvents, type GPUReadErrorEvent, type GPUStatusHandler } from './monitor';
export { scriptedGpuSource, type ScriptedGpuSource, type GpuSource, type GPUReadingFunction } from './scripted-source';
export { simulatedGPU, simulatedGpu, type SimulatedGpuSource } from './simulated-source';
export { getGpuStatus, checkGpuSafe, waitForSafeGpu, listGpus, resetNvmlState, nvmlInfo, type GpuQueryOptions, type WaitForSafeGpuOptions, type NvmlInfo } from './queries';
export type { GpuSafetyOption } from './trainer-safety';
