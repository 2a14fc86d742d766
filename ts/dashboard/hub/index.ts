/** The event hub (see event-hub.ts for what it does and how it is split). */
export { EventHub, createEventHub } from './event-hub';
export { resolveHubOptions, type EventHubOptions, type ResolvedHubOptions, type WatchOptions, type GPUThresholds } from './options';
export type { CommandResult } from './model';
export { LatestWinsThrottle } from './throttle';
export type { SourceAdapter, AdapterContext, SourceFacts } from './sources';
