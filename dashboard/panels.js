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

export function renderRuns(tbody, store) {
  const rows = [];
  const runs = [...store.runs.values()];
  // The host column shows only for runs spread over machines (fleet jobs).
  tbody.closest('table')?.classList.toggle('has-host', runs.some((r) => r.host));
  // Newest first, at most 200 rows.
  for (let i = runs.length - 1; i >= 0 && rows.length < 200; i--) {
    const r = runs[i];
    const tr = el('tr');
    tr.dataset.status = r.status;
    const name = r.runIndex !== null && r.runIndex !== undefined ? `#${r.runIndex}` : shortId(r.runId);
    const status = el('td');
    status.append(el('span', `badge ${STATUS_CLASS[r.status] ?? ''}`, r.status));
    if (r.reason && r.status !== 'completed') status.title = r.reason;
    tr.append(
      el('td', 'mono', name),
      el('td', null, r.source),
      el('td', 'col-host', r.host ? `${r.host}${r.attempt > 1 ? ` (attempt ${r.attempt})` : ''}` : ''),
      status,
      el('td', 'num', int(r.step)),
      el('td', 'num', num(r.status === 'running' ? r.loss : r.finalLoss ?? r.loss)),
      el('td', 'num', num(r.validationLoss)),
      el('td', 'num', num(r.learningRate, 3)),
      el('td', 'num', r.status === 'running' ? rate(r.samplesPerSecond) : '–'),
      el('td', 'num', seconds(r.durationSeconds)),
    );
    rows.push(tr);
  }
  if (rows.length === 0) {
    const tr = el('tr');
    const td = el('td', 'muted empty', 'No run yet.');
    td.colSpan = 10;
    tr.append(td);
    rows.push(tr);
  }
  tbody.replaceChildren(...rows);
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
