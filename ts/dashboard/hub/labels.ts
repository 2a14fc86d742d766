/**
 * Source labels: the name each watched source goes by in messages, commands
 * (`target`) and the page. A label the caller gives is checked; otherwise the
 * next free `<prefix>-<n>` (trainer-1, gpu-2, ...) is taken.
 */
import { BackpropError } from '../../errors';

export class SourceLabels {
  private readonly counters = new Map<string, number>();

  /** `taken(label)` says whether a label is in use now. */
  constructor(private readonly taken: (label: string) => boolean) {}

  /** The label for a new source: `label` when given (checked), else the next free one for `prefix`. */
  choose(prefix: string, label: string | undefined): string {
    if (label !== undefined) {
      if (typeof label !== 'string' || label.length === 0 || label.length > 100) {
        throw new BackpropError('CONFIG_INVALID', 'watch label must be a non-empty string of at most 100 characters.', { field: 'label', value: label });
      }
      if (this.taken(label)) throw new BackpropError('CONFIG_INVALID', `The label '${label}' is already watched; labels must be unique.`, { field: 'label', value: label });
      return label;
    }
    let next: string;
    do {
      const n = (this.counters.get(prefix) ?? 0) + 1;
      this.counters.set(prefix, n);
      next = `${prefix}-${n}`;
    } while (this.taken(next));
    return next;
  }
}
