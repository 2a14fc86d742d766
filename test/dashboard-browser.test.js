'use strict';
// The dashboard page in real headless Chromium (Debian's chromium, driven by
// playwright-core): it loads with the token, its loss curve grows, the GPU
// panel follows a scripted GPU's condition, the Abort button ends the run,
// each run's row pauses, resumes and aborts that run alone,
// it reconnects after losing the server, and it draws 100 000 points through
// per-pixel decimation. Skipped, with the reason, when no chromium exists.

const assert = require('node:assert/strict');
const { EventEmitter } = require('node:events');
const fs = require('node:fs');
const path = require('node:path');
const { createEventHub } = require('../dist/dashboard');
const { bp, smallTrainer, longRun, waitFor } = require('./fixtures/dashboard-helpers');

const CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(Boolean);
const executablePath = CANDIDATES.find((p) => fs.existsSync(p)) ?? null;
const ARTIFACT_DIR = path.join(__dirname, '..', 'test-output');

// The colours style.css gives each condition (computed style of the card's left border).
const CONDITION_RGB = { safe: 'rgb(47, 191, 113)', warning: 'rgb(245, 165, 36)', critical: 'rgb(247, 107, 21)' };

describe('dashboard page in headless Chromium', function () {
  this.timeout(60_000);
  let browser = null;
  const cleanup = [];
  const track = (fn) => cleanup.push(fn);

  before(async function () {
    if (!executablePath) {
      console.log(`      skipped: no chromium binary (looked for ${CANDIDATES.join(', ')}; set CHROMIUM_PATH, or apt-get install chromium)`);
      this.skip();
    }
    const { chromium } = require('playwright-core');
    browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  });
  after(async () => {
    if (browser) await browser.close();
  });
  afterEach(async () => {
    while (cleanup.length) await cleanup.pop()();
  });

  async function openPage(url, viewport = { width: 1360, height: 1000 }) {
    const context = await browser.newContext({ viewport });
    track(() => context.close());
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(url);
    return { page, errors };
  }

  const bodyState = (page) => page.evaluate(() => document.body.dataset.state);
  const waitState = (page, state) => page.waitForFunction((s) => document.body.dataset.state === s, state, { timeout: 30_000, polling: 50 });

  it('loads with the token, draws a growing loss curve, colours the GPU by condition, pauses, and aborts the run from the Abort button', async function () {
    // Training at full speed shares the machine with Chromium: allow for a loaded one.
    this.timeout(120_000);
    const hub = createEventHub({ maxStepRate: 50 });
    track(() => hub.close());
    const trainer = smallTrainer();
    hub.watch(trainer, { label: 'spirals', batchSize: 16 });
    // A GPU that is safe for 4 s, then at warning, then critical (sampled every 100 ms).
    const gpu = (ms) => ({
      deviceName: 'Simulated GPU',
      temperatureC: ms < 4000 ? 60 : ms < 8000 ? 84 : 92,
      vramUsedGb: 20,
      vramTotalGb: 80,
      powerDrawW: 300,
      powerLimitW: 700,
      gpuUtilization: 90,
      throttleReasons: ms < 8000 ? [] : ['sw_thermal_slowdown'],
    });
    const monitor = new bp.GPUMonitor({ source: bp.scriptedGpuSource(gpu), config: { checkIntervalMs: 100, logWarnings: false } });
    hub.watch(monitor);
    track(() => monitor.stop());
    const server = await hub.listen();

    const { page, errors } = await openPage(server.url);
    await waitState(page, 'idle');
    assert.equal(await page.evaluate(() => location.search), '', 'the token is taken out of the address bar');
    assert.equal(await page.textContent('#state-text'), 'Waiting for training');

    const card = '.gpu-card[data-device="0"]';
    const colour = () => page.evaluate((sel) => getComputedStyle(document.querySelector(sel)).borderLeftColor, card);
    monitor.start();
    await page.waitForSelector(`${card}[data-condition="safe"]`, { timeout: 30_000 });
    assert.equal(await colour(), CONDITION_RGB.safe);

    const run = longRun(trainer);
    track(async () => {
      trainer.abort('test over');
      await run.catch(() => undefined);
    });
    await waitState(page, 'running');
    const points = () => page.evaluate(() => Number(document.getElementById('chart-loss').dataset.points || 0));
    await page.waitForFunction(() => Number(document.getElementById('chart-loss').dataset.points || 0) > 0, null, { timeout: 30_000 });
    const first = await points();
    await page.waitForFunction((n) => Number(document.getElementById('chart-loss').dataset.points) > n + 20, first, { timeout: 30_000 });
    assert.ok((await points()) > first, 'the loss curve gains points');
    assert.notEqual(await page.textContent('#fig-step'), '–');

    // Pause from the page (which also leaves the CPU to Chromium for the rest).
    await page.click('#btn-pause');
    await waitState(page, 'paused');
    await waitFor(() => trainer.status.state === 'paused', { timeoutMs: 30_000, message: 'the trainer to pause' });
    assert.equal(await page.isEnabled('#btn-resume'), true);

    await page.waitForSelector(`${card}[data-condition="critical"]`, { timeout: 30_000 });
    assert.equal(await colour(), CONDITION_RGB.critical);
    assert.equal(await page.textContent(`${card} [data-role="condition"]`), 'critical');
    assert.match(await page.textContent(`${card} .gpu-reasons`), /sw thermal slowdown/);

    fs.mkdirSync(ARTIFACT_DIR, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACT_DIR, 'dashboard.png'), fullPage: true });

    // Abort takes two clicks.
    await page.click('#btn-abort');
    assert.equal(await page.textContent('#btn-abort'), 'Click again to abort');
    assert.equal(trainer.status.state, 'paused');
    await page.click('#btn-abort');
    await assert.rejects(run, (error) => error.name === 'AbortError');
    await waitState(page, 'aborted');
    assert.equal(await page.textContent('#state-text'), 'Aborted');
    assert.equal(await page.textContent('#state-detail'), 'aborted from the dashboard');
    await page.waitForSelector('#runs-body tr:first-child[data-status="aborted"]', { timeout: 10_000 });
    await page.waitForFunction(() => document.querySelectorAll('#log li[data-type="command"]').length === 2, null, { timeout: 10_000 });
    const commands = await page.$$eval('#log li[data-type="command"] .log-text', (els) => els.map((e) => e.textContent));
    assert.equal(commands.length, 2);
    assert.match(commands[0], /^abort from client \d+ .*: ok \(spirals\)$/);
    assert.match(commands[1], /^pause from client \d+ .*: ok \(spirals\)$/);
    assert.equal(await page.isDisabled('#btn-abort'), true, 'nothing left to abort');
    assert.deepEqual(errors, []);
  });

  it('controls one run from its row: Pause and Resume on one trainer leave the other running, Abort takes two clicks and ends only its run', async function () {
    this.timeout(120_000);
    const hub = createEventHub({ maxStepRate: 20 });
    track(() => hub.close());
    const alpha = smallTrainer();
    const beta = smallTrainer();
    hub.watch(alpha, { label: 'alpha', batchSize: 16 });
    hub.watch(beta, { label: 'beta', batchSize: 16 });
    const sent = [];
    hub.on('command', (c) => sent.push(c));
    const server = await hub.listen();
    const { page, errors } = await openPage(server.url);
    await waitState(page, 'idle');
    const runs = { alpha: longRun(alpha), beta: longRun(beta) };
    track(async () => {
      alpha.abort('test over');
      beta.abort('test over');
      await Promise.all(Object.values(runs).map((r) => r.catch(() => undefined)));
    });
    const row = (source) => `#runs-body tr[data-source="${source}"]`;
    const button = (source, command) => `${row(source)} button[data-command="${command}"]`;
    await page.waitForSelector(button('alpha', 'pause'), { timeout: 30_000 });
    await page.waitForSelector(button('beta', 'pause'), { timeout: 30_000 });

    await page.click(button('alpha', 'pause'));
    await waitFor(() => alpha.status.state === 'paused', { timeoutMs: 30_000, message: 'alpha to pause' });
    await page.waitForSelector(button('alpha', 'resume'), { timeout: 30_000 });
    assert.equal(beta.status.state, 'running', 'pausing one row leaves the other run training');
    assert.equal(await page.$(button('beta', 'resume')), null);

    await page.click(button('beta', 'abort'));
    // The row is redrawn on the page's panel timer: wait for it to ask for the second click.
    await page.waitForFunction((sel) => document.querySelector(sel)?.textContent === 'Confirm abort', button('beta', 'abort'), { timeout: 10_000, polling: 50 });
    assert.equal(beta.status.state, 'running', 'one click does not abort');
    await page.click(button('beta', 'abort'));
    await assert.rejects(runs.beta, (error) => error.name === 'AbortError');
    await page.waitForSelector(`${row('beta')}[data-status="aborted"]`, { timeout: 30_000 });
    assert.equal(await page.$(`${row('beta')} button`), null, 'a finished run has no buttons');
    assert.equal(alpha.status.state, 'paused', 'aborting one row leaves the other run alone');

    await page.click(button('alpha', 'resume'));
    await waitFor(() => alpha.status.state === 'running', { timeoutMs: 30_000, message: 'alpha to resume' });
    await page.waitForSelector(button('alpha', 'pause'), { timeout: 30_000 });
    // What the page sent, as the hub received it (the page's own log scrolls epochs past quickly).
    assert.deepEqual(sent.map((c) => `${c.command} ${c.result.ok ? c.result.targets.join(',') : c.result.code}`), ['pause alpha', 'abort beta', 'resume alpha']);
    assert.ok(sent.every((c) => c.target === alpha.status.runId || c.command === 'abort'), 'each command names its run');
    assert.deepEqual(errors, []);
  });

  it('says the token was refused when the URL carries a wrong one', async () => {
    const hub = createEventHub();
    track(() => hub.close());
    const server = await hub.listen({ token: 'the-right-token' });
    const { page } = await openPage(`http://127.0.0.1:${server.port}/?token=a-wrong-token`);
    // Read the banner in the same tick that shows the state: the page retries on its own, and on a
    // loaded machine a retry ('Connecting…') can come between two separate reads.
    const banner = await page.waitForFunction(
      () => document.body.dataset.state === 'unauthorized' && { text: document.getElementById('state-text').textContent, detail: document.getElementById('state-detail').textContent },
      null,
      { timeout: 30_000, polling: 50 },
    );
    const { text, detail } = await banner.jsonValue();
    assert.equal(text, 'Token refused');
    assert.match(detail, /URL printed at start/);
    assert.equal(hub.clients().length, 0);
  });

  it('shows the disconnected state when the server goes away, reconnects by itself, and replays what it missed', async () => {
    const hub = createEventHub();
    track(() => hub.close());
    const token = 'reconnect-token-123';
    const server = await hub.listen({ token });
    const { page } = await openPage(server.url);
    await waitState(page, 'idle');
    hub.log('before the outage');
    await page.waitForSelector('#log li[data-type="log"]', { timeout: 10_000 });
    await server.close();
    await waitState(page, 'disconnected');
    assert.match(await page.textContent('#state-detail'), /retrying in \d+ s/);
    hub.log('during the outage');
    const again = await hub.listen({ port: server.port, token });
    track(() => again.close());
    await waitState(page, 'idle');
    await page.waitForFunction(() => [...document.querySelectorAll('#log li[data-type="log"]')].some((li) => li.textContent.includes('during the outage')), null, { timeout: 30_000 });
    const texts = await page.$$eval('#log li[data-type="log"] .log-text', (els) => els.map((e) => e.textContent));
    assert.deepEqual(texts, ['during the outage', 'before the outage'], 'replayed once, newest first');
  });

  it('draws 100 000 loss points through per-pixel decimation', async () => {
    const hub = createEventHub({ maxStepRate: 0, historyPoints: 131_072 });
    track(() => hub.close());
    // A source that emits steps as fast as JavaScript can: the page's load, not training, is under test.
    const source = new EventEmitter();
    source.status = { state: 'running', runId: 'synthetic-run', learningRate: 0.01 };
    hub.watch(source, { kind: 'trainer', label: 'synthetic' });
    for (let step = 1; step <= 100_000; step++) source.emit('step', step, 1 / Math.sqrt(step) + (step % 1000 === 0 ? 0.5 : 0));
    const server = await hub.listen();
    const { page, errors } = await openPage(server.url);
    await page.waitForFunction(() => Number(document.getElementById('chart-loss').dataset.points || 0) >= 100_000, null, { timeout: 30_000 });
    const { drawn, width } = await page.evaluate(() => {
      const chart = document.getElementById('chart-loss');
      return { drawn: Number(chart.dataset.drawn), width: chart.querySelector('canvas').width / devicePixelRatio };
    });
    assert.ok(drawn > 0 && drawn <= 2 * width, `at most two points per pixel column are drawn (${drawn} for ${width} px)`);
    assert.equal(await page.textContent('#fig-points'), '100,000');
    assert.deepEqual(errors, []);
  });
});
