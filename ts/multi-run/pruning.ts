/**
 * Which run checkpoints a session keeps.
 *
 * Kept, in this priority order, up to checkpointMaxTotal in all:
 *  1. the checkpoint the next run starts from (simple mode: the latest run's;
 *     it is never pruned while the session can still continue);
 *  2. the latest run's checkpoint, when checkpointKeepFinal;
 *  3. the checkpointKeepBestN best by validation loss (runs without a
 *     validation loss rank after all others; ties go to the later run).
 * The accumulator checkpoint of 'average' mode is separate and not counted.
 */

export interface CheckpointCandidate {
  runIndex: number;
  validationLoss: number | null;
}

export interface PruneRules {
  keepBestN: number;
  keepFinal: boolean;
  maxTotal: number;
}

/** Best first: lowest validation loss; null last; ties by the later run. */
export function rankByValidation(candidates: readonly CheckpointCandidate[]): CheckpointCandidate[] {
  return [...candidates].sort((a, b) => {
    const av = a.validationLoss, bv = b.validationLoss;
    if (av !== null && bv !== null && av !== bv) return av - bv;
    if (av === null && bv !== null) return 1;
    if (av !== null && bv === null) return -1;
    return b.runIndex - a.runIndex;
  });
}

/**
 * Splits `candidates` (runs whose checkpoint still exists) into the run
 * indices to keep and those to prune. `protectedRun` is the run the next run
 * resumes from (null when none).
 */
export function planPruning(
  candidates: readonly CheckpointCandidate[],
  rules: PruneRules,
  protectedRun: number | null,
): { keep: number[]; prune: number[] } {
  const present = new Set(candidates.map((c) => c.runIndex));
  const order: number[] = [];
  const add = (runIndex: number | null): void => {
    if (runIndex !== null && present.has(runIndex) && !order.includes(runIndex)) order.push(runIndex);
  };
  add(protectedRun);
  if (rules.keepFinal && candidates.length > 0) add(Math.max(...candidates.map((c) => c.runIndex)));
  for (const c of rankByValidation(candidates).slice(0, rules.keepBestN)) add(c.runIndex);
  const limit = Math.max(rules.maxTotal, protectedRun !== null && present.has(protectedRun) ? 1 : 0);
  const keep = order.slice(0, limit);
  const prune = candidates.map((c) => c.runIndex).filter((r) => !keep.includes(r));
  return { keep: keep.sort((a, b) => a - b), prune: prune.sort((a, b) => a - b) };
}
