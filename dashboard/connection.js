// The page's WebSocket: says hello with the last seq it saw (so the server
// replays what was missed, or sends a snapshot), reconnects by itself with
// exponential backoff and jitter, and tells a refused token apart from a
// server that is away.

const MIN_DELAY_MS = 500;
const MAX_DELAY_MS = 10_000;

/**
 * onMessage(message) for every message; onStatus({ phase, ... }) with phase
 * 'connecting' | 'open' | 'disconnected' | 'unauthorized'.
 */
export function openConnection({ wsUrl, sessionUrl, onMessage, onStatus }) {
  let ws = null;
  let attempt = 0;
  let lastSeq = null;
  let sessionId = null;
  let timer = null;
  let nextId = 1;
  let stopped = false;

  function open() {
    timer = null;
    onStatus({ phase: 'connecting', attempt });
    let opened = false;
    ws = new WebSocket(wsUrl);
    ws.onopen = () => {
      opened = true;
      attempt = 0;
      ws.send(JSON.stringify({ type: 'hello', lastSeq, sessionId }));
      onStatus({ phase: 'open' });
    };
    ws.onmessage = (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message.type === 'welcome') sessionId = message.sessionId;
      if (typeof message.seq === 'number' && (message.type === 'snapshot' || lastSeq === null || message.seq > lastSeq)) lastSeq = message.seq;
      onMessage(message);
    };
    ws.onclose = (event) => {
      ws = null;
      if (stopped) return;
      // A refused upgrade looks like any failed connection (1006): ask the server why.
      if (!opened) void checkToken().then((ok) => retry(event.code, ok));
      else retry(event.code, true);
    };
  }

  async function checkToken() {
    try {
      const res = await fetch(sessionUrl, { cache: 'no-store' });
      return res.status !== 401;
    } catch {
      return true; // the server is away, not refusing us
    }
  }

  function retry(code, authorized) {
    if (stopped) return;
    const base = Math.min(MAX_DELAY_MS, MIN_DELAY_MS * 2 ** attempt);
    const delay = Math.round(base * (0.75 + Math.random() * 0.5));
    attempt++;
    onStatus({ phase: authorized ? 'disconnected' : 'unauthorized', code, retryInMs: delay, retryAt: Date.now() + delay });
    timer = setTimeout(open, delay);
  }

  open();
  return {
    /** Sends a command; returns its id (the ack or error carries it), or null when not connected. */
    command(command, fields = {}) {
      if (!ws || ws.readyState !== WebSocket.OPEN) return null;
      const id = `c${nextId++}`;
      ws.send(JSON.stringify({ type: 'command', id, command, ...fields }));
      return id;
    },
    /** Reconnects now (the retry button). */
    reconnectNow() {
      if (timer === null) return;
      clearTimeout(timer);
      open();
    },
    close() {
      stopped = true;
      if (timer !== null) clearTimeout(timer);
      if (ws) ws.close(1000, 'page closed');
    },
  };
}
