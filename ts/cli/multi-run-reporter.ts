/**
 * The multi-run command's reporter: turns a session's run and step events
 * into output for the current mode (human, json, quiet; see output.ts), a
 * line per run and a summary. It holds the progress display and step rate.
 */
import { fmtDuration, fmtInt, fmtLoss, fmtLr, fmtPercent, fmtShape, keyValues } from './format';
import { GpuEventReporter } from './gpu-event-reporter';
import type { Output } from './output';
import { ProgressDisplay, StepRate, type ProgressState } from './progress';

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
