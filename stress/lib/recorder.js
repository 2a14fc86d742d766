'use strict';
// RunRecorder: records what one train() call delivers, in delivery order, and
// checks the dispatch contract (README "The dispatch contract") against the
// run the promise settled with:
//
//  - steps strictly increase, are whole numbers in (startStep, run.steps], and
//    each carries that step's own loss (run.lossHistory[step - 1]);
//  - epochs arrive as startEpoch+1, startEpoch+2, ... up to run.metadata.epochs,
//    none missing, each after the last step of its epoch (no step of a later
//    epoch before it, none of its own after it);
//  - every save names checkpoint-<k>, comes after step k and before step k+1,
//    and the folders on disk are exactly the saves announced (readCheckpoint
//    on each succeeds and reports step k); run.outputPath is the last save;
//  - exactly one terminal event (complete or error), last, nothing after it,
//    the very object the promise settled with;
//  - 'block': every step delivered (1..run.steps, lossless), each epoch/save
//    directly after its step; 'coalesce': delivered + droppedStepEvents ===
//    run.steps and the last step is always delivered;
//  - paused/resumed alternate, starting with paused; a run that ends paused
//    ended by abort or failure.
//
// Several "views" may feed one recorder (the TrainingCallback handlers and
// the EventEmitter listeners): each view is checked on its own.
const fs = require('node:fs');
const path = require('node:path');

const TERMINAL = new Set(['complete', 'error']);

class RunRecorder {
  /**
   * plan: { label, stepEvents, stepsPerEpoch, outputDir?, startStep?, startEpoch?, views? }
   * views: names of the event streams recorded (default ['callback']).
   */
  constructor(plan) {
    this.plan = { startStep: 0, startEpoch: 0, views: ['callback'], ...plan };
    this.views = {};
    for (const v of this.plan.views) this.views[v] = { events: [], afterTerminal: [] };
    this.stateEvents = [];
    this.settledWith = null; // { run } or { error }
  }

  record(view, type, payload) {
    const v = this.views[view];
    if (!v) throw new Error(`unknown view ${view}`);
    const e = { type, payload };
    if (v.terminal) v.afterTerminal.push(e);
    else v.events.push(e);
    if (TERMINAL.has(type)) v.terminal = v.terminal || e;
  }

  /** Handlers for a TrainingCallback (or a plain object), recording into `view`. */
  handlers(view = 'callback', wrap = {}) {
    return {
      onStep: (step, loss) => {
        this.record(view, 'step', { step, loss });
        return wrap.onStep && wrap.onStep(step, loss);
      },
      onEpoch: (epoch) => {
        this.record(view, 'epoch', { epoch });
        return wrap.onEpoch && wrap.onEpoch(epoch);
      },
      onSave: (p) => {
        this.record(view, 'save', { path: p });
        return wrap.onSave && wrap.onSave(p);
      },
      onComplete: (run) => {
        this.record(view, 'complete', { run });
        return wrap.onComplete && wrap.onComplete(run);
      },
      onError: (error) => {
        this.record(view, 'error', { error });
        return wrap.onError && wrap.onError(error);
      },
    };
  }

  /** Adds EventEmitter listeners on the trainer recording into `view`; returns a function that removes them. */
  listen(trainer, view = 'listener') {
    const on = {
      step: (step, loss) => this.record(view, 'step', { step, loss }),
      epoch: (epoch) => this.record(view, 'epoch', { epoch }),
      save: (p) => this.record(view, 'save', { path: p }),
      complete: (run) => this.record(view, 'complete', { run }),
      error: (error) => this.record(view, 'error', { error }),
      paused: () => this.stateEvents.push('paused'),
      resumed: () => this.stateEvents.push('resumed'),
    };
    for (const [name, fn] of Object.entries(on)) trainer.on(name, fn);
    return () => {
      for (const [name, fn] of Object.entries(on)) trainer.off(name, fn);
    };
  }

  /** Awaits the train() promise and remembers how it settled. Never rejects. */
  async settle(promise) {
    try {
      const run = await promise;
      this.settledWith = { run };
    } catch (error) {
      this.settledWith = { error };
    }
    return this.settledWith;
  }

  get run() {
    if (!this.settledWith) return null;
    return this.settledWith.run || (this.settledWith.error && this.settledWith.error.run) || null;
  }

  /**
   * Checks every invariant; calls fail(message) for each violation. Returns the
   * number of events checked. Call it after the promise settled and a short
   * wait (so events delivered after the terminal one would have been seen).
   */
  check(fail) {
    const p = this.plan;
    const label = p.label;
    const bad = (msg) => fail(`${label}: ${msg}`);
    if (!this.settledWith) {
      bad('train() never settled');
      return 0;
    }
    const { error } = this.settledWith;
    const run = this.run;
    if (!run) {
      bad(`train() rejected without a run: ${error && (error.code || error.name)} ${error && error.message}`);
      return 0;
    }
    if (error && error.name === 'AbortError') {
      if (error.code !== 'ABORT_ERR') bad(`AbortError code ${error.code}`);
      if (run.metadata.outcome !== 'aborted') bad(`aborted run has outcome ${run.metadata.outcome}`);
    } else if (error) {
      if (run.metadata.outcome !== 'failed') bad(`failed run (${error.code}) has outcome ${run.metadata.outcome}`);
    } else if (run.metadata.outcome !== 'completed') {
      bad(`resolved run has outcome ${run.metadata.outcome}`);
    }
    if (run.lossHistory.length !== run.steps) bad(`lossHistory has ${run.lossHistory.length} entries for ${run.steps} steps`);

    let checked = 0;
    const savesByView = {};
    for (const [viewName, view] of Object.entries(this.views)) {
      checked += view.events.length + view.afterTerminal.length;
      savesByView[viewName] = this.checkView(viewName, view, run, error, bad);
    }
    // Folders on disk against the saves announced (once, with the callback view's list).
    const firstView = Object.keys(savesByView)[0];
    if (p.outputDir && firstView) this.checkFolders(savesByView[firstView], run, bad);
    checked += this.stateEvents.length;
    this.checkStateEvents(run, error, bad);
    return checked;
  }

  checkView(viewName, view, run, error, bad) {
    const p = this.plan;
    const v = (msg) => bad(`[${viewName}] ${msg}`);
    const events = view.events;
    if (view.afterTerminal.length > 0) {
      v(`${view.afterTerminal.length} event(s) after the terminal event: ${view.afterTerminal.slice(0, 3).map((e) => e.type).join(', ')}`);
    }
    const terminals = events.filter((e) => TERMINAL.has(e.type));
    if (terminals.length !== 1) v(`${terminals.length} terminal events (expected exactly 1)`);
    const last = events[events.length - 1];
    if (!last || !TERMINAL.has(last.type)) v(`the last event is ${last ? last.type : 'missing'}, not complete/error`);
    else if (error && last.type !== 'error') v(`train() rejected (${error.name}) but the terminal event is ${last.type}`);
    else if (!error && last.type !== 'complete') v(`train() resolved but the terminal event is ${last.type}`);
    else if (last.type === 'complete' && last.payload.run !== this.settledWith.run) v('onComplete got a different object than train() resolved with');
    else if (last.type === 'error' && last.payload.error !== error) v('onError got a different object than train() rejected with');

    const spe = p.stepsPerEpoch;
    const lastStepOfEpoch = (e) => e * spe;
    let prevStep = p.startStep;
    let delivered = 0;
    let nextEpoch = p.startEpoch + 1;
    const saves = [];
    let lastWasStep = null; // the step delivered immediately before (no other event in between), for block mode
    for (const e of events) {
      if (e.type === 'step') {
        const { step, loss } = e.payload;
        delivered++;
        if (!Number.isInteger(step) || step <= prevStep) v(`step ${step} after step ${prevStep} (steps must strictly increase)`);
        if (step > run.steps) v(`step ${step} delivered but run.steps is ${run.steps}`);
        if (step <= p.startStep) v(`step ${step} at or before the start step ${p.startStep}`);
        const expectedLoss = run.lossHistory[step - 1];
        if (expectedLoss !== undefined && !Object.is(loss, expectedLoss)) v(`step ${step} loss ${loss} != lossHistory[${step - 1}] ${expectedLoss}`);
        // A step of epoch E must come after epoch E-1's event and before epoch E's.
        const epochOfStep = Math.ceil(step / spe);
        if (epochOfStep < nextEpoch) v(`step ${step} (epoch ${epochOfStep}) delivered after the epoch ${nextEpoch - 1} event`);
        if (epochOfStep > nextEpoch && nextEpoch <= run.metadata.epochs) v(`step ${step} (epoch ${epochOfStep}) delivered before the epoch ${nextEpoch} event`);
        prevStep = step;
        lastWasStep = step;
      } else if (e.type === 'epoch') {
        const { epoch } = e.payload;
        if (epoch !== nextEpoch) v(`epoch ${epoch} delivered, expected epoch ${nextEpoch} (an epoch event was lost, repeated or reordered)`);
        if (prevStep > lastStepOfEpoch(epoch)) v(`epoch ${epoch} delivered after step ${prevStep} (its last step is ${lastStepOfEpoch(epoch)})`);
        if (p.stepEvents === 'block' && lastWasStep !== null && lastWasStep !== lastStepOfEpoch(epoch)) {
          v(`block mode: epoch ${epoch} follows step ${lastWasStep}, not its last step ${lastStepOfEpoch(epoch)}`);
        }
        if (p.stepEvents === 'block' && prevStep !== lastStepOfEpoch(epoch)) v(`block mode: epoch ${epoch} delivered when the last step seen is ${prevStep}, expected ${lastStepOfEpoch(epoch)}`);
        nextEpoch = epoch + 1;
        lastWasStep = null;
      } else if (e.type === 'save') {
        const m = /checkpoint-(\d+)$/.exec(e.payload.path);
        if (!m) {
          v(`save path ${e.payload.path} is not .../checkpoint-<step>`);
          continue;
        }
        const k = Number(m[1]);
        saves.push({ path: e.payload.path, step: k });
        if (prevStep > k) v(`save of checkpoint-${k} delivered after step ${prevStep}`);
        if (p.stepEvents === 'block' && prevStep !== k) v(`block mode: save of checkpoint-${k} delivered when the last step seen is ${prevStep}`);
        if (k > run.steps) v(`checkpoint-${k} is past run.steps ${run.steps}`);
        lastWasStep = null;
      } else if (e.type === 'complete' || e.type === 'error') {
        lastWasStep = null;
      }
    }
    const dropped = run.metadata.droppedStepEvents;
    const expectedSteps = run.steps - p.startStep;
    if (p.stepEvents === 'block') {
      if (delivered !== expectedSteps) v(`block mode lost step events: ${delivered} delivered, run took ${expectedSteps}`);
      if (dropped !== 0) v(`block mode reports ${dropped} dropped step events`);
    } else {
      if (delivered + dropped !== expectedSteps) v(`coalesce: delivered ${delivered} + dropped ${dropped} != steps ${expectedSteps}`);
    }
    if (expectedSteps > 0 && prevStep !== run.steps) v(`the last step delivered is ${prevStep}, run.steps is ${run.steps} (the last step must always be delivered)`);
    const epochsDelivered = nextEpoch - 1 - p.startEpoch;
    if (nextEpoch - 1 !== run.metadata.epochs) v(`epoch events up to ${nextEpoch - 1} (${epochsDelivered} delivered), run.metadata.epochs is ${run.metadata.epochs}`);
    return saves;
  }

  checkFolders(saves, run, bad) {
    const dir = path.resolve(this.plan.outputDir);
    let onDisk = [];
    try {
      onDisk = fs.readdirSync(dir).filter((n) => /^checkpoint-\d+$/.test(n)).sort();
    } catch {
      onDisk = [];
    }
    const announced = saves.map((s) => path.basename(s.path)).sort();
    if (new Set(announced).size !== announced.length) bad(`the same checkpoint was announced twice: ${announced.join(', ')}`);
    if (JSON.stringify(onDisk) !== JSON.stringify(announced)) {
      bad(`checkpoint folders on disk [${onDisk.join(', ')}] != saves announced [${announced.join(', ')}]`);
    }
    for (const s of saves) {
      if (path.dirname(path.resolve(s.path)) !== dir) bad(`save ${s.path} is not inside outputDir ${dir}`);
    }
    const lastSave = saves[saves.length - 1];
    if (lastSave && run.outputPath !== lastSave.path) bad(`run.outputPath ${run.outputPath} is not the last save ${lastSave.path}`);
    if (!lastSave && run.outputPath !== null && run.steps > this.plan.startStep) bad(`run.outputPath ${run.outputPath} but no save was announced`);
  }

  checkStateEvents(run, error, bad) {
    const s = this.stateEvents;
    for (let i = 0; i < s.length; i++) {
      const want = i % 2 === 0 ? 'paused' : 'resumed';
      if (s[i] !== want) {
        bad(`state events do not alternate: ${s.join(',')}`);
        return;
      }
    }
    if (s.length % 2 === 1 && !error) bad(`the run completed while the last state event is 'paused'`);
  }

  /** The checkpoint-<k> folders announced by the first view, for readCheckpoint. */
  savedFolders() {
    const first = Object.values(this.views)[0];
    return first.events.filter((e) => e.type === 'save').map((e) => e.payload.path);
  }
}

module.exports = { RunRecorder };
