/**
 * The typed surface of the raw native addon (`build/Release/backpropagate.node`
 * or `prebuilds/<platform>-<arch>/backpropagate.napi.node`).
 *
 * Nothing here is public API: `ts/` wraps every call, validates every input
 * before it reaches native code and turns native failures into BackpropError.
 * Keep this file in step with `native/addon/*.cpp`.
 */

export type NativeActivation = 'relu' | 'tanh' | 'gelu';
export type NativeTask = 'classification' | 'regression';

export interface NativeModelConfig {
  inputSize: number;
  hiddenLayers: number[];
  outputSize: number;
  activation: NativeActivation;
  task: NativeTask;
}

export interface NativeTrainerConfig {
  model: NativeModelConfig;
  optimizer: 'adamw' | 'sgd';
  learningRate: number;
  weightDecay: number;
  momentum: number;
  /** 0 disables clipping. */
  gradientClipNorm: number;
  /** Unsigned 32-bit seed. */
  seed: number;
  /** Worker threads for the CPU kernels; 0 picks the number of cores. */
  threads: number;
  /** Where steps run; absent means 'cpu'. 'cuda' throws code DEVICE_UNAVAILABLE (with the reason) when unusable. */
  device?: 'cpu' | 'cuda';
  /** CUDA device index (device 'cuda' only). */
  deviceIndex?: number;
  /** TF32 tensor-core GEMMs on sm_80+ GPUs (device 'cuda' only; default false: float32). */
  tf32?: boolean;
}

/** What cudaStatus() reports: whether the CUDA backend can run here, and on what. */
export interface NativeCudaStatus {
  /** This addon was built together with libbackpropagate_cuda.so. */
  built: boolean;
  /** The CUDA library was found, loaded and speaks this addon's ABI. */
  libraryLoaded: boolean;
  /** ... and the driver reports at least one device. */
  usable: boolean;
  /** Why not usable ('' when usable): the driver's words, or where the library was looked for. */
  reason: string;
  libraryPath: string;
  /** The library's description of itself (CUDA version, GPU architectures); '' when not loaded. */
  buildInfo: string;
  /** cudaDriverGetVersion / cudaRuntimeGetVersion, e.g. 13000; 0 when unknown. */
  driverVersion: number;
  runtimeVersion: number;
  devices: Array<{ index: number; name: string; memoryTotalBytes: number; computeCapability: string; multiprocessors: number }>;
}

/** Where a checkpoint says training continues, as read back by ts/checkpoint.ts. */
export interface NativeResumeState {
  params: Float32Array;
  /** AdamW first moment, or SGD velocity. */
  optimizerM: Float32Array;
  /** AdamW second moment; empty for SGD. */
  optimizerV: Float32Array;
  /** Optimizer update count (AdamW bias correction). */
  optimizerStep: number;
  /** Steps already taken. */
  step: number;
  /** 1-based epoch in which training continues. */
  epoch: number;
  /** Batches of `epoch` already taken. */
  stepInEpoch: number;
  /** Shuffle generator state at the start of `epoch` (4 x uint32). */
  shuffleRngState: number[];
  samplesSeen: number;
  lossHistory: Float64Array;
  learningRate: number;
}

export interface NativeTrainOptions {
  /** 0 = no bound (then maxSteps bounds the run). */
  epochs: number;
  /** 0 = no bound. */
  maxSteps: number;
  batchSize: number;
  shuffle: boolean;
  /** '' writes no checkpoints. */
  outputDir: string;
  /** 0 = off. */
  saveEverySteps: number;
  saveEveryEpoch: boolean;
  stepEvents: 'coalesce' | 'block';
  /** Pending step events the native queue holds before coalescing or blocking. */
  queueCapacity: number;
  /** Fraction of rows held out for validation (0 = none). */
  validationSplit: number;
  runId: string;
  /** Linear learning-rate warm-up over the first steps of the run (0 = none). */
  warmupSteps?: number;
  /** The checkpoint folder training was resumed from, recorded in new checkpoints. */
  resumedFrom: string;
  resume: NativeResumeState | null;
}

/** Event record type codes in the batches handed to `onEvents`. */
export const enum NativeEventType {
  Step = 1,
  Epoch = 2,
  Save = 3,
  Complete = 4,
  Error = 5,
  Aborted = 6,
  StateChange = 7,
}

/**
 * One delivery of events, in production order. `records` holds
 * RECORD_STRIDE numbers per event: [type, a, b, c]:
 *   Step:        a = step, b = loss, c = epoch
 *   Epoch:       a = epoch, b = validation loss (NaN when none), c = validation accuracy (NaN)
 *   Save:        a = step, b = index into `strings` of the checkpoint folder
 *   Complete:    (terminal)
 *   Error:       a = index of the error code in `strings`, b = index of the message (terminal)
 *   Aborted:     a = index of the reason in `strings` (terminal)
 *   StateChange: a = 0 running, 1 paused
 */
/** The batch record layout, from the addon's own definition (native/addon/event_batch.hpp). */
export interface NativeEventLayout {
  readonly stride: number;
  readonly types: {
    readonly step: number;
    readonly epoch: number;
    readonly save: number;
    readonly complete: number;
    readonly error: number;
    readonly aborted: number;
    readonly stateChange: number;
  };
}

export type NativeEventBatchHandler = (records: Float64Array, strings: string[]) => void;

export interface NativeRunSummary {
  steps: number;
  epochs: number;
  samplesSeen: number;
  droppedStepEvents: number;
  finalLoss: number;
  lossHistory: Float64Array;
  durationSeconds: number;
  validationLoss: number;
  validationAccuracy: number;
  learningRate: number;
  lastCheckpoint: string;
  trainSamples: number;
  validationSamples: number;
}

export interface NativeStatus {
  state: 'idle' | 'running' | 'paused' | 'stopping';
  step: number;
  epoch: number;
  loss: number;
  learningRate: number;
}

export interface NativeOptimizerState {
  optimizerM: Float32Array;
  optimizerV: Float32Array;
  optimizerStep: number;
}

export interface NativeEvaluation {
  loss: number;
  /** NaN for regression. */
  accuracy: number;
}

export declare class TrainingSession {
  constructor(config: NativeTrainerConfig);
  /** Number of parameters of the model. */
  readonly parameterCount: number;
  /** The GPU this session trains on, e.g. "NVIDIA H100 80GB HBM3 (cuda:0, sm_90, fp32)"; '' on the CPU. */
  readonly deviceDescription: string;
  /**
   * Starts training on a native thread. `x` and `y` are copied before this
   * returns. Throws (synchronously) if a run is already active.
   */
  start(
    x: Float32Array,
    y: Int32Array | Float32Array,
    options: NativeTrainOptions,
    onEvents: NativeEventBatchHandler,
  ): void;
  abort(reason: string): void;
  pause(): void;
  resume(): void;
  setLearningRate(lr: number): void;
  status(): NativeStatus;
  /** Valid once the terminal event has been delivered. */
  summary(): NativeRunSummary;
  /** Copy of the flat parameter vector (layer by layer: weight [out x in], then bias). */
  getParameters(): Float32Array;
  setParameters(params: Float32Array): void;
  getOptimizerState(): NativeOptimizerState;
  setOptimizerState(state: NativeOptimizerState): void;
  predict(x: Float32Array): Float32Array;
  evaluate(x: Float32Array, y: Int32Array | Float32Array): NativeEvaluation;
  /** Writes a checkpoint folder atomically (temp folder, fsync, rename) on a libuv worker. */
  saveCheckpoint(folder: string): Promise<void>;
  /** Holds (true) or releases a pause requested by a safety monitor, separate from pause()/resume(). */
  setSafetyHold(hold: boolean): void;
}

export interface NativeCpuInfo {
  gemmKernel: string;
  threads: number;
  simd: string[];
}

export interface NativeGpuConfig {
  tempWarning: number;
  tempCritical: number;
  tempEmergency: number;
  vramWarning: number;
  vramCritical: number;
  powerWarning: number;
  powerCritical: number;
}

/** A reading in, for scripted sources: any GPUStatus field, or `fail` for a failed read. */
export interface NativeGpuReading {
  fail?: string;
  deviceIndex?: number;
  deviceName?: string;
  [field: string]: unknown;
}

/** One sample out: every GPUStatus field (null when unsupported) plus monitor bookkeeping. */
export interface NativeGpuSample {
  ok: boolean;
  error: string;
  deviceIndex: number;
  deviceName: string | null;
  uuid: string | null;
  temperatureC: number | null;
  temperatureMaxC: number | null;
  temperatureSlowdownC: number | null;
  vramTotalGb: number | null;
  vramUsedGb: number | null;
  vramFreeGb: number | null;
  vramPercent: number | null;
  powerDrawW: number | null;
  powerLimitW: number | null;
  powerPercent: number | null;
  gpuUtilization: number | null;
  memoryUtilization: number | null;
  smClockMhz: number | null;
  memClockMhz: number | null;
  fanPercent: number | null;
  throttleReasons: string[] | null;
  processes: Array<{ pid: number; usedMemoryMb: number | null }> | null;
  condition: 'safe' | 'warm' | 'warning' | 'critical' | 'emergency' | 'unknown';
  conditionReason: string;
  timestamp: number;
  consecutiveFailures: number;
  recovered: boolean;
  afterFailures: number;
  sequence: number;
}

export interface NativeGpuGuardPolicy {
  pauseOnCritical: boolean;
  abortOnEmergency: boolean;
  cooldownMs: number;
  maxCooldownAttempts: number;
  resumeBelowTempC: number;
}

export interface NativeGpuGuardStats {
  maxTempC: number | null;
  maxVramPercent: number | null;
  pauses: number;
  failed: boolean;
}

/** One live simulated GPU: a reading slot that monitors with source 'simulated' read at each sample. */
export declare class SimulatedGpuHandle {
  constructor(reading: NativeGpuReading);
  /** Replaces the reading; every monitor on this GPU sees it from its next sample on. */
  set(reading: NativeGpuReading): void;
}

export declare class GpuMonitorHandle {
  constructor(options: {
    source: 'nvml' | 'scripted' | 'simulated';
    /** The GPU read by source 'simulated'. */
    simulated?: SimulatedGpuHandle;
    libraryPath: string;
    readings: NativeGpuReading[];
    loop: boolean;
    deviceIndices: number[];
    intervalMs: number;
    config: NativeGpuConfig;
  });
  readonly running: boolean;
  /** Samples dropped because JavaScript did not take them for very long. */
  readonly dropped: number;
  start(onSamples: (samples: NativeGpuSample[]) => void): void;
  /** Joins the sampling thread; returns the samples not yet delivered. */
  stop(): NativeGpuSample[];
  setConfig(config: NativeGpuConfig): void;
  attachTrainer(session: TrainingSession, deviceIndex: number, policy: NativeGpuGuardPolicy): number;
  detachTrainer(id: number): NativeGpuGuardStats | null;
}

export interface NativeBinding {
  GpuMonitorHandle: typeof GpuMonitorHandle;
  SimulatedGpuHandle: typeof SimulatedGpuHandle;
  nvmlStatus(libraryPath?: string): { available: boolean; reason: string; libraryPath: string; deviceCount: number };
  readGpu(index: number, libraryPath: string, config: NativeGpuConfig): NativeGpuSample;
  evaluateGpuReading(reading: NativeGpuReading, config: NativeGpuConfig): NativeGpuSample;
  resetNvmlState(): void;
  /** Median microseconds of one full NVML device read. */
  nvmlSampleCost(index: number, reps: number, libraryPath?: string): number;
  TrainingSession: typeof TrainingSession;
  cpuInfo(): NativeCpuInfo;
  /** Stride and type codes of the event records handed to `onEvents`. */
  readonly eventLayout: NativeEventLayout;
  /** Loads the CUDA library on first call (cached for the process). */
  cudaStatus(): NativeCudaStatus;
  /** Flat parameter layout: [name, rows, cols, offset] per tensor, PyTorch nn.Linear names. */
  parameterLayout(model: NativeModelConfig): Array<[string, number, number, number]>;
  sha256Hex(data: Uint8Array): string;
  /** Index of the first NaN or ±Infinity in `values`, or -1 (the data check before every run). */
  firstNonFinite(values: Float32Array): number;
  /** Validates a safetensors file image (F32 tensors, offsets inside the file); throws code CHECKPOINT_CORRUPT. */
  parseSafetensors(bytes: Uint8Array): { dataStart: number; tensors: Array<{ name: string; shape: number[]; begin: number; end: number }> };
  /** Checks trainer_state.json text: JSON, format/version and its self checksum; throws code CHECKPOINT_CORRUPT. */
  verifyTrainerState(text: string): void;
  /** Median GFLOP/s of the engine's SGEMM (m x k times (n x k)^T) on `threads` threads; for benchmarks. */
  sgemmBenchmark(m: number, n: number, k: number, threads: number, reps: number): number;
  /**
   * Dispatch micro-benchmark: a native thread produces `count` step events
   * through the same queue as training ('batched') or with one thread-safe
   * function call per event ('naive'); resolves when all were delivered.
   */
  dispatchBenchmark(count: number, mode: 'batched', onEvents: NativeEventBatchHandler, done: () => void): void;
  /** The naive path calls `onEvent(step, loss)` once per event. */
  dispatchBenchmark(count: number, mode: 'naive', onEvent: (step: number, loss: number) => void, done: () => void): void;
}
