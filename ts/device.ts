/**
 * Chooses the device a trainer runs on. This binary carries the CPU engine;
 * 'auto' falls back to it with the reason recorded in run.metadata, and an
 * explicit 'cuda' request fails with DEVICE_UNAVAILABLE saying why.
 */
import type { DeviceSpec } from './config';
import { BackpropError } from './errors';
import type { DeviceKind } from './run';

export interface ResolvedDevice {
  kind: DeviceKind;
  index: number;
  reason: string | null;
}

export const cudaUnavailableReason = 'this build of backpropagate has no CUDA backend (CPU engine only)';

export function resolveDevice(spec: DeviceSpec): ResolvedDevice {
  if (spec === 'cpu') return { kind: 'cpu', index: 0, reason: null };
  if (spec === 'auto') return { kind: 'cpu', index: 0, reason: `no usable GPU: ${cudaUnavailableReason}` };
  throw new BackpropError(
    'DEVICE_UNAVAILABLE',
    `device '${spec}' is not available: ${cudaUnavailableReason}. Use device 'cpu' or 'auto' (which falls back to the CPU).`,
    { field: 'device', value: spec, reason: cudaUnavailableReason },
  );
}

export interface DeviceInfo {
  kind: DeviceKind;
  index: number;
  name: string;
  memoryTotalBytes: number | null;
  computeCapability: string | null;
}
