// The dashboard page: connects to the hub's WebSocket with the token from the
// URL, folds messages into the store, and redraws what changed a few times a
// second. No build step: plain ES modules and uPlot (a global from vendor/).

import { DecimatedChart, PALETTE } from './charts.js';
import { openConnection } from './connection.js';
import { int, num, rate } from './format.js';
import { renderGpus, renderLog, renderRuns } from './panels.js';
import { Store } from './store.js';

const CHART_INTERVAL_MS = 200;
const PANEL_INTERVAL_MS = 250;
const PER_RUN_SERIES = 8;

const $ = (id) => document.getElementById(id);

/** The token from ?token= (then hidden from the address bar), or the one this tab saw before. */
function takeToken() {
  const key = `backprop-dashboard-token:${location.pathname}`;
  const url = new URL(location.href);
  const fromUrl = url.searchParams.get('token');
  if (fromUrl) {
    sessionStorage.setItem(key, fromUrl);
    url.searchParams.delete('token');
    history.replaceState(null, '', url.pathname + url.search + url.hash);
    return fromUrl;
  }
  return sessionStorage.getItem(key);
}

const token = takeToken();
const base = location.pathname.replace(/[^/]*$/, '');
const wsScheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
const query = `?token=${encodeURIComponent(token ?? '')}`;

const store = new Store();
let connection = { phase: 'connecting', retryAt: null };

// ---------------------------------------------------------------------------
// Charts

const lossChart = new DecimatedChart($('chart-loss'), {
  series: [{ label: 'loss', stroke: PALETTE[0] }],
  boundaries: () => store.boundaries,
  height: 240,
});
const perRunChart = new DecimatedChart($('chart-runs'), { series: [], height: 240 });
let perRunKeys = '';
const lrChart = new DecimatedChart($('chart-lr'), {
  series: [
    { label: 'learning rate', stroke: PALETTE[1], scale: 'lr' },
    { label: 'samples/s', stroke: PALETTE[2], scale: 'sps' },
  ],
  scales: { lr: {}, sps: {} },
  axes: [
    { stroke: '#9aa4b2', grid: { stroke: 'rgba(154,164,178,0.12)' } },
    { scale: 'lr', stroke: PALETTE[1], size: 64, grid: { stroke: 'rgba(154,164,178,0.12)' } },
    { scale: 'sps', side: 1, stroke: PALETTE[2], size: 64, grid: { show: false } },
  ],
  boundaries: () => store.boundaries,
  height: 200,
});
const validationChart = new DecimatedChart($('chart-validation'), {
  series: [{ label: 'validation loss', stroke: PALETTE[3], points: true }],
  boundaries: () => store.boundaries,
  height: 200,
});

function renderCharts() {
  const end = Math.max(1, store.globalEnd);
  lossChart.render([store.allLoss], 0, end);
  lrChart.render([store.learningRate, store.samplesPerSecond], 0, end);
  validationChart.render([store.validation], 0, end);
  const recent = [...store.runs.values()].slice(-PER_RUN_SERIES);
  const keys = recent.map((r) => r.key).join(',');
  if (keys !== perRunKeys) {
    perRunKeys = keys;
    perRunChart.setSeries(
      recent.map((r, i) => ({
        label: r.runIndex !== null ? `run ${r.runIndex}` : `run ${String(r.runId ?? r.source).slice(0, 8)}`,
        stroke: PALETTE[(i + 1) % PALETTE.length],
      })),
    );
  }
  let longest = 1;
  for (const r of recent) if (r.points.lastX !== null && r.points.lastX > longest) longest = r.points.lastX;
  perRunChart.render(recent.map((r) => r.points), 0, longest);
}

// ---------------------------------------------------------------------------
// Banner, figures and buttons

const STATE_TEXT = {
  connecting: 'Connecting…',
  disconnected: 'Disconnected',
  unauthorized: 'Token refused',
  idle: 'Waiting for training',
  running: 'Training',
  paused: 'Paused',
  finished: 'Finished',
  aborted: 'Aborted',
  failed: 'Failed',
};

function displayState() {
  if (connection.phase === 'open') return store.hubState;
  return connection.phase;
}

function renderState() {
  const state = displayState();
  const banner = $('banner');
  banner.dataset.state = state;
  document.body.dataset.state = state;
  $('state-text').textContent = STATE_TEXT[state] ?? state;
  let detail = '';
  if (state === 'disconnected' || state === 'unauthorized') {
    const wait = connection.retryAt ? Math.max(0, Math.ceil((connection.retryAt - Date.now()) / 1000)) : 0;
    detail = state === 'unauthorized' ? `Open the URL printed at start (it carries ?token=). Retrying in ${wait} s.` : `The server is not answering; retrying in ${wait} s.`;
  } else if (state === 'aborted' || state === 'failed') {
    const last = [...store.runs.values()].reverse().find((r) => r.status === state);
    if (last?.reason) detail = last.reason;
  } else if (state === 'finished') {
    detail = `${store.runs.size} run${store.runs.size === 1 ? '' : 's'} completed`;
  }
  $('state-detail').textContent = detail;
  $('retry').hidden = !(state === 'disconnected' || state === 'unauthorized');

  const open = connection.phase === 'open';
  const controls = store.controls();
  const active = store.hubState === 'running' || store.hubState === 'paused';
  $('btn-pause').disabled = !open || store.hubState !== 'running' || !controls.has('pause');
  $('btn-resume').disabled = !open || store.hubState !== 'paused' || !controls.has('resume');
  $('btn-abort').disabled = !open || !active || !controls.has('abort');
  $('btn-lr').disabled = !open || !active || !controls.has('setLearningRate');
  if ($('btn-abort').disabled) disarmAbort();
}

function renderFigures() {
  const runs = [...store.runs.values()];
  const current = [...runs].reverse().find((r) => r.status === 'running') ?? runs[runs.length - 1];
  $('fig-step').textContent = current ? int(current.step) : '–';
  $('fig-loss').textContent = current ? num(current.status === 'running' ? current.loss : current.finalLoss ?? current.loss) : '–';
  $('fig-lr').textContent = current ? num(current.learningRate, 3) : '–';
  $('fig-sps').textContent = current && current.status === 'running' ? rate(current.samplesPerSecond) : '–';
  const multi = [...store.sources.values()].find((s) => s.kind === 'multiRun' && typeof s.numRuns === 'number');
  const done = runs.filter((r) => r.status !== 'running').length;
  $('fig-runs').textContent = multi ? `${done} / ${multi.numRuns}` : int(runs.length);
  $('fig-points').textContent = int(store.totalPoints());
}

let abortArmed = null;
function disarmAbort() {
  if (abortArmed !== null) clearTimeout(abortArmed);
  abortArmed = null;
  $('btn-abort').textContent = 'Abort';
  $('btn-abort').classList.remove('armed');
}

function note(message, level = 'info') {
  store.pushLog({ type: 'page', time: Date.now(), payload: { message, level } });
}

const pending = new Map();
function send(command, fields = {}) {
  const id = live?.command(command, fields);
  if (!id) {
    note(`${command}: not connected`, 'error');
    return;
  }
  pending.set(id, command);
}

$('btn-pause').addEventListener('click', () => send('pause'));
$('btn-resume').addEventListener('click', () => send('resume'));
$('btn-abort').addEventListener('click', () => {
  // Two clicks: aborting cannot be undone.
  if (abortArmed === null) {
    $('btn-abort').textContent = 'Click again to abort';
    $('btn-abort').classList.add('armed');
    abortArmed = setTimeout(disarmAbort, 4000);
    return;
  }
  disarmAbort();
  send('abort', { reason: 'aborted from the dashboard' });
});
$('lr-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const value = Number($('lr-input').value);
  if (!Number.isFinite(value) || value <= 0 || value > 10) {
    note('The learning rate must be a number in (0, 10], e.g. 0.001.', 'error');
    renderLog($('log'), store);
    return;
  }
  send('setLearningRate', { learningRate: value });
});
$('retry').addEventListener('click', () => live?.reconnectNow());

// The runs table's per-row buttons (panels.js): one listener for every row, since rows are rebuilt.
let rowAbortTimer = null;
function disarmRowAbort() {
  if (rowAbortTimer !== null) clearTimeout(rowAbortTimer);
  rowAbortTimer = null;
  store.armedAbort = null;
  store.dirty.runs = true;
}
$('runs-body').addEventListener('click', (event) => {
  const button = event.target instanceof Element ? event.target.closest('button[data-command]') : null;
  if (!button) return;
  const { command, target } = button.dataset;
  if (command === 'abort' && store.armedAbort !== target) {
    disarmRowAbort();
    store.armedAbort = target;
    rowAbortTimer = setTimeout(disarmRowAbort, 4000);
    return;
  }
  if (command === 'abort') disarmRowAbort();
  send(command, command === 'abort' ? { target, reason: 'aborted from the dashboard' } : { target });
});

// ---------------------------------------------------------------------------
// Messages and the render loop

function onMessage(m) {
  if (m.type === 'welcome' || m.type === 'pong') return;
  if (m.type === 'ack' || m.type === 'error') {
    const command = pending.get(m.id);
    pending.delete(m.id);
    if (m.type === 'error') note(`${command ?? 'request'} refused: ${m.message}`, 'error');
    return;
  }
  store.apply(m);
}

function onStatus(status) {
  connection = status;
  store.dirty.state = true;
}

// Steps can arrive hundreds of times a second: the panels they change are
// redrawn on a timer, not per message, so a busy run costs the page the same
// as a quiet one.
let lastCharts = 0;
let lastPanels = 0;
function frame(now) {
  const d = store.dirty;
  if (d.charts && now - lastCharts >= CHART_INTERVAL_MS) {
    d.charts = false;
    lastCharts = now;
    renderCharts();
  }
  if ((d.runs || d.gpus || d.log) && now - lastPanels >= PANEL_INTERVAL_MS) {
    lastPanels = now;
    if (d.runs) {
      d.runs = false;
      renderRuns($('runs-body'), store);
      renderFigures();
    }
    if (d.gpus) {
      d.gpus = false;
      renderGpus($('gpus'), store);
    }
    if (d.log) {
      d.log = false;
      renderLog($('log'), store);
    }
  }
  if (d.state || connection.phase !== 'open') {
    d.state = false;
    renderState();
    renderFigures();
  }
  requestAnimationFrame(frame);
}

const live = token
  ? openConnection({ wsUrl: `${wsScheme}//${location.host}${base}ws${query}`, sessionUrl: `${base}api/session${query}`, onMessage, onStatus })
  : null;
if (!token) connection = { phase: 'unauthorized', retryAt: null };
requestAnimationFrame(frame);
