export { GPUCondition, conditionSeverity, GPUSafetyConfig, type GPUSafetyConfigOptions, type GPUStatus, type GPUReading, type GPUProcess } from './types';
export { GPUMonitor, type GPUMonitorOptions, type GPUMonitorEvents, type GPUReadErrorEvent, type GPUStatusHandler } from './monitor';
export { scriptedGPUSource, type ScriptedGPUSource, type GPUSource, type GPUReadingFunction } from './scripted-source';
export { simulatedGPU, type SimulatedGPUSource } from './simulated-source';
export { getGPUStatus, checkGPUSafe, waitForSafeGPU, listGPUs, nvmlInfo, type GPUQueryOptions, type WaitForSafeGPUOptions, type NvmlInfo } from './queries';
export type { GPUSafetyOption } from './trainer-safety';
export * from './deprecated';
/** @deprecated Use simulatedGPU. */
export { simulatedGpu } from './simulated-source';
/** @deprecated Import it from 'backpropagate/internal' (a test helper). */
export { resetNvmlState } from './queries';
