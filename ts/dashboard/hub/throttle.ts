/**
 * Latest-wins rate bound, one per stream (a run's steps, a GPU's samples).
 *
 * The owner keeps the pending value itself (a step count and loss sum, the
 * newest GPU status) and calls offer() after each update; the throttle calls
 * `emit` at most `ratePerSecond` times a second: at once when the interval
 * since the last emission has passed, else once when it has (with whatever
 * is pending then, so newer values replace older ones). flush() emits what is
 * pending now (before a message that must follow it); emitNow() emits even
 * inside the interval (a GPU condition change). A rate of 0 means no bound.
 */
export class LatestWinsThrottle {
  private lastEmitAt = -Infinity;
  private timer: NodeJS.Timeout | null = null;
  private pendingValue = false;

  constructor(
    private readonly ratePerSecond: number,
    private readonly emit: () => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** True while a value waits for its turn. */
  get pending(): boolean {
    return this.pendingValue;
  }

  /** A new value is pending: emit it now or when the interval has passed. */
  offer(now = this.now()): void {
    this.pendingValue = true;
    if (this.ratePerSecond === 0) {
      this.emitNow(now);
      return;
    }
    if (this.timer !== null) return;
    const wait = this.lastEmitAt + 1000 / this.ratePerSecond - now;
    if (wait <= 0) {
      this.emitNow(now);
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.pendingValue) this.emitNow(this.now());
    }, Math.ceil(wait));
    this.timer.unref?.();
  }

  /** Emits the pending value now, if there is one. */
  flush(): void {
    if (this.pendingValue) this.emitNow(this.now());
    else this.cancel();
  }

  /** Emits now, whatever the interval says. */
  emitNow(now = this.now()): void {
    this.cancel();
    this.pendingValue = false;
    this.lastEmitAt = now;
    this.emit();
  }

  /** Drops the timer (the pending value stays pending). */
  cancel(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }
}
