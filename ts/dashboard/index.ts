/**
 * The live dashboard: an event hub that turns trainer and GPU events into
 * versioned JSON messages, an HTTP + WebSocket server with token auth, a
 * Prometheus /metrics endpoint and a browser page (dashboard/).
 */
import { BackpropError } from '../errors';
import { createEventHub, EventHub, type EventHubOptions, type WatchOptions } from './hub';
import type { DashboardServer, ListenOptions } from './server';

export { createEventHub, EventHub, type EventHubOptions, type WatchOptions, type GPUThresholds, type CommandResult } from './hub';
/** @deprecated Use GPUThresholds. */
export type { GPUThresholds as GpuThresholds } from './hub';
export { generateToken, type ListenOptions, type AttachOptions, type EndpointOptions, type DashboardServer, type DashboardAttachment } from './server';
export { METRIC_NAMES } from './metrics';
export type { ClientInfo } from './client';
export {
  PROTOCOL_VERSION,
  BROADCAST_TYPES,
  COMMANDS,
  parseClientMessage,
  type Envelope,
  type HubMessage,
  type HubState,
  type RunStatus,
  type SourceKind,
  type SourceActivity,
  type CommandName,
  type ClientErrorCode,
  type ClientMessage,
} from './protocol';
/** @deprecated Use demoGPUReading. */
export { demoGPUReading as demoGpuReading } from './cli';
export { startDashboardCli, demoGPUReading, type DashboardCliOptions, type DashboardCliHandle, type DemoOptions } from './cli';

export interface AttachDashboardOptions extends ListenOptions, EventHubOptions {
  /** The watched object's label (default 'trainer-1' / 'multi-run-1'). */
  label?: string;
  /** Rows per step, for a Trainer's samples/s. */
  batchSize?: number;
  /** More sources to watch on the same page, e.g. a GPUMonitor. */
  watch?: object[];
}

export interface AttachedDashboard extends DashboardServer {
  readonly hub: EventHub;
}

const HUB_KEYS = ['bufferSize', 'maxStepRate', 'maxGpuRate', 'historyPoints', 'maxRuns', 'logSize', 'pollIntervalMs', 'allowCommands', 'sessionId'];

/**
 * The short way: a hub watching `source` (a Trainer or MultiRunTrainer, plus
 * options.watch), served on 127.0.0.1 (a free port unless options.port).
 * Resolves with { url, token, port, hub, close() }; close() stops the hub and
 * the server, not the training.
 */
export async function attachDashboard(source: object, options: AttachDashboardOptions = {}): Promise<AttachedDashboard> {
  if (typeof options !== 'object' || options === null) throw new BackpropError('CONFIG_INVALID', 'attachDashboard options must be an object.', { field: 'options' });
  const hubOptions: Record<string, unknown> = {};
  const listenOptions: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (key === 'label' || key === 'batchSize' || key === 'watch') continue;
    if (HUB_KEYS.includes(key)) hubOptions[key] = value;
    else listenOptions[key] = value;
  }
  const hub = createEventHub(hubOptions as EventHubOptions);
  try {
    const watchOptions: WatchOptions = {};
    if (options.label !== undefined) watchOptions.label = options.label;
    if (options.batchSize !== undefined) watchOptions.batchSize = options.batchSize;
    hub.watch(source, watchOptions);
    for (const extra of options.watch ?? []) hub.watch(extra);
    const server = await hub.listen(listenOptions as ListenOptions);
    return Object.freeze({
      url: server.url,
      token: server.token,
      host: server.host,
      port: server.port,
      server: server.server,
      hub,
      close: () => hub.close(),
    });
  } catch (error) {
    await hub.close();
    throw error;
  }
}
