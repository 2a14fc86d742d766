/**
 * Finds and loads the native addon, and converts its errors.
 *
 * Load order (node-gyp-build's): a source build in build/Release, then the
 * prebuilt binary shipped in prebuilds/<platform>-<arch>/. BACKPROP_NATIVE_PATH
 * names an exact .node file instead (for sanitizer builds and debugging).
 * When nothing loads, the error lists every attempt with the fix for each.
 */
import * as path from 'node:path';
import type { NativeBinding } from '../binding';
import { BackpropError, type BackpropErrorCode } from './errors';

const packageRoot = path.join(__dirname, '..');
let binding: NativeBinding | undefined;

export function native(): NativeBinding {
  if (binding) return binding;
  const attempts: string[] = [];
  const override = process.env.BACKPROP_NATIVE_PATH;
  if (override) {
    try {
      binding = require(path.resolve(override)) as NativeBinding;
      return binding;
    } catch (error) {
      attempts.push(`BACKPROP_NATIVE_PATH=${override}: ${(error as Error).message}\n    fix: point it at a backpropagate.node built for this Node and platform, or unset it.`);
    }
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const load = require('node-gyp-build') as (dir: string) => unknown;
    binding = load(packageRoot) as NativeBinding;
    return binding;
  } catch (error) {
    attempts.push(
      `build/Release and prebuilds/${process.platform}-${process.arch}: ${(error as Error).message}\n` +
        `    fix: reinstall the package (npm install backpropagate) so a prebuilt binary for ${process.platform}-${process.arch} is used, ` +
        `or build from source with a C++17 compiler and CMake: npx cmake-js compile --out build`,
    );
  }
  throw new BackpropError(
    'NATIVE_LOAD_FAILED',
    `Could not load the backpropagate native addon (Node ${process.version}, ${process.platform}-${process.arch}).\n` +
      attempts.map((a, i) => `  ${i + 1}. ${a}`).join('\n'),
    { attempts },
  );
}

const knownCodes = new Set<string>([
  'CONFIG_INVALID', 'INPUT_EMPTY', 'INPUT_SHAPE_MISMATCH', 'INPUT_NON_FINITE', 'INPUT_LABEL_RANGE', 'INPUT_PARSE',
  'INPUT_NOT_FOUND', 'DEVICE_UNAVAILABLE', 'CHECKPOINT_CORRUPT', 'CHECKPOINT_NOT_FOUND', 'CHECKPOINT_INCOMPATIBLE',
  'RUNTIME_NON_FINITE_LOSS', 'RUNTIME_GPU_OOM', 'RUNTIME_GPU_TEMPERATURE_CRITICAL', 'RUNTIME_FAILED', 'TRAINER_BUSY',
  'NATIVE_LOAD_FAILED', 'GPU_READ_FAILED',
]);

/** Maps a native code to a public one (the engine's write failures surface as RUNTIME_FAILED). */
export function publicCode(code: unknown): BackpropErrorCode {
  return typeof code === 'string' && knownCodes.has(code) ? (code as BackpropErrorCode) : 'RUNTIME_FAILED';
}

/**
 * Calls into native code; a native failure is re-thrown as a BackpropError
 * created here, so its stack shows the JavaScript caller rather than nothing.
 */
export function callNative<T>(fn: () => T, details: Record<string, unknown> = {}): T {
  try {
    return fn();
  } catch (error) {
    throw fromNativeError(error, details);
  }
}

export function fromNativeError(error: unknown, details: Record<string, unknown> = {}): BackpropError {
  if (error instanceof BackpropError) return error;
  const e = error as { code?: unknown; message?: unknown };
  const nativeCode = typeof e?.code === 'string' ? e.code : undefined;
  return new BackpropError(
    publicCode(nativeCode),
    typeof e?.message === 'string' ? e.message : String(error),
    nativeCode && nativeCode !== publicCode(nativeCode) ? { ...details, nativeCode } : details,
    { cause: error },
  );
}
