/**
 * Chooses the device a trainer runs on, and lists the devices of this machine.
 *
 * The CUDA backend is a separate library (libbackpropagate_cuda.so next to
 * the addon) that the addon loads only when a GPU is asked for or 'auto' is
 * used. 'auto' takes the first GPU when the library loads and the driver
 * reports a device, and otherwise the CPU, with the reason recorded in
 * run.metadata.deviceReason. An explicit 'cuda' / 'cuda:N' request that
 * cannot be served fails with DEVICE_UNAVAILABLE and the driver's reason.
 */
import * as os from 'node:os';
import type { NativeCudaStatus } from '../binding';
import type { DeviceSpec } from './config';
import { BackpropError } from './errors';
import { native } from './native';
import type { DeviceKind } from './run';

export interface ResolvedDevice {
  kind: DeviceKind;
  index: number;
  /** Why 'auto' chose the CPU; null otherwise. */
  reason: string | null;
}

export interface DeviceInfo {
  /** 'cpu' or 'cuda:N': the value to pass as the trainer's `device`. */
  id: string;
  kind: DeviceKind;
  index: number;
  name: string;
  /** System memory for the CPU, device memory for a GPU. */
  memoryTotalBytes: number | null;
  /** 'major.minor' for a GPU (e.g. '9.0'); null for the CPU. */
  computeCapability: string | null;
  /** Streaming multiprocessors (GPU) or logical cores (CPU). */
  units: number | null;
}

export interface CudaAvailability {
  /** A GPU can be trained on. */
  available: boolean;
  /** Why not (the driver's words, or where the CUDA library was looked for); null when available. */
  reason: string | null;
  /** This installation carries the CUDA library (it was built with nvcc). */
  built: boolean;
  libraryLoaded: boolean;
  libraryPath: string;
  /** The library's description of itself (CUDA version, GPU architectures), or null. */
  buildInfo: string | null;
  driverVersion: number | null;
  runtimeVersion: number | null;
}

function status(): NativeCudaStatus {
  const binding = native();
  if (typeof binding.cudaStatus === 'function') return binding.cudaStatus();
  // An addon binary from before the CUDA backend (a stale build/ folder).
  const reason = 'this backpropagate binary predates the CUDA backend; rebuild it (npx cmake-js compile --out build) to use a GPU';
  return { built: false, libraryLoaded: false, usable: false, reason, libraryPath: '', buildInfo: '', driverVersion: 0, runtimeVersion: 0, devices: [] };
}

/** Whether training on a GPU is possible here, and if not, why. */
export function cudaAvailability(): CudaAvailability {
  const s = status();
  return Object.freeze({
    available: s.usable,
    reason: s.usable ? null : s.reason,
    built: s.built,
    libraryLoaded: s.libraryLoaded,
    libraryPath: s.libraryPath,
    buildInfo: s.buildInfo || null,
    driverVersion: s.driverVersion || null,
    runtimeVersion: s.runtimeVersion || null,
  });
}

/** The CPU, then every usable CUDA device. */
export function devices(): DeviceInfo[] {
  const cpus = os.cpus();
  const list: DeviceInfo[] = [
    Object.freeze({
      id: 'cpu',
      kind: 'cpu' as const,
      index: 0,
      name: cpus[0]?.model?.trim() || `${os.arch()} CPU`,
      memoryTotalBytes: os.totalmem(),
      computeCapability: null,
      units: os.availableParallelism(),
    }),
  ];
  const s = status();
  if (s.usable) {
    for (const d of s.devices) {
      list.push(
        Object.freeze({
          id: `cuda:${d.index}`,
          kind: 'cuda' as const,
          index: d.index,
          name: d.name,
          memoryTotalBytes: d.memoryTotalBytes,
          computeCapability: d.computeCapability,
          units: d.multiprocessors,
        }),
      );
    }
  }
  return list;
}

function describeGpus(s: NativeCudaStatus): string {
  const n = s.devices.length;
  return `${n} CUDA device${n === 1 ? '' : 's'} (${s.devices.map((d) => `cuda:${d.index} ${d.name}`).join(', ')})`;
}

export function resolveDevice(spec: DeviceSpec): ResolvedDevice {
  if (spec === 'cpu') return { kind: 'cpu', index: 0, reason: null };
  const s = status();
  if (spec === 'auto') {
    return s.usable ? { kind: 'cuda', index: 0, reason: null } : { kind: 'cpu', index: 0, reason: `no usable GPU: ${s.reason}` };
  }
  if (!s.usable) {
    throw new BackpropError(
      'DEVICE_UNAVAILABLE',
      `device '${spec}' is not available: ${s.reason}. Use device 'cpu' or 'auto' (which falls back to the CPU).`,
      { field: 'device', value: spec, reason: s.reason },
    );
  }
  const index = spec === 'cuda' ? 0 : Number(spec.slice('cuda:'.length));
  if (!s.devices.some((d) => d.index === index)) {
    throw new BackpropError(
      'DEVICE_UNAVAILABLE',
      `device '${spec}' does not exist: this machine has ${describeGpus(s)}. Pick one of those, 'cpu', or 'auto'.`,
      { field: 'device', value: spec, reason: `no CUDA device ${index}` },
    );
  }
  return { kind: 'cuda', index, reason: null };
}
