/**
 * Fleet mode: training jobs across many machines on BullMQ and Redis, with
 * the event contract of a local Trainer kept over the network.
 * (`backpropagate/fleet`; also reachable from the main entry, which loads
 * this module, and so bullmq and ioredis, only when a fleet name is used.)
 */
export { TrainingQueue, type TrainingQueueOptions, type AttachOptions, type JobCounts, type WorkerInfo, type QueuedJobInfo } from './queue';
export { TrainingWorker, type TrainingWorkerOptions, type WorkerEvents } from './worker';
export { JobHandle, type JobHandleEvents } from './handle';
export { validateJob } from './job';
export { sweepTrials, type SweepSpec, type SweepResult, type SweepTrial, type SweepDistribution, type SweepValue } from './sweep';
export { median } from './sweep-math';
export {
  CRITICAL_EVENTS,
  type FleetConnection,
  type FleetRedisOptions,
  type WorkerGPUSafety,
  type SweepMetric,
  type SweepDirection,
  type FleetJob,
  type FleetTrainJob,
  type FleetMultiRunJob,
  type FleetData,
  type FleetPathData,
  type FleetDatasetData,
  type FleetTrainOptions,
  type FleetMultiRunConfig,
  type FleetEvent,
  type FleetEventType,
  type CriticalEventType,
  type FleetCommand,
  type JobState,
  type JobStatus,
  type SerializedError,
} from './types';
