/**
 * Issue 16 item 3 for Telnyx, whose flow splits the same way as Twilio's: the TeXML voice webhook
 * lands on instance A (the call is created and prepared there, its AI session connecting at once),
 * the media stream on instance B. Two real apps on one SQLite file and recordings folder, one
 * LocalOwnership registry, one STREAM_TOKEN_SECRET; the Telnyx call simulator signs with the key
 * whose public half both instances trust.
 */
import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createApp, type SwitchboardApp } from '../../src/app';
import { testConfig } from '../../src/config';
import { LocalOwnership } from '../../src/cluster/ownership';
import { rawPublicKeyBase64 } from '../../src/channels/telnyx/signature';
import { LocalRealtimeServer } from '../../src/simulators/local-realtime-server';
import { placeTelnyxCall } from '../../src/simulators/telnyx-caller';
import { createTempDatabase, type TempDir } from '../../scripts/lib/test-db';
import { eventually } from '../../scripts/lib/bridge-harness';
import { splitRouter, type SplitRouter } from '../helpers/cluster-split-router';

const CALLER_LINES = ['I would like to check the status of my order please'];
const AGENT_LINES = ['Hello, thanks for calling Switchboard. How can I help you today?', 'It arrives tomorrow.'];
const TOKEN_TTL_MS = 3000;

describe('cluster, Telnyx: webhook on instance A, media stream on instance B', () => {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  let ai: LocalRealtimeServer;
  let tmp: TempDir;
  let router: SplitRouter;
  const apps: Record<'a' | 'b', { sb: SwitchboardApp; ownership: LocalOwnership; ended: string[] }> = {} as never;

  beforeAll(async () => {
    ai = await LocalRealtimeServer.start({ ttsEngine: 'auto', replies: AGENT_LINES, callerTranscripts: CALLER_LINES });
    tmp = createTempDatabase();
    const shared = {};
    const ports: number[] = [];
    for (const id of ['a', 'b'] as const) {
      const ownership = new LocalOwnership(`instance-${id}`, shared);
      const sb = await createApp(
        testConfig({
          DATABASE_URL: tmp.databaseUrl,
          RECORDING_STORAGE_PATH: tmp.recordingsDir,
          TELNYX_PUBLIC_KEY: rawPublicKeyBase64(publicKey),
          OPENAI_REALTIME_URL: ai.url,
          STREAM_TOKEN_SECRET: 'cross-instance-telnyx-secret-0123456789abcdef',
          STREAM_TOKEN_TTL_MS: String(TOKEN_TTL_MS),
          INSTANCE_ID: `instance-${id}`,
        }),
        { ownership },
      );
      ports.push(await sb.listen(0, '127.0.0.1'));
      const ended: string[] = [];
      sb.bus.subscribe((event) => {
        if (event.type === 'call.ended') ended.push(event.data.call.id);
      });
      apps[id] = { sb, ownership, ended };
    }
    // The stream and the status callbacks reach B, the voice webhook A.
    router = await splitRouter(ports[0], ports[1], ['/telnyx/stream', '/telnyx/status']);
  });

  afterAll(async () => {
    router.close();
    await Promise.all([apps.a.sb.close(), apps.b.sb.close()]);
    await Promise.all([apps.a.ownership.close(), apps.b.ownership.close()]);
    await ai.close();
    tmp.cleanup();
  });

  it('bridges the call on B with transcripts and recording; A lets its prepared call go and never times it out', async () => {
    const { a, b } = apps;
    const handle = placeTelnyxCall({
      baseUrl: router.url,
      privateKey,
      from: '+15557001001',
      to: '+15559990000',
      script: [
        { untilAgentSilentMs: 600 },
        { say: CALLER_LINES[0] },
        { untilAgentSilentMs: 600 },
        // The call outlives the stream token's TTL: A's stream timeout would have fired by now.
        { silenceMs: TOKEN_TTL_MS },
      ],
    });
    const summary = await handle.done;
    expect(summary.errors).toEqual([]);
    expect(summary.ok).toBe(true);
    const callId = summary.parameters.callId;
    expect(a.sb.bridge.counters.callsHandedOff).toBe(1);
    expect(b.sb.bridge.counters.callsTakenOver).toBe(1);

    const row = await eventually(async () => {
      const c = await b.sb.db.call.findUnique({
        where: { id: callId },
        include: { transcripts: true, recordings: true, analytics: true },
      });
      return c?.endedAt && c.analytics && c.recordings.length ? c : null;
    }, 15_000);
    expect(row).toMatchObject({ status: 'completed', endReason: 'caller-hangup', provider: 'telnyx' });
    expect(row.transcripts.filter((t) => t.speaker === 'caller').map((t) => t.text)).toEqual(CALLER_LINES);
    expect(row.transcripts.some((t) => t.speaker === 'agent' && t.text === AGENT_LINES[0])).toBe(true);
    expect(existsSync(path.join(b.sb.recordingsDir, row.recordings[0].path))).toBe(true);

    await eventually(() => b.ended.includes(callId));
    expect(a.ended).not.toContain(callId);
    expect(a.sb.callManager.getActive(callId)).toBeUndefined();
    expect(a.sb.bridge.size).toBe(0);
    expect(await b.ownership.ownerOf(callId)).toBeUndefined();
  }, 30_000);
});
