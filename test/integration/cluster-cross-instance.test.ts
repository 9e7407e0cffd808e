/**
 * Issue 16 item 3, any request on any instance: a Twilio voice webhook lands on instance A and the
 * call's media stream on instance B. Two real apps (createApp twice) share one SQLite file, one
 * recordings folder, one LocalOwnership registry and one STREAM_TOKEN_SECRET; a small TCP router in
 * front sends the webhooks and status callbacks to A and the /streams upgrades to B, as a round-robin
 * balancer may. The Twilio call simulator and the local Realtime server are the real ones.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { createApp, type SwitchboardApp } from '../../src/app';
import { testConfig } from '../../src/config';
import { LocalOwnership } from '../../src/cluster/ownership';
import { LocalRealtimeServer } from '../../src/simulators/local-realtime-server';
import {
  parseTwiml,
  placeCall,
  twilioStartMessage,
  type CallHandle,
  type PlaceCallOptions,
} from '../../src/simulators/twilio-caller';
import { computeTwilioSignature } from '../../src/channels/twilio/signature';
import { createTempDatabase, type TempDir } from '../../scripts/lib/test-db';
import { eventually, TEST_AUTH_TOKEN, TEST_PUBLIC_URL } from '../../scripts/lib/bridge-harness';
import { readStereoWav } from '../helpers/wav-read';
import { splitRouter, type SplitRouter } from '../helpers/cluster-split-router';

const CALLER_LINES = ['I would like to check the status of my order please'];
const AGENT_LINES = ['Hello, thanks for calling Switchboard. How can I help you today?', 'It arrives tomorrow.'];
/** Short, so A's stream timeout would fire in the middle of a call streaming on B. */
const TOKEN_TTL_MS = 4000;
const ACCOUNT_SID = 'AC0123456789abcdef0123456789abcdef';

interface Instance {
  id: string;
  sb: SwitchboardApp;
  port: number;
  url: string;
  ownership: LocalOwnership;
  /** Every call.ended this instance published (A must publish none for B's calls). */
  ended: string[];
}

describe('cluster: webhook on instance A, media stream on instance B', () => {
  let ai: LocalRealtimeServer;
  let tmp: TempDir;
  let a: Instance;
  let b: Instance;
  let router: SplitRouter;
  let routerUrl: string;
  const instances = new Map<string, Instance>();

  beforeAll(async () => {
    ai = await LocalRealtimeServer.start({ ttsEngine: 'auto', replies: AGENT_LINES, callerTranscripts: CALLER_LINES });
    tmp = createTempDatabase();
    const shared = {};
    const start = async (id: string): Promise<Instance> => {
      const ownership = new LocalOwnership(id, shared);
      const config = testConfig({
        DATABASE_URL: tmp.databaseUrl,
        RECORDING_STORAGE_PATH: tmp.recordingsDir,
        TWILIO_AUTH_TOKEN: TEST_AUTH_TOKEN,
        PUBLIC_URL: TEST_PUBLIC_URL,
        OPENAI_REALTIME_URL: ai.url,
        STREAM_TOKEN_SECRET: 'cross-instance-test-secret-0123456789abcdef',
        STREAM_TOKEN_TTL_MS: String(TOKEN_TTL_MS),
        INSTANCE_ID: id,
        ...(process.env.CX_LOG ? { LOG_LEVEL: 'info' } : {}),
      });
      const sb = await createApp(config, {
        ownership,
        // The cluster's request to the owner (NATS in production), in process here.
        endCallOnOwner: (owner, callId, reason) => instances.get(owner)!.sb.bridge.end(callId, reason),
      });
      const port = await sb.listen(0, '127.0.0.1');
      const instance: Instance = { id, sb, port, url: `http://127.0.0.1:${port}`, ownership, ended: [] };
      sb.bus.subscribe((event) => {
        if (event.type === 'call.ended') instance.ended.push(event.data.call.id);
      });
      instances.set(id, instance);
      return instance;
    };
    a = await start('instance-a');
    b = await start('instance-b');
    // The stream and the status callbacks reach B; a final status landing on A is the last test's.
    router = await splitRouter(a.port, b.port, ['/streams', '/twilio/call-status']);
    routerUrl = router.url;
  });

  afterAll(async () => {
    router.close();
    await Promise.all([a.sb.close(), b.sb.close()]);
    await Promise.all([a.ownership.close(), b.ownership.close()]);
    await ai.close();
    tmp.cleanup();
  });

  /** A simulated call and the <Parameter>s of its TwiML (callId, token) once the webhook answered. */
  const call = (
    baseUrl: string,
    options: Partial<PlaceCallOptions> = {},
  ): { handle: CallHandle; params: Promise<Record<string, string>> } => {
    const handle = placeCall({
      baseUrl,
      publicUrl: TEST_PUBLIC_URL,
      authToken: TEST_AUTH_TOKEN,
      from: '+15550001001',
      to: '+15559990000',
      accountSid: ACCOUNT_SID,
      ...options,
    });
    const params = new Promise<Record<string, string>>((resolve) =>
      handle.events.once('twiml', (xml) => resolve(parseTwiml(xml).parameters)),
    );
    return { handle, params };
  };

  /** Opens a signed stream to an instance and sends a start; resolves with the close code. */
  const replayStart = (instance: Instance, callSid: string, parameters: Record<string, string>): Promise<number> =>
    new Promise((resolve, reject) => {
      const url = `${TEST_PUBLIC_URL.replace('https', 'wss')}/streams`;
      const ws = new WebSocket(`ws://127.0.0.1:${instance.port}/streams`, {
        headers: { 'x-twilio-signature': computeTwilioSignature(TEST_AUTH_TOKEN, url, {}) },
      });
      ws.on('open', () =>
        ws.send(
          twilioStartMessage({
            streamSid: 'MZreplay0000000000000000000000000',
            callSid,
            accountSid: ACCOUNT_SID,
            customParameters: parameters,
          }),
        ),
      );
      ws.on('close', (code) => resolve(code));
      ws.on('error', reject);
    });

  it('bridges the call on B (transcripts, recording, analytics), A lets its prepared call go, a replay to A is refused', async () => {
    const sessionsBefore = ai.sessions.length;
    const { handle, params } = call(routerUrl, {
      script: [
        { untilAgentSilentMs: 600 },
        { say: CALLER_LINES[0] },
        { untilAgentSilentMs: 600 },
        // The call outlives the stream token's TTL: A's stream timeout would have fired by now.
        { silenceMs: TOKEN_TTL_MS },
      ],
    });
    const { callId } = await params;
    // The webhook prepared the call on A (its AI session connecting at once).
    expect(a.sb.bridge.get(callId)).toBeDefined();
    // While the call streams on B: B owns it, A has let it go, and a replay of its start to A is refused.
    await eventually(() => b.sb.bridge.get(callId)?.streaming, 15_000);
    expect(await b.ownership.ownerOf(callId)).toBe('instance-b');
    expect(a.sb.bridge.get(callId)).toBeUndefined();
    expect(a.sb.callManager.getActive(callId)).toBeUndefined();
    expect(b.sb.callManager.getActive(callId)).toBeDefined();
    expect(a.sb.bridge.counters.callsHandedOff).toBe(1);
    expect(b.sb.bridge.counters.callsTakenOver).toBe(1);
    expect(await replayStart(a, handle.callSid, await params)).toBe(1008);
    expect(a.sb.bridge.streamRefusals).toEqual({ 'claimed-elsewhere': 1 });

    const summary = await handle.done;
    expect(summary.ok).toBe(true);
    expect(summary.errors).toEqual([]);
    expect(summary.firstAgentAudioMs).not.toBeNull();

    const row = await eventually(async () => {
      const c = await b.sb.db.call.findUnique({
        where: { id: callId },
        include: { transcripts: true, recordings: true, analytics: true },
      });
      return c?.endedAt && c.analytics && c.recordings.length ? c : null;
    }, 15_000);
    expect(row).toMatchObject({ status: 'completed', endReason: 'caller-hangup', streamSid: summary.streamSid });
    expect(row.transcripts.filter((t) => t.speaker === 'caller').map((t) => t.text)).toEqual(CALLER_LINES);
    expect(row.transcripts.some((t) => t.speaker === 'agent' && t.text === AGENT_LINES[0])).toBe(true);
    // The recording was written by B (the folder is shared here, as a shared disk or S3 would be).
    const recording = row.recordings[0];
    const file = path.join(b.sb.recordingsDir, recording.path);
    expect(existsSync(file)).toBe(true);
    const wav = readStereoWav(file);
    expect(wav.channels).toBe(2);
    expect(Math.abs(wav.durationMs - summary.durationMs)).toBeLessThan(250);
    expect(wav.durationMs).toBeGreaterThan(TOKEN_TTL_MS);

    // The call ended on B only; A never ended it (no stream-timeout), its early AI session is closed.
    await eventually(() => b.ended.includes(callId));
    expect(a.ended).not.toContain(callId);
    expect(a.sb.bridge.size).toBe(0);
    expect(b.sb.bridge.size).toBe(0);
    const sessions = ai.sessions.slice(sessionsBefore);
    expect(sessions).toHaveLength(2);
    await eventually(() => sessions.every((s) => s.closedAt !== null));
    // B's lease is released at the end.
    expect(await b.ownership.ownerOf(callId)).toBeUndefined();
  }, 30_000);

  it('both on A: the call claims A at its stream start and keeps the early AI session (one session, opened at the webhook)', async () => {
    const sessionsBefore = ai.sessions.length;
    const { handle, params } = call(a.url, { script: [{ untilAgentSilentMs: 600 }, { silenceMs: 200 }] });
    let streamStartedAt = 0;
    handle.events.once('stream-start', () => {
      streamStartedAt = Date.now();
    });
    const { callId } = await params;
    await eventually(() => a.sb.bridge.get(callId)?.streaming);
    expect(await a.ownership.ownerOf(callId)).toBe('instance-a');
    const summary = await handle.done;
    expect(summary.ok).toBe(true);
    expect(summary.firstAgentAudioMs).not.toBeNull();
    const sessions = ai.sessions.slice(sessionsBefore);
    expect(sessions).toHaveLength(1);
    expect(sessions[0].connectedAt).toBeLessThanOrEqual(streamStartedAt);
    await eventually(() => a.ended.includes(callId));
    expect(b.ended).not.toContain(callId);
    expect(b.sb.bridge.counters.callsTakenOver).toBe(1);
    expect(await a.ownership.ownerOf(callId)).toBeUndefined();
  }, 30_000);

  it('ending on A a call that streams on B ends it on its owner, B (recording and analytics kept)', async () => {
    const { handle, params } = call(routerUrl, { script: [{ untilAgentSilentMs: 600 }], hangupAfterScript: false });
    const { callId } = await params;
    await eventually(() => b.sb.bridge.get(callId)?.streaming, 15_000);
    // What a provider's final status landing on A does (CallAdmission.applyStatus → bridge.end).
    await a.sb.bridge.end(callId, 'caller-hangup');
    expect(b.sb.bridge.get(callId)).toBeUndefined();
    // The provider closes the stream of a call that is over (caller-hangup: our side leaves it to them).
    expect((await handle.hangup()).ok).toBe(true);
    const row = await b.sb.db.call.findUnique({
      where: { id: callId },
      include: { recordings: true, analytics: true },
    });
    expect(row).toMatchObject({ status: 'completed', endReason: 'caller-hangup' });
    expect(row!.recordings).toHaveLength(1);
    expect(row!.analytics).not.toBeNull();
    expect(a.ended).not.toContain(callId);
    expect(b.ended).toContain(callId);
    // Its start replayed (within the token's TTL) to either instance is refused: the call is over.
    expect(await replayStart(a, handle.callSid, await params)).toBe(1008);
    expect(a.sb.bridge.streamRefusals['call-ended']).toBe(1);
  }, 30_000);
});
