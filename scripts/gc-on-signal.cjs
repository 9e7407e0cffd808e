// Preloaded into the server by the soak (`node --expose-gc --require scripts/gc-on-signal.cjs`):
// SIGUSR2 runs a full garbage collection, so the next /metrics sample shows the memory the server
// really holds, not garbage V8 has not collected yet; SIGWINCH writes a heap snapshot (after a GC)
// to the directory in SOAK_SNAPSHOT_DIR, when set. Never loaded in production.
'use strict';
if (typeof global.gc === 'function') {
  process.on('SIGUSR2', () => global.gc());
}
if (process.env.SOAK_SNAPSHOT_DIR) {
  process.on('SIGWINCH', () => {
    const path = require('node:path');
    require('node:v8').writeHeapSnapshot(path.join(process.env.SOAK_SNAPSHOT_DIR, `server-${Date.now()}.heapsnapshot`));
  });
}
