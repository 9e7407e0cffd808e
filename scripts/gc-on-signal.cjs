// Preloaded into the server by the soak (`node --expose-gc --require scripts/gc-on-signal.cjs`):
// SIGUSR2 runs a full garbage collection, so the next /metrics sample shows the memory the server
// really holds, not garbage V8 has not collected yet. Never loaded in production.
'use strict';
if (typeof global.gc === 'function') {
  process.on('SIGUSR2', () => global.gc());
}
