/** The source kinds the hub can watch, in duck-typing order. */
import type { SourceKind } from '../../protocol';
import type { SourceAdapter } from './adapter';
import { fleetJobAdapter } from './fleet-job';
import { fleetQueueAdapter } from './fleet-queue';
import { gpuMonitorAdapter } from './gpu-monitor';
import { multiRunAdapter } from './multi-run';
import { trainerAdapter } from './trainer';

export type { SourceAdapter, AdapterContext, SourceFacts, SourceTeardown, Subscribe } from './adapter';

const ADAPTERS: readonly SourceAdapter[] = [gpuMonitorAdapter, fleetQueueAdapter, fleetJobAdapter, multiRunAdapter, trainerAdapter];

export function adapterFor(kind: SourceKind): SourceAdapter | undefined {
  return ADAPTERS.find((a) => a.kind === kind);
}

export function detectAdapter(obj: object): SourceAdapter | undefined {
  return ADAPTERS.find((a) => a.detect(obj as Record<string, unknown>));
}
