/**
 * Reporters turn training events into output for the current mode (human,
 * json, quiet; see output.ts). The commands wire trainer callbacks and events
 * to them; they hold the progress display and the step rate.
 */
import type { GPUReadErrorEvent, GPUStatus } from '../gpu';
import { conditionSeverity } from '../gpu';
import type { TrainingRun } from '../run';
import { fmtDuration, fmtInt, fmtLoss, fmtLr, fmtPercent, fmtRate, fmtShape, keyValues } from './format';
import { statusLine } from './gpu-format';
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

/** GPU conditions and read errors, shared by train and multi-run. */
export class GpuEventReporter {
  private lastCondition: string | null = null;

  constructor(private readonly out: Output) {}

  status(s: GPUStatus): void {
    this.out.event('gpuStatus', { ...s });
    const severity = conditionSeverity(s.condition);
    const changed = s.condition !== this.lastCondition;
    const previous = this.lastCondition === null ? -1 : conditionSeverity(this.lastCondition);
    this.lastCondition = s.condition;
    const line = `GPU ${statusLine(s, this.out.ce)}`;
    if (this.out.verbose && (changed || severity >= 2)) this.out.log(line);
    else if (!this.out.verbose && changed && (severity >= 2 || previous >= 2)) this.out.warn(`GPU ${s.condition}: ${s.conditionReason || statusLine(s, this.out.ce)}`);
  }

  readError(e: GPUReadErrorEvent): void {
    this.out.event('gpuReadError', { deviceIndex: e.deviceIndex, consecutiveFailures: e.consecutiveFailures, thermalSafetyDisabled: e.thermalSafetyDisabled, message: e.error.message });
    const disabled = e.thermalSafetyDisabled ? ' Thermal safety is disabled until it can be read again.' : '';
    if (this.out.verbose || e.consecutiveFailures === 1 || e.consecutiveFailures === 3) {
      this.out.warn(`GPU read failed (${e.consecutiveFailures} in a row): ${e.error.message}.${disabled}`);
    }
  }
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

export interface MultiRunStartInfo {
  source: string;
  rows: number;
  model: { inputSize: number; hiddenLayers: readonly number[]; outputSize: number; activation: string; task: string };
  numRuns: number;
  stepsPerRun: number;
  samplesPerRun: number;
  batchSize: number;
  mergeMode: string;
  replayFraction: number;
  initialLr: number;
  finalLr: number;
  checkpointDir: string;
  resume: boolean;
  earlyStopping: boolean;
  device: string;
}

/** The parts of a RunResult the CLI shows (structurally compatible with multi-run's RunResult). */
export interface RunLine {
  readonly runIndex: number;
  readonly steps: number;
  readonly samples: number;
  readonly finalLoss: number | null;
  readonly lossHistory: readonly number[];
  readonly learningRate: number;
  readonly durationSeconds: number;
  readonly checkpointPath: string | null;
  readonly validationLoss: number | null;
  readonly validationAccuracy?: number | null;
  readonly failed: boolean;
  readonly failureReason: string | null;
  readonly pruned?: boolean;
}

export interface SessionLine {
  readonly totalRuns: number;
  readonly totalSteps: number;
  readonly totalSamples: number;
  readonly totalDurationSeconds: number;
  readonly finalLoss: number | null;
  readonly runs: readonly RunLine[];
  readonly finalCheckpointPath: string | null;
  readonly aborted: boolean;
  readonly abortReason: string | null;
  readonly runId: string;
}

const withoutHistory = (r: RunLine): Record<string, unknown> => {
  const { lossHistory: _h, ...rest } = r as RunLine & Record<string, unknown>;
  return rest;
};

export class MultiRunReporter {
  readonly progress: ProgressDisplay;
  readonly gpu: GpuEventReporter;
  private readonly rate = new StepRate();
  private info: MultiRunStartInfo | null = null;
  private runIndex = 0;
  private lastStep = 0;
  private lastLoss: number | null = null;
  private runLr: number | null = null;

  constructor(private readonly out: Output) {
    this.progress = new ProgressDisplay(out);
    this.gpu = new GpuEventReporter(out);
  }

  start(info: MultiRunStartInfo): void {
    this.info = info;
    this.out.event('start', { ...info });
    const c = this.out.ce;
    const m = info.model;
    this.out.log(`${c.bold('Multi-run session')}: ${info.numRuns} runs × ${fmtInt(info.stepsPerRun)} steps of a ${fmtShape(m)} ${m.activation} ${m.task === 'regression' ? 'regressor' : 'classifier'} on ${info.source}`);
    this.out.log(c.dim(`  ${fmtInt(info.samplesPerRun)} fresh rows per run${info.replayFraction > 0 ? ` + ${fmtPercent(info.replayFraction, 0)} replayed` : ''}, merge ${info.mergeMode}, lr ${fmtLr(info.initialLr)} → ${fmtLr(info.finalLr)}, batch ${info.batchSize}, device ${info.device}${info.earlyStopping ? ', early stopping' : ''}`));
    this.out.log(c.dim(`  ${info.resume ? 'resuming the session in' : 'checkpoints in'} ${info.checkpointDir}`));
  }

  runStart(runIndex: number, learningRate: number | null): void {
    this.runIndex = runIndex;
    this.runLr = learningRate;
    this.lastStep = 0;
    this.lastLoss = null;
    this.rate.reset();
    this.out.event('runStart', { runIndex, numRuns: this.info!.numRuns, learningRate });
    this.progress.start(`run ${runIndex}/${this.info!.numRuns}`, this.state());
  }

  step(runIndex: number, step: number, loss: number): void {
    this.out.event('step', { run: runIndex, step, loss });
    this.lastStep = step;
    this.lastLoss = loss;
    if (this.progress.kind === 'off') return;
    this.rate.add(step);
    this.progress.update(this.state());
  }

  runComplete(r: RunLine): void {
    // The run's own line below says how it ended; no final progress line.
    this.progress.finish(false);
    this.out.event('runComplete', withoutHistory(r));
    if (this.out.mode !== 'human') return;
    this.out.log(this.runText(r));
  }

  paused(): void {
    this.out.event('paused', { run: this.runIndex, step: this.lastStep });
    this.out.warn(`run ${this.runIndex} paused at step ${fmtInt(this.lastStep)}: the GPU is too hot; waiting for it to cool down`);
  }

  resumed(): void {
    this.out.event('resumed', { run: this.runIndex, step: this.lastStep });
    this.out.log(`run ${this.runIndex} resumed`);
  }

  callbackError(hook: string, error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this.out.event('callbackError', { hook, message });
    this.out.warn(`callback error in ${hook}: ${message} (training goes on)`);
  }

  interrupting(signal: string): void {
    this.out.event('interrupt', { signal, run: this.runIndex, step: this.lastStep });
    this.out.log(this.out.ce.yellow(`${signal === 'SIGINT' ? 'Ctrl-C' : signal}: stopping run ${this.runIndex} at the next step (press Ctrl-C again to quit at once)`));
  }

  complete(result: SessionLine, interrupted: boolean, resumeCommand: string | null): void {
    this.progress.close();
    this.out.event(interrupted ? 'interrupted' : 'complete', { ...result, runs: result.runs.map(withoutHistory) });
    const c = this.out.c;
    const completed = result.runs.filter((r) => !r.failed);
    if (interrupted) {
      const e = this.out.ce;
      if (this.out.json) return;
      this.out.notice(`${e.yellow('Interrupted')} during run ${this.runIndex}: ${completed.length} of ${this.info!.numRuns} runs completed and saved in ${this.info!.checkpointDir}.`);
      if (result.finalCheckpointPath) this.out.notice(`Latest model: ${result.finalCheckpointPath}`);
      if (resumeCommand) this.out.notice(e.dim(`Resume with: ${resumeCommand}`));
      return;
    }
    const title = result.aborted ? `${c.yellow('■')} ${c.bold('Session stopped')}: ${result.abortReason}` : `${c.green('✔')} ${c.bold('Multi-run session complete')}${result.abortReason ? ` (${result.abortReason})` : ''}`;
    this.out.print(title);
    const best = completed.filter((r) => r.validationLoss !== null).sort((a, b) => a.validationLoss! - b.validationLoss!)[0];
    const pairs: Array<[string, string]> = [
      ['runs', `${completed.length} of ${this.info!.numRuns}${result.runs.length > completed.length ? ` (${result.runs.length - completed.length} failed)` : ''}`],
      ['steps', `${fmtInt(result.totalSteps)} (${fmtInt(result.totalSamples)} rows trained on)`],
      ['final loss', fmtLoss(result.finalLoss)],
    ];
    if (best) pairs.push(['best validation', `loss ${fmtLoss(best.validationLoss)}${best.validationAccuracy != null ? `, accuracy ${fmtPercent(best.validationAccuracy)}` : ''} (run ${best.runIndex})`]);
    pairs.push(['duration', fmtDuration(result.totalDurationSeconds)]);
    pairs.push(['model', result.finalCheckpointPath ?? c.dim('none')]);
    pairs.push(['session', `${this.info!.checkpointDir} (run_history.json)`]);
    for (const line of keyValues(pairs, c)) this.out.print(line);
    this.out.print();
    for (const r of result.runs) this.out.print(`  ${this.runText(r, c)}`);
  }

  close(): void {
    this.progress.close();
  }

  private runText(r: RunLine, c = this.out.ce): string {
    const n = this.info!.numRuns;
    const head = `run ${String(r.runIndex).padStart(String(n).length)}/${n}`;
    if (r.failed && /interrupted \(SIG/.test(r.failureReason ?? '')) return `${head}  ${c.yellow('interrupted')} after ${fmtInt(r.steps)} steps (--resume runs it again)`;
    if (r.failed) return `${head}  ${c.red('failed')} after ${fmtInt(r.steps)} steps: ${r.failureReason ?? 'unknown reason'}`;
    const validation = r.validationLoss !== null ? `val ${fmtLoss(r.validationLoss)}${r.validationAccuracy != null ? ` (${fmtPercent(r.validationAccuracy)})` : ''}` : 'val -';
    const where = r.checkpointPath ? `${r.checkpointPath} ${r.pruned ? c.dim('pruned') : c.green('kept')}` : c.dim('no checkpoint');
    return `${head}  ${fmtInt(r.steps)} steps  loss ${fmtLoss(r.finalLoss)}  ${validation}  lr ${fmtLr(r.learningRate)}  ${fmtDuration(r.durationSeconds)}  ${where}`;
  }

  private state(): ProgressState {
    const total = this.info!.stepsPerRun;
    const sps = this.rate.stepsPerSecond;
    return {
      step: this.lastStep,
      total,
      epoch: null,
      epochs: 0,
      loss: this.lastLoss,
      learningRate: this.runLr,
      samplesPerSecond: sps === null ? null : sps * this.info!.batchSize,
      etaSeconds: sps === null || sps <= 0 ? null : Math.max(0, total - this.lastStep) / sps,
    };
  }
}
