'use strict';
// The ledger of handler errors thrown on purpose: each planned throw is made
// here (tagged with its trainer's token and hook), and each 'callbackError'
// report is matched back to it, so check() can tell that every error reached
// the listener exactly once, under the hook that threw it, and that nothing
// else was reported.

/** Thrown by the handlers on purpose; the token ties a report back to its trainer. */
class PlannedHandlerError extends Error {
  constructor(token, hook) {
    super(`planned failure ${token} in ${hook}`);
    this.name = 'PlannedHandlerError';
    this.token = token;
    this.hook = hook;
  }
}

/** Counts thrown and reported handler errors per hook, and checks each report is one of ours, once. */
function createErrorLedger(token, fail) {
  const thrown = new Map();
  const reported = new Map();
  const pending = new Set();
  return {
    make(hook) {
      const error = new PlannedHandlerError(token, hook);
      thrown.set(hook, (thrown.get(hook) || 0) + 1);
      pending.add(error);
      return error;
    },
    onCallbackError(error, info) {
      if (!info || typeof info.hook !== 'string') fail(`callbackError without a hook: ${JSON.stringify(info)}`);
      if (!(error instanceof PlannedHandlerError) || error.token !== token) {
        fail(`callbackError for an error no handler of this trainer threw: ${error && error.message}`);
        return;
      }
      if (!pending.delete(error)) fail(`callbackError reported the same error twice (${error.hook})`);
      if (info.hook !== error.hook) fail(`callbackError hook '${info.hook}' for an error thrown in '${error.hook}'`);
      reported.set(info.hook, (reported.get(info.hook) || 0) + 1);
    },
    check() {
      for (const [hook, n] of thrown) {
        const r = reported.get(hook) || 0;
        if (r !== n) fail(`${n} error(s) thrown in ${hook}, ${r} reported to 'callbackError'`);
      }
      return [...thrown.values()].reduce((a, b) => a + b, 0);
    },
  };
}

module.exports = { createErrorLedger, PlannedHandlerError };
