/**
 * Ctrl-C (SIGINT) and SIGTERM. The first signal calls the innermost
 * registered handler (e.g. "abort training at the next step and save"); with
 * no handler, or on a second signal, the process exits at once with 128 +
 * the signal number (130 for SIGINT), restoring the terminal cursor first.
 */
const EXIT_CODES: Record<'SIGINT' | 'SIGTERM', number> = { SIGINT: 130, SIGTERM: 143 };

type InterruptHandler = (signal: 'SIGINT' | 'SIGTERM') => void;

const handlers: InterruptHandler[] = [];
let received = 0;
let installed = false;

function exitNow(signal: 'SIGINT' | 'SIGTERM'): never {
  // A progress bar may have hidden the cursor.
  if (process.stderr.isTTY) process.stderr.write('\x1b[?25h\n');
  process.exit(EXIT_CODES[signal]);
}

function onSignal(signal: 'SIGINT' | 'SIGTERM'): void {
  received++;
  const handler = handlers[handlers.length - 1];
  if (received > 1 || !handler) exitNow(signal);
  handler(signal);
}

/** Installs the process-wide listeners (once). Until a handler is registered, a signal exits at once. */
export function installSignalHandlers(): void {
  if (installed) return;
  installed = true;
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
}

/** Handles the first signal while `handler` is registered; returns the function that unregisters it. */
export function onInterrupt(handler: InterruptHandler): () => void {
  installSignalHandlers();
  handlers.push(handler);
  return () => {
    const i = handlers.lastIndexOf(handler);
    if (i >= 0) handlers.splice(i, 1);
  };
}

export function exitCodeFor(signal: 'SIGINT' | 'SIGTERM'): number {
  return EXIT_CODES[signal];
}
