// The page's non-chart panels, rebuilt from the store when it changes: GPU
// cards, the runs table and the event log. Text goes in with textContent
// only: message fields are untrusted.

import { clock, el, int, num, rate, seconds, shortId } from './format.js';

const CONDITION_TEXT = { safe: 'safe', warm: 'warm', warning: 'warning', critical: 'critical', emergency: 'emergency', unknown: 'unknown' };

function meter(label, value, max, text, marks = []) {
  const row = el('div', 'meter');
  row.append(el('span', 'meter-label', label));
  const track = el('div', 'meter-track');
  const fill = el('div', 'meter-fill');
  const fraction = Number.isFinite(value) && Number.isFinite(max) && max > 0 ? Math.max(0, Math.min(1, value / max)) : 0;
  fill.style.width = `${(fraction * 100).toFixed(1)}%`;
  track.append(fill);
  for (const m of marks) {
    if (!Number.isFinite(m.at) || !(max > 0)) continue;
    const tick = el('div', `meter-mark mark-${m.kind}`);
    tick.style.left = `${Math.max(0, Math.min(100, (m.at / max) * 100)).toFixed(1)}%`;
    tick.title = `${m.kind} ${m.at}`;
    track.append(tick);
  }
  row.append(track, el('span', 'meter-value', text));
  return row;
}

function gpuCard(g) {
  const condition = CONDITION_TEXT[g.condition] ?? 'unknown';
  const card = el('article', `gpu-card condition-${condition}`);
  card.dataset.device = String(g.deviceIndex);
  card.dataset.condition = condition;
  const head = el('header', 'gpu-head');
  head.append(el('span', 'gpu-name', `GPU ${g.deviceIndex} · ${g.deviceName ?? (g.available === false ? 'not available' : 'unknown device')}`));
  const badge = el('span', `badge condition-badge condition-${condition}`, condition);
  badge.dataset.role = 'condition';
  head.append(badge);
  card.append(head);
  const t = g.thresholds ?? {};
  const tempMax = Math.max(100, g.temperatureMaxC ?? 0, (t.emergency ?? 95) + 5);
  card.append(
    meter('Temp', g.temperatureC, tempMax, g.temperatureC === null || g.temperatureC === undefined ? '–' : `${Math.round(g.temperatureC)} °C`, [
      { kind: 'warning', at: t.warning },
      { kind: 'critical', at: t.critical },
      { kind: 'emergency', at: t.emergency },
      ...(typeof t.pause === 'number' ? [{ kind: 'pause', at: t.pause }] : []),
    ]),
    meter('VRAM', g.vramUsedGb, g.vramTotalGb, g.vramUsedGb === null || g.vramUsedGb === undefined ? '–' : `${num(g.vramUsedGb, 3)} / ${num(g.vramTotalGb, 3)} GB`),
    meter('Power', g.powerDrawW, g.powerLimitW, g.powerDrawW === null || g.powerDrawW === undefined ? '–' : `${Math.round(g.powerDrawW)} / ${g.powerLimitW ? Math.round(g.powerLimitW) : '–'} W`),
    meter('Util', g.gpuUtilization, 100, g.gpuUtilization === null || g.gpuUtilization === undefined ? '–' : `${Math.round(g.gpuUtilization)} %`),
  );
  const reasons = el('div', 'gpu-reasons');
  const throttle = g.throttleReasons ?? [];
  if (throttle.length === 0) reasons.append(el('span', 'muted', 'no throttling'));
  for (const r of throttle) reasons.append(el('span', 'chip', r.replace(/_/g, ' ')));
  card.append(reasons);
  if (g.conditionReason) card.append(el('div', 'gpu-reason muted', g.conditionReason));
  return card;
}

export function renderGpus(container, store) {
  const list = [...store.gpus.values()].sort((a, b) => a.deviceIndex - b.deviceIndex);
  container.replaceChildren(...(list.length ? list.map(gpuCard) : [el('p', 'muted empty', 'No GPU is watched.')]));
}

const STATUS_CLASS = { running: 'st-running', completed: 'st-completed', aborted: 'st-aborted', failed: 'st-failed' };

// Pause/Resume/Abort for one running run (each fleet job is its own source, so this is how a
// queue's jobs are controlled one by one). The buttons carry the run id (or, without one, the source
// label) as the command's target; app.js sends them. Abort takes a second click, as the header's does.
function controlsKey(r, store) {
  const src = store.sources.get(r.source);
  if (r.status !== 'running' || !src) return '';
  const controls = src.controls ?? [];
  const paused = src.state === 'paused';
  return [
    !paused && controls.includes('pause') ? 'pause' : '',
    paused && controls.includes('resume') ? 'resume' : '',
    controls.includes('abort') ? (store.armedAbort === targetOf(r) ? 'armed' : 'abort') : '',
  ].join(',');
}

const targetOf = (r) => r.runId ?? r.source;

function fillControls(td, key, r) {
  const button = (command, text, className = 'ghost') => {
    const b = el('button', className, text);
    b.type = 'button';
    b.dataset.command = command;
    b.dataset.target = targetOf(r);
    return b;
  };
  const [pause, resume, abort] = key.split(',');
  const buttons = [];
  if (pause) buttons.push(button('pause', 'Pause'));
  if (resume) buttons.push(button('resume', 'Resume'));
  if (abort) buttons.push(button('abort', abort === 'armed' ? 'Confirm abort' : 'Abort', abort === 'armed' ? 'ghost danger armed' : 'ghost danger'));
  td.replaceChildren(...buttons);
}

const COLUMNS = ['mono', null, 'col-host', null, 'num', 'num', 'num', 'num', 'num', 'num', 'row-controls'];

function newRow() {
  const tr = el('tr');
  const cells = COLUMNS.map((className) => el('td', className));
  tr.append(...cells);
  return { tr, cells, status: null, controls: null };
}

function setText(td, text) {
  if (td.textContent !== text) td.textContent = text;
}

// Rows are kept per run and updated in place, so a button under the pointer is not replaced by an
// identical one between press and release (the table is redrawn several times a second).
function updateRow(row, r, store) {
  const [name, source, host, status, steps, loss, validation, lr, speed, time, controls] = row.cells;
  row.tr.dataset.status = r.status;
  row.tr.dataset.source = r.source;
  setText(name, r.runIndex !== null && r.runIndex !== undefined ? `#${r.runIndex}` : shortId(r.runId));
  setText(source, r.source);
  setText(host, r.host ? `${r.host}${r.attempt > 1 ? ` (attempt ${r.attempt})` : ''}` : '');
  if (row.status !== r.status) {
    row.status = r.status;
    status.replaceChildren(el('span', `badge ${STATUS_CLASS[r.status] ?? ''}`, r.status));
  }
  status.title = r.reason && r.status !== 'completed' ? r.reason : '';
  setText(steps, int(r.step));
  setText(loss, num(r.status === 'running' ? r.loss : r.finalLoss ?? r.loss));
  setText(validation, num(r.validationLoss));
  setText(lr, num(r.learningRate, 3));
  setText(speed, r.status === 'running' ? rate(r.samplesPerSecond) : '–');
  setText(time, seconds(r.durationSeconds));
  const key = controlsKey(r, store);
  if (row.controls !== key) {
    row.controls = key;
    fillControls(controls, key, r);
  }
}

const rowsByTable = new WeakMap();

export function renderRuns(tbody, store) {
  let cache = rowsByTable.get(tbody);
  if (!cache) rowsByTable.set(tbody, (cache = new Map()));
  const runs = [...store.runs.values()];
  // The host column shows only for runs spread over machines (fleet jobs).
  tbody.closest('table')?.classList.toggle('has-host', runs.some((r) => r.host));
  // Newest first, at most 200 rows.
  const shown = new Map();
  for (let i = runs.length - 1; i >= 0 && shown.size < 200; i--) {
    const r = runs[i];
    const row = cache.get(r.key) ?? newRow();
    updateRow(row, r, store);
    shown.set(r.key, row);
  }
  rowsByTable.set(tbody, shown);
  const rows = [...shown.values()].map((row) => row.tr);
  if (rows.length === 0) {
    const tr = el('tr');
    const td = el('td', 'muted empty', 'No run yet.');
    td.colSpan = COLUMNS.length;
    tr.append(td);
    rows.push(tr);
  }
  const children = tbody.children;
  if (children.length !== rows.length || rows.some((tr, i) => children[i] !== tr)) tbody.replaceChildren(...rows);
}

function describe(m) {
  const p = m.payload ?? {};
  const run = m.runIndex !== null && m.runIndex !== undefined ? ` run ${m.runIndex}` : '';
  switch (m.type) {
    case 'watch':
      return [`watching ${p.source} (${p.kind})`, 'info'];
    case 'unwatch':
      return [`stopped watching ${p.source}`, 'info'];
    case 'runStart':
      return [`${p.source}${run} started${typeof p.learningRate === 'number' ? `, lr ${num(p.learningRate, 3)}` : ''}`, 'info'];
    case 'epoch':
      return [`${p.source}${run} epoch ${p.epoch}${typeof p.validationLoss === 'number' ? `: validation loss ${num(p.validationLoss)}` : ''}`, 'info'];
    case 'save':
      return [`${p.source}${run} saved ${p.path}`, 'info'];
    case 'runEnd':
      return [
        `${p.source}${run} ${p.status} after ${int(p.steps)} steps${typeof p.finalLoss === 'number' ? `, loss ${num(p.finalLoss)}` : ''}${p.reason && p.status !== 'completed' ? `: ${p.reason}` : ''}`,
        p.status === 'completed' ? 'good' : p.status === 'aborted' ? 'warning' : 'error',
      ];
    case 'state':
      return [`${p.source} ${p.state}${p.reason ? `: ${p.reason}` : ''}`, p.state === 'paused' ? 'warning' : 'info'];
    case 'gpuAlert':
      if (p.kind === 'condition') return [`GPU ${p.deviceIndex} ${p.previous ?? 'start'} → ${p.condition}${p.reason ? `: ${p.reason}` : ''}`, ['critical', 'emergency'].includes(p.condition) ? 'error' : p.condition === 'warning' ? 'warning' : 'info'];
      if (p.kind === 'readError') return [`GPU ${p.deviceIndex} read failed (${p.consecutiveFailures}×): ${p.message}${p.thermalSafetyDisabled ? ' (thermal safety off)' : ''}`, 'error'];
      return [`GPU ${p.deviceIndex} readable again`, 'good'];
    case 'command':
      return [`${p.command}${p.learningRate !== null && p.learningRate !== undefined ? ` ${p.learningRate}` : ''} from ${p.from}: ${p.ok ? `ok (${(p.targets ?? []).join(', ')})` : `${p.code}: ${p.message}`}`, p.ok ? 'info' : 'error'];
    case 'log':
      return [p.message, p.level === 'error' ? 'error' : p.level === 'warning' ? 'warning' : 'info'];
    case 'page':
      return [p.message, p.level ?? 'info'];
    default:
      return [`${m.type} ${JSON.stringify(p).slice(0, 200)}`, 'info'];
  }
}

export function renderLog(list, store) {
  const items = [];
  for (let i = store.log.length - 1; i >= 0 && items.length < 300; i--) {
    const m = store.log[i];
    const [text, level] = describe(m);
    const li = el('li', `log-${level}`);
    li.dataset.type = m.type;
    li.append(el('time', 'mono muted', clock(m.time ?? Date.now())), el('span', 'log-type', m.type), el('span', 'log-text', text));
    items.push(li);
  }
  list.replaceChildren(...items);
}
