/**
 * The hub's record of what its sources are doing: the watched sources, their
 * runs (with loss history and rates) and the latest status of each GPU.
 * Source adapters (sources/*.ts) call the record* methods from their event
 * listeners; each turns the event into messages through `broadcast`.
 *
 * Hot path: O(1) per event, no I/O. Step messages of a run and status
 * messages of a GPU go through a LatestWinsThrottle each; a run's pending
 * step is flushed before any other message of that run, so the last step of
 * a run is never lost.
 */
import type { GPUStatus } from '../../gpu/types';
import { LossHistory } from '../history';
import type { HubState, RunStatus, SourceActivity } from '../protocol';
import type { ResolvedHubOptions } from './options';
import { errorSummary, finiteOrNull, gpuPayload, type EpochInfo, type GpuEntry, type GpuReadErrorInfo, type RunEntry, type RunOrigin, type SourceEntry } from './model';
import type { Broadcast } from './replay';
import { LatestWinsThrottle } from './throttle';

export class RunBook {
  readonly sources = new Map<object, SourceEntry>();
  readonly labels = new Map<string, SourceEntry>();
  readonly runs = new Map<string, RunEntry>();
  readonly gpus = new Map<number, GpuEntry>();
  /** The outcome of the last run that ended (the banner after everything stopped). */
  lastOutcome: RunStatus | null = null;
  private lastState: HubState = 'idle';

  constructor(
    private readonly options: Readonly<ResolvedHubOptions>,
    private readonly broadcast: Broadcast,
    private readonly currentSeq: () => number,
  ) {}

  /** The overall state the page's banner shows. */
  get state(): HubState {
    let active = false;
    let allPaused = true;
    for (const s of this.sources.values()) {
      if (s.kind === 'gpuMonitor' || s.activity === 'idle') continue;
      active = true;
      if (s.activity !== 'paused') allPaused = false;
    }
    if (active) return allPaused ? 'paused' : 'running';
    if (this.lastOutcome === 'completed') return 'finished';
    if (this.lastOutcome === 'aborted' || this.lastOutcome === 'failed') return this.lastOutcome;
    return 'idle';
  }

  /** Sources that take commands (everything but GPU monitors). */
  controllable(): SourceEntry[] {
    return [...this.sources.values()].filter((s) => s.kind !== 'gpuMonitor');
  }

  // ---------------------------------------------------------------------
  // Runs

  startRun(src: SourceEntry, runId: string | null, runIndex: number | null, origin: RunOrigin | null = null): RunEntry {
    if (src.run && src.run.status === 'running') this.flushStep(src.run);
    if (src.kind === 'trainer') {
      src.runId = runId;
      try {
        const lr = (src.obj.status as { learningRate?: number } | undefined)?.learningRate;
        if (typeof lr === 'number') src.learningRate = lr;
      } catch {
        // keep the previous value
      }
    }
    const key = runIndex === null ? runId ?? `${src.label}:${this.currentSeq() + 1}` : `${runId ?? src.label}:${runIndex}`;
    const now = performance.now();
    const run: RunEntry = {
      key,
      source: src,
      runId,
      runIndex,
      status: 'running',
      startedAt: Date.now(),
      endedAt: null,
      step: 0,
      loss: null,
      epoch: 0,
      learningRate: src.learningRate,
      stepsPerSecond: null,
      samplesPerSecond: null,
      validationLoss: null,
      validationAccuracy: null,
      finalLoss: null,
      durationSeconds: null,
      checkpointPath: null,
      error: null,
      reason: null,
      host: origin?.host ?? null,
      attempt: origin?.attempt ?? null,
      history: new LossHistory(this.options.historyPoints),
      pendingCount: 0,
      pendingLossSum: 0,
      steps: new LatestWinsThrottle(this.options.maxStepRate, () => this.emitStep(run)),
      rateAt: now,
      rateStep: 0,
      lastStepAt: now,
    };
    this.runs.delete(key);
    this.runs.set(key, run);
    if (this.runs.size > this.options.maxRuns) {
      for (const [k, r] of this.runs) {
        if (this.runs.size <= this.options.maxRuns) break;
        if (r === run || r.status === 'running') continue;
        r.steps.cancel();
        this.runs.delete(k);
      }
    }
    src.run = run;
    src.abortedBy = null;
    if (src.kind === 'trainer') this.setActivity(src, 'running', null);
    this.broadcast('runStart', runId, runIndex, {
      source: src.label,
      kind: src.kind,
      learningRate: src.learningRate,
      numRuns: src.numRuns,
      batchSize: src.batchSize,
      ...(origin ? { host: run.host, attempt: run.attempt } : {}),
    });
    return run;
  }

  recordStep(src: SourceEntry, run: RunEntry, step: number, loss: number): void {
    const now = performance.now();
    src.stepsTotal += step > run.step ? step - run.step : 1;
    run.step = step;
    run.loss = loss;
    run.lastStepAt = now;
    run.history.push(step, loss);
    run.pendingCount++;
    run.pendingLossSum += loss;
    const sinceRate = now - run.rateAt;
    if (sinceRate >= 500) {
      run.stepsPerSecond = ((step - run.rateStep) * 1000) / sinceRate;
      run.samplesPerSecond = src.batchSize !== null ? run.stepsPerSecond * src.batchSize : null;
      run.rateAt = now;
      run.rateStep = step;
    }
    run.steps.offer(now);
  }

  /** Sends the run's pending step message now (if any). */
  flushStep(run: RunEntry): void {
    run.steps.flush();
  }

  private emitStep(run: RunEntry): void {
    const count = run.pendingCount;
    const mean = run.pendingLossSum / count;
    run.pendingCount = 0;
    run.pendingLossSum = 0;
    this.broadcast(
      'step',
      run.runId,
      run.runIndex,
      {
        source: run.source.label,
        step: run.step,
        loss: run.loss,
        lossMean: mean,
        count,
        epoch: run.epoch,
        learningRate: run.learningRate,
        stepsPerSecond: run.stepsPerSecond,
        samplesPerSecond: run.samplesPerSecond,
      },
      `step:${run.key}`,
    );
  }

  recordEpoch(src: SourceEntry, epoch: number, info: Partial<EpochInfo> | undefined): void {
    const run = src.run;
    if (run) {
      this.flushStep(run);
      run.epoch = epoch;
      run.validationLoss = finiteOrNull(info?.validationLoss) ?? run.validationLoss;
      run.validationAccuracy = finiteOrNull(info?.validationAccuracy) ?? run.validationAccuracy;
    }
    this.broadcast('epoch', run?.runId ?? src.runId, run?.runIndex ?? null, {
      source: src.label,
      epoch,
      validationLoss: finiteOrNull(info?.validationLoss),
      validationAccuracy: finiteOrNull(info?.validationAccuracy),
    });
  }

  recordSave(src: SourceEntry, path: string): void {
    const run = src.run;
    if (run) {
      this.flushStep(run);
      run.checkpointPath = String(path);
    }
    this.broadcast('save', run?.runId ?? src.runId, run?.runIndex ?? null, { source: src.label, path: String(path) });
  }

  endRun(src: SourceEntry, run: RunEntry, status: RunStatus, extra: Record<string, unknown>): void {
    run.status = status;
    run.endedAt = Date.now();
    if (status !== 'running') src.runsTotal[status]++;
    this.lastOutcome = status;
    if (src.kind === 'trainer') src.activity = 'idle';
    this.broadcast('runEnd', run.runId, run.runIndex, {
      source: src.label,
      status,
      steps: run.step,
      finalLoss: run.finalLoss,
      durationSeconds: run.durationSeconds,
      validationLoss: run.validationLoss,
      validationAccuracy: run.validationAccuracy,
      learningRate: run.learningRate,
      checkpointPath: run.checkpointPath,
      error: run.error,
      reason: run.reason,
      abortedBy: src.abortedBy,
      hubState: this.state,
      ...(run.host !== null || run.attempt !== null ? { host: run.host, attempt: run.attempt } : {}),
      ...extra,
    });
  }

  setActivity(src: SourceEntry, activity: SourceActivity, reason: string | null): void {
    if (src.activity === activity && reason === null) return;
    if (src.run && src.run.status === 'running') this.flushStep(src.run);
    const was = src.activity;
    src.activity = activity;
    const hubState = this.state;
    if (was === activity && hubState === this.lastState) return;
    this.lastState = hubState;
    this.broadcast('state', src.run?.runId ?? src.runId, src.run?.runIndex ?? null, { source: src.label, state: activity, previous: was, reason, hubState });
  }

  // ---------------------------------------------------------------------
  // GPUs

  recordGpu(src: SourceEntry, status: GPUStatus): void {
    if (!status || typeof status !== 'object') return;
    const device = typeof status.deviceIndex === 'number' ? status.deviceIndex : 0;
    let g = this.gpus.get(device);
    const previous = g?.status.condition ?? null;
    if (!g) {
      const entry: GpuEntry = {
        deviceIndex: device,
        source: src.label,
        status,
        thresholds: src.thresholds,
        samples: new LatestWinsThrottle(this.options.maxGpuRate, () =>
          this.broadcast('gpu', null, null, gpuPayload(entry.status, entry.source, entry.thresholds), `gpu:${entry.deviceIndex}`),
        ),
      };
      g = entry;
      this.gpus.set(device, g);
    }
    g.status = status;
    g.source = src.label;
    g.thresholds = src.thresholds;
    if (previous !== status.condition && (previous !== null || (status.condition !== 'safe' && status.condition !== 'warm'))) {
      // A change of condition is sent at once, alert first.
      this.broadcast('gpuAlert', null, null, {
        source: src.label,
        kind: 'condition',
        deviceIndex: device,
        deviceName: status.deviceName,
        previous,
        condition: status.condition,
        reason: status.conditionReason,
        temperatureC: status.temperatureC,
      });
      g.samples.emitNow();
      return;
    }
    g.samples.offer();
  }

  recordGpuReadError(src: SourceEntry, event: GpuReadErrorInfo | undefined): void {
    this.broadcast('gpuAlert', null, null, {
      source: src.label,
      kind: 'readError',
      deviceIndex: event?.deviceIndex ?? 0,
      message: errorSummary(event?.error).message,
      consecutiveFailures: event?.consecutiveFailures ?? 1,
      thermalSafetyDisabled: event?.thermalSafetyDisabled === true,
    });
  }

  // ---------------------------------------------------------------------
  // Polling (state and learning rate; never on the step path)

  pollSource(src: SourceEntry): void {
    if (!this.sources.has(src.obj)) return;
    let status: { state?: string; learningRate?: number | null; runId?: string | null } | undefined;
    try {
      status = src.obj.status as typeof status;
    } catch {
      return;
    }
    if (!status) return;
    const lr = finiteOrNull(status.learningRate);
    if (lr !== null) {
      src.learningRate = lr;
      if (src.run && src.run.status === 'running') src.run.learningRate = lr;
    }
    const now = performance.now();
    const run = src.run;
    if (run && run.status === 'running' && now - run.lastStepAt > 2000) {
      run.stepsPerSecond = 0;
      run.samplesPerSecond = src.batchSize !== null ? 0 : null;
    }
    const state = status.state as SourceActivity | undefined;
    if (state !== 'idle' && state !== 'running' && state !== 'paused' && state !== 'stopping') return;
    if (src.kind === 'trainer') {
      // Runs start with their first step and end with complete/error; the poll
      // only tracks pause/stop transitions inside a run.
      if (run && run.status === 'running' && state !== 'idle') this.setActivity(src, state, null);
      return;
    }
    if (status.runId) src.runId = status.runId;
    if (state === 'idle' && src.activity !== 'idle') {
      // The session is over: its outcome is the last run's.
      const failed = src.lastRunFailed;
      this.lastOutcome = failed ? failed.status : 'completed';
      this.setActivity(src, 'idle', failed ? failed.reason : null);
    } else if (state !== 'idle') {
      this.setActivity(src, state, null);
    }
  }

  /** Stops every timer (the hub is closing). */
  stopTimers(): void {
    for (const r of this.runs.values()) r.steps.cancel();
    for (const g of this.gpus.values()) g.samples.cancel();
  }
}
