/**
 * Decodes the event batches the addon delivers to a training run (hop 3 of a
 * step event: engine loop → native queue → addon batch → this decoder →
 * Trainer handlers) and calls one visitor method per event, in production
 * order.
 *
 * A batch is a Float64Array of fixed-size records [type, a, b, c] plus a side
 * table of strings. The stride and the type codes come from the addon itself
 * (`native().eventLayout`, defined once in native/addon/event_batch.hpp and
 * the engine's EventType), so this file repeats no numbers the native side
 * owns.
 */
import type { NativeEventBatchHandler, NativeEventLayout } from '../binding';
import { native } from './native';

/** How a run ended, as its terminal event says. */
export type NativeRunEnd =
  | { readonly kind: 'complete' }
  | { readonly kind: 'error'; readonly code: string; readonly message: string }
  /** `reason` is null when the engine stopped without one (a safety stop). */
  | { readonly kind: 'aborted'; readonly reason: string | null };

/** One method per event kind; the decoder calls them in the order they were produced. */
export interface NativeEventVisitor {
  step(step: number, loss: number, epoch: number): void;
  /** Validation figures are null when the run has no validation split. */
  epoch(epoch: number, validationLoss: number | null, validationAccuracy: number | null): void;
  save(step: number, folder: string): void;
  stateChange(paused: boolean): void;
  /** The terminal event: the last one a run delivers. */
  end(outcome: NativeRunEnd): void;
}

let layout: NativeEventLayout | null = null;

/** The addon's record layout (read once per process). */
export function eventLayout(): NativeEventLayout {
  layout ??= native().eventLayout;
  return layout;
}

const finiteOrNull = (v: number): number | null => (Number.isFinite(v) ? v : null);

/**
 * A batch handler for TrainingSession.start() that decodes each batch into
 * visitor calls. The codes are read into locals once so the per-event loop
 * is a plain numeric switch (this runs for every step event).
 */
export function nativeEventDecoder(visitor: NativeEventVisitor): NativeEventBatchHandler {
  const { stride, types } = eventLayout();
  const STEP = types.step, EPOCH = types.epoch, SAVE = types.save, STATE = types.stateChange;
  const COMPLETE = types.complete, ERROR = types.error, ABORTED = types.aborted;
  return (records: Float64Array, strings: string[]): void => {
    for (let i = 0; i < records.length; i += stride) {
      const type = records[i];
      const a = records[i + 1];
      const b = records[i + 2];
      if (type === STEP) visitor.step(a, b, records[i + 3]);
      else if (type === EPOCH) visitor.epoch(a, finiteOrNull(b), finiteOrNull(records[i + 3]));
      else if (type === SAVE) visitor.save(a, strings[b]);
      else if (type === STATE) visitor.stateChange(a === 1);
      else if (type === COMPLETE) visitor.end({ kind: 'complete' });
      else if (type === ERROR) visitor.end({ kind: 'error', code: strings[a], message: strings[b] });
      else if (type === ABORTED) visitor.end({ kind: 'aborted', reason: a >= 0 ? (strings[a] ?? null) : null });
    }
  };
}
