/**
 * One adapter per kind of source the hub can watch. An adapter knows how to
 * recognise its kind of object, what to read from it once (thresholds,
 * batch size, run count), and how its events map onto the RunBook. A new
 * kind of source (a remote job queue, say) is one new adapter file plus its
 * entry in sources/index.ts.
 */
import type { GPUStatus } from '../../../gpu/types';
import type { SourceKind } from '../../protocol';
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
}

export type { SourceFacts };

export interface SourceAdapter {
  readonly kind: SourceKind;
  /** Automatic labels are `${labelPrefix}-1`, `-2`, ... */
  readonly labelPrefix: string;
  /** Whether the hub polls this source's `status` (state, learning rate). */
  readonly polled: boolean;
  /** Duck typing: does `obj` look like this kind of source? */
  detect(obj: Record<string, unknown>): boolean;
  /** Facts read once, when the source is watched. */
  describe(obj: Record<string, unknown>, options: WatchOptions): SourceFacts;
  /** Subscribes to the source's events. */
  subscribe(ctx: AdapterContext): void;
  /** The latest GPU status to show at once, if the source has one. */
  initialGpuStatus?(obj: Record<string, unknown>): GPUStatus | null;
}
