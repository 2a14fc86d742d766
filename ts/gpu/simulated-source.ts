/**
 * A live simulated GPU: a source whose reading you change while it is being
 * sampled, to test how a service reacts to a GPU that overheats, recovers or
 * stops answering. The reading lives in a native slot shared with the
 * sampling threads of every monitor built on the source; `set()` and `fail()`
 * write it, and each monitor sees the change at its next sample (no
 * JavaScript runs on the sampling thread, so a busy event loop delays nothing).
 */
import type { SimulatedGpuHandle } from '../../binding';
import { BackpropError } from '../errors';
import { callNative, native } from '../native';
import { checkReading } from './scripted-source';
import type { GPUReading } from './types';

/**
 * What simulatedGPU() returns. Its kind is 'scripted', so it is accepted
 * everywhere a scriptedGPUSource() is: GPUMonitor, getGPUStatus(),
 * checkGPUSafe(), waitForSafeGPU(), train({ gpuSafety: { source } }) and
 * MultiRunTrainer's gpuMonitor.source.
 */
export interface SimulatedGPUSource {
  readonly kind: 'scripted';
  readonly live: true;
  /** The reading the next sample of every monitor on this source sees. */
  readonly reading: Readonly<GPUReading>;
  /** Replaces the reading (a partial GPUStatus, as in scriptedGPUSource). */
  set(reading: GPUReading): void;
  /** Makes the next reads fail with `message` (GPU_READ_FAILED in monitors) until the next set(). */
  fail(message: string): void;
}

const handles = new WeakMap<SimulatedGPUSource, SimulatedGpuHandle>();

/**
 * A simulated GPU whose reading starts as `initialReading` and is changed live
 * with set() and fail(). One simulated GPU answers for every device index it
 * is asked about (each sample carries the index asked for).
 *
 *   const gpu = simulatedGPU({ temperatureC: 60 });
 *   await trainer.train(data, { gpuSafety: { source: gpu } });  // elsewhere: gpu.set({ temperatureC: 92 })
 */
export function simulatedGPU(initialReading: GPUReading): SimulatedGPUSource {
  checkReading(initialReading, 'initialReading');
  let current: Readonly<GPUReading> = Object.freeze({ ...initialReading });
  const handle = callNative(() => new (native().SimulatedGpuHandle)(current as never));
  const write = (reading: GPUReading): void => {
    const copy = Object.freeze({ ...reading });
    callNative(() => handle.set(copy as never));
    current = copy;
  };
  const source: SimulatedGPUSource = Object.freeze({
    kind: 'scripted' as const,
    live: true as const,
    get reading() {
      return current;
    },
    set(reading: GPUReading) {
      checkReading(reading, 'reading');
      write(reading);
    },
    fail(message: string) {
      if (typeof message !== 'string' || message.length === 0) {
        throw new BackpropError('CONFIG_INVALID', 'fail(message) needs a non-empty string saying why the read failed, such as "sensor lost".', { field: 'message', value: message });
      }
      write({ fail: message });
    },
  });
  handles.set(source, handle);
  return source;
}

/** The same function, spelled as the package's other Gpu names are. */
export const simulatedGpu = simulatedGPU;

export function isSimulatedSource(source: unknown): source is SimulatedGPUSource {
  return typeof source === 'object' && source !== null && handles.has(source as SimulatedGPUSource);
}

/** The native slot behind a simulated source, for GpuMonitorHandle({ source: 'simulated' }). */
export function simulatedHandleOf(source: SimulatedGPUSource): SimulatedGpuHandle {
  const handle = handles.get(source);
  if (!handle) throw new BackpropError('CONFIG_INVALID', 'source is not a simulatedGPU() source.', { field: 'source' });
  return handle;
}
