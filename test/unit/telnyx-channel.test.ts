import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { TelnyxChannel, channelStartOf } from '../../src/channels/telnyx/channel';
import type { MediaFields } from '../../src/channels/media-bytes';
import { TelnyxMediaStream } from '../../src/channels/telnyx/media-stream';
import type { TelnyxStartMessage } from '../../src/channels/telnyx/protocol';
import { createLogger } from '../../src/logging/logger';

const logger = createLogger({ level: 'error', json: false, silent: true });
const STREAM = '32de0dea-53cb-4b21-89a4-9e1819c043bc';
/** The actions our side ended channels with (kept for the stream-ended webhook). */
const endings: string[] = [];

function startFrame(encoding = 'PCMA'): string {
  return JSON.stringify({
    event: 'start',
    sequence_number: '1',
    stream_id: STREAM,
    start: {
      call_control_id: 'v3:abc',
      from: '+15550001111',
      to: '+15550002222',
      custom_parameters: { callId: 'c1', token: 't1' },
      media_format: { encoding, sample_rate: 8000, channels: 1 },
    },
  });
}

/** A real ws server and client; the server side is a TelnyxMediaStream. */
async function pair(): Promise<{
  stream: TelnyxMediaStream;
  client: WebSocket;
  received: unknown[];
  /** Whether each message the client received was a binary frame (Telnyx reads JSON text frames). */
  binary: boolean[];
  close(): Promise<void>;
}> {
  const wss = new WebSocketServer({ port: 0 });
  await once(wss, 'listening');
  const port = (wss.address() as AddressInfo).port;
  const accepted = once(wss, 'connection') as Promise<[WebSocket]>;
  const client = new WebSocket(`ws://127.0.0.1:${port}`);
  const received: unknown[] = [];
  const binary: boolean[] = [];
  client.on('message', (data, isBinary) => {
    received.push(JSON.parse(String(data)));
    binary.push(isBinary);
  });
  await once(client, 'open');
  const [ws] = await accepted;
  const stream = new TelnyxMediaStream(ws, { logger });
  return {
    stream,
    client,
    received,
    binary,
    async close() {
      client.terminate();
      for (const c of wss.clients) c.terminate();
      await new Promise((resolve) => wss.close(resolve));
    },
  };
}

async function until(check: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function startedChannel(p: Awaited<ReturnType<typeof pair>>, encoding = 'PCMA'): Promise<TelnyxChannel> {
  const started = once(p.stream, 'start') as Promise<[TelnyxStartMessage]>;
  p.client.send('{"event":"connected","version":"1.0.0"}');
  p.client.send(startFrame(encoding));
  const [start] = await started;
  const channelStart = channelStartOf(start);
  if (!channelStart) throw new Error('no channel start');
  return new TelnyxChannel(p.stream, channelStart, (action) => endings.push(action.kind));
}

describe('TelnyxChannel over a real WebSocket', () => {
  it('starts with the call, its parameters and the PCMA format, and passes caller audio through untouched', async () => {
    const p = await pair();
    try {
      const channel = await startedChannel(p);
      expect(channel.provider).toBe('telnyx');
      expect(channel.format).toEqual({ encoding: 'pcma', sampleRateHz: 8000 });
      expect(channel.start).toMatchObject({
        streamId: STREAM,
        providerCallId: 'v3:abc',
        parameters: { callId: 'c1', token: 't1' },
      });
      const frames: Buffer[] = [];
      channel.on('audio', (frame) => frames.push(frame.bytes));
      const audio = Buffer.from(Array.from({ length: 160 }, (_, i) => i));
      p.client.send(
        JSON.stringify({
          event: 'media',
          sequence_number: '2',
          media: { track: 'inbound', chunk: '1', timestamp: '20', payload: audio.toString('base64') },
          stream_id: STREAM,
        }),
      );
      await until(() => frames.length === 1);
      expect(frames[0].equals(audio)).toBe(true);
      // The outbound track (our own audio, on a both_tracks stream) is not the caller.
      p.client.send(
        JSON.stringify({
          event: 'media',
          media: { track: 'outbound', payload: audio.toString('base64') },
          stream_id: STREAM,
        }),
      );
      await until(() => p.stream.stats.outboundTrackIgnored === 1);
      expect(frames).toHaveLength(1);
    } finally {
      await p.close();
    }
  });

  it('sends agent audio as media then a mark, and reports played only for marks echoed after playback', async () => {
    const p = await pair();
    try {
      const channel = await startedChannel(p);
      const played: string[] = [];
      channel.on('played', (m) => played.push(m));
      channel.sendAudio(Buffer.alloc(160, 0xd5), 'item1:160');
      await until(() => p.received.length === 2);
      expect(p.received).toEqual([
        { event: 'media', media: { payload: Buffer.alloc(160, 0xd5).toString('base64') } },
        { event: 'mark', mark: { name: 'item1:160' } },
      ]);
      // The media message is written as bytes and must still go as a text frame.
      expect(p.binary).toEqual([false, false]);
      p.client.send(
        JSON.stringify({ event: 'mark', stream_id: STREAM, sequence_number: '3', mark: { name: 'item1:160' } }),
      );
      await until(() => played.length === 1);
      // A second echo of the same mark, or of one we never sent, is not "played".
      p.client.send(JSON.stringify({ event: 'mark', stream_id: STREAM, mark: { name: 'item1:160' } }));
      p.client.send(JSON.stringify({ event: 'mark', stream_id: STREAM, mark: { name: 'forged' } }));
      await until(() => channel.stats.marksIgnored === 2);
      expect(played).toEqual(['item1:160']);
    } finally {
      await p.close();
    }
  });

  it('on clear, sends clear and ignores the marks Telnyx echoes because of it', async () => {
    const p = await pair();
    try {
      const channel = await startedChannel(p);
      const played: string[] = [];
      channel.on('played', (m) => played.push(m));
      channel.sendAudio(Buffer.alloc(160, 0xd5), 'a');
      channel.sendAudio(Buffer.alloc(160, 0xd5), 'b');
      channel.clear();
      await until(() => p.received.length === 5);
      expect(p.received[4]).toEqual({ event: 'clear' });
      // Telnyx echoes every queued mark on clear: none of them was heard.
      p.client.send(JSON.stringify({ event: 'mark', stream_id: STREAM, mark: { name: 'a' } }));
      p.client.send(JSON.stringify({ event: 'mark', stream_id: STREAM, mark: { name: 'b' } }));
      channel.sendAudio(Buffer.alloc(160, 0xd5), 'c');
      p.client.send(JSON.stringify({ event: 'mark', stream_id: STREAM, mark: { name: 'c' } }));
      await until(() => played.length === 1);
      expect(played).toEqual(['c']);
      expect(channel.stats.marksIgnored).toBe(2);
    } finally {
      await p.close();
    }
  });

  it('keeps every rule for media in the documented layout (read from the bytes)', async () => {
    const p = await pair();
    try {
      const layout = (seq: number, payload: string, track = 'inbound', id = STREAM): string =>
        `{"event":"media","sequence_number":"${seq}","media":{"track":"${track}","chunk":"${seq}","timestamp":"${seq * 20}","payload":"${payload}"},"stream_id":"${id}"}`;
      const audio = Buffer.from(Array.from({ length: 160 }, (_, i) => 255 - i));
      const b64 = audio.toString('base64');
      const reasons: string[] = [];
      p.stream.on('protocol-error', (e) => reasons.push(e.reason));
      p.client.send(layout(1, b64)); // before start
      const channel = await startedChannel(p);
      const frames: Array<{ bytes: Buffer; timestampMs: number }> = [];
      channel.on('audio', (frame) => frames.push({ bytes: frame.bytes, timestampMs: frame.timestampMs }));
      p.client.send(layout(2, b64));
      p.client.send(layout(3, b64, 'outbound'));
      p.client.send(layout(4, b64, 'inbound', '32de0dea-53cb-4b21-89a4-000000000000'));
      p.client.send(layout(5, 'not*base64!'));
      p.client.send(layout(6, b64));
      p.client.send(JSON.stringify({ event: 'stop', stream_id: STREAM, stop: { call_control_id: 'v3:abc' } }));
      p.client.send(layout(7, b64));
      await until(() => reasons.length === 4);
      expect(reasons).toEqual([
        'media before start',
        'stream_id mismatch',
        'media: payload is not base64',
        'media after stop',
      ]);
      expect(frames.map((f) => f.timestampMs)).toEqual([40, 120]);
      expect(frames.every((f) => f.bytes.equals(audio))).toBe(true);
      expect(p.stream.stats).toMatchObject({ mediaIn: 2, outboundTrackIgnored: 1 });
      // Not held by the stream's reader until the next frame (see telephony-media-stream.test.ts).
      expect((p.stream as unknown as { fields: MediaFields }).fields.payload).toBe('');
    } finally {
      await p.close();
    }
  });

  it('emits dtmf, counts malformed frames without ending, and ends once on stop', async () => {
    const p = await pair();
    try {
      const channel = await startedChannel(p);
      const digits: string[] = [];
      const ends: string[] = [];
      channel.on('dtmf', (d) => digits.push(d));
      channel.on('end', (cause) => ends.push(cause));
      p.client.send('not json');
      p.client.send(Buffer.from([1, 2, 3]));
      p.client.send(JSON.stringify({ event: 'media', stream_id: 'another-stream', media: { payload: 'AAAA' } }));
      p.client.send(JSON.stringify({ event: 'media', stream_id: STREAM, media: { payload: '@@@@' } }));
      p.client.send('x'.repeat(70 * 1024));
      p.client.send(startFrame());
      p.client.send(JSON.stringify({ event: 'dtmf', stream_id: STREAM, dtmf: { digit: '7' } }));
      await until(() => digits.length === 1);
      expect(p.stream.stats.protocolErrors).toBe(6);
      p.client.send(JSON.stringify({ event: 'stop', stream_id: STREAM, stop: { call_control_id: 'v3:abc' } }));
      await until(() => ends.length === 1);
      p.client.close();
      await once(p.client, 'close');
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(ends).toEqual(['caller-hangup']);
      expect(digits).toEqual(['7']);
    } finally {
      await p.close();
    }
  });

  it('ends as channel-closed when the socket drops, and end() from our side closes it without an end event', async () => {
    const p = await pair();
    try {
      const channel = await startedChannel(p);
      const ends: string[] = [];
      channel.on('end', (cause) => ends.push(cause));
      p.client.terminate();
      await until(() => ends.length === 1);
      expect(ends).toEqual(['channel-closed']);
    } finally {
      await p.close();
    }
    const q = await pair();
    try {
      const channel = await startedChannel(q);
      const ends: string[] = [];
      channel.on('end', (cause) => ends.push(cause));
      const closed = once(q.client, 'close');
      channel.end('hangup', { kind: 'hangup' });
      const [code] = (await closed) as [number];
      expect(code).toBe(1000);
      expect(endings.at(-1)).toBe('hangup');
      channel.end('again', { kind: 'transfer', target: { number: '+15550001' } });
      expect(endings.filter((k) => k === 'transfer')).toHaveLength(0);
      channel.sendAudio(Buffer.alloc(160), 'late'); // ignored, no throw
      expect(ends).toEqual([]);
    } finally {
      await q.close();
    }
  });

  it('refuses a start whose codec is not PCMU/PCMA 8 kHz mono', () => {
    const start = JSON.parse(startFrame('L16')) as TelnyxStartMessage;
    start.sequence_number = 1;
    expect(channelStartOf(start)).toBeUndefined();
  });
});
