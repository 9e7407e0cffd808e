/**
 * Entry of the recording thread (started by RecordingThread, recording-thread.ts): one
 * StereoWavRecorder per call, fed from the call's frame ring every READ_INTERVAL_MS. The mixing,
 * interleaving, file writes and header patches of every call happen here, not on the thread that
 * relays the caller's audio. A close message first reads what the ring still holds, so the file has
 * everything written before it.
 */
import { parentPort } from 'node:worker_threads';
import { settleHeap } from '../../runtime/settle-heap';
import { StereoWavRecorder, type StereoWavRecorderOptions } from '../../audio/wav-recorder';
import { FrameRingReader, READ_INTERVAL_MS, RecordKind } from './frame-ring';
import type { FromRecordingThread, ToRecordingThread } from './messages';

/**
 * Each 500 ms chunk goes to the disk as it is committed (the recorder's flushMs = its chunkMs), so a
 * call holds no staged block between writes: only the writes in flight hold one (from the thread's
 * pool). Coalescing two chunks into one 1 s write saved a system call a second per call when the
 * writes were the main thread's; here they are this thread's, and the staged block cost 32 KB per
 * call (docs/benchmarks/bridge.md, "Per-call memory of a recording").
 */
const LIVE_RECORDER_DEFAULTS: StereoWavRecorderOptions = { flushMs: 500, chunkMs: 500, syncWrites: true };

interface Recording {
  recorder: StereoWavRecorder;
  ring: FrameRingReader;
}

const NOTHING = { durationMs: 0, sizeBytes: 0, created: false, droppedLateFrames: 0, overflowSamples: 0 };

const port = parentPort;
if (!port) throw new Error('recording-worker.ts runs as a worker thread');

const recordings = new Map<number, Recording>();
const post = (msg: FromRecordingThread): void => port.postMessage(msg);

function drain(rec: Recording): void {
  const { recorder } = rec;
  rec.ring.read((kind, payload, atMs) => {
    if (kind === RecordKind.Caller) recorder.writeCaller(payload, atMs);
    else if (kind === RecordKind.Agent) recorder.writeAgent(payload, atMs);
    else if (kind === RecordKind.Cut) recorder.cutAgentAfter(atMs);
  });
}

const timer = setInterval(() => {
  for (const rec of recordings.values()) drain(rec);
}, READ_INTERVAL_MS);

async function close(id: number, endMs: number | undefined): Promise<void> {
  const rec = recordings.get(id);
  if (!rec) return;
  drain(rec);
  recordings.delete(id);
  const result = await rec.recorder.close(endMs);
  const stats = rec.recorder.stats;
  post({
    op: 'closed',
    id,
    result: {
      durationMs: result.durationMs,
      sizeBytes: result.sizeBytes,
      created: result.created,
      ...(result.error ? { error: result.error.message } : {}),
      droppedLateFrames: stats.droppedLateFrames,
      overflowSamples: stats.overflowSamples,
    },
  });
}

port.on('message', (msg: ToRecordingThread) => {
  switch (msg.op) {
    case 'open': {
      let recorder: StereoWavRecorder;
      let ring: FrameRingReader;
      try {
        ring = new FrameRingReader(msg.ring);
        recorder = StereoWavRecorder.create(msg.path, { ...LIVE_RECORDER_DEFAULTS, ...msg.options });
      } catch (err) {
        post({ op: 'opened', id: msg.id, error: (err as Error).message });
        post({ op: 'closed', id: msg.id, result: { ...NOTHING, error: (err as Error).message } });
        return;
      }
      recordings.set(msg.id, { recorder, ring });
      recorder.ready().then(
        () => post({ op: 'opened', id: msg.id }),
        (err: unknown) => post({ op: 'opened', id: msg.id, error: (err as Error).message }),
      );
      return;
    }
    case 'close':
      void close(msg.id, msg.endMs);
      return;
    case 'shutdown':
      clearInterval(timer);
      void Promise.all([...recordings.keys()].map((id) => close(id, undefined))).then(() => port.close());
      return;
  }
});

// Before the first recording: V8 then sizes this thread's old generation from what is live, not from
// its start-up limit (the dead agent audio of promoted chunks no longer waits ~30 s for the first
// mark-compact; src/runtime/settle-heap.ts). A few milliseconds of this thread, none of the caller's.
settleHeap();
