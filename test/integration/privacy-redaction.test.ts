/**
 * Redaction on a whole call over real sockets: the caller reads a card number (digits, then words),
 * its expiry and CVV, and an e-mail address; none of it reaches the database file, SSE or the
 * recording (silence at those turns, measured), while an ordinary turn is kept as said.
 */
import path from 'node:path';
import { readdirSync, readFileSync } from 'node:fs';
import { startBridgeHarness, eventually, type BridgeHarness } from '../../scripts/lib/bridge-harness';
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
/** Fragments of what the caller said that must be stored nowhere. */
const SECRETS = ['4111', 'four one one one', 'seven three seven', 'oh eight two seven', 'jane', 'example dot com'];

describe('redaction of a call as it is transcribed', () => {
  let h: BridgeHarness;
  let sse: SseConnection | undefined;

  beforeAll(async () => {
    h = await startBridgeHarness({ replies: AGENT_LINES, callerTranscripts: CALLER_LINES });
  });
  afterAll(async () => {
    sse?.close();
    await h.close();
  });

  it('stores and publishes only redacted text, and silences the redacted turns in the recording', async () => {
    sse = await connectSse(`${h.t.baseUrl}/api/status`);
    const script = [{ untilAgentSilentMs: 500 }] as Array<Record<string, unknown>>;
    for (const line of CALLER_LINES) script.push({ say: line }, { untilAgentSilentMs: 500 });
    const summary = await h.call({ script: script as never }).done;
    expect(summary.ok).toBe(true);

    const db = h.t.sb.db;
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
    await h.t.sb.callManager.flush();
    const dbFiles = readdirSync(h.t.tmp.dir).filter((f) => /\.db(-wal)?$/.test(f));
    expect(dbFiles.length).toBeGreaterThan(0);
    const stored = dbFiles.map((f) => readFileSync(path.join(h.t.tmp.dir, f)).toString('latin1')).join('\n');
    const streamed = sse.messages.map((m) => m.data).join('\n');
    for (const secret of SECRETS) {
      expect(stored.toLowerCase()).not.toContain(secret);
      expect(streamed.toLowerCase()).not.toContain(secret);
    }
    expect(stored).toContain('Thank you, that is all. Goodbye.');

    // The recording: the redacted caller turns are silent on the left; the ordinary one is not.
    const wav = readStereoWav(path.join(h.t.sb.recordingsDir, call.recordings[0].path));
    for (const t of caller.slice(0, 4)) {
      expect(t.endMs! - t.startMs).toBeGreaterThan(500);
      expect(rmsBetween(wav.left, 8000, t.startMs, t.endMs!)).toBe(0);
    }
    const last = caller[4];
    expect(rmsBetween(wav.left, 8000, last.startMs, last.endMs!)).toBeGreaterThan(0.01);
  }, 90_000);
});
