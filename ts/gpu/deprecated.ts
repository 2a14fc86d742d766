/**
 * The earlier spellings of the GPU names ('Gpu' in functions and some
 * types). The package spells it 'GPU' everywhere now (GPUStatus, GPUMonitor,
 * getGPUStatus, ...); these aliases keep old code working for one minor
 * version and are marked deprecated so editors flag them.
 */
import { scriptedGPUSource, type GPUSource, type ScriptedGPUSource } from './scripted-source';
import type { SimulatedGPUSource } from './simulated-source';
import { getGPUStatus, checkGPUSafe, waitForSafeGPU, listGPUs, type GPUQueryOptions, type WaitForSafeGPUOptions } from './queries';
import type { GPUSafetyOption } from './trainer-safety';

/** @deprecated Use scriptedGPUSource. */
export const scriptedGpuSource = scriptedGPUSource;
/** @deprecated Use getGPUStatus. */
export const getGpuStatus = getGPUStatus;
/** @deprecated Use checkGPUSafe. */
export const checkGpuSafe = checkGPUSafe;
/** @deprecated Use waitForSafeGPU. */
export const waitForSafeGpu = waitForSafeGPU;
/** @deprecated Use listGPUs. */
export const listGpus = listGPUs;
/** @deprecated Use GPUSource. */
export type GpuSource = GPUSource;
/** @deprecated Use ScriptedGPUSource. */
export type ScriptedGpuSource = ScriptedGPUSource;
/** @deprecated Use SimulatedGPUSource. */
export type SimulatedGpuSource = SimulatedGPUSource;
/** @deprecated Use GPUQueryOptions. */
export type GpuQueryOptions = GPUQueryOptions;
/** @deprecated Use WaitForSafeGPUOptions. */
export type WaitForSafeGpuOptions = WaitForSafeGPUOptions;
/** @deprecated Use GPUSafetyOption. */
export type GpuSafetyOption = GPUSafetyOption;
