// Per-pixel decimation for the charts: however many points a series holds,
// the chart gets at most two per pixel column (the lowest and the highest, in
// the order they occurred), so drawing costs the same at 100 000 points as at
// 1 000 and no spike is lost.

/** A growable pair of Float64Arrays (x, y); amortised O(1) push. */
export class PointSeries {
  constructor(capacity = 1024) {
    this.xs = new Float64Array(capacity);
    this.ys = new Float64Array(capacity);
    this.length = 0;
  }

  push(x, y) {
    if (this.length === this.xs.length) {
      const xs = new Float64Array(this.xs.length * 2);
      const ys = new Float64Array(this.ys.length * 2);
      xs.set(this.xs);
      ys.set(this.ys);
      this.xs = xs;
      this.ys = ys;
    }
    this.xs[this.length] = x;
    this.ys[this.length] = y;
    this.length++;
  }

  get lastX() {
    return this.length === 0 ? null : this.xs[this.length - 1];
  }

  clear() {
    this.length = 0;
  }
}

/** First index with xs[i] >= x (xs ascending). */
function lowerBound(xs, length, x) {
  let lo = 0;
  let hi = length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * uPlot data for several series on one x range, decimated to `buckets`
 * columns: a shared x grid with two slots per column, and per series the
 * column's extreme values (first-occurring one in the first slot), or null
 * where a series has no point. Series must have ascending x.
 * Returns { data: [xs, ...ys], drawn } where drawn counts the non-null values.
 */
export function decimateToGrid(seriesList, xMin, xMax, buckets) {
  const n = Math.max(1, Math.floor(buckets));
  const span = xMax > xMin ? xMax - xMin : 1;
  const width = span / n;
  const grid = new Float64Array(2 * n);
  for (let b = 0; b < n; b++) {
    grid[2 * b] = xMin + b * width;
    grid[2 * b + 1] = xMin + (b + 0.5) * width;
  }
  const out = [grid];
  let drawn = 0;
  for (const s of seriesList) {
    const ys = new Array(2 * n).fill(null);
    const start = lowerBound(s.xs, s.length, xMin);
    let bucket = -1;
    let lo = 0;
    let hi = 0;
    let loAt = 0;
    let hiAt = 0;
    let count = 0;
    const flush = () => {
      if (count === 0) return;
      if (count === 1 || lo === hi) {
        ys[2 * bucket] = lo;
        drawn += 1;
      } else if (loAt <= hiAt) {
        ys[2 * bucket] = lo;
        ys[2 * bucket + 1] = hi;
        drawn += 2;
      } else {
        ys[2 * bucket] = hi;
        ys[2 * bucket + 1] = lo;
        drawn += 2;
      }
    };
    for (let i = start; i < s.length; i++) {
      const x = s.xs[i];
      if (x > xMax) break;
      const y = s.ys[i];
      if (!Number.isFinite(y)) continue;
      const b = Math.min(n - 1, Math.floor((x - xMin) / width));
      if (b !== bucket) {
        flush();
        bucket = b;
        lo = hi = y;
        loAt = hiAt = i;
        count = 1;
        continue;
      }
      count++;
      if (y < lo) {
        lo = y;
        loAt = i;
      }
      if (y > hi) {
        hi = y;
        hiAt = i;
      }
    }
    flush();
    out.push(ys);
  }
  return { data: out, drawn };
}
