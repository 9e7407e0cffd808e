/**
 * A conversation's language hint reaches the agent over real sockets: the Realtime session.update
 * the local Realtime server receives carries `audio.input.transcription.language` (ISO-639-1) and an
 * instructions line naming the language, for a profile's hint on a Twilio call (which also travels
 * as the TwiML's <Parameter name="language">) and for an app client's own hint. A `language`
 * parameter on a Twilio stream's start is stored in the call's metadata and switches the live
 * session (a second session.update); a malformed one is ignored.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import request from 'supertest';
import WebSocket from 'ws';
import { computeTwilioSignature } from '../../src/channels/twilio/signature';
import { parseTwiml, twilioStartMessage } from '../../src/simulators/twilio-caller';
import {
  startBridgeHarness,
  eventually,
  TEST_AUTH_TOKEN,
  TEST_PUBLIC_URL,
  type BridgeHarness,
} from '../../scripts/lib/bridge-harness';
import { TestClient } from '../helpers/app-ws-server';

const API_TOKEN = 'language-test-token-0123456789';
const FRENCH_NUMBER = '+15559990001';
const DEFAULT_NUMBER = '+15559990000';
const STREAM_URL = 'wss://switchboard.example.test/streams';

type SessionConfig = {
  instructions?: string;
  audio?: { input?: { transcription?: { model?: string; language?: string } } };
};

let h: BridgeHarness;
let tmp: string;

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 'switchboard-language-'));
  const profilesFile = path.join(tmp, 'profiles.json');
  writeFileSync(
    profilesFile,
    JSON.stringify({
      profiles: {
        default: { instructions: 'You are a helpful agent.' },
        french: { instructions: 'You are a helpful agent.', languageHint: 'fr', numbers: [FRENCH_NUMBER] },
      },
    }),
  );
  h = await startBridgeHarness(
    { ttsEngine: 'tone', replies: ['Hello.'] },
    { AGENT_GREETS_FIRST: 'false', AGENT_PROFILES_FILE: profilesFile, API_TOKENS: API_TOKEN },
  );
});

afterAll(async () => {
  await h?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** The first session.update of the Realtime session opened after `before` sessions. */
async function sessionUpdateAfter(before: number): Promise<SessionConfig> {
  return eventually(() => h.ai.sessions[before]?.sessionUpdates[0] as SessionConfig | undefined);
}

async function metadataLanguage(where: { callSid?: string; id?: string }): Promise<string | null | undefined> {
  const call = await h.t.sb.db.call.findFirst({ where, include: { metadata: true } });
  return call ? (call.metadata?.language ?? null) : undefined;
}

test("a profile's hint: TwiML <Parameter>, session.update transcription language and instructions, metadata", async () => {
  const before = h.ai.sessions.length;
  const handle = h.call({ to: FRENCH_NUMBER, script: [{ silenceMs: 300 }], ttsEngine: 'tone' });
  const summary = await handle.done;
  expect(summary.ok).toBe(true);
  expect(summary.customParameters.language).toBe('fr');
  const update = await sessionUpdateAfter(before);
  expect(update.audio?.input?.transcription).toMatchObject({ language: 'fr' });
  expect(update.instructions).toContain('You are a helpful agent.');
  expect(update.instructions).toContain('The caller speaks French; answer in it.');
  expect(await eventually(() => metadataLanguage({ callSid: summary.callSid }))).toBe('fr');
});

test('no hint: no transcription language, no language line, no metadata language', async () => {
  const before = h.ai.sessions.length;
  const summary = await h.call({ to: DEFAULT_NUMBER, script: [{ silenceMs: 300 }], ttsEngine: 'tone' }).done;
  expect(summary.ok).toBe(true);
  expect(summary.customParameters.language).toBeUndefined();
  const update = await sessionUpdateAfter(before);
  expect(update.audio?.input?.transcription?.model).toBeTruthy();
  expect(update.audio?.input?.transcription?.language).toBeUndefined();
  expect(update.instructions).not.toContain('The caller speaks');
  expect(await metadataLanguage({ callSid: summary.callSid })).toBeNull();
});

test("an app client's hint overrides the profile's: pt-BR → transcription 'pt', Brazilian Portuguese", async () => {
  const before = h.ai.sessions.length;
  const client = await TestClient.open(`ws://127.0.0.1:${h.t.port}/voice-gateway`, {
    Authorization: `Bearer ${API_TOKEN}`,
  });
  try {
    client.send({ type: 'init', callId: 'lang-1', languageHint: 'pt-BR' });
    const [ready] = await client.waitForType('ready', 1, 15000);
    const update = await sessionUpdateAfter(before);
    expect(update.audio?.input?.transcription).toMatchObject({ language: 'pt' });
    expect(update.instructions).toContain('The caller speaks Brazilian Portuguese; answer in it.');
    expect(await metadataLanguage({ id: ready.conversationId as string })).toBe('pt-BR');
  } finally {
    await client.close();
  }
});

async function signedWebhook(callSid: string): Promise<Record<string, string>> {
  const form = { CallSid: callSid, AccountSid: 'ACtest', From: '+15550007777', To: DEFAULT_NUMBER };
  const res = await request(h.t.baseUrl)
    .post('/twilio/incoming-call')
    .set('X-Twilio-Signature', computeTwilioSignature(TEST_AUTH_TOKEN, `${TEST_PUBLIC_URL}/twilio/incoming-call`, form))
    .type('form')
    .send(form)
    .expect(200);
  return parseTwiml(res.text).parameters;
}

/** Starts a stream for a prepared call with extra custom parameters; resolves once the call is bridged. */
async function startStream(callSid: string, extra: Record<string, string>): Promise<WebSocket> {
  const parameters = await signedWebhook(callSid);
  const ws = new WebSocket(`ws://127.0.0.1:${h.t.port}/streams`, {
    headers: { 'X-Twilio-Signature': computeTwilioSignature(TEST_AUTH_TOKEN, STREAM_URL, {}) },
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.send(
    twilioStartMessage({
      streamSid: `MZ${callSid}`,
      callSid,
      accountSid: 'ACtest',
      customParameters: { ...parameters, ...extra },
    }),
  );
  await eventually(() => h.t.sb.bridge.all().some((c) => c.call.callSid === callSid && !c.awaitingChannel));
  return ws;
}

async function hangUp(ws: WebSocket, callSid: string): Promise<void> {
  ws.send(JSON.stringify({ event: 'stop', streamSid: `MZ${callSid}`, stop: { callSid, accountSid: 'ACtest' } }));
  ws.close();
  await eventually(async () => (await h.t.sb.db.call.findFirst({ where: { callSid } }))?.endedAt);
}

test("a `language` parameter on the stream's start: metadata.language, and the live session follows it", async () => {
  const callSid = 'CAlanguage000000000000000000000001';
  const before = h.ai.sessions.length;
  const ws = await startStream(callSid, { language: 'de' });
  expect(await eventually(async () => (await metadataLanguage({ callSid })) === 'de' && 'de')).toBe('de');
  // The engine started with the profile's (no) hint; a second session.update switches it to German.
  const update = await eventually(() => h.ai.sessions[before]?.sessionUpdates[1] as SessionConfig | undefined);
  expect(update.audio?.input?.transcription).toMatchObject({ language: 'de' });
  expect(update.instructions).toContain('The caller speaks German; answer in it.');
  await hangUp(ws, callSid);
});

test('a malformed `language` parameter is ignored and the call goes on', async () => {
  const callSid = 'CAlanguage000000000000000000000002';
  const ws = await startStream(callSid, { language: '"><x>' });
  // The call is bridged and still up; its metadata has no language.
  await new Promise((r) => setTimeout(r, 300));
  expect(h.t.sb.bridge.all().some((c) => c.call.callSid === callSid)).toBe(true);
  expect(await metadataLanguage({ callSid })).toBeNull();
  expect(h.ai.sessions[h.ai.sessions.length - 1].sessionUpdates).toHaveLength(1);
  await hangUp(ws, callSid);
});
