'use strict';
// The page's per-pixel decimation (dashboard/decimate.js, an ES module run
// here as the browser runs it): bounded output, extremes kept, order kept.

const assert = require('node:assert/strict');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

describe('dashboard decimation', () => {
  let PointSeries;
  let decimateToGrid;
  before(async () => {
    ({ PointSeries, decimateToGrid } = await import(pathToFileURL(path.join(__dirname, '..', 'dashboard', 'decimate.js')).href));
  });

  function series(n, f) {
    const s = new PointSeries(4);
    for (let i = 1; i <= n; i++) s.push(i, f(i));
    return s;
  }

  it('draws at most two points per pixel column from 100 000 points, keeping every spike and dip', () => {
    const s = series(100_000, (i) => (i === 77_777 ? 9 : i === 33_333 ? -9 : 1 / Math.sqrt(i)));
    assert.equal(s.length, 100_000);
    const { data, drawn } = decimateToGrid([s], 0, 100_000, 800);
    assert.equal(data[0].length, 1600);
    assert.ok(drawn <= 1600 && drawn > 800, `drawn ${drawn}`);
    const ys = data[1].filter((v) => v !== null);
    assert.equal(Math.max(...ys), 9);
    assert.equal(Math.min(...ys), -9);
    // The first column holds the curve's start (its highest point, 1).
    assert.equal(data[1][0], 1);
  });

  it('keeps the order of a column extremes (a dip before a spike stays before it)', () => {
    const s = new PointSeries();
    for (const [x, y] of [[1, 5], [2, 1], [3, 9], [11, 4], [12, 8], [13, 2]]) s.push(x, y);
    const { data } = decimateToGrid([s], 0, 20, 2);
    assert.deepEqual(data[1], [1, 9, 8, 2]);
    assert.deepEqual(Array.from(data[0]), [0, 5, 10, 15]);
  });

  it('aligns several series on one grid, with null where a series has no point', () => {
    const a = series(10, () => 1);
    const b = new PointSeries();
    b.push(95, 3);
    const { data, drawn } = decimateToGrid([a, b], 0, 100, 10);
    assert.equal(data.length, 3);
    assert.deepEqual(data[1].slice(0, 4), [1, null, 1, null]);
    assert.deepEqual(data[2].slice(18), [3, null]);
    assert.equal(drawn, 3);
  });
});
