/**
 * Redaction on a whole call over real sockets: the caller reads a card number (digits, then words),
 * its expiry and CVV, and an e-mail address; none of it reaches the database file, SSE or the
 * recording (silence at those turns, measured) nor the logs (debug level, JSON), while an ordinary
 * turn is kept as said.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { readdirSync, readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { eventually, TEST_AUTH_TOKEN, TEST_PUBLIC_URL } from '../../scripts/lib/bridge-harness';
import { createTempDatabase, type TempDir } from '../../scripts/lib/test-db';
import { createApp, type SwitchboardApp } from '../../src/app';
import { testConfig } from '../../src/config';
import { createLogger } from '../../src/logging/logger';
import { LocalRealtimeServer } from '../../src/simulators/local-realtime-server';
import { placeCall } from '../../src/simulators/twilio-caller';
import { connectSse, type SseConnection } from '../../scripts/lib/sse-client';
import { readStereoWav, rmsBetween } from '../helpers/wav-read';

const CALLER_LINES = [
  'My card number is 4111 1111 1111 1111',
  'again that is four one one one one one one one one one one one one one one one',
  'it expires oh eight two seven and the code is seven three seven',
  'my email is jane dot doe at example dot com',
  'Thank you, that is all. Goodbye.',
];
const AGENT_LINES = ['Hello, how can I help?', 'Go on.', 'Thanks.', 'Noted.', 'Got it.', 'Goodbye!'];
/**
 * Fragments of what the caller said that must be stored nowhere. The card number's digits in
 * groups of eight, spaced or not: a four-digit fragment turns up by chance in the random hex of a
 * StreamSid in the database file (a CI run failed on "4111" inside one).
 */
const SECRETS = [
  '4111 1111',
  '41111111',
  'four one one one',
  'seven three seven',
  'oh eight two seven',
  'jane',
  'example dot com',
];

describe('redaction of a call as it is transcribed', () => {
  let ai: LocalRealtimeServer;
  let sb: SwitchboardApp;
  let tmp: TempDir;
  let baseUrl: string;
  let sse: SseConnection | undefined;
  const logs: string[] = [];
  /** Bodies of the outgoing webhook deliveries (a real receiver on a loopback port). */
  const delivered: string[] = [];
  let receiver: http.Server;

  beforeAll(async () => {
    ai = await LocalRealtimeServer.start({ ttsEngine: 'auto', replies: AGENT_LINES, callerTranscripts: CALLER_LINES });
    tmp = createTempDatabase();
    const config = testConfig({
      DATABASE_URL: tmp.databaseUrl,
      RECORDING_STORAGE_PATH: tmp.recordingsDir,
      TWILIO_AUTH_TOKEN: TEST_AUTH_TOKEN,
      PUBLIC_URL: TEST_PUBLIC_URL,
      OPENAI_REALTIME_URL: ai.url,
    });
    // Every log line the app writes, at debug level, as JSON.
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        logs.push(chunk.toString('utf8'));
        done();
      },
    });
    sb = await createApp(config, { logger: createLogger({ level: 'debug', json: true, stream }) });
    baseUrl = `http://127.0.0.1:${await sb.listen(0, '127.0.0.1')}`;
    receiver = http.createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        delivered.push(Buffer.concat(parts).toString('utf8'));
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const hook = await fetch(`${baseUrl}/api/webhooks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`,
        events: ['transcript.added', 'call.ended'],
      }),
    });
    expect(hook.status).toBe(201);
  });
  afterAll(async () => {
    sse?.close();
    await new Promise((r) => receiver.close(r));
    await sb.close();
    tmp.cleanup();
    await ai.close();
  });

  it('stores and publishes only redacted text, and silences the redacted turns in the recording', async () => {
    sse = await connectSse(`${baseUrl}/api/status`);
    const script = [{ untilAgentSilentMs: 500 }] as Array<Record<string, unknown>>;
    for (const line of CALLER_LINES) script.push({ say: line }, { untilAgentSilentMs: 500 });
    const summary = await placeCall({
      baseUrl,
      publicUrl: TEST_PUBLIC_URL,
      authToken: TEST_AUTH_TOKEN,
      from: '+15550001001',
      to: '+15559990000',
      script: script as never,
    }).done;
    expect(summary.ok).toBe(true);

    const db = sb.db;
    const call = await eventually(async () => {
      const c = await db.call.findFirst({
        where: { callSid: summary.callSid },
        include: { transcripts: { orderBy: { startMs: 'asc' } }, recordings: true, events: true },
      });
      return c?.recordings.length && c.status === 'completed' ? c : null;
    }, 20_000);
    const caller = call.transcripts.filter((t) => t.speaker === 'caller');
    expect(caller.map((t) => t.text)).toEqual([
      'My card number is [card number]',
      'again that is [card number]',
      'it expires [expiry] and the code is [cvv]',
      'my email is [email]',
      'Thank you, that is all. Goodbye.',
    ]);
    // The timeline says what was redacted, never the text.
    const redacted = call.events.filter((e) => e.type === 'privacy.redacted');
    expect(redacted).toHaveLength(4);
    expect(JSON.stringify(redacted.map((e) => e.data))).toContain('card');
    expect(call.events.some((e) => e.type === 'privacy.recording-silenced')).toBe(true);

    // SSE: every transcript line published is the redacted one.
    await sse.waitFor((m) => m.event === 'call.ended', 10_000);
    const published = sse.messages.filter((m) => m.event === 'transcript.added').map((m) => JSON.stringify(m.json));
    expect(published.length).toBeGreaterThanOrEqual(CALLER_LINES.length);
    expect(published.some((p) => p.includes('[card number]'))).toBe(true);

    // The database file (and its WAL), byte for byte, and everything SSE carried.
    await sb.callManager.flush();
    const dbFiles = readdirSync(tmp.dir).filter((f) => /\.db(-wal)?$/.test(f));
    expect(dbFiles.length).toBeGreaterThan(0);
    const stored = dbFiles.map((f) => readFileSync(path.join(tmp.dir, f)).toString('latin1')).join('\n');
    const streamed = sse.messages.map((m) => m.data).join('\n');
    const logged = logs.join('');
    expect(logged).toContain('call ended');
    // Outgoing webhooks: the receiver got the transcript lines and the call's end, redacted.
    await eventually(async () => (delivered.some((d) => d.includes('call.ended')) ? true : null), 10_000);
    const hooked = delivered.join('\n');
    expect(hooked).toContain('[card number]');
    for (const secret of SECRETS) {
      expect(stored.toLowerCase()).not.toContain(secret);
      expect(streamed.toLowerCase()).not.toContain(secret);
      expect(logged.toLowerCase()).not.toContain(secret);
      expect(hooked.toLowerCase()).not.toContain(secret);
    }
    expect(stored).toContain('Thank you, that is all. Goodbye.');

    // The recording: the redacted caller turns are silent on the left; the ordinary one is not.
    const wav = readStereoWav(path.join(sb.recordingsDir, call.recordings[0].path));
    for (const t of caller.slice(0, 4)) {
      expect(t.endMs! - t.startMs).toBeGreaterThan(500);
      expect(rmsBetween(wav.left, 8000, t.startMs, t.endMs!)).toBe(0);
    }
    const last = caller[4];
    expect(rmsBetween(wav.left, 8000, last.startMs, last.endMs!)).toBeGreaterThan(0.01);
  }, 90_000);
});
