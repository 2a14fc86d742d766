'use strict';
// TrainingCallback unit rows (roadmap section 1.1): defaults, handler sets,
// handler signatures, mutable fields (live handler swap) and validation.
const assert = require('node:assert/strict');
const path = require('node:path');

const dist = process.env.BP_DIST || path.join(__dirname, '..', 'dist');
const { Trainer, TrainingCallback, datasets, BackpropError } = require(dist);
const { createSpy } = require('./helpers');

const HOOKS = ['onStep', 'onEpoch', 'onSave', 'onComplete', 'onError'];
const MODEL = Object.freeze({ inputSize: 2, hiddenLayers: [16], outputSize: 3 });
const DATA = datasets.spirals({ samples: 320, classes: 3, seed: 11 });

function newTrainer(overrides = {}) {
  return new Trainer({ model: { ...MODEL }, seed: 11, learningRate: 0.01, threads: 1, ...overrides });
}

/** Asserts fn throws a BackpropError CONFIG_INVALID whose details.field is `field`. */
function assertConfigInvalid(fn, field) {
  let caught;
  assert.throws(fn, (error) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof BackpropError, `expected a BackpropError, got ${caught}`);
  assert.equal(caught.code, 'CONFIG_INVALID');
  assert.equal(caught.details.field, field, caught.message);
  return caught;
}

describe('TrainingCallback (1.1 unit)', () => {
  it('test_callback_dataclass_defaults: every handler field exists and is undefined by default', () => {
    for (const cb of [new TrainingCallback(), new TrainingCallback({})]) {
      for (const hook of HOOKS) {
        assert.ok(hook in cb, `${hook} should be a field of TrainingCallback`);
        assert.ok(Object.prototype.hasOwnProperty.call(cb, hook), `${hook} should be an own field`);
        assert.equal(cb[hook], undefined, `${hook} should default to undefined`);
      }
    }
  });

  it('test_callback_with_all_handlers: keeps each of the five handlers as given', () => {
    const handlers = Object.fromEntries(HOOKS.map((h) => [h, createSpy(h)]));
    const cb = new TrainingCallback(handlers);
    for (const hook of HOOKS) assert.equal(cb[hook], handlers[hook], `${hook} should be the function passed in`);
  });

  it('test_callback_partial_handlers: a subset sets only those handlers, the rest stay undefined', () => {
    const onStep = createSpy('onStep');
    const onError = createSpy('onError');
    const cb = new TrainingCallback({ onStep, onError });
    assert.equal(cb.onStep, onStep);
    assert.equal(cb.onError, onError);
    assert.equal(cb.onEpoch, undefined);
    assert.equal(cb.onSave, undefined);
    assert.equal(cb.onComplete, undefined);
  });

  it('test_callback_partial_handlers: null and undefined handlers are accepted and mean "no handler"', () => {
    const cb = new TrainingCallback({ onStep: null, onEpoch: undefined, onSave: null, onComplete: undefined, onError: null });
    for (const hook of HOOKS) assert.equal(cb[hook], undefined, `${hook} should be undefined`);
  });

  describe('test_callback_handler_signatures', () => {
    let dir;
    before(() => {
      dir = require('node:fs').mkdtempSync(path.join(require('node:os').tmpdir(), 'bp-cb-sig-'));
    });
    after(() => {
      require('node:fs').rmSync(dir, { recursive: true, force: true });
    });

    it('onStep(step:number, loss:number), onEpoch(epoch:number), onSave(path:string), onComplete(run)', async () => {
      const spies = Object.fromEntries(HOOKS.map((h) => [h, createSpy(h)]));
      const trainer = newTrainer();
      const run = await trainer.train(
        DATA,
        { epochs: 2, batchSize: 32, stepEvents: 'block', outputDir: dir, saveEveryEpoch: true },
        new TrainingCallback(spies),
      );
      assert.equal(spies.onStep.callCount, run.steps);
      for (const call of spies.onStep.calls) {
        assert.equal(call.args.length, 2, 'onStep gets exactly (step, loss)');
        const [step, loss] = call.args;
        assert.equal(typeof step, 'number');
        assert.ok(Number.isInteger(step) && step >= 1, `step ${step} should be a positive integer`);
        assert.equal(typeof loss, 'number');
        assert.ok(Number.isFinite(loss), `loss ${loss} should be finite`);
      }
      assert.equal(spies.onEpoch.callCount, 2);
      for (const call of spies.onEpoch.calls) {
        assert.equal(call.args.length, 1, 'onEpoch gets exactly (epoch)');
        assert.ok(Number.isInteger(call.args[0]));
      }
      assert.ok(spies.onSave.callCount >= 2);
      for (const call of spies.onSave.calls) {
        assert.equal(call.args.length, 1, 'onSave gets exactly (path)');
        assert.equal(typeof call.args[0], 'string');
        assert.ok(path.isAbsolute(call.args[0]), `${call.args[0]} should be absolute`);
      }
      spies.onComplete.assertCalled(1);
      assert.equal(spies.onComplete.lastCall.args.length, 1, 'onComplete gets exactly (run)');
      assert.equal(spies.onComplete.lastCall.args[0], run, 'onComplete gets the run the promise resolves with');
      spies.onError.assertCalled(0);
    });

    it('onError(error:Error) with a BackpropError for a runtime failure', async () => {
      const onError = createSpy('onError');
      const x = new Float32Array(64 * 2).map((_, i) => (i % 7) / 7);
      const y = new Float32Array(64).map((_, i) => x[2 * i] + x[2 * i + 1]);
      const trainer = new Trainer({
        model: { inputSize: 2, hiddenLayers: [8], outputSize: 1, task: 'regression' },
        optimizer: 'sgd',
        learningRate: 10,
        seed: 1,
        threads: 1,
      });
      const error = await trainer.train({ x, y }, { epochs: 200, batchSize: 16 }, new TrainingCallback({ onError })).then(
        () => assert.fail('expected the run to diverge'),
        (e) => e,
      );
      onError.assertCalled(1);
      assert.equal(onError.lastCall.args.length, 1, 'onError gets exactly (error)');
      assert.equal(onError.lastCall.args[0], error);
      assert.ok(error instanceof Error);
      assert.ok(error instanceof BackpropError);
      assert.equal(error.code, 'RUNTIME_NON_FINITE_LOSS');
    });
  });

  describe('test_callback_immutability: fields are plain mutable properties', () => {
    it('every handler field can be set, replaced and cleared after construction', () => {
      const cb = new TrainingCallback();
      for (const hook of HOOKS) {
        const fn = () => {};
        cb[hook] = fn;
        assert.equal(cb[hook], fn);
        cb[hook] = undefined;
        assert.equal(cb[hook], undefined);
      }
      assert.ok(!Object.isFrozen(cb));
    });

    it('replacing onStep on a live callback takes effect at the next step, and the old handler gets nothing after the swap', async () => {
      const SWAP_AT = 10;
      const cb = new TrainingCallback();
      const second = createSpy('second');
      const first = createSpy('first', (step) => {
        if (step === SWAP_AT) cb.onStep = second;
      });
      cb.onStep = first;
      const trainer = newTrainer();
      const run = await trainer.train(DATA, { epochs: 3, batchSize: 32, stepEvents: 'block' }, cb);
      assert.equal(run.steps, 30);
      assert.deepEqual(first.calls.map((c) => c.args[0]), Array.from({ length: SWAP_AT }, (_, i) => i + 1));
      assert.deepEqual(
        second.calls.map((c) => c.args[0]),
        Array.from({ length: run.steps - SWAP_AT }, (_, i) => SWAP_AT + 1 + i),
      );
      assert.ok(first.lastCall.order < second.calls[0].order);
    });

    it('setting onComplete while the run is in progress is honoured', async () => {
      const cb = new TrainingCallback();
      const onComplete = createSpy('onComplete');
      cb.onStep = (step) => {
        if (step === 3) cb.onComplete = onComplete;
      };
      const run = await newTrainer().train(DATA, { epochs: 1, batchSize: 32, stepEvents: 'block' }, cb);
      onComplete.assertCalled(1);
      assert.equal(onComplete.lastCall.args[0], run);
    });
  });

  describe('validation', () => {
    it('an unknown handler key throws CONFIG_INVALID naming callback.<key>', () => {
      const error = assertConfigInvalid(() => new TrainingCallback({ onStep() {}, onBatch() {} }), 'callback.onBatch');
      assert.match(error.message, /onBatch/);
      assertConfigInvalid(() => new TrainingCallback({ on_step() {} }), 'callback.on_step');
    });

    it('a non-function handler throws CONFIG_INVALID naming the handler', () => {
      for (const hook of HOOKS) {
        for (const bad of [42, 'log', {}, true]) {
          assertConfigInvalid(() => new TrainingCallback({ [hook]: bad }), `callback.${hook}`);
        }
      }
    });

    it('a non-object argument throws CONFIG_INVALID (field "callback")', () => {
      assertConfigInvalid(() => new TrainingCallback(null), 'callback');
      assertConfigInvalid(() => new TrainingCallback(5), 'callback');
      assertConfigInvalid(() => new TrainingCallback('onStep'), 'callback');
    });

    it('train() rejects a plain handler object with a non-function handler, before any step', async () => {
      const trainer = newTrainer();
      const onStep = createSpy('onStep');
      await assert.rejects(trainer.train(DATA, { epochs: 1 }, { onStep, onEpoch: 'not a function' }), (e) => {
        assert.ok(e instanceof BackpropError);
        assert.equal(e.code, 'CONFIG_INVALID');
        assert.equal(e.details.field, 'callback.onEpoch');
        return true;
      });
      await assert.rejects(trainer.train(DATA, { epochs: 1 }, 42), (e) => e.code === 'CONFIG_INVALID' && e.details.field === 'callback');
      onStep.assertCalled(0);
      assert.equal(trainer.status.step, 0);
    });

    it('train() accepts a plain object of handlers like a TrainingCallback', async () => {
      const onStep = createSpy('onStep');
      const onComplete = createSpy('onComplete');
      const run = await newTrainer().train(DATA, { epochs: 1, batchSize: 32, stepEvents: 'block' }, { onStep, onComplete });
      assert.equal(onStep.callCount, run.steps);
      onComplete.assertCalled(1);
    });
  });
});
