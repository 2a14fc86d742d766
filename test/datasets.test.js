'use strict';
const assert = require('node:assert/strict');
const path = require('node:path');

const dist = process.env.BP_DIST || path.join(__dirname, '..', 'dist');
const { datasets } = require(path.join(dist, 'datasets'));

function classCounts(dataset) {
  const counts = new Array(dataset.outputSize).fill(0);
  for (const label of dataset.y) counts[label]++;
  return counts;
}

function assertConfigInvalid(fn, field) {
  assert.throws(fn, (error) => {
    assert.equal(error.name, 'BackpropError');
    assert.equal(error.code, 'CONFIG_INVALID');
    assert.equal(error.details.field, field, error.message);
    return true;
  });
}

function assertWellFormed(dataset, { rows, inputSize, outputSize }) {
  assert.ok(dataset.x instanceof Float32Array);
  assert.ok(dataset.y instanceof Int32Array);
  assert.equal(dataset.rows, rows);
  assert.equal(dataset.inputSize, inputSize);
  assert.equal(dataset.outputSize, outputSize);
  assert.equal(dataset.x.length, rows * inputSize);
  assert.equal(dataset.y.length, rows);
  for (const v of dataset.x) assert.ok(Number.isFinite(v), `non-finite value ${v}`);
  for (const label of dataset.y) assert.ok(label >= 0 && label < outputSize, `label ${label} out of range`);
}

for (const name of ['spirals', 'blobs']) {
  describe(`datasets.${name}`, () => {
    const generate = datasets[name];

    it('has the documented defaults: 1000 samples, 3 classes, 2 features', () => {
      const dataset = generate();
      assertWellFormed(dataset, { rows: 1000, inputSize: 2, outputSize: 3 });
      assert.deepEqual(classCounts(dataset), [334, 333, 333]);
    });

    it('gives identical arrays for the same seed', () => {
      const a = generate({ seed: 7, samples: 300 });
      const b = generate({ seed: 7, samples: 300 });
      assert.deepEqual(a.x, b.x);
      assert.deepEqual(a.y, b.y);
      assert.deepEqual(generate(), generate({ seed: 0 }), 'the default seed is 0');
    });

    it('gives different data for different seeds', () => {
      const a = generate({ seed: 1, samples: 300 });
      const b = generate({ seed: 2, samples: 300 });
      assert.notDeepEqual(a.x, b.x);
    });

    it('splits samples as evenly as possible across classes', () => {
      assert.deepEqual(classCounts(generate({ samples: 10, classes: 3 })), [4, 3, 3]);
      assert.deepEqual(classCounts(generate({ samples: 12, classes: 4 })), [3, 3, 3, 3]);
      assert.deepEqual(classCounts(generate({ samples: 5, classes: 5 })), [1, 1, 1, 1, 1]);
      assert.deepEqual(classCounts(generate({ samples: 1001, classes: 2 })), [501, 500]);
    });

    it('interleaves classes so every window of `classes` rows has each class once', () => {
      const classes = 4;
      const dataset = generate({ samples: 400, classes });
      for (let start = 0; start + classes <= dataset.rows; start += classes) {
        const window = Array.from(dataset.y.subarray(start, start + classes)).sort();
        assert.deepEqual(window, [0, 1, 2, 3], `rows ${start}..${start + classes - 1}`);
      }
    });

    it('shuffles points within each class (rows are not in generation order)', () => {
      // The first rows of class 0 should not simply be its first generated points.
      const a = generate({ samples: 300, seed: 3 });
      const firstClass0 = [];
      for (let row = 0; row < a.rows && firstClass0.length < 20; row++) if (a.y[row] === 0) firstClass0.push(a.x[row * 2]);
      const sorted = [...firstClass0].sort((p, q) => p - q);
      assert.notDeepEqual(firstClass0, sorted);
    });

    it('rejects bad options with CONFIG_INVALID naming the field', () => {
      assertConfigInvalid(() => generate({ samples: 0 }), 'samples');
      assertConfigInvalid(() => generate({ samples: 2 }), 'samples'); // fewer than the 3 default classes
      assertConfigInvalid(() => generate({ samples: 10.5 }), 'samples');
      assertConfigInvalid(() => generate({ samples: '100' }), 'samples');
      assertConfigInvalid(() => generate({ classes: 1 }), 'classes');
      assertConfigInvalid(() => generate({ classes: 2.5 }), 'classes');
      assertConfigInvalid(() => generate({ seed: -1 }), 'seed');
      assertConfigInvalid(() => generate({ seed: 2 ** 32 }), 'seed');
      assertConfigInvalid(() => generate({ sample: 100 }), 'sample');
      assertConfigInvalid(() => generate(null), 'options');
    });
  });
}

describe('datasets.spirals specifics', () => {
  it('puts points inside the unit disc, with radius growing along each arm', () => {
    const dataset = datasets.spirals({ samples: 600, noise: 0 });
    let maxRadius = 0;
    for (let row = 0; row < dataset.rows; row++) {
      maxRadius = Math.max(maxRadius, Math.hypot(dataset.x[row * 2], dataset.x[row * 2 + 1]));
    }
    assert.ok(maxRadius <= 1 + 1e-6, `max radius ${maxRadius}`);
    assert.ok(maxRadius > 0.99, 'the arms reach the unit circle');
  });

  it('is noise-free with noise 0: every point lies exactly on its arm', () => {
    const dataset = datasets.spirals({ samples: 90, classes: 3, noise: 0 });
    for (let row = 0; row < dataset.rows; row++) {
      const [px, py] = [dataset.x[row * 2], dataset.x[row * 2 + 1]];
      const radius = Math.hypot(px, py);
      if (radius < 1e-3) continue;
      // angle = 4k + 4r (mod 2pi), measured as atan2(sin, cos) = atan2(px, py).
      const expected = dataset.y[row] * 4 + radius * 4;
      const diff = Math.atan2(Math.sin(Math.atan2(px, py) - expected), Math.cos(Math.atan2(px, py) - expected));
      assert.ok(Math.abs(diff) < 1e-4, `row ${row}: off the arm by ${diff}`);
    }
  });

  it('rejects negative or non-finite noise', () => {
    assertConfigInvalid(() => datasets.spirals({ noise: -0.1 }), 'noise');
    assertConfigInvalid(() => datasets.spirals({ noise: NaN }), 'noise');
    assertConfigInvalid(() => datasets.spirals({ features: 3 }), 'features'); // spirals are always 2-D
  });
});

describe('datasets.blobs specifics', () => {
  it('honours features and clusters points around one centre per class', () => {
    const dataset = datasets.blobs({ samples: 3000, classes: 3, features: 5, spread: 0.5, seed: 11 });
    assertWellFormed(dataset, { rows: 3000, inputSize: 5, outputSize: 3 });
    // Per-class standard deviation in every dimension is close to `spread`.
    for (let cls = 0; cls < 3; cls++) {
      for (let f = 0; f < 5; f++) {
        let sum = 0;
        let sumSq = 0;
        let n = 0;
        for (let row = 0; row < dataset.rows; row++) {
          if (dataset.y[row] !== cls) continue;
          const v = dataset.x[row * 5 + f];
          sum += v;
          sumSq += v * v;
          n++;
        }
        const mean = sum / n;
        const sd = Math.sqrt(sumSq / n - mean * mean);
        assert.ok(Math.abs(sd - 0.5) < 0.1, `class ${cls} feature ${f}: sd ${sd}`);
        assert.ok(Math.abs(mean) <= 10.5, `centre inside the box, got ${mean}`);
      }
    }
  });

  it('with spread 0 puts every point of a class on its centre', () => {
    const dataset = datasets.blobs({ samples: 30, spread: 0, features: 3 });
    const centres = new Map();
    for (let row = 0; row < dataset.rows; row++) {
      const point = Array.from(dataset.x.subarray(row * 3, row * 3 + 3));
      const known = centres.get(dataset.y[row]);
      if (known) assert.deepEqual(point, known);
      else centres.set(dataset.y[row], point);
    }
    assert.equal(centres.size, 3);
  });

  it('rejects bad features and spread', () => {
    assertConfigInvalid(() => datasets.blobs({ features: 0 }), 'features');
    assertConfigInvalid(() => datasets.blobs({ features: 1.5 }), 'features');
    assertConfigInvalid(() => datasets.blobs({ spread: -1 }), 'spread');
    assertConfigInvalid(() => datasets.blobs({ spread: Infinity }), 'spread');
    assertConfigInvalid(() => datasets.blobs({ noise: 0.1 }), 'noise'); // blobs use spread, not noise
  });
});
