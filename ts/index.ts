/**
 * backpropagate: train neural networks on native threads from Node.js, with
 * live, loss-free training events.
 */
export { Trainer, type TrainerStatus, type TrainerState, type EvaluationResult, type TrainerEvents } from './trainer';
export {
  TrainingCallback,
  type TrainingCallbackHandlers,
  type StepHandler,
  type EpochHandler,
  type SaveHandler,
  type CompleteHandler,
  type ErrorHandler,
} from './callback';
export type { TrainingRun, TrainingRunMetadata, DeviceKind } from './run';
export { BackpropError, isBackpropError, type BackpropErrorCode, type AbortError } from './errors';
export type {
  Activation,
  Task,
  Optimizer,
  DeviceSpec,
  ModelConfig,
  TrainerOptions,
  TrainOptions,
  StepEventsMode,
  ResolvedTrainerOptions,
  ResolvedTrainOptions,
} from './config';
export type { TensorData } from './data';
export { datasets, type Dataset, type SpiralsOptions, type BlobsOptions } from './datasets';
export { readCheckpoint, type LoadedCheckpoint, type CheckpointConfig, type CheckpointRunPosition } from './checkpoint';
export { loadDataFile, type LoadedFile, type LoadDataFileOptions } from './csv';
export { readIdx, type IdxArray, type IdxType } from './idx';
export type { IdxDatasetOptions } from './idx-data';
export {
  fashionMnistDir,
  FASHION_MNIST_LABELS,
  FASHION_MNIST_CLASSES,
  type FashionMnistOptions,
  type FashionMnistSplit,
} from './fashion-mnist';
export type { CallbackErrorInfo } from './handler-guard';

import { native } from './native';

/** Facts about the CPU engine in this process (kernel chosen at run time, thread count). */
export function cpuInfo(): { gemmKernel: string; threads: number; simd: string[] } {
  return native().cpuInfo();
}

export { devices, cudaAvailability, type DeviceInfo, type CudaAvailability } from './device';
export * from './gpu';
export * from './multi-run';
export {
  createEventHub,
  attachDashboard,
  startDashboardCli,
  demoGPUReading,
  demoGpuReading,
  generateToken as generateDashboardToken,
  METRIC_NAMES as DASHBOARD_METRIC_NAMES,
  PROTOCOL_VERSION as DASHBOARD_PROTOCOL_VERSION,
  EventHub,
  type EventHubOptions,
  type WatchOptions,
  type GPUThresholds,
  type GpuThresholds,
  type CommandResult,
  type AttachDashboardOptions,
  type AttachedDashboard,
  type ListenOptions as DashboardListenOptions,
  type AttachOptions as DashboardAttachOptions,
  type EndpointOptions as DashboardEndpointOptions,
  type DashboardServer,
  type DashboardAttachment,
  type ClientInfo as DashboardClientInfo,
  type HubMessage,
  type HubState,
  type DashboardCliOptions,
  type DashboardCliHandle,
  type DemoOptions as DashboardDemoOptions,
} from './dashboard';
