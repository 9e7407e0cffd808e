/**
 * Preloaded (`node --require`) into a compared server under `npm run bench -- --profile
 * --compare-js FILE`. A server with no SIGTERM handler of its own (the relay-only sample) dies of
 * the bench's SIGTERM at the end of a run, and a process killed by a signal writes no `--cpu-prof`
 * profile. With this it exits normally instead, so its profile is written beside Switchboard's. A
 * server that handles SIGTERM itself keeps its own shutdown: this one only acts when it is the
 * process's only SIGTERM listener.
 */
'use strict';
const onSigterm = () => {
  if (process.listenerCount('SIGTERM') === 1) process.exit(0);
};
process.on('SIGTERM', onSigterm);
