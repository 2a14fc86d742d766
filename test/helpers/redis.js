'use strict';
// A real redis-server for a test file: its own port and temp folder, no
// persistence unless asked (appendonly for the restart test), stopped after.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const REDIS = process.env.BACKPROP_REDIS_SERVER || '/usr/bin/redis-server';

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function waitForPort(port, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => { socket.end(); resolve(); });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`redis-server did not listen on ${port}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

function available() {
  return fs.existsSync(REDIS);
}

/**
 * Starts redis-server. Options: appendonly (jobs survive a restart),
 * password (requirepass), port (reuse one, for a restart), dir, bind
 * (space-separated addresses; default 127.0.0.1).
 */
async function startRedis(options = {}) {
  const port = options.port ?? (await freePort());
  const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'bp-redis-'));
  const args = ['--port', String(port), '--bind', ...(options.bind ?? '127.0.0.1').split(' '), '--dir', dir, '--save', '', '--appendonly', options.appendonly ? 'yes' : 'no'];
  if (options.appendonly) args.push('--appendfsync', 'always');
  if (options.password) args.push('--requirepass', options.password);
  const child = spawn(REDIS, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(port, 10000);
  const auth = options.password ? `:${encodeURIComponent(options.password)}@` : '';
  const server = {
    port,
    dir,
    url: `redis://${auth}127.0.0.1:${port}`,
    child,
    /** Stops the server (SIGKILL: nothing gets flushed beyond what appendfsync wrote). */
    async kill(signal = 'SIGKILL') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill(signal);
      await exited;
    },
    /** Starts a new server on the same port and folder. */
    restart() {
      return startRedis({ ...options, port, dir, keepDir: true });
    },
    async stop() {
      await server.kill('SIGKILL');
      if (!options.keepDir && !options.dir) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

module.exports = { startRedis, freePort, available };
