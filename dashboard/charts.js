// uPlot charts fed through per-pixel decimation (decimate.js): a chart is
// redrawn from the full series at most a few times a second, with at most
// two points per pixel column, so it stays smooth at 100 000 points.

import { decimateToGrid } from './decimate.js';

export const PALETTE = ['#4f8cff', '#f5a524', '#2fbf71', '#e5484d', '#a66cff', '#14b8c8', '#f76b15', '#d6409f'];

const AXIS = { stroke: '#9aa4b2', grid: { stroke: 'rgba(154,164,178,0.12)', width: 1 }, ticks: { stroke: 'rgba(154,164,178,0.25)', width: 1 } };

/**
 * One chart. `series`: [{ label, stroke, scale?, points? }] in the order of
 * the PointSeries passed to render(). `boundaries()`: [{ x, label }] drawn
 * as dashed vertical lines (run boundaries).
 */
export class DecimatedChart {
  constructor(container, { series, scales = {}, axes = null, boundaries = null, height = 220, logY = false }) {
    this.container = container;
    this.seriesSpec = series;
    this.boundaries = boundaries;
    this.height = height;
    this.scales = { x: { time: false }, y: logY ? { distr: 3 } : {}, ...scales };
    this.axes = axes ?? [{ ...AXIS }, { ...AXIS, size: 56 }];
    this.plot = null;
    this.lastData = null;
    const observer = new ResizeObserver(() => this.resize());
    observer.observe(container);
  }

  width() {
    return Math.max(200, Math.floor(this.container.clientWidth || 600));
  }

  create() {
    const boundaries = this.boundaries;
    const opts = {
      width: this.width(),
      height: this.height,
      scales: this.scales,
      legend: { live: true },
      cursor: { drag: { x: false, y: false }, points: { size: 5 } },
      series: [
        { label: 'step' },
        ...this.seriesSpec.map((s) => ({
          label: s.label,
          stroke: s.stroke,
          width: s.width ?? 1.5,
          scale: s.scale ?? 'y',
          spanGaps: true,
          points: { show: s.points ?? false, size: 5, fill: s.stroke },
          value: (_u, v) => (v === null || v === undefined ? '–' : Number(v.toPrecision(4)).toString()),
        })),
      ],
      axes: this.axes,
      hooks: {
        draw: [
          (u) => {
            if (!boundaries) return;
            const list = boundaries();
            if (list.length === 0) return;
            const ctx = u.ctx;
            ctx.save();
            ctx.strokeStyle = 'rgba(230,235,245,0.35)';
            ctx.fillStyle = 'rgba(230,235,245,0.6)';
            ctx.setLineDash([4, 4]);
            ctx.lineWidth = 1;
            ctx.font = `${Math.round(10 * devicePixelRatio)}px system-ui, sans-serif`;
            const top = u.bbox.top;
            const bottom = u.bbox.top + u.bbox.height;
            for (const b of list) {
              const x = Math.round(u.valToPos(b.x, 'x', true));
              if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
              ctx.beginPath();
              ctx.moveTo(x, top);
              ctx.lineTo(x, bottom);
              ctx.stroke();
              ctx.fillText(b.label, x + 3, top + 12 * devicePixelRatio);
            }
            ctx.restore();
          },
        ],
      },
    };
    this.plot = new uPlot(opts, [[], ...this.seriesSpec.map(() => [])], this.container);
  }

  /** Replaces the series specs (e.g. a new run on the per-run chart). */
  setSeries(series) {
    this.seriesSpec = series;
    if (this.plot) {
      this.plot.destroy();
      this.plot = null;
    }
  }

  resize() {
    if (!this.plot) return;
    this.plot.setSize({ width: this.width(), height: this.height });
    if (this.lastData) this.render(...this.lastData);
  }

  /** Draws the PointSeries (one per series spec) over [xMin, xMax]. */
  render(pointSeries, xMin, xMax) {
    this.lastData = [pointSeries, xMin, xMax];
    if (!this.plot) this.create();
    const plotWidth = Math.max(50, Math.floor(this.plot.bbox.width / devicePixelRatio) || this.width() - 70);
    let total = 0;
    for (const s of pointSeries) total += s.length;
    const { data, drawn } = decimateToGrid(pointSeries, xMin, xMax, plotWidth);
    this.plot.setData(data);
    this.container.dataset.points = String(total);
    this.container.dataset.drawn = String(drawn);
  }
}
