/**
 * Small bounded containers for the event hub: a ring buffer of messages with
 * contiguous sequence numbers, and a decimating loss history per run.
 */

/**
 * A fixed-capacity ring of items whose sequence numbers are contiguous
 * (item k has seq firstSeq + k). Pushing past the capacity forgets the oldest.
 */
export class SeqRing<T> {
  private readonly items: (T | undefined)[];
  private start = 0;
  private count = 0;
  /** Seq of the oldest item held (meaningful when size > 0). */
  private first = 1;

  constructor(readonly capacity: number) {
    this.items = new Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  /** Seq of the oldest item held, or null when empty. */
  get firstSeq(): number | null {
    return this.count === 0 ? null : this.first;
  }

  /** The seq the next pushed item should have (1 when empty). */
  get nextSeq(): number {
    return this.count === 0 ? 1 : this.first + this.count;
  }

  push(seq: number, item: T): void {
    if (this.count === 0) this.first = seq;
    if (this.count < this.capacity) {
      this.items[(this.start + this.count) % this.capacity] = item;
      this.count++;
    } else {
      this.items[this.start] = item;
      this.start = (this.start + 1) % this.capacity;
      this.first++;
    }
  }

  /** The item with this seq, or undefined when it is not (or no longer) held. */
  get(seq: number): T | undefined {
    const k = seq - this.first;
    if (this.count === 0 || k < 0 || k >= this.count) return undefined;
    return this.items[(this.start + k) % this.capacity];
  }

  /** Items with seq > afterSeq, oldest first. */
  since(afterSeq: number): T[] {
    const out: T[] = [];
    if (this.count === 0) return out;
    const from = Math.max(0, afterSeq + 1 - this.first);
    for (let k = from; k < this.count; k++) out.push(this.items[(this.start + k) % this.capacity] as T);
    return out;
  }

  clear(): void {
    this.items.fill(undefined);
    this.start = 0;
    this.count = 0;
  }
}

/**
 * A run's loss curve kept in bounded memory for snapshots: every point until
 * `capacity` is reached, then every 2nd, 4th, ... point (the stride doubles
 * and the kept points are halved), so a late-joining page still sees the
 * whole run's shape. The latest point is always included in toJSON().
 */
export class LossHistory {
  private steps: number[] = [];
  private losses: number[] = [];
  private stride = 1;
  private counter = 0;
  private lastStep = -1;
  private lastLoss = 0;

  constructor(private readonly capacity: number) {}

  push(step: number, loss: number): void {
    this.lastStep = step;
    this.lastLoss = loss;
    if (this.counter++ % this.stride !== 0) return;
    if (this.steps.length >= this.capacity) {
      let j = 0;
      for (let i = 0; i < this.steps.length; i += 2, j++) {
        this.steps[j] = this.steps[i]!;
        this.losses[j] = this.losses[i]!;
      }
      this.steps.length = j;
      this.losses.length = j;
      this.stride *= 2;
      if ((this.counter - 1) % this.stride !== 0) return;
    }
    this.steps.push(step);
    this.losses.push(loss);
  }

  get length(): number {
    return this.steps.length;
  }

  toJSON(): { steps: number[]; losses: number[]; stride: number } {
    const steps = this.steps.slice();
    const losses = this.losses.slice();
    if (this.lastStep >= 0 && steps[steps.length - 1] !== this.lastStep) {
      steps.push(this.lastStep);
      losses.push(this.lastLoss);
    }
    return { steps, losses, stride: this.stride };
  }
}
