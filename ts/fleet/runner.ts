/**
 * Runs one attempt of one job on this process's native engine, relaying its
 * events and taking remote commands. Checkpoints go to
 * checkpointRoot/<jobId>/; an attempt after a crash resumes from the newest
 * checkpoint there, so at most saveEverySteps steps are trained again and the
 * loss history from the resume point on is the uninterrupted run's.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { BackpropError, createAbortError } from '../errors';
import { MultiRunTrainer } from '../multi-run/multi-run-trainer';
import { Trainer } from '../trainer';
import { resolveJobData } from './data';
import type { EventRelay } from './relay';
import type { FleetCommand, FleetJob, WorkerGPUSafety } from './types';

/** What a command acts on; swapped in once the job's trainer runs. */
interface Target {
  abort(reason: string): void;
  pause(): void;
  resume(): void;
  setLearningRate(lr: number): void;
}

/**
 * Commands for one job. A command that arrives before the trainer runs is
 * kept and applied when it starts, so an early abort or pause is not lost.
 */
export class JobControl {
  private target: Target | null = null;
  abortReason: string | null = null;
  private paused = false;
  private learningRate: number | null = null;

  constructor(private readonly relay: EventRelay) {}

  apply(command: FleetCommand): void {
    switch (command.type) {
      case 'abort':
        this.abortReason ??= String(command.reason ?? 'aborted');
        this.target?.abort(this.abortReason);
        break;
      case 'pause':
        this.paused = true;
        this.target?.pause();
        break;
      case 'resume':
        this.paused = false;
        this.target?.resume();
        break;
      case 'setLearningRate':
        if (typeof command.learningRate !== 'number' || !(command.learningRate > 0) || command.learningRate > 10) return;
        this.learningRate = command.learningRate;
        if (this.target) {
          this.target.setLearningRate(command.learningRate);
          this.relay.event('learningRate', { learningRate: command.learningRate });
        }
        break;
    }
  }

  attach(target: Target): void {
    this.target = target;
    if (this.abortReason !== null) target.abort(this.abortReason);
    if (this.paused) target.pause();
    if (this.learningRate !== null) {
      target.setLearningRate(this.learningRate);
      this.relay.event('learningRate', { learningRate: this.learningRate });
    }
  }
}


export interface RunContext {
  jobId: string;
  job: FleetJob;
  relay: EventRelay;
  control: JobControl;
  dataRoot: string | null;
  checkpointRoot: string;
  gpuSafety: WorkerGPUSafety | null;
  /** Asked at every epoch end of a sweep trial: true stops the trial (pruned). */
  shouldPrune?: (epoch: number, info: EpochMetrics) => Promise<boolean>;
  /** Steps and samples trained, for the worker's throughput. */
  onProgress?: (steps: number, samples: number) => void;
}

export interface EpochMetrics {
  validationLoss: number | null;
  validationAccuracy: number | null;
  loss: number | null;
}

export const PRUNED_REASON = 'pruned';

/** The newest complete checkpoint-<step> folder, or null. */
export async function latestCheckpoint(dir: string): Promise<string | null> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return null;
  }
  const steps = names
    .map((n) => /^checkpoint-(\d+)$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => b - a);
  for (const step of steps) {
    const folder = path.join(dir, `checkpoint-${step}`);
    // Folders are renamed into place only when complete; a state file is the last proof of that.
    if (await fs.stat(path.join(folder, 'trainer_state.json')).then(() => true, () => false)) return folder;
  }
  return null;
}

export async function runJob(ctx: RunContext): Promise<unknown> {
  return ctx.job.kind === 'train' ? runTrain(ctx) : runMultiRun(ctx);
}

async function runTrain(ctx: RunContext): Promise<unknown> {
  const job = ctx.job as Extract<FleetJob, { kind: 'train' }>;
  const resolved = await resolveJobData(job.data, ctx.dataRoot);
  const outputDir = path.join(ctx.checkpointRoot, ctx.jobId);
  const resumeFrom = await latestCheckpoint(outputDir);
  const trainer = new Trainer(job.trainer);
  const batchSize = job.train?.batchSize ?? 32;
  let lastLoss: number | null = null;
  let attached = false;
  let lastReported = 0;
  let pruning: Promise<void> = Promise.resolve();
  trainer.on('step', (step: number, loss: number) => {
    lastLoss = loss;
    if (!attached) {
      attached = true;
      ctx.control.attach(trainer);
    }
    ctx.relay.step({ step, loss });
    if (ctx.onProgress) {
      ctx.onProgress(step - lastReported, (step - lastReported) * batchSize);
      lastReported = step;
    }
  });
  trainer.on('epoch', (epoch: number, info: { validationLoss: number | null; validationAccuracy: number | null }) => {
    const metrics: EpochMetrics = { ...info, loss: lastLoss };
    ctx.relay.event('epoch', { epoch, ...metrics });
    if (ctx.shouldPrune) {
      // Held while the pruner decides (one Redis round trip), so a pruned trial stops at this epoch's end.
      trainer.pause();
      const ask = ctx.shouldPrune;
      pruning = pruning.then(async () => {
        const prune = await ask(epoch, metrics).catch(() => false);
        if (prune) trainer.abort(PRUNED_REASON);
        else if (!ctx.control.abortReason) trainer.resume();
      });
    }
  });
  trainer.on('save', (p: string) => ctx.relay.event('save', { path: p }));
  trainer.on('paused', () => ctx.relay.event('paused', {}));
  trainer.on('resumed', () => ctx.relay.event('resumed', {}));
  trainer.on('gpuStatus', (status: unknown) => ctx.relay.event('gpuStatus', { status }));
  trainer.on('error', () => undefined); // the rejection below carries it
  if (ctx.control.abortReason !== null) ctx.control.attach(trainer);
  const gpuSafety = ctx.gpuSafety ? { ...ctx.gpuSafety } : undefined;
  const run = trainer.train(
    resolved.data,
    {
      ...job.train,
      outputDir,
      ...(resumeFrom ? { resumeFrom } : {}),
      ...(resolved.label ? { label: resolved.label } : {}),
      ...(resolved.labels ? { labels: resolved.labels } : {}),
      ...(gpuSafety ? { gpuSafety } : {}),
    },
  );
  // An abort that came in while data or the checkpoint loaded lands now (train() has started).
  if (ctx.control.abortReason !== null) trainer.abort(ctx.control.abortReason);
  try {
    const result = await run;
    await pruning;
    return result;
  } finally {
    if (ctx.onProgress && trainer.status.step > lastReported) ctx.onProgress(trainer.status.step - lastReported, (trainer.status.step - lastReported) * batchSize);
  }
}

async function runMultiRun(ctx: RunContext): Promise<unknown> {
  const job = ctx.job as Extract<FleetJob, { kind: 'multi-run' }>;
  const resolved = await resolveJobData(job.data, ctx.dataRoot);
  const checkpointDir = path.join(ctx.checkpointRoot, ctx.jobId);
  const resume = await fs.stat(path.join(checkpointDir, 'run_history.json')).then(() => true, () => false);
  const gpu = ctx.gpuSafety;
  const { source, ...gpuConfig } = gpu ?? {};
  const trainer = new MultiRunTrainer({
    ...job.trainer,
    config: { enableGpuMonitoring: gpu !== null, ...job.multiRun, checkpointDir },
    gpuMonitor: gpu ? { source, config: gpuConfig } : null,
    onRunStart: (runIndex) => ctx.relay.event('runStart', { runIndex }),
    onStep: (runIndex, step, loss) => ctx.relay.step({ runIndex, step, loss }),
    onRunComplete: (result) => ctx.relay.event('runComplete', { result }),
    onGpuStatus: (status) => ctx.relay.event('gpuStatus', { status }),
  });
  ctx.control.attach({
    abort: (reason) => trainer.abort(reason),
    // A multi-run session is steered run by run; pause and the learning rate belong to its schedule.
    pause: () => undefined,
    resume: () => undefined,
    setLearningRate: () => undefined,
  });
  const result = await trainer.run(resolved.data, { resume, ...(resolved.label ? { label: resolved.label } : {}) });
  if (result.aborted && ctx.control.abortReason !== null) throw createAbortError(ctx.control.abortReason, result);
  if (result.aborted && result.abortReason && /GPU|temperature/i.test(result.abortReason)) {
    throw new BackpropError('RUNTIME_GPU_TEMPERATURE_CRITICAL', `The GPU reached an emergency condition: ${result.abortReason}. The job is retried on another worker.`, {});
  }
  return result;
}
