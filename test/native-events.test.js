'use strict';
// The event record layout is defined once, on the native side: the addon
// exports it (eventLayout) and ts/native-events.ts decodes real batches with it.
const assert = require('node:assert/strict');
const { native } = require('../dist/internal');
const { nativeEventDecoder, eventLayout } = require('../dist/native-events');
const { Trainer, datasets } = require('../dist');

describe('native event decoding (ts/native-events.ts)', () => {
  it('reads the stride and the type codes the addon exports, all distinct and frozen', () => {
    const layout = native().eventLayout;
    assert.equal(layout.stride, 4);
    assert.deepEqual(Object.keys(layout.types).sort(), ['aborted', 'complete', 'epoch', 'error', 'save', 'stateChange', 'step']);
    const codes = Object.values(layout.types);
    assert.equal(new Set(codes).size, codes.length);
    assert.ok(Object.isFrozen(layout) && Object.isFrozen(layout.types));
    assert.equal(eventLayout(), layout);
  });

  it('decodes a hand-built batch into visitor calls in order, strings resolved', () => {
    const { stride, types: t } = native().eventLayout;
    const rows = [
      [t.step, 1, 0.5, 0],
      [t.epoch, 1, NaN, NaN],
      [t.save, 1, 0, 0],
      [t.stateChange, 1, 0, 0],
      [t.stateChange, 0, 0, 0],
      [t.aborted, -1, 0, 0],
      [t.error, 1, 2, 0],
      [t.complete, 0, 0, 0],
    ];
    const records = new Float64Array(rows.length * stride);
    rows.forEach((r, i) => records.set(r, i * stride));
    const seen = [];
    nativeEventDecoder({
      step: (...a) => seen.push(['step', ...a]),
      epoch: (...a) => seen.push(['epoch', ...a]),
      save: (...a) => seen.push(['save', ...a]),
      stateChange: (p) => seen.push(['state', p]),
      end: (e) => seen.push(['end', e]),
    })(records, ['/ckpt', 'RUNTIME_FAILED', 'boom']);
    assert.deepEqual(seen, [
      ['step', 1, 0.5, 0],
      ['epoch', 1, null, null],
      ['save', 1, '/ckpt'],
      ['state', true],
      ['state', false],
      ['end', { kind: 'aborted', reason: null }],
      ['end', { kind: 'error', code: 'RUNTIME_FAILED', message: 'boom' }],
      ['end', { kind: 'complete' }],
    ]);
  });

  it('decodes a real run: every step once, in order, then one terminal event', async () => {
    const trainer = new Trainer({ model: { inputSize: 2, hiddenLayers: [8], outputSize: 3 }, seed: 3, threads: 1 });
    const steps = [];
    const run = await trainer.train(datasets.spirals({ samples: 300, classes: 3, seed: 1 }), { epochs: 2, batchSize: 32, stepEvents: 'block' }, { onStep: (s) => steps.push(s) });
    assert.equal(steps.length, run.steps);
    assert.deepEqual(steps, steps.map((_, i) => i + 1));
  });
});
