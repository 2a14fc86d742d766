'use strict';
// The summary table printed at the end of a stress run (plain text that is
// also a Markdown table, so it can be pasted into bench/README.md as is).

const COLUMNS = [
  ['scenario', (r) => r.name],
  ['passes', (r) => r.passes],
  ['rounds', (r) => r.rounds],
  ['runs', (r) => r.counts.runs || 0],
  ['aborts', (r) => r.counts.aborts || 0],
  ['events checked', (r) => r.counts.events || 0],
  ['steps coalesced', (r) => r.counts.droppedSteps || 0],
  ['checkpoints read', (r) => r.counts.checkpoints || 0],
  ['violations', (r) => r.violations],
  ['max RSS MB', (r) => r.maxRss.toFixed(0)],
  ['time s', (r) => (r.ms / 1000).toFixed(1)],
];

/** rows: [{ name, passes, rounds, counts, violations, maxRss, ms }]; the last line sums them. */
function formatSummaryTable(rows) {
  const total = {
    name: 'total',
    passes: rows.reduce((a, r) => a + r.passes, 0),
    rounds: rows.reduce((a, r) => a + r.rounds, 0),
    counts: {},
    violations: rows.reduce((a, r) => a + r.violations, 0),
    maxRss: rows.reduce((a, r) => Math.max(a, r.maxRss), 0),
    ms: rows.reduce((a, r) => a + r.ms, 0),
  };
  for (const r of rows) for (const [k, v] of Object.entries(r.counts)) total.counts[k] = (total.counts[k] || 0) + v;
  const all = [...rows, total];
  const cells = all.map((r) => COLUMNS.map(([, get]) => String(get(r))));
  const widths = COLUMNS.map(([title], i) => Math.max(title.length, ...cells.map((c) => c[i].length)));
  const line = (values) => `| ${values.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join(' | ')} |`;
  const out = [line(COLUMNS.map(([title]) => title)), `|${widths.map((w, i) => (i === 0 ? ':' : '-').padEnd(w + 1, '-') + (i === 0 ? '-' : ':')).join('|')}|`];
  for (const c of cells) out.push(line(c));
  return out.join('\n');
}

module.exports = { formatSummaryTable };
