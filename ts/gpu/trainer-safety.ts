/**
 * GPU safety during trainer.train(): `gpuSafety: config | false` runs a
 * monitor for the run and attaches a native guard to the training thread.
 * 'critical' holds training at the next step boundary until the GPU is safe
 * or warm again and below tempWarning (hysteresis, so a card at the critical
 * line does not flap), each wait bounded by cooldownMs, at most
 * maxCooldownAttempts waits; 'emergency' stops the run with
 * RUNTIME_GPU_TEMPERATURE_CRITICAL. Default: on when training on a GPU, off
 * on the CPU.
 */
import type { TrainingSession } from '../../binding';
import type { ResolvedTrainOptions } from '../config';
import { BackpropError } from '../errors';
import type { Trainer } from '../trainer';
import { GPUMonitor } from './monitor';
import type { GPUSource } from './scripted-source';
import { GPUSafetyConfig, type GPUSafetyConfigOptions } from './types';

/** What the trainer asks of a run's safety watch: start with the run, report at its end. */
export interface RunObserver {
  onRunStart?(trainer: Trainer, session: TrainingSession): void;
  /** Returns metadata to record, e.g. { gpuMaxTemp }. Called once at the end. */
  onRunEnd?(): { gpuMaxTemp: number | null; gpuMaxVramPercent: number | null; failure?: BackpropError | null };
}

export type GPUSafetyOption = false | null | GPUSafetyConfig | (GPUSafetyConfigOptions & { source?: GPUSource; deviceIndex?: number });

function resolve(option: unknown, trainer: Trainer): { config: GPUSafetyConfig; source?: GPUSource; deviceIndex: number } | null {
  if (option === false || option === null) return null;
  if (option === undefined) return trainer.device === 'cuda' ? { config: new GPUSafetyConfig(), deviceIndex: trainer.deviceIndex ?? 0 } : null;
  if (typeof option !== 'object') {
    throw new BackpropError('CONFIG_INVALID', 'gpuSafety must be false or an object of GPU safety options.', { field: 'gpuSafety' });
  }
  if (option instanceof GPUSafetyConfig) return { config: option, deviceIndex: trainer.deviceIndex ?? 0 };
  const { source, deviceIndex, ...rest } = option as GPUSafetyConfigOptions & { source?: GPUSource; deviceIndex?: number };
  return { config: new GPUSafetyConfig(rest), source, deviceIndex: deviceIndex ?? trainer.deviceIndex ?? 0 };
}

/**
 * The GPU safety watch for one run of `trainer` (Trainer.startRun calls it),
 * or null when the run's gpuSafety option leaves it off.
 */
export function gpuSafetyObserver(trainer: Trainer, options: ResolvedTrainOptions): RunObserver | null {
  const safety = resolve(options.gpuSafety, trainer);
  if (!safety) return null;
  const monitor = new GPUMonitor({ config: safety.config, source: safety.source, deviceIndex: safety.deviceIndex });
  let guardId: number | null = null;
  monitor.on('status', (status) => trainer.emit('gpuStatus', status));
  monitor.on('readError', (event) => trainer.emit('gpuReadError', event));
  return {
    onRunStart(_trainer, session) {
      // Attached before the monitor starts, so the guard sees the first
      // sample (start() always takes one at once), however short the run.
      guardId = monitor.attachTrainer(session, safety.deviceIndex, {
        pauseOnCritical: safety.config.pauseOnCritical,
        abortOnEmergency: safety.config.abortOnEmergency,
        cooldownMs: safety.config.cooldownMs,
        maxCooldownAttempts: safety.config.maxCooldownAttempts,
        resumeBelowTempC: safety.config.tempWarning,
      });
      monitor.start();
    },
    onRunEnd() {
      // Stop (joins the sampling thread) before detaching: every sample taken
      // during the run has then reached the guard's statistics.
      void monitor.stop();
      const stats = guardId === null ? null : monitor.detachTrainer(guardId);
      return { gpuMaxTemp: stats?.maxTempC ?? null, gpuMaxVramPercent: stats?.maxVramPercent ?? null };
    },
  };
}

