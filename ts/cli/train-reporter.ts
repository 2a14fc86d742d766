/**
 * The train command's reporter: turns one training run's events into output
 * for the current mode (human, json, quiet; see output.ts). The command wires
 * trainer callbacks to it; it holds the progress display and the step rate.
 */
import type { TrainingRun } from '../run';
import { fmtDuration, fmtInt, fmtLoss, fmtLr, fmtPercent, fmtRate, fmtShape, keyValues } from './format';
import { GpuEventReporter } from './gpu-event-reporter';
import type { Output } from './output';
import { ProgressDisplay, StepRate, type ProgressState } from './progress';

const LR_REFRESH_MS = 250;

export interface TrainStartInfo {
  source: string;
  rows: number;
  trainRows: number;
  validationRows: number;
  model: { inputSize: number; hiddenLayers: readonly number[]; outputSize: number; activation: string; task: string };
  optimizer: string;
  learningRate: number;
  seed: number;
  batchSize: number;
  /** 0 = unbounded. */
  epochs: number;
  stepsPerEpoch: number;
  totalSteps: number;
  /** Steps already done (resume). */
  startStep: number;
  device: string;
  deviceReason: string | null;
  outputDir: string | null;
  resumedFrom: string | null;
  parameterCount: number;
}

export interface InterruptInfo {
  step: number;
  totalSteps: number;
  checkpoint: string | null;
  /** True when the checkpoint holds the run position (--output was given). */
  resumable: boolean;
  resumeCommand: string | null;
}

export class TrainReporter {
  readonly progress: ProgressDisplay;
  readonly gpu: GpuEventReporter;
  private readonly rate = new StepRate();
  private info: TrainStartInfo | null = null;
  private lastLoss: number | null = null;
  private lastStep = 0;
  private lr: number | null = null;
  private lrReadAt = -Infinity;

  constructor(
    private readonly out: Output,
    private readonly readLearningRate: () => number | null,
  ) {
    this.progress = new ProgressDisplay(out);
    this.gpu = new GpuEventReporter(out);
  }

  start(info: TrainStartInfo): void {
    this.info = info;
    this.lastStep = info.startStep;
    this.lr = info.learningRate;
    const m = info.model;
    this.out.event('start', {
      source: info.source,
      rows: info.rows,
      trainRows: info.trainRows,
      validationRows: info.validationRows,
      model: m,
      parameters: info.parameterCount,
      optimizer: info.optimizer,
      learningRate: info.learningRate,
      batchSize: info.batchSize,
      epochs: info.epochs,
      totalSteps: info.totalSteps,
      startStep: info.startStep,
      device: info.device,
      resumedFrom: info.resumedFrom,
    });
    const c = this.out.ce;
    const what = `${fmtShape(m)} ${m.activation} ${m.task === 'regression' ? 'regressor' : 'classifier'}`;
    this.out.log(`${c.bold('Training')} ${what} on ${info.source}: ${fmtInt(info.trainRows)} train / ${fmtInt(info.validationRows)} validation rows`);
    const epochs = info.epochs > 0 ? `${info.epochs} epoch${info.epochs === 1 ? '' : 's'} × ${fmtInt(info.stepsPerEpoch)} steps` : 'until --max-steps';
    this.out.log(c.dim(`  ${fmtInt(info.totalSteps)} steps (${epochs}, batch ${info.batchSize}), ${info.optimizer} lr ${fmtLr(info.learningRate)}, device ${info.device}`));
    if (info.resumedFrom) this.out.log(c.dim(`  resuming from ${info.resumedFrom} at step ${fmtInt(info.startStep)}`));
    this.out.debug(c.dim(`  ${fmtInt(info.parameterCount)} parameters, seed ${info.seed}${info.deviceReason ? `, ${info.deviceReason}` : ''}`));
    if (info.outputDir) this.out.debug(c.dim(`  checkpoints in ${info.outputDir}`));
    this.progress.start('', this.state());
  }

  step(step: number, loss: number): void {
    this.out.event('step', { step, loss });
    this.lastStep = step;
    this.lastLoss = loss;
    if (this.progress.kind === 'off') return;
    this.rate.add(step);
    const now = performance.now();
    if (now - this.lrReadAt >= LR_REFRESH_MS) {
      this.lrReadAt = now;
      this.lr = this.readLearningRate() ?? this.lr;
    }
    this.progress.update(this.state());
  }

  epoch(epoch: number, validationLoss: number | null, validationAccuracy: number | null): void {
    this.out.event('epoch', { epoch, validationLoss, validationAccuracy });
    if (!this.out.verbose) return;
    const of = this.info && this.info.epochs > 0 ? `/${this.info.epochs}` : '';
    const validation = validationLoss !== null ? `, validation loss ${fmtLoss(validationLoss)}${validationAccuracy !== null ? `, accuracy ${fmtPercent(validationAccuracy)}` : ''}` : '';
    this.out.log(`epoch ${epoch}${of} done at step ${fmtInt(this.lastStep)}: loss ${fmtLoss(this.lastLoss)}${validation}`);
  }

  save(path: string): void {
    this.out.event('save', { path, step: this.lastStep });
    this.out.debug(`checkpoint saved: ${path}`);
  }

  paused(): void {
    this.out.event('paused', { step: this.lastStep });
    this.out.warn(`training paused at step ${fmtInt(this.lastStep)} (GPU too hot; waiting for it to cool down)`);
  }

  resumed(): void {
    this.out.event('resumed', { step: this.lastStep });
    this.out.log(`training resumed at step ${fmtInt(this.lastStep)}`);
  }

  callbackError(hook: string, error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this.out.event('callbackError', { hook, message });
    this.out.warn(`callback error in ${hook}: ${message} (training goes on)`);
  }

  interrupting(signal: string): void {
    this.out.event('interrupt', { signal, step: this.lastStep });
    this.out.log(this.out.ce.yellow(`${signal === 'SIGINT' ? 'Ctrl-C' : signal}: stopping at the next step and saving a checkpoint (press Ctrl-C again to quit at once)`));
  }

  complete(run: TrainingRun): void {
    this.progress.close();
    const info = this.info!;
    const md = run.metadata;
    const seconds = run.durationSeconds;
    const samplesPerSecond = seconds > 0 ? (run.steps - info.startStep) * info.batchSize / seconds : null;
    this.out.event('complete', {
      runId: run.runId,
      steps: run.steps,
      epochs: md.epochs,
      finalLoss: run.finalLoss,
      validationLoss: md.validationLoss,
      validationAccuracy: md.validationAccuracy,
      durationSeconds: seconds,
      samplesSeen: run.samplesSeen,
      device: md.device,
      deviceReason: md.deviceReason,
      checkpoint: run.outputPath,
      droppedStepEvents: md.droppedStepEvents,
    });
    const c = this.out.c;
    const pairs: Array<[string, string]> = [['final loss', fmtLoss(run.finalLoss)]];
    if (md.validationSamples > 0) {
      const acc = md.validationAccuracy !== null ? `, accuracy ${c.bold(fmtPercent(md.validationAccuracy))}` : '';
      pairs.push(['validation', `loss ${fmtLoss(md.validationLoss)}${acc} (${fmtInt(md.validationSamples)} rows)`]);
    }
    pairs.push(['steps', `${fmtInt(run.steps)} (${md.epochs} epoch${md.epochs === 1 ? '' : 's'}, ${fmtInt(run.samplesSeen)} samples)`]);
    pairs.push(['duration', `${fmtDuration(seconds)}${samplesPerSecond !== null ? ` (${fmtRate(samplesPerSecond)} samples/s)` : ''}`]);
    pairs.push(['device', `${md.device}${md.kernel ? ` (${md.kernel})` : ''}`]);
    if (md.gpuMaxTemp !== null) pairs.push(['GPU max', `${md.gpuMaxTemp.toFixed(0)}°C${md.gpuMaxVramPercent !== null ? `, VRAM ${md.gpuMaxVramPercent.toFixed(0)}%` : ''}`]);
    pairs.push(['checkpoint', run.outputPath ?? c.dim('none (pass --output DIR to keep the model)')]);
    this.out.print(`${c.green('✔')} ${c.bold('Training complete')}`);
    for (const line of keyValues(pairs, c)) this.out.print(line);
  }

  interrupted(i: InterruptInfo): void {
    this.progress.close();
    this.out.event('interrupted', { step: i.step, totalSteps: i.totalSteps, checkpoint: i.checkpoint, resumable: i.resumable });
    if (this.out.json) return;
    const c = this.out.ce;
    this.out.notice(`${c.yellow('Interrupted')} at step ${fmtInt(i.step)}/${fmtInt(i.totalSteps)}.`);
    if (i.checkpoint) {
      this.out.notice(`Checkpoint saved: ${i.checkpoint}`);
      if (i.resumable && i.resumeCommand) this.out.notice(c.dim(`Resume with: ${i.resumeCommand}`));
      else if (!i.resumable) this.out.notice(c.dim('It holds the weights (use it with evaluate, predict or inspect); pass --output DIR next time for a resumable checkpoint.'));
    }
  }

  close(): void {
    this.progress.close();
  }

  private state(): ProgressState {
    const info = this.info!;
    const step = this.lastStep;
    const sps = this.rate.stepsPerSecond;
    const remaining = Math.max(0, info.totalSteps - step);
    const epoch = info.stepsPerEpoch > 0 && step > 0 ? Math.floor((step - 1) / info.stepsPerEpoch) + 1 : 1;
    return {
      step,
      total: info.totalSteps,
      epoch: info.epochs > 0 ? Math.min(epoch, info.epochs) : epoch,
      epochs: info.epochs,
      loss: this.lastLoss,
      learningRate: this.lr,
      samplesPerSecond: sps === null ? null : sps * info.batchSize,
      etaSeconds: sps === null || sps <= 0 ? null : remaining / sps,
    };
  }
}
