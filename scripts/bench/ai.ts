/**
 * The AI side of `npm run bench`, run in its own process (forked with IPC by scripts/bench.ts): the
 * local Realtime server (tone speech paced at real time, frame totals at GET /stats, only totals
 * of closed sessions kept) with the frame-tag taps of the caller-side latency:
 * - uplink: each input_audio_buffer.append is searched for tags, stamped with its arrival time;
 * - downlink: every `tagEvery`-th 20 ms frame of each response's audio gets a tag, stamped with the
 *   time its response.output_audio.delta is sent.
 * All times on the shared clock of scripts/bench/tags.ts. Reports them on request over IPC.
 *
 * Args: --tag-every N (0 = no tags).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createLogger } from '../../src/logging/logger';
import { LocalRealtimeServer, type AudioTap } from '../../src/simulators/local-realtime-server';
import { SendTimes, TAG_BYTES, fromPerfNow, now, readTags, writeTag } from './tags';

const FRAME_BYTES = 160;
const LOOP_RESOLUTION_MS = 10;

export interface AiReport {
  /** Uplink tags received: flat [id, arrival time, ...]. */
  upReceived: number[];
  /** Downlink tags: send time by id (index = id). */
  downSent: (number | null)[];
  eventLoopMs: { p99: number; max: number };
}

export type AiMessage = { type: 'listening'; url: string } | { type: 'report'; report: AiReport };
export type AiCommand = { type: 'window-start' } | { type: 'window-end' } | { type: 'report' };

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'tag-every': { type: 'string', default: '10' } } });
  const tagEvery = Number(values['tag-every']);
  const upReceived: number[] = [];
  const downSent = new SendTimes();
  let nextTagId = 1;

  let audioTap: AudioTap | undefined;
  if (tagEvery > 0) {
    audioTap = {
      input: (audio, arrivedAt) => {
        readTags(audio, (id) => upReceived.push(id, fromPerfNow(arrivedAt)));
      },
      output: (audio, offset) => {
        // Frames are counted from the start of the response's audio, as the bridge frames them.
        let out = audio;
        for (
          let at = (FRAME_BYTES - (offset % FRAME_BYTES)) % FRAME_BYTES;
          at + TAG_BYTES <= audio.length;
          at += FRAME_BYTES
        ) {
          if (((offset + at) / FRAME_BYTES) % tagEvery !== 0) continue;
          if (out === audio) out = Buffer.from(audio); // the input is a shared cache
          const id = nextTagId++;
          writeTag(out, at, id);
          downSent.set(id, now());
        }
        return out;
      },
    };
  }

  const server = await LocalRealtimeServer.start({
    port: 0,
    host: '127.0.0.1',
    logger: createLogger({ level: 'warn', json: false }),
    ttsEngine: 'tone',
    realtimePace: true,
    statsEndpoint: true,
    keepClosedSessions: false,
    audioTap,
  });

  const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  loop.enable();
  let loopFigures = { p99: NaN, max: NaN };
  const send = (m: AiMessage): void => {
    process.send?.(m);
  };
  process.on('message', (m: AiCommand) => {
    if (m.type === 'window-start') {
      loop.reset();
    } else if (m.type === 'window-end') {
      loopFigures = {
        p99: Math.max(0, loop.percentile(99) / 1e6 - LOOP_RESOLUTION_MS),
        max: Math.max(0, loop.max / 1e6 - LOOP_RESOLUTION_MS),
      };
    } else if (m.type === 'report') {
      send({ type: 'report', report: { upReceived, downSent: downSent.toJSON(), eventLoopMs: loopFigures } });
    }
  });
  process.on('disconnect', () => {
    void server.close().finally(() => process.exit(0));
  });
  process.on('SIGTERM', () => {
    void server.close().finally(() => process.exit(0));
  });
  send({ type: 'listening', url: server.url });
}

main().catch((err: unknown) => {
  console.error('bench AI failed to start:', err);
  process.exit(1);
});
