/**
 * Multi-run training (continual learning): several short runs in sequence,
 * each on a fresh chunk of the data, carrying the model forward.
 */
export {
  MultiRunTrainer,
  type MultiRunTrainerOptions,
  type MultiRunOptions,
  type MultiRunEvents,
  type MultiRunResult,
  type MultiRunStatus,
  type MultiRunState,
  type RunResult,
  type GPUMonitorOption,
  type GpuMonitorOption,
  type RunStartHandler,
  type RunCompleteHandler,
  type MultiRunStepHandler,
  type GpuStatusHandler,
} from './multi-run-trainer';
export { MultiRunConfig, type MultiRunConfigOptions, type MergeMode, type LrDecay, type ReplayStrategy } from './config';
export { learningRateForRun, learningRateSchedule } from './schedule';
