/**
 * One adapter per kind of source the hub can watch. An adapter knows how to
 * recognise its kind of object, what to read from it once (thresholds,
 * batch size, run count), and how its events map onto the RunBook. A new
 * kind of source (a remote job queue, say) is one new adapter file plus its
 * entry in sources/index.ts. A source may stand for many others (a job
 * queue for its jobs): its adapter watches and unwatches them through the
 * context, and hands back a teardown that the hub runs when the source is
 * unwatched and awaits when the hub closes.
 */
import type { GPUStatus } from '../../../gpu/types';
import type { CommandName, SourceKind } from '../../protocol';
import type { WatchOptions } from '../options';
import type { SourceEntry, SourceFacts } from '../model';
import type { Broadcast } from '../replay';
import type { RunBook } from '../run-book';

/** Registers a listener on the source; the hub guards it (a throw is reported, never passed on). */
export type Subscribe = (event: string, fn: (...args: never[]) => void) => void;

export interface AdapterContext {
  readonly src: SourceEntry;
  readonly book: RunBook;
  readonly on: Subscribe;
  readonly broadcast: Broadcast;
  /** Watches another source on the same hub (see hub.watch); returns its label. */
  readonly watch: (obj: object, options: WatchOptions) => string;
  /** Stops watching a source this adapter watched; its runs stay in the snapshot. */
  readonly unwatch: (obj: object) => void;
}

/** Stops what subscribe() started; awaited by hub.close(). */
export type SourceTeardown = () => Promise<void> | void;

export type { SourceFacts };

export interface SourceAdapter {
  readonly kind: SourceKind;
  /** Automatic labels are `${labelPrefix}-1`, `-2`, ... */
  readonly labelPrefix: string;
  /** Whether the hub polls this source's `status` (state, learning rate). */
  readonly polled: boolean;
  /** false: the source is not an EventEmitter (the adapter reads it itself). */
  readonly eventSource?: false;
  /** Duck typing: does `obj` look like this kind of source? */
  detect(obj: Record<string, unknown>): boolean;
  /** Facts read once, when the source is watched. */
  describe(obj: Record<string, unknown>, options: WatchOptions): SourceFacts;
  /** Subscribes to the source's events; may return what stops it again. */
  subscribe(ctx: AdapterContext): void | SourceTeardown;
  /** The commands the source takes, when not every method it has is one (default: duck typing). */
  controls?(obj: Record<string, unknown>): CommandName[];
  /** The latest GPU status to show at once, if the source has one. */
  initialGpuStatus?(obj: Record<string, unknown>): GPUStatus | null;
}
