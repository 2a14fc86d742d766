// What the page knows: the hub's messages folded into sources, runs (with
// their loss points), GPUs and an event log. A snapshot replaces everything;
// every other message updates it. Renderers read it and the `dirty` flags.

import { PointSeries } from './decimate.js';

const LOG_LIMIT = 500;

export function runKey(source, runId, runIndex) {
  return `${source}|${runId ?? ''}|${runIndex ?? ''}`;
}

export class Store {
  constructor() {
    this.reset();
  }

  reset() {
    this.sessionId = null;
    this.hubState = 'idle';
    this.sources = new Map();
    this.runs = new Map();
    /** Loss of every run on one axis: x is the step counted across runs. */
    this.allLoss = new PointSeries(4096);
    this.learningRate = new PointSeries(1024);
    this.samplesPerSecond = new PointSeries(1024);
    this.validation = new PointSeries(64);
    /** Where each run starts on the across-runs axis. */
    this.boundaries = [];
    this.gpus = new Map();
    this.log = [];
    this.globalEnd = 0;
    /** Run id whose row Abort waits for its second click (app.js), or null. */
    this.armedAbort = null;
    this.dirty = { charts: true, runs: true, gpus: true, log: true, state: true };
  }

  markAll() {
    for (const k of Object.keys(this.dirty)) this.dirty[k] = true;
  }

  apply(m) {
    switch (m.type) {
      case 'snapshot':
        this.loadSnapshot(m);
        return;
      case 'watch':
        this.sources.set(m.payload.source, { source: m.payload.source, kind: m.payload.kind, state: 'idle', controls: m.payload.controls ?? [], thresholds: m.payload.thresholds });
        this.dirty.state = true;
        break;
      case 'unwatch':
        this.sources.delete(m.payload.source);
        this.setHubState(m.payload.hubState);
        break;
      case 'runStart':
        this.startRun(m);
        break;
      case 'step':
        this.onStep(m);
        return;
      case 'epoch':
        this.onEpoch(m);
        break;
      case 'runEnd':
        this.endRun(m);
        break;
      case 'state': {
        const src = this.sources.get(m.payload.source);
        if (src) src.state = m.payload.state;
        // The runs table's per-row Pause/Resume follow the source's state.
        this.dirty.runs = true;
        this.setHubState(m.payload.hubState);
        break;
      }
      case 'gpu':
        this.gpus.set(m.payload.deviceIndex, m.payload);
        this.dirty.gpus = true;
        return;
      default:
        break;
    }
    this.pushLog(m);
  }

  setHubState(state) {
    if (typeof state === 'string' && state !== this.hubState) {
      this.hubState = state;
      this.dirty.state = true;
    }
  }

  pushLog(m) {
    this.log.push(m);
    if (this.log.length > LOG_LIMIT) this.log.splice(0, this.log.length - LOG_LIMIT);
    this.dirty.log = true;
  }

  newRun(source, runId, runIndex, fields) {
    const key = runKey(source, runId, runIndex);
    const offset = this.globalEnd;
    const run = {
      key,
      source,
      runId,
      runIndex,
      status: 'running',
      step: 0,
      loss: null,
      epoch: 0,
      learningRate: null,
      stepsPerSecond: null,
      samplesPerSecond: null,
      validationLoss: null,
      finalLoss: null,
      durationSeconds: null,
      reason: null,
      offset,
      points: new PointSeries(1024),
      ...fields,
    };
    this.runs.delete(key);
    this.runs.set(key, run);
    if (this.runs.size > 1 || offset > 0) this.boundaries.push({ x: offset, label: runIndex !== null ? `run ${runIndex}` : 'new run' });
    this.dirty.runs = true;
    this.dirty.charts = true;
    return run;
  }

  startRun(m) {
    const p = m.payload;
    const run = this.newRun(p.source, m.runId, m.runIndex, { learningRate: p.learningRate ?? null, startedAt: m.time, host: p.host ?? null, attempt: p.attempt ?? null });
    const src = this.sources.get(p.source);
    if (src) {
      src.state = 'running';
      if (typeof p.numRuns === 'number') src.numRuns = p.numRuns;
    }
    if (this.hubState !== 'paused') this.setHubState('running');
    return run;
  }

  runFor(m) {
    const source = m.payload.source;
    const key = runKey(source, m.runId, m.runIndex);
    return this.runs.get(key) ?? this.newRun(source, m.runId, m.runIndex, {});
  }

  addPoint(run, step, loss) {
    if (!Number.isFinite(loss)) return;
    const last = run.points.lastX;
    if (last !== null && step <= last) return;
    run.points.push(step, loss);
    const x = run.offset + step;
    this.allLoss.push(x, loss);
    if (x > this.globalEnd) this.globalEnd = x;
  }

  onStep(m) {
    const p = m.payload;
    const run = this.runFor(m);
    run.step = p.step;
    run.loss = p.loss;
    run.epoch = p.epoch ?? run.epoch;
    run.learningRate = p.learningRate ?? run.learningRate;
    run.stepsPerSecond = p.stepsPerSecond;
    run.samplesPerSecond = p.samplesPerSecond;
    this.addPoint(run, p.step, typeof p.lossMean === 'number' ? p.lossMean : p.loss);
    const x = run.offset + p.step;
    if (typeof run.learningRate === 'number') this.learningRate.push(x, run.learningRate);
    if (typeof p.samplesPerSecond === 'number') this.samplesPerSecond.push(x, p.samplesPerSecond);
    this.dirty.charts = true;
    this.dirty.runs = true;
  }

  onEpoch(m) {
    const p = m.payload;
    const run = this.runs.get(runKey(p.source, m.runId, m.runIndex));
    if (!run) return;
    run.epoch = p.epoch;
    if (typeof p.validationLoss === 'number') {
      run.validationLoss = p.validationLoss;
      this.validation.push(run.offset + run.step, p.validationLoss);
      this.dirty.charts = true;
    }
    this.dirty.runs = true;
  }

  endRun(m) {
    const p = m.payload;
    const run = this.runFor(m);
    const hadValidation = run.validationLoss;
    Object.assign(run, {
      status: p.status,
      step: p.steps ?? run.step,
      finalLoss: p.finalLoss,
      durationSeconds: p.durationSeconds,
      validationLoss: p.validationLoss ?? run.validationLoss,
      learningRate: p.learningRate ?? run.learningRate,
      reason: p.reason,
      error: p.error,
      abortedBy: p.abortedBy,
    });
    // A multi-run session validates once per run, at its end.
    if (typeof p.validationLoss === 'number' && p.validationLoss !== hadValidation) this.validation.push(run.offset + run.step, p.validationLoss);
    if (run.offset + run.step > this.globalEnd) this.globalEnd = run.offset + run.step;
    const src = this.sources.get(p.source);
    if (src && (src.kind === 'trainer' || src.kind === 'fleetJob')) src.state = 'idle';
    this.setHubState(p.hubState);
    this.dirty.runs = true;
    this.dirty.charts = true;
  }

  loadSnapshot(m) {
    const s = m.payload;
    this.reset();
    this.sessionId = m.sessionId;
    this.hubState = s.state;
    for (const src of s.sources) this.sources.set(src.source, { ...src });
    for (const r of s.runs) {
      const run = this.newRun(r.source, r.runId, r.runIndex, {
        status: r.status,
        step: r.step,
        loss: r.loss,
        epoch: r.epoch,
        learningRate: r.learningRate,
        stepsPerSecond: r.stepsPerSecond,
        samplesPerSecond: r.samplesPerSecond,
        validationLoss: r.validationLoss,
        finalLoss: r.finalLoss,
        durationSeconds: r.durationSeconds,
        reason: r.reason,
        error: r.error,
        startedAt: r.startedAt,
        host: r.host ?? null,
        attempt: r.attempt ?? null,
      });
      const h = r.history;
      for (let i = 0; i < h.steps.length; i++) this.addPoint(run, h.steps[i], h.losses[i]);
      if (typeof r.learningRate === 'number') {
        this.learningRate.push(run.offset, r.learningRate);
        this.learningRate.push(run.offset + run.step, r.learningRate);
      }
      if (typeof r.validationLoss === 'number') this.validation.push(run.offset + run.step, r.validationLoss);
      if (run.offset + run.step > this.globalEnd) this.globalEnd = run.offset + run.step;
    }
    for (const g of s.gpus) this.gpus.set(g.deviceIndex, g);
    for (const entry of s.log) this.pushLog(entry);
    this.markAll();
  }

  /** Commands every running source supports (the buttons to enable). */
  controls() {
    const out = new Set();
    for (const src of this.sources.values()) for (const c of src.controls ?? []) out.add(c);
    return out;
  }

  totalPoints() {
    return this.allLoss.length;
  }
}
