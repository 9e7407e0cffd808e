/**
 * The attack script of issue 10: tries, against a RUNNING Switchboard on this machine, every finding
 * of the issue that can be tried from outside, and prints what was refused.
 *
 *   npm run attack -- --url http://127.0.0.1:3000 [--auth-token <twilio token>] [--api-token <token>]
 *                     [--read-only-token <read-only token>]
 *                     [--public-url <PUBLIC_URL of the server>] [--flood <n ≤ 300>] [--slow-wait-ms <ms>]
 *
 * --auth-token plays an attacker who captured one signed stream handshake (and can sign webhooks:
 * the strongest position short of owning the server); --api-token lets the script read call counts
 * and /metrics before and after, mint a real signed recording URL, and test the SSE caps.
 * --public-url is what the server signs against (its PUBLIC_URL; default: --url).
 *
 * Bounded: a few requests per check, floods capped at --flood (default and maximum 300) requests
 * each, every socket with a timeout, loopback only (any other host is refused before anything is
 * sent). The floods run last: they use up this address's rate-limit budgets for a minute.
 *
 * Output: a table `# | finding | attempt | expected | got | verdict`. Verdicts: REFUSED (the attack
 * failed), OK (a protection or control behaved), ALLOWED! (the attack got through), NOT REACHED (a
 * limit above the flood cap), SKIPPED (needs a flag), COVERED (not triable from outside: the test
 * that proves it), ERROR (the check could not run). Exit code 1 when anything was ALLOWED!, 2 on a
 * usage error or when a check could not run, else 0.
 *
 * Findings 3 (production configuration) run in-process on the config loader (src/config).
 */
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { ConfigError, loadConfig, securityWarnings } from '../src/config';
import { computeTwilioSignature, streamUrl, webhookUrl } from '../src/channels/twilio/signature';
import { parseTwiml, twilioStartMessage } from '../src/simulators/twilio-caller';
import {
  AttackUsageError,
  DEFAULT_TIMEOUT_MS,
  httpRequest,
  loopbackTarget,
  openHeld,
  openWebSocket,
  parseMetrics,
  rawExchange,
  sleep,
  slowBody,
  slowloris,
  upgradeRequest,
  whenClosed,
  type HeldResponse,
  type HttpResult,
} from './attack/net';
import { supervisionChecks, supervisionFloods, type SupervisionAttackContext } from './attack/supervision';

export const MAX_FLOOD = 300;
const MAX_SSE_ATTEMPTS = 150;
const ONE_MEGABYTE = 1024 * 1024;
/** The bridge closes a stream that sends no start after 3 s; this leaves room for a busy server. */
const IDLE_STREAM_WAIT_MS = 15_000;
/** Sockets opened without a start to see the server's cap on sockets waiting for their start. */
const IDLE_SOCKETS = 70;
/** That cap (MAX_PENDING_STARTS in src/calls/call-bridge.ts). */
const MAX_WAITING_STARTS = 64;

export type Verdict = 'REFUSED' | 'OK' | 'ALLOWED!' | 'NOT REACHED' | 'SKIPPED' | 'COVERED' | 'ERROR';

export interface AttackRow {
  item: string;
  finding: string;
  attempt: string;
  expected: string;
  got: string;
  verdict: Verdict;
}

export interface AttackOptions {
  /** http://127.0.0.1:<port> (loopback only). */
  url: string;
  /** The server's PUBLIC_URL (what Twilio signatures cover). Default: url. */
  publicUrl?: string;
  /** The server's TWILIO_AUTH_TOKEN (a captured signature, and webhooks signed like Twilio's). */
  authToken?: string;
  /** One of the server's API_TOKENS. */
  apiToken?: string;
  /** A read-only token of the server's API_TOKENS (`read-only:<name>:<token>`): finding 10 checks it cannot act. */
  readOnlyToken?: string;
  /** Requests per flood (≤ 300). */
  flood?: number;
  /** How long the slowloris connection is held before it counts as not closed by the server. */
  slowWaitMs?: number;
  /** Timeout of every socket. */
  timeoutMs?: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

export interface AttackReport {
  target: string;
  startedAt: string;
  durationMs: number;
  rows: AttackRow[];
  allowed: AttackRow[];
  errors: AttackRow[];
}

const FINDINGS: Record<string, string> = {
  '1': '/streams gate: every upgrade signed or refused',
  '2': 'stream start: only a webhook-prepared call, single-use token',
  '3': 'production refuses insecure config',
  '4': 'tokens in URLs; signed recording URLs',
  '5': 'http_lookup: fixed params, no error bodies',
  '6': 'send_sms: templates, limits, country codes',
  '7': 'write queue bounded, dead letter',
  '8': 'unauthenticated load: limits, timeouts, caps',
  '9': 'low: ws 8 checks, __proto__, HSTS, body size, files, PII',
  '10': 'routes since: supervision (listen, whisper, take-over, alert rules, webhooks), /ws, /voice-gateway, /twilio/sms, /telnyx/*',
};

/** A Twilio-like account SID (the webhook's AccountSid; the stream's start must match it). */
const ACCOUNT_SID = `AC${'a77ac0'.padEnd(32, '0')}`;

/** A random public-looking IPv4 address (spoofed X-Forwarded-For: must not buy a fresh rate-limit budget). */
const randomIp = (): string => `203.0.${Math.floor(Math.random() * 256)}.${1 + Math.floor(Math.random() * 254)}`;

const forgedStreamToken = (): string => `${Date.now() + 20_000}.${randomBytes(32).toString('base64url')}`;

function startMessage(callSid: string, customParameters: Record<string, string>): string {
  return twilioStartMessage({ streamSid: `MZ${callSid.slice(2)}`, callSid, accountSid: ACCOUNT_SID, customParameters });
}

const SILENCE = Buffer.alloc(160, 0xff).toString('base64');
function mediaMessage(streamSid: string, n: number): string {
  return (
    `{"event":"media","sequenceNumber":"${n + 2}","media":{"track":"inbound","chunk":"${n + 1}",` +
    `"timestamp":"${n * 20}","payload":"${SILENCE}"},"streamSid":"${streamSid}"}`
  );
}

const describeClose = (c: Awaited<ReturnType<typeof whenClosed>>): string =>
  c === 'still open' ? 'socket still open' : `closed ${c.code} "${c.reason}"`;

const statusText = (r: { status: number; error?: string }): string =>
  r.status ? String(r.status) : `no answer (${r.error})`;

/** Runs every check and returns the rows; never throws for a failed check (it becomes an ERROR row). */
export async function runAttack(options: AttackOptions): Promise<AttackReport> {
  const target = await loopbackTarget(options.url);
  const publicUrl = (options.publicUrl ?? target.origin).replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const flood = Math.min(MAX_FLOOD, Math.max(1, Math.floor(options.flood ?? MAX_FLOOD)));
  const log = options.log ?? (() => undefined);
  const { authToken, apiToken } = options;
  const rows: AttackRow[] = [];
  const started = Date.now();
  const add = (item: string, attempt: string, expected: string, got: string, verdict: Verdict): void => {
    rows.push({ item, finding: FINDINGS[item] ?? '', attempt, expected, got, verdict });
  };
  const refusedIf = (refused: boolean): Verdict => (refused ? 'REFUSED' : 'ALLOWED!');
  const bearer = apiToken ? { authorization: `Bearer ${apiToken}` } : undefined;
  const get = (path: string, headers: Record<string, string> = {}): Promise<HttpResult> =>
    httpRequest(target, path, { headers, timeoutMs });

  const reachable = await get('/health');
  if (reachable.status === 0) {
    throw new AttackUsageError(`no server answers at ${target.origin} (${reachable.error}); start it first`);
  }

  if (reachable.status === 429) {
    throw new AttackUsageError(
      `${target.origin} answers 429: this address is rate-limited (a run less than a minute ago?); wait a minute and run again`,
    );
  }

  const metrics = async (): Promise<Map<string, number> | undefined> => {
    if (!bearer) return undefined;
    const r = await get('/metrics', bearer);
    return r.status === 200 ? parseMetrics(r.body) : undefined;
  };
  const callsTotal = async (): Promise<number | undefined> => {
    if (!bearer) return undefined;
    const r = await get('/api/calls?limit=1', bearer);
    if (r.status !== 200) return undefined;
    return (JSON.parse(r.body) as { total: number }).total;
  };
  const delta = (a: Map<string, number> | undefined, b: Map<string, number> | undefined, name: string): number =>
    (b?.get(name) ?? Number.NaN) - (a?.get(name) ?? Number.NaN);

  // The slowloris runs alongside everything else (it waits for the server's header timeout).
  const slowWaitMs = options.slowWaitMs ?? 40_000;
  const slow = slowloris(target, slowWaitMs);
  const slowPost = slowBody(target, '/twilio/call-status', slowWaitMs);
  // A signed stream socket (captured handshake) that never sends `start`: the bridge must close it.
  const idleStream = authToken
    ? openWebSocket(
        `ws://${target.host}/streams`,
        { 'X-Twilio-Signature': computeTwilioSignature(authToken, streamUrl(publicUrl), {}) },
        timeoutMs,
      ).then(async (ws) => {
        const t0 = Date.now();
        const closed = await whenClosed(ws, IDLE_STREAM_WAIT_MS);
        if (closed === 'still open') ws.terminate();
        return { closed, ms: Date.now() - t0 };
      })
    : undefined;
  // Never an unhandled rejection while the other checks run; awaited (and reported) in section 8.
  idleStream?.catch(() => undefined);

  const guarded = async (item: string, label: string, fn: () => Promise<void>): Promise<void> => {
    log(`[${item}] ${label} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    try {
      await fn();
    } catch (err) {
      add(item, label, 'the check runs', `error: ${(err as Error).message}`, 'ERROR');
    }
  };

  const supervision: SupervisionAttackContext = {
    target,
    timeoutMs,
    apiToken,
    readOnlyToken: options.readOnlyToken,
    flood,
    add,
  };
  await guarded('10', 'supervision and later routes', () => supervisionChecks(supervision));

  // ---- 1: the upgrade gate ------------------------------------------------------------------------
  await guarded('1', 'unsigned upgrades', async () => {
    const before = await metrics();
    const spellings = [
      '/streams/',
      '/Streams',
      '/STREAMS',
      '/streams/?x=1',
      '//streams',
      '/%73treams',
      '/streams%2F',
      '/streams/.',
      '/./streams',
      '/twilio/../streams',
      '/api/status',
      '/',
      '/twilio/incoming-call',
      '*',
      `http://${target.host}/Streams`,
    ];
    for (const path of spellings) {
      const r = await rawExchange(target, upgradeRequest(target, path), timeoutMs);
      add('1', `unsigned upgrade GET ${path}`, '404, never 101', statusText(r), refusedIf(r.status !== 101));
    }
    for (const path of ['/streams', '/streams?x=1', `http://${target.host}/streams`]) {
      const r = await rawExchange(target, upgradeRequest(target, path), timeoutMs);
      add(
        '1',
        `unsigned upgrade GET ${path}`,
        path.startsWith('http') ? '404 (absolute form), never 101' : '403, never 101',
        statusText(r),
        refusedIf(r.status !== 101),
      );
    }
    const h2c = await rawExchange(
      target,
      `GET /streams HTTP/1.1\r\nHost: ${target.host}\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n`,
      timeoutMs,
    );
    add('1', 'non-WebSocket upgrade (h2c) on /streams', '400', statusText(h2c), refusedIf(h2c.status !== 101));
    if (authToken) {
      const signature = computeTwilioSignature(authToken, streamUrl(publicUrl), {});
      for (const path of ['/Streams', '/streams/', '//streams']) {
        const r = await rawExchange(
          target,
          upgradeRequest(target, path, { 'X-Twilio-Signature': signature }),
          timeoutMs,
        );
        add('1', `SIGNED upgrade GET ${path}`, '404, never 101', statusText(r), refusedIf(r.status !== 101));
      }
      const q = await rawExchange(
        target,
        upgradeRequest(target, '/streams?x=1', { 'X-Twilio-Signature': signature }),
        timeoutMs,
      );
      add('1', 'upgrade /streams?x=1 with the bare URL signature', '403', statusText(q), refusedIf(q.status !== 101));
      const otherHost = computeTwilioSignature(authToken, 'wss://attacker.example/streams', {});
      const o = await rawExchange(
        target,
        upgradeRequest(target, '/streams', { 'X-Twilio-Signature': otherHost }),
        timeoutMs,
      );
      add('1', 'upgrade /streams signed for another host', '403', statusText(o), refusedIf(o.status !== 101));
    }
    const after = await metrics();
    if (before && after) {
      const d = delta(before, after, 'switchboard_handshake_signature_failures_total');
      const want = authToken ? 4 : 2;
      add(
        '1',
        'refused handshakes counted in /metrics',
        `handshake_signature_failures +${want}`,
        `+${d}`,
        d >= want ? 'OK' : 'ALLOWED!',
      );
    }
  });

  await guarded('1', 'unsigned webhooks', async () => {
    const callsBefore = await callsTotal();
    const form = new URLSearchParams({
      CallSid: `CA${randomBytes(16).toString('hex')}`,
      AccountSid: ACCOUNT_SID,
      From: '+15550100999',
      To: '+15550100000',
    }).toString();
    const headers = { 'content-type': 'application/x-www-form-urlencoded' };
    const unsigned = await httpRequest(target, '/twilio/incoming-call', {
      method: 'POST',
      headers,
      body: form,
      timeoutMs,
    });
    add(
      '1',
      'unsigned POST /twilio/incoming-call',
      '403, no TwiML',
      statusText(unsigned),
      refusedIf(unsigned.status !== 200),
    );
    for (const path of ['/twilio/call-status', '/twilio/stream-ended', '/twilio/outbound-call']) {
      const r = await httpRequest(target, path, {
        method: 'POST',
        headers,
        body: `${form}&CallStatus=completed`,
        timeoutMs,
      });
      add('1', `unsigned POST ${path}`, '403', statusText(r), refusedIf(r.status === 403));
    }
    if (authToken) {
      // Signed over the Host the request reached instead of PUBLIC_URL: must not pass.
      const params = Object.fromEntries(new URLSearchParams(form));
      const hostSigned = computeTwilioSignature(authToken, `${target.origin}/twilio/incoming-call`, params);
      if (target.origin !== publicUrl) {
        const r = await httpRequest(target, '/twilio/incoming-call', {
          method: 'POST',
          headers: { ...headers, 'X-Twilio-Signature': hostSigned },
          body: form,
          timeoutMs,
        });
        add(
          '1',
          'webhook signed over the Host header, not PUBLIC_URL',
          '403',
          statusText(r),
          refusedIf(r.status !== 200),
        );
      }
    }
    const callsAfter = await callsTotal();
    if (callsBefore !== undefined && callsAfter !== undefined) {
      add(
        '1',
        'calls created by the unsigned webhooks',
        'GET /api/calls total +0',
        `+${callsAfter - callsBefore}`,
        refusedIf(callsAfter === callsBefore),
      );
    }
  });

  // ---- 2: stream starts -------------------------------------------------------------------------
  let realCallId: string | undefined;
  let otherCallId: string | undefined;
  if (!authToken) {
    add(
      '2',
      'signed upgrade + start without a prepared call, forged token, replay',
      'stream not authorised',
      'needs --auth-token',
      'SKIPPED',
    );
  } else {
    await guarded('2', 'stream starts', async () => {
      const signature = computeTwilioSignature(authToken, streamUrl(publicUrl), {});
      const wsUrl = `ws://${target.host}/streams`;
      const callsBefore = await callsTotal();
      const m0 = await metrics();

      /** A signed socket sends this start (and a few audio frames after it); how it ends. */
      const tryStart = async (callSid: string, params: Record<string, string>): Promise<string> => {
        const ws = await openWebSocket(wsUrl, { 'X-Twilio-Signature': signature }, timeoutMs);
        const closed = whenClosed(ws, timeoutMs);
        ws.send(JSON.stringify({ event: 'connected', protocol: 'Call', version: '1.0.0' }));
        ws.send(startMessage(callSid, params));
        for (let i = 0; i < 5; i++)
          if (ws.readyState === WebSocket.OPEN) ws.send(mediaMessage(`MZ${callSid.slice(2)}`, i));
        const result = await closed;
        if (result === 'still open') ws.terminate();
        return describeClose(result);
      };
      const refusedStart = (got: string): Verdict => refusedIf(got.includes('"stream not authorised"'));
      const expected = 'closed 1008 "stream not authorised"';

      /** The signed voice webhook of this CallSid, as Twilio sends it (the same bytes each time). */
      const webhookRaw = (callSid: string): Promise<HttpResult> => {
        const form = {
          CallSid: callSid,
          AccountSid: ACCOUNT_SID,
          From: '+15550100777',
          To: '+15550100000',
          CallStatus: 'ringing',
          Direction: 'inbound',
        };
        return httpRequest(target, '/twilio/incoming-call', {
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            'X-Twilio-Signature': computeTwilioSignature(
              authToken,
              webhookUrl(publicUrl, '/twilio/incoming-call'),
              form,
            ),
          },
          body: new URLSearchParams(form).toString(),
          timeoutMs,
        });
      };
      const webhook = async (callSid: string): Promise<Record<string, string>> => {
        const r = await webhookRaw(callSid);
        if (r.status !== 200)
          throw new Error(`signed webhook answered ${statusText(r)} (is --public-url the server's PUBLIC_URL?)`);
        const params = parseTwiml(r.body).parameters;
        if (!params.callId) throw new Error('the webhook TwiML has no stream parameters (call refused? at capacity?)');
        return params;
      };
      const statusCallback = async (callSid: string, status: string): Promise<void> => {
        const form = { CallSid: callSid, AccountSid: ACCOUNT_SID, CallStatus: status, CallDuration: '1' };
        await httpRequest(target, '/twilio/call-status', {
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            'X-Twilio-Signature': computeTwilioSignature(authToken, webhookUrl(publicUrl, '/twilio/call-status'), form),
          },
          body: new URLSearchParams(form).toString(),
          timeoutMs,
        });
      };

      // No call prepared at all.
      let got = await tryStart('CAattacker00000000000000000000001', {});
      add('2', 'signed upgrade (captured header), start naming no call', expected, got, refusedStart(got));
      got = await tryStart('CAattacker00000000000000000000002', { callId: 'made-up-call', token: forgedStreamToken() });
      add('2', 'start with a made-up callId and a forged token', expected, got, refusedStart(got));
      const m1 = await metrics();
      if (m0 && m1) {
        const d = delta(m0, m1, 'switchboard_frames_in_total');
        add('2', 'audio frames sent after those starts reaching the AI', 'frames_in +0', `+${d}`, refusedIf(d === 0));
      }

      // Two calls prepared by signed webhooks, as Twilio would (A gets a real stream, B never).
      const sidA = `CA${randomBytes(16).toString('hex')}`;
      const sidB = `CA${randomBytes(16).toString('hex')}`;
      const a = await webhook(sidA);
      const b = await webhook(sidB);
      realCallId = a.callId;
      otherCallId = b.callId;
      got = await tryStart(sidA, { ...a, token: '' });
      add('2', "start for call A (prepared) without A's token", expected, got, refusedStart(got));
      got = await tryStart(sidA, { ...a, token: forgedStreamToken() });
      add('2', 'start for call A with a forged token', expected, got, refusedStart(got));
      got = await tryStart(sidA, { ...a, token: b.token });
      add('2', "start for call A with call B's real token", expected, got, refusedStart(got));
      got = await tryStart(`CA${randomBytes(16).toString('hex')}`, a);
      add('2', "A's callId and token under another CallSid", expected, got, refusedStart(got));
      const m2 = await metrics();
      if (m1 && m2) {
        const d = delta(m1, m2, 'switchboard_frames_in_total');
        add(
          '2',
          'audio frames sent after the refused starts reaching the AI',
          'frames_in +0',
          `+${d}`,
          refusedIf(d === 0),
        );
      }

      // The real stream of call A attaches (control) ...
      const real = await openWebSocket(wsUrl, { 'X-Twilio-Signature': signature }, timeoutMs);
      const realClosed = whenClosed(real, 30_000);
      const streamSidA = `MZ${sidA.slice(2)}`;
      real.send(JSON.stringify({ event: 'connected', protocol: 'Call', version: '1.0.0' }));
      real.send(startMessage(sidA, a));
      for (let i = 0; i < 25; i++) {
        real.send(mediaMessage(streamSidA, i));
        await sleep(20);
      }
      const attached = real.readyState === WebSocket.OPEN;
      add(
        '2',
        "control: call A's real stream (its own start)",
        'attached (socket open)',
        attached ? 'attached' : 'closed',
        attached ? 'OK' : 'ERROR',
      );

      // ... and a replay of its very start on another socket (while A is live) does not.
      const m3 = await metrics();
      got = await tryStart(sidA, a);
      add('2', "replay of A's start (same token) while A is live", expected, got, refusedStart(got));
      const m4 = await metrics();
      if (m3 && m4) {
        const d = delta(m3, m4, 'switchboard_frames_in_total');
        add('2', 'audio frames of the replayed stream reaching the AI', 'frames_in +0', `+${d}`, refusedIf(d === 0));
      }

      // A captured webhook of call A (same body, same signature) replayed while A is live: no new call.
      const again = await webhookRaw(sidA);
      const againParams = parseTwiml(again.body).parameters;
      add(
        '2',
        "replay of A's captured signed webhook while A is live",
        'no new call (same callId) or refused',
        again.status === 200
          ? againParams.callId
            ? `callId ${againParams.callId === a.callId ? 'same as A' : 'NEW'}`
            : 'no <Stream>'
          : statusText(again),
        refusedIf(!againParams.callId || againParams.callId === a.callId),
      );

      // 9: ws 8's binary and size checks fire on a started stream (protocol errors; the call goes on).
      if (attached) {
        real.send(Buffer.alloc(160, 0xff), { binary: true });
        real.send(JSON.stringify({ event: 'media', streamSid: streamSidA, pad: 'x'.repeat(100 * 1024) }));
        await sleep(300);
        const m5 = await metrics();
        const d = delta(m4, m5, 'switchboard_protocol_errors_total');
        const open = real.readyState === WebSocket.OPEN;
        const ok = m4 && m5 ? d >= 2 && open : open;
        add(
          '9',
          'binary frame + 100 KiB message on a live stream',
          'counted as protocol errors (+2), call goes on',
          `${m4 && m5 ? `protocol_errors +${d}, ` : ''}${open ? 'socket open' : 'socket closed'}`,
          ok ? 'REFUSED' : 'ALLOWED!',
        );
      }

      // A hangs up (stop, close, status callback); B is reported over too.
      if (real.readyState === WebSocket.OPEN) {
        real.send(
          JSON.stringify({
            event: 'stop',
            sequenceNumber: '99',
            streamSid: streamSidA,
            stop: { accountSid: ACCOUNT_SID, callSid: sidA },
          }),
        );
        real.close();
      }
      await realClosed;
      await statusCallback(sidA, 'completed');
      await statusCallback(sidB, 'completed');
      if (bearer) {
        for (let i = 0; i < 50; i++) {
          const r = await get(`/api/calls/${encodeURIComponent(a.callId)}`, bearer);
          if (r.status === 200 && (JSON.parse(r.body) as { endedAt: string | null }).endedAt) break;
          await sleep(100);
        }
      } else await sleep(1000);
      got = await tryStart(sidA, a);
      add('2', "replay of A's start after A ended (token unexpired)", expected, got, refusedStart(got));

      const late = await webhookRaw(sidA);
      const lateTwiml = parseTwiml(late.body);
      add(
        '2',
        "replay of A's captured signed webhook after A ended",
        'no <Stream> (refusal TwiML)',
        late.status === 200
          ? lateTwiml.streamUrl
            ? 'a <Stream> with a fresh token'
            : `no <Stream> (${lateTwiml.verbs.join(',')})`
          : statusText(late),
        refusedIf(!lateTwiml.streamUrl),
      );

      const callsAfter = await callsTotal();
      if (callsBefore !== undefined && callsAfter !== undefined) {
        const d = callsAfter - callsBefore;
        add(
          '2',
          'calls created by all the refused starts',
          'total +2 (the 2 signed webhooks only)',
          `+${d}`,
          refusedIf(d === 2),
        );
      } else {
        add('2', 'calls created by the refused starts', 'total +2', 'needs --api-token', 'SKIPPED');
      }
    });
  }
  add(
    '2',
    'MAX_CONCURRENT_CALLS on every path that opens AI sessions',
    'refused beyond the cap',
    'test/integration/security-http.test.ts (busy TwiML beyond the cap; a stream needs a prepared call: security-streams.test.ts)',
    'COVERED',
  );

  // ---- 3: production configuration (in-process, on the config loader) --------------------------
  await guarded('3', 'production config', async () => {
    const secure: Record<string, string> = {
      NODE_ENV: 'production',
      API_TOKENS: 'attack-script-api-token-0001',
      PUBLIC_URL: 'https://calls.example.com',
      TWILIO_AUTH_TOKEN: '0123456789abcdef0123456789abcdef',
      OPENAI_API_KEY: 'sk-attack-script-not-a-key',
    };
    const attempt = (env: Record<string, string>): string[] => {
      try {
        loadConfig(env);
        return [];
      } catch (err) {
        if (err instanceof ConfigError) return err.problems;
        throw err;
      }
    };
    const base = attempt(secure);
    add(
      '3',
      'control: a secure production environment',
      'starts',
      base.length ? `refused: ${base.join('; ')}` : 'starts',
      base.length ? 'ERROR' : 'OK',
    );
    const cases: [string, Record<string, string | undefined>, string][] = [
      ['without API_TOKENS', { API_TOKENS: undefined }, 'API_TOKENS:'],
      ['without PUBLIC_URL', { PUBLIC_URL: undefined }, 'PUBLIC_URL:'],
      ['with PUBLIC_URL=http://…', { PUBLIC_URL: 'http://calls.example.com' }, 'PUBLIC_URL:'],
      ['with a 12-character TWILIO_AUTH_TOKEN', { TWILIO_AUTH_TOKEN: 'abc123abc123' }, 'TWILIO_AUTH_TOKEN:'],
      ['without TWILIO_AUTH_TOKEN', { TWILIO_AUTH_TOKEN: undefined }, 'TWILIO_AUTH_TOKEN:'],
      ['without OPENAI_API_KEY (local AI)', { OPENAI_API_KEY: undefined }, 'OPENAI_API_KEY:'],
    ];
    for (const [label, change, variable] of cases) {
      const env = { ...secure, ...change };
      for (const [k, v] of Object.entries(change)) if (v === undefined) delete env[k];
      const problems = attempt(env as Record<string, string>);
      const hit = problems.find((p) => p.startsWith(variable));
      add(
        '3',
        `NODE_ENV=production ${label}`,
        `refused: ${variable} …`,
        hit ? `refused: "${hit.slice(0, 70)}…"` : 'starts',
        refusedIf(Boolean(hit)),
      );
    }
    const all = attempt({ NODE_ENV: 'production' });
    add(
      '3',
      'NODE_ENV=production with nothing set',
      'one message per problem',
      `${all.length} messages: ${all.map((p) => p.split(':')[0]).join(', ')}`,
      refusedIf(all.length >= 3),
    );
    const warnings = (env: Record<string, string>): string[] => securityWarnings(loadConfig(env));
    const w1 = warnings({ ...secure, TWILIO_SIGNATURE_VALIDATION: 'false' });
    add(
      '3',
      'production with TWILIO_SIGNATURE_VALIDATION=false',
      'starts with a loud SECURITY warning',
      w1.find((w) => w.includes('TWILIO_SIGNATURE_VALIDATION'))?.slice(0, 60) ?? 'no warning',
      w1.some((w) => w.startsWith('SECURITY:')) ? 'OK' : 'ALLOWED!',
    );
    const w2 = warnings({ ...secure, OPENAI_REALTIME_URL: 'ws://realtime.example.com/v1' });
    add(
      '3',
      'production with a ws:// OPENAI_REALTIME_URL',
      'SECURITY warning',
      w2.find((w) => w.includes('ws://'))?.slice(0, 60) ?? 'no warning',
      w2.some((w) => w.includes('ws://')) ? 'OK' : 'ALLOWED!',
    );
    const w3 = warnings({ NODE_ENV: 'development' });
    add(
      '3',
      'development with nothing set',
      'one line: protections off',
      w3.find((w) => w.startsWith('protections off'))?.slice(0, 60) ?? 'no line',
      w3.some((w) => w.startsWith('protections off')) ? 'OK' : 'ALLOWED!',
    );
  });

  // ---- 4: tokens in URLs, signed recording URLs ------------------------------------------------
  await guarded('4', 'tokens in URLs', async () => {
    const token = apiToken ?? 'attack-script-not-a-real-token-000';
    const open = await get('/api/calls');
    add('4', 'GET /api/calls with no token', '401', statusText(open), refusedIf(open.status === 401));
    const wrong = await get('/api/calls', { authorization: 'Bearer attack-script-wrong-token-0000' });
    add('4', 'GET /api/calls with a wrong bearer token', '401', statusText(wrong), refusedIf(wrong.status === 401));
    const id = realCallId ?? 'no-such-call';
    for (const path of [
      '/api/calls',
      '/api/calls/export.csv',
      '/api/analytics',
      `/api/calls/${id}`,
      `/api/calls/${id}/recording`,
      '/metrics',
    ]) {
      const r = await get(`${path}?access_token=${encodeURIComponent(token)}`);
      add(
        '4',
        `GET ${path.replace(id, '<id>')}?access_token=<${apiToken ? 'token' : 'dummy'}>`,
        '401',
        statusText(r),
        refusedIf(r.status === 401),
      );
    }
    const upper = await get(`/API/calls?access_token=${encodeURIComponent(token)}`);
    add(
      '4',
      'GET /API/calls?access_token= (other case)',
      '404 (or 401)',
      statusText(upper),
      refusedIf(upper.status !== 200),
    );
    if (apiToken) {
      const sse = await openHeld(
        target,
        `/api/status?access_token=${encodeURIComponent(apiToken)}`,
        { accept: 'text/event-stream' },
        timeoutMs,
      );
      sse.close();
      add(
        '4',
        'control: ?access_token= on the SSE stream /api/status',
        '200 (EventSource cannot send headers)',
        statusText(sse),
        sse.status === 200 ? 'OK' : 'ERROR',
      );
    } else {
      add(
        '4',
        'the real token in ?access_token= (above: a dummy one); control on /api/status',
        '401; 200 on SSE',
        'needs --api-token',
        'SKIPPED',
      );
    }

    // Signed recording URLs: /api/calls/<id>/recording?expires=<unix s>&sig=<base64url HMAC>.
    const now = Math.floor(Date.now() / 1000);
    const fakeSig = randomBytes(32).toString('base64url');
    const forged = await get(`/api/calls/${id}/recording?expires=${now + 120}&sig=${fakeSig}`);
    add('4', 'recording URL with a forged signature', '401', statusText(forged), refusedIf(forged.status === 401));
    if (!bearer || !realCallId) {
      add(
        '4',
        'expired / extended / other-call recording URLs',
        '401',
        'needs --api-token and --auth-token (a real call)',
        'SKIPPED',
      );
      return;
    }
    const minted = await get(`/api/calls/${encodeURIComponent(realCallId)}/recording-url`, bearer);
    if (minted.status !== 200) {
      add('4', 'mint a signed URL for the real call (control)', '200', statusText(minted), 'ERROR');
      return;
    }
    const signed = (JSON.parse(minted.body) as { url: string }).url;
    const u = new URL(signed, target.origin);
    const sig = u.searchParams.get('sig') ?? '';
    const expires = Number(u.searchParams.get('expires'));
    const good = await get(`${u.pathname}${u.search}`);
    add(
      '4',
      'control: the real signed URL of call A, no token',
      '200',
      statusText(good),
      good.status === 200 ? 'OK' : 'ERROR',
    );
    const cases: [string, string][] = [
      ['its signature with the expiry moved back (expired)', `${u.pathname}?expires=${now - 30}&sig=${sig}`],
      ['its signature with the expiry extended by a day', `${u.pathname}?expires=${expires + 86_400}&sig=${sig}`],
      [
        "call A's URL on call B's recording",
        `/api/calls/${encodeURIComponent(otherCallId ?? 'other-call')}/recording?expires=${expires}&sig=${sig}`,
      ],
      ['its signature without the expiry', `${u.pathname}?sig=${sig}`],
      [
        "call A's signature on /api/calls/<A> (not the recording)",
        `/api/calls/${encodeURIComponent(realCallId)}?expires=${expires}&sig=${sig}`,
      ],
    ];
    for (const [label, path] of cases) {
      const r = await get(path);
      add('4', `recording URL: ${label}`, '401', statusText(r), refusedIf(r.status === 401));
    }
  });

  add(
    '5',
    'model overrides configured query params; error bodies relayed',
    'refused; summarised',
    'test/unit/agent-skills-http.test.ts',
    'COVERED',
  );
  add(
    '6',
    'SMS to any number, free text, unlimited',
    'templates, country codes, per-number/day limits',
    'test/unit/agent-skills-sms.test.ts, test/integration/agent-sms-limits.test.ts',
    'COVERED',
  );
  add(
    '7',
    'poisoned row, unbounded queue, close() drops rows',
    'row isolated, dead letter, bounded',
    'test/integration/dead-letter.test.ts, reliability-db-faults.test.ts',
    'COVERED',
  );
  await guarded('7', 'write queue visible', async () => {
    const m = await metrics();
    const health = await get('/health');
    const checks =
      health.status === 200 || health.status === 503
        ? (JSON.parse(health.body) as { checks?: Record<string, unknown> }).checks
        : undefined;
    const bound = m?.get('switchboard_db_write_queue_max_rows');
    const inHealth = Boolean(checks && 'writeQueue' in checks);
    add(
      '7',
      'write queue bound on /metrics and /health',
      'max_rows > 0; writeQueue check',
      `${bound === undefined ? (m ? 'no gauge' : 'metrics need --api-token') : `max_rows ${bound}`}; ${inHealth ? 'writeQueue in /health' : 'no writeQueue in /health'}`,
      inHealth && (bound === undefined ? !m : bound > 0) ? 'OK' : 'ALLOWED!',
    );
  });

  // ---- 9: low (before the floods use up the public budget) --------------------------------------
  await guarded('9', 'vendor names', async () => {
    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf']) {
      const r = await get(`/assets/vendor/${name}`);
      add('9', `GET /assets/vendor/${name}`, '404, not 500', statusText(r), refusedIf(r.status === 404));
    }
  });
  await guarded('9', 'asset paths', async () => {
    for (const path of [
      '/assets/../package.json',
      '/assets/%2e%2e/package.json',
      '/assets/..%2fpackage.json',
      '/assets/vendor/..%2f..%2fpackage.json',
      '/assets/%2e%2e/%2e%2e/.env',
      '/assets/.env',
    ]) {
      const r = await get(path);
      const leaked = r.status === 200 && /"name"\s*:\s*"switchboard"|API_TOKENS|TWILIO_AUTH_TOKEN/.test(r.body);
      add(
        '9',
        `GET ${path}`,
        '404/403/400, no file outside the public folder',
        statusText(r),
        refusedIf(!leaked && r.status !== 500),
      );
    }
  });
  await guarded('9', 'HSTS', async () => {
    const r = await get('/');
    const hsts = r.headers['strict-transport-security'];
    const https = publicUrl.startsWith('https://');
    const got = hsts ? `present (${String(hsts)})` : 'absent';
    add(
      '9',
      `HSTS on GET / over plain http (PUBLIC_URL ${https ? 'https' : 'http'})`,
      https ? 'present (the public URL is https)' : 'absent',
      got,
      Boolean(hsts) === https ? 'OK' : 'ALLOWED!',
    );
  });
  await guarded('9', '1 MB bodies', async () => {
    const body = Buffer.alloc(ONE_MEGABYTE, 'a');
    body.write('CallSid=');
    for (const path of [
      '/twilio/incoming-call',
      '/twilio/call-status',
      '/twilio/stream-ended',
      '/twilio/outbound-call',
    ]) {
      const r = await httpRequest(target, path, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': body.length },
        body,
        timeoutMs,
      });
      add(
        '9',
        `POST ${path} with a 1 MB body`,
        '413',
        statusText(r),
        refusedIf(r.status === 413 || (r.status >= 400 && r.status !== 500)),
      );
    }
    const chunked = await httpRequest(target, '/twilio/incoming-call', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'transfer-encoding': 'chunked' },
      body,
      timeoutMs,
    });
    add(
      '9',
      'POST /twilio/incoming-call, 1 MB chunked (no Content-Length)',
      '413',
      statusText(chunked),
      refusedIf(chunked.status === 413 || (chunked.status >= 400 && chunked.status !== 500)),
    );
    if (bearer) {
      const json = Buffer.from(JSON.stringify({ notes: 'n'.repeat(ONE_MEGABYTE) }));
      for (const path of [
        `/api/calls/${encodeURIComponent(realCallId ?? 'no-such-call')}/notes`,
        '/api/calls/outbound',
      ]) {
        const r = await httpRequest(target, path, {
          method: 'POST',
          headers: { ...bearer, 'content-type': 'application/json', 'content-length': json.length },
          body: json,
          timeoutMs,
        });
        add(
          '9',
          `POST ${path.replace(realCallId ?? '\u0000', '<id>')} with a 1 MB JSON body (with the token)`,
          '413',
          statusText(r),
          refusedIf(r.status === 413),
        );
      }
    }
  });
  add(
    '9',
    'files world-readable; LOG_PII unused; raw Twilio/end_call text logged',
    '0600/0700; PII masked',
    'test/integration/file-permissions.test.ts, pii-logging.test.ts',
    'COVERED',
  );

  // ---- 8: load (last: the floods use up this address's budgets) ---------------------------------
  await guarded('8', 'SSE caps', async () => {
    if (!bearer) {
      const r = await get('/api/status');
      if (r.status === 401) {
        add('8', 'SSE connections over the cap', '429', 'needs --api-token', 'SKIPPED');
        return;
      }
    }
    const held: HeldResponse[] = [];
    let refusedAt = 0;
    let last = 0;
    try {
      for (let i = 1; i <= MAX_SSE_ATTEMPTS; i++) {
        const r = await openHeld(target, '/api/status', { accept: 'text/event-stream', ...(bearer ?? {}) }, timeoutMs);
        last = r.status;
        if (r.status === 200) {
          held.push(r);
          continue;
        }
        r.close();
        if (r.status === 429) refusedAt = i;
        break;
      }
      const m = await metrics();
      const count = m?.get('switchboard_sse_clients');
      add(
        '8',
        `open SSE streams until refused (≤ ${MAX_SSE_ATTEMPTS})`,
        '429 at the per-token/total cap; count in /metrics',
        refusedAt
          ? `429 at #${refusedAt}${count === undefined ? '' : `, switchboard_sse_clients ${count}`}`
          : `no 429 (last ${last})`,
        refusedIf(refusedAt > 0),
      );
    } finally {
      for (const h of held) h.close();
    }
  });

  if (authToken) {
    await guarded('8', 'idle signed sockets', async () => {
      const headers = { 'X-Twilio-Signature': computeTwilioSignature(authToken, streamUrl(publicUrl), {}) };
      const sockets: WebSocket[] = [];
      const closedAt: (number | undefined)[] = [];
      let refusedUpgrades = 0;
      const t0 = Date.now();
      try {
        for (let i = 0; i < IDLE_SOCKETS; i++) {
          try {
            const ws = await openWebSocket(`ws://${target.host}/streams`, headers, timeoutMs);
            const index = sockets.push(ws) - 1;
            ws.once('close', () => (closedAt[index] = Date.now() - t0));
          } catch {
            refusedUpgrades++;
          }
        }
        await sleep(100);
        const waiting = sockets.filter((ws) => ws.readyState === WebSocket.OPEN).length;
        const early = sockets.map((_, i) => i).filter((i) => closedAt[i] !== undefined);
        const oldestFirst = early.every((i, n) => i === n);
        const deadline = Date.now() + IDLE_STREAM_WAIT_MS;
        while (sockets.some((ws) => ws.readyState !== WebSocket.CLOSED) && Date.now() < deadline) await sleep(100);
        const stillOpen = sockets.filter((ws) => ws.readyState !== WebSocket.CLOSED).length;
        const lastClose = Math.max(0, ...closedAt.filter((t): t is number => t !== undefined));
        add(
          '8',
          `${IDLE_SOCKETS} signed sockets that never send start, opened at once (captured handshake)`,
          `at most ${MAX_WAITING_STARTS} wait at once (oldest closed first), all closed within seconds`,
          `${sockets.length} accepted${refusedUpgrades ? `, ${refusedUpgrades} refused` : ''}; ` +
            `${waiting} waiting after the last, ${early.length} closed early${early.length && oldestFirst ? ' (oldest first)' : ''}; ` +
            (stillOpen
              ? `${stillOpen} still open after ${IDLE_STREAM_WAIT_MS / 1000} s`
              : `all closed by ${(lastClose / 1000).toFixed(1)} s`),
          refusedIf(waiting <= MAX_WAITING_STARTS && stillOpen === 0),
        );
      } finally {
        for (const ws of sockets) ws.terminate();
      }
    });
  }

  const floodUntil429 = async (
    label: string,
    send: () => Promise<{ status: number; headers?: Record<string, unknown> }>,
    hint: string,
  ): Promise<void> => {
    let first429 = 0;
    let statuses = new Map<number, number>();
    let policy: string | undefined;
    for (let i = 1; i <= flood; i++) {
      const r = await send();
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      policy ??= r.headers?.['ratelimit-policy'] as string | undefined;
      if (r.status === 429) {
        first429 = i;
        break;
      }
    }
    const seen = [...statuses].map(([s, n]) => `${n}×${s || 'none'}`).join(' ');
    statuses = new Map();
    if (first429) {
      add('8', label, `429 within ${flood}`, `429 at #${first429} (${seen})`, 'REFUSED');
    } else {
      const limit = policy ? Number(/^(\d+)/.exec(policy)?.[1]) : undefined;
      if (limit && limit > flood)
        add('8', label, `429 within ${flood}`, `none: limit ${policy} is above the cap (${hint})`, 'NOT REACHED');
      else if (!policy && hint.includes('no headers'))
        add('8', label, `429 within ${flood}`, `none in ${flood} (${seen}; ${hint})`, 'NOT REACHED');
      else add('8', label, `429 within ${flood}`, `none in ${flood} (${seen})`, 'ALLOWED!');
    }
  };

  await guarded('8', 'flood /health', () =>
    floodUntil429(
      `flood GET /health, a new X-Forwarded-For each time (${flood} max)`,
      () => get('/health', { 'x-forwarded-for': randomIp() }),
      'PUBLIC_RATE_LIMIT_PER_MIN',
    ),
  );
  await guarded('8', 'flood webhook', () =>
    floodUntil429(
      `flood unsigned POST /twilio/incoming-call (${flood} max)`,
      () =>
        httpRequest(target, '/twilio/incoming-call', {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: 'CallSid=CAflood',
          timeoutMs,
        }),
      'WEBHOOK_RATE_LIMIT_PER_MIN',
    ),
  );
  await guarded('8', 'flood /metrics', () =>
    floodUntil429(`flood GET /metrics without a token (${flood} max)`, () => get('/metrics'), 'API_RATE_LIMIT_PER_MIN'),
  );
  await guarded('8', 'flood upgrades', () =>
    floodUntil429(
      `flood unsigned upgrades GET /streams, a new X-Forwarded-For each time (${flood} max)`,
      () => rawExchange(target, upgradeRequest(target, '/streams', { 'X-Forwarded-For': randomIp() }), timeoutMs),
      'upgrades carry no headers: lower WEBHOOK_RATE_LIMIT_PER_MIN below the cap to see it',
    ),
  );
  await guarded('8', 'floods of the later routes', () => supervisionFloods(supervision, floodUntil429));
  await guarded('8', 'slowloris', async () => {
    const s = await slow;
    add(
      '8',
      'slowloris: headers dribbled, a line every 500 ms',
      `closed by the server within ${Math.round(slowWaitMs / 1000)} s`,
      s.closedByServer
        ? `closed after ${(s.ms / 1000).toFixed(1)} s${s.status ? ` (${s.status})` : ''}`
        : `still open after ${(s.ms / 1000).toFixed(1)} s`,
      refusedIf(s.closedByServer),
    );
  });

  if (idleStream) {
    await guarded('8', 'idle signed stream', async () => {
      const { closed, ms } = await idleStream;
      add(
        '8',
        'signed stream socket that never sends start (captured handshake)',
        'closed by the server: 1008 "no start message" (3 s)',
        closed === 'still open'
          ? `still open after ${(ms / 1000).toFixed(1)} s`
          : `${describeClose(closed)} after ${(ms / 1000).toFixed(1)} s`,
        refusedIf(closed !== 'still open'),
      );
    });
  }
  await guarded('8', 'slow body', async () => {
    const s = await slowPost;
    add(
      '8',
      'slow body: POST /twilio/call-status, 1 byte every 500 ms',
      `closed by the server within ${Math.round(slowWaitMs / 1000)} s`,
      s.closedByServer
        ? `closed after ${(s.ms / 1000).toFixed(1)} s${s.status ? ` (${s.status})` : ''}`
        : `still open after ${(s.ms / 1000).toFixed(1)} s`,
      refusedIf(s.closedByServer),
    );
  });

  const order = (r: AttackRow): number => Number(r.item);
  const sorted = rows
    .map((r, i) => ({ r, i }))
    .sort((x, y) => order(x.r) - order(y.r) || x.i - y.i)
    .map((x) => x.r);
  return {
    target: target.origin,
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    rows: sorted,
    allowed: sorted.filter((r) => r.verdict === 'ALLOWED!'),
    errors: sorted.filter((r) => r.verdict === 'ERROR'),
  };
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** The rows as a Markdown table (pastes into docs/security.md as is). */
export function formatTable(rows: AttackRow[]): string {
  const header = ['#', 'finding', 'attempt', 'expected', 'got', 'verdict'];
  const body = rows.map((r) => [r.item, r.finding, r.attempt, r.expected, r.got, r.verdict].map(cell));
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  let lastFinding = '';
  const printed = body.map((row) => {
    // The finding's name once per group.
    const copy = [...row];
    if (copy[1] === lastFinding) copy[1] = '';
    else lastFinding = copy[1];
    return line(copy);
  });
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...printed].join('\n');
}

export function summary(report: AttackReport): string {
  const counts = new Map<Verdict, number>();
  for (const r of report.rows) counts.set(r.verdict, (counts.get(r.verdict) ?? 0) + 1);
  const parts = [...counts].map(([v, n]) => `${n} ${v}`).join(', ');
  const head = `${report.rows.length} checks against ${report.target} in ${(report.durationMs / 1000).toFixed(1)} s: ${parts}`;
  if (report.allowed.length === 0) return `${head}\nNothing that should be refused was allowed.`;
  return `${head}\nALLOWED (should have been refused):\n${report.allowed.map((r) => `  - [${r.item}] ${r.attempt}: got ${r.got}`).join('\n')}`;
}

function parseArgs(argv: string[]): AttackOptions {
  const options: AttackOptions = { url: '' };
  const value = (i: number, flag: string): string => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new AttackUsageError(`${flag} needs a value`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    switch (flag) {
      case '--url':
        options.url = value(i++, flag);
        break;
      case '--public-url':
        options.publicUrl = value(i++, flag);
        break;
      case '--auth-token':
        options.authToken = value(i++, flag);
        break;
      case '--api-token':
        options.apiToken = value(i++, flag);
        break;
      case '--read-only-token':
        options.readOnlyToken = value(i++, flag);
        break;
      case '--flood': {
        const n = Number(value(i++, flag));
        if (!Number.isInteger(n) || n < 1 || n > MAX_FLOOD)
          throw new AttackUsageError(`--flood must be 1..${MAX_FLOOD}`);
        options.flood = n;
        break;
      }
      case '--slow-wait-ms': {
        const n = Number(value(i++, flag));
        if (!Number.isInteger(n) || n < 1000 || n > 120_000)
          throw new AttackUsageError('--slow-wait-ms must be 1000..120000');
        options.slowWaitMs = n;
        break;
      }
      case '--help':
      case '-h':
        throw new AttackUsageError(
          'usage: npm run attack -- --url http://127.0.0.1:3000 [--auth-token <TWILIO_AUTH_TOKEN>] [--api-token <API token>] [--read-only-token <read-only API token>] ' +
            '[--public-url <server PUBLIC_URL>] [--flood <1..300>] [--slow-wait-ms <ms>]',
        );
      default:
        throw new AttackUsageError(`unknown option ${flag} (try --help)`);
    }
  }
  if (!options.url) throw new AttackUsageError('--url is required, e.g. --url http://127.0.0.1:3000');
  return options;
}

async function main(): Promise<void> {
  let options: AttackOptions;
  try {
    options = parseArgs(process.argv.slice(2));
    const report = await runAttack({ ...options, log: (line) => process.stderr.write(`${line}\n`) });
    process.stdout.write(`${formatTable(report.rows)}\n\n${summary(report)}\n`);
    process.exitCode = report.allowed.length > 0 ? 1 : report.errors.length > 0 ? 2 : 0;
  } catch (err) {
    if (err instanceof AttackUsageError) {
      process.stderr.write(`${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 2;
  });
}
