'use strict';
// Child processes for the fleet tests: a worker (`worker <json options>`)
// that runs until killed, or a listener (`listen <url> <jobId,...>`) that
// attaches to jobs from its own process and prints one JSON line per job
// when each ends: its events (type, seq, attempt, host, step/epoch) and result.
const { TrainingQueue, TrainingWorker } = require('../../dist/fleet');

async function worker(options) {
  const w = new TrainingWorker(options);
  await w.waitUntilReady();
  w.on('jobStart', (jobId, attempt) => process.stdout.write(JSON.stringify({ type: 'jobStart', jobId, attempt }) + '\n'));
  process.stdout.write(JSON.stringify({ type: 'ready', host: w.host }) + '\n');
  process.on('SIGTERM', () => w.close().then(() => process.exit(0)));
}

async function listen(url, ids) {
  const queue = new TrainingQueue({ connection: url });
  await Promise.all(ids.map(async (id) => {
    const handle = await queue.attach(id);
    const events = [];
    handle.on('event', (e) => events.push({ type: e.type, seq: e.seq, attempt: e.attempt, host: e.host, epoch: e.data.epoch, step: e.data.step }));
    let result = null;
    let error = null;
    try {
      result = await handle.result();
    } catch (e) {
      error = { name: e.name, code: e.code, reason: e.reason };
    }
    process.stdout.write(JSON.stringify({ type: 'job', jobId: id, events, result, error }) + '\n');
  }));
  await queue.close();
}

const [mode, a, b] = process.argv.slice(2);
(mode === 'worker' ? worker(JSON.parse(a)) : listen(a, b.split(','))).catch((e) => {
  process.stderr.write(`${e.stack}\n`);
  process.exit(1);
});
