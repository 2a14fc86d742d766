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
export { loadDataFile, type LoadedFile, type LoadDataFileOptions } from './data-files/load';
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

// Fleet mode (also `backpropagate/fleet`). Loaded on first use, not here:
// it pulls in bullmq and ioredis, which a program that never touches fleet
// mode should not pay for. The types are erased at compile time; the values
// are getters that require './fleet' when first read.
import type * as FleetModule from './fleet';
export type {
  TrainingQueueOptions,
  TrainingWorkerOptions,
  JobHandleEvents,
  JobCounts,
  WorkerInfo,
  QueuedJobInfo,
  WorkerEvents as FleetWorkerEvents,
  WorkerGPUSafety,
  FleetRedisOptions,
  SweepSpec,
  SweepResult,
  SweepTrial,
  SweepDistribution,
  SweepValue,
  SweepMetric,
  SweepDirection,
  FleetConnection,
  FleetJob,
  FleetTrainJob,
  FleetMultiRunJob,
  FleetData,
  FleetPathData,
  FleetDatasetData,
  FleetTrainOptions,
  FleetMultiRunConfig,
  FleetEvent,
  FleetEventType,
  CriticalEventType,
  FleetCommand,
  JobState,
  JobStatus,
  SerializedError,
} from './fleet';
export type TrainingQueue = FleetModule.TrainingQueue;
export type TrainingWorker = FleetModule.TrainingWorker;
export type JobHandle = FleetModule.JobHandle;
export declare const TrainingQueue: typeof FleetModule.TrainingQueue;
export declare const TrainingWorker: typeof FleetModule.TrainingWorker;
export declare const JobHandle: typeof FleetModule.JobHandle;
export declare const sweepTrials: typeof FleetModule.sweepTrials;
export declare const validateFleetJob: typeof FleetModule.validateJob;

let fleetModule: typeof FleetModule | null = null;
const loadFleet = (): typeof FleetModule => (fleetModule ??= require('./fleet') as typeof FleetModule);
const FLEET_EXPORTS: Record<string, keyof typeof FleetModule> = {
  TrainingQueue: 'TrainingQueue',
  TrainingWorker: 'TrainingWorker',
  JobHandle: 'JobHandle',
  sweepTrials: 'sweepTrials',
  validateFleetJob: 'validateJob',
};
for (const [name, key] of Object.entries(FLEET_EXPORTS)) {
  Object.defineProperty(exports, name, { enumerable: true, configurable: true, get: () => loadFleet()[key] });
}
