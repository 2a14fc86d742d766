/**
 * The live progress display for training steps.
 *
 * On a terminal (stderr is a TTY, human mode): a cli-progress bar redrawn on
 * its own timer at PROGRESS_FPS, however fast steps arrive; step events only
 * store the newest values. Log lines are printed above the bar.
 * Not a terminal: plain lines, no control codes, at most one per
 * PLAIN_INTERVAL_MS plus the final one. Quiet and JSON mode: nothing.
 */
import { MultiBar, type SingleBar } from 'cli-progress';
import { fmtEta, fmtInt, fmtLoss, fmtLr, fmtRate, type Colors } from './format';
import type { Output } from './output';

export const PROGRESS_FPS = 10;
export const PLAIN_INTERVAL_MS = 1000;
const BAR_WIDTH = 20;
const RATE_WINDOW_MS = 3000;

export interface ProgressState {
  step: number;
  total: number;
  /** Current epoch and the number of epochs (0 = unbounded), or null when not meaningful. */
  epoch: number | null;
  epochs: number;
  loss: number | null;
  learningRate: number | null;
  samplesPerSecond: number | null;
  etaSeconds: number | null;
}

/** Steps per second over a sliding window, for samples/s and the ETA. */
export class StepRate {
  private readonly points: Array<[number, number]> = [];

  constructor(private readonly now: () => number = () => performance.now()) {}

  add(step: number): void {
    const t = this.now();
    this.points.push([t, step]);
    while (this.points.length > 2 && t - this.points[1]![0] > RATE_WINDOW_MS) this.points.shift();
  }

  /** Steps per second, or null until two points in time. */
  get stepsPerSecond(): number | null {
    if (this.points.length < 2) return null;
    const [t0, s0] = this.points[0]!;
    const [t1, s1] = this.points[this.points.length - 1]!;
    if (t1 - t0 <= 0) return null;
    return ((s1 - s0) * 1000) / (t1 - t0);
  }

  reset(): void {
    this.points.length = 0;
  }
}

export function progressText(state: ProgressState): string {
  const parts = [`step ${fmtInt(state.step)}/${fmtInt(state.total)}`];
  if (state.epoch !== null) parts.push(`epoch ${state.epoch}${state.epochs > 0 ? `/${state.epochs}` : ''}`);
  parts.push(`loss ${fmtLoss(state.loss)}`);
  if (state.learningRate !== null) parts.push(`lr ${fmtLr(state.learningRate)}`);
  parts.push(`${fmtRate(state.samplesPerSecond)} samples/s`);
  parts.push(`ETA ${fmtEta(state.etaSeconds)}`);
  return parts.join(' | ');
}

function percent(state: ProgressState): string {
  return state.total > 0 ? `${Math.floor((Math.min(state.step, state.total) / state.total) * 100)}%` : '';
}

export class ProgressDisplay {
  readonly kind: 'bar' | 'lines' | 'off';
  private multibar: MultiBar | null = null;
  private bar: SingleBar | null = null;
  private lastPlainAt = -Infinity;
  private lastPlainStep = -1;
  private state: ProgressState | null = null;
  private prefix = '';
  private readonly c: Colors;

  constructor(
    private readonly out: Output,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.kind = out.mode !== 'human' ? 'off' : out.stderr.isTTY ? 'bar' : 'lines';
    this.c = out.ce;
  }

  /** Starts (or restarts, for the next run) the bar or series of plain lines, labelled `prefix` ('' or e.g. 'run 2/5'). */
  start(prefix: string, initial: ProgressState): void {
    this.prefix = prefix;
    this.state = { ...initial };
    // The one-line-a-second limit spans restarts: many short runs must not
    // print a burst of lines.
    this.lastPlainStep = -1;
    if (this.kind !== 'bar') return;
    if (!this.multibar) {
      this.multibar = new MultiBar({
        stream: this.out.stderr,
        fps: PROGRESS_FPS,
        hideCursor: true,
        clearOnComplete: false,
        stopOnComplete: false,
        linewrap: false,
        gracefulExit: false,
        format: (_options, _params, payload: { text?: string }) => payload.text ?? '',
      });
      const multibar = this.multibar;
      this.out.setLogSink((line) => multibar.log(line + '\n'));
    }
    if (this.bar) {
      this.bar.setTotal(initial.total);
      this.bar.update(Math.min(initial.step, initial.total), { text: this.barText(this.state) });
    } else {
      this.bar = this.multibar.create(initial.total, initial.step, { text: this.barText(this.state) });
    }
    // Each run's bar is drawn at its start and its end whatever the frame
    // timer does, so even a run shorter than one frame is seen; steps in
    // between are drawn at the bar's own bounded rate.
    this.multibar.update();
  }

  /** Stores the newest state; drawing happens at the bar's own rate, or as a throttled plain line. */
  update(state: ProgressState): void {
    this.state = { ...state };
    if (this.kind === 'bar') {
      this.bar?.update(Math.min(state.step, state.total), { text: this.barText(state) });
    } else if (this.kind === 'lines') {
      const t = this.now();
      if (t - this.lastPlainAt >= PLAIN_INTERVAL_MS) {
        this.lastPlainAt = t;
        this.writePlain(state);
      }
    }
  }

  /**
   * The current bar or line series is done: the bar shows its final state;
   * plain mode prints the final line unless `finalLine` is false (when the
   * caller prints its own line for the result).
   */
  finish(finalLine = true): void {
    if (!this.state) return;
    if (this.kind === 'lines') {
      if (finalLine && this.state.step !== this.lastPlainStep) this.writePlain(this.state);
      this.lastPlainStep = this.state.step;
    }
    if (this.kind === 'bar' && this.bar) {
      this.bar.update(Math.min(this.state.step, this.state.total), { text: this.barText(this.state) });
      this.multibar?.update();
    }
  }

  /** Stops drawing for good (the bar stays on screen in its last state) and gives stderr back to plain writes. */
  close(): void {
    this.finish();
    this.state = null;
    if (this.multibar) {
      const multibar = this.multibar;
      this.multibar = null;
      this.bar = null;
      multibar.update(); // flushes pending log lines
      multibar.stop();
      this.out.setLogSink(null);
    }
  }

  private writePlain(state: ProgressState): void {
    this.lastPlainStep = state.step;
    const pct = percent(state);
    this.out.log(`${this.prefix ? `[${this.prefix}] ` : ''}${progressText(state)}${pct ? ` (${pct})` : ''}`);
  }

  private barText(state: ProgressState): string {
    const c = this.c;
    const fraction = state.total > 0 ? Math.min(1, state.step / state.total) : 0;
    const filled = Math.round(fraction * BAR_WIDTH);
    const bar = c.cyan('█'.repeat(filled)) + c.dim('░'.repeat(BAR_WIDTH - filled));
    const label = this.prefix ? `${c.bold(this.prefix)} ` : '';
    return `${label}${bar} ${percent(state).padStart(4)} | ${progressText(state)}`;
  }
}
