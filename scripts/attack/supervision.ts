/**
 * `npm run attack`, finding 10: the routes added after issue 10 — the supervision routes (listen,
 * whisper, take-over, alert rules, webhooks) and the other new surfaces (/ws, /voice-gateway,
 * /twilio/sms, /telnyx/*). Each is tried with a missing and a forged token or signature, with a
 * read-only token acting (--read-only-token), under other spellings of its path, with a 1 MB body,
 * and flooded. No live call is needed: every refusal happens before the call is looked up (a valid
 * token on an unknown call gets 404, which the script also checks, so "refused" is not "not found").
 */
import { randomBytes } from 'node:crypto';
import { httpRequest, rawExchange, upgradeRequest, type HttpResult } from './net';

type Verdict = 'REFUSED' | 'OK' | 'ALLOWED!' | 'NOT REACHED' | 'SKIPPED' | 'COVERED' | 'ERROR';

export interface SupervisionAttackContext {
  target: URL;
  timeoutMs: number;
  /** A full-access (bare or admin) API token, if given. */
  apiToken?: string;
  /** A read-only API token (`read-only:<name>:<token>` in API_TOKENS), if given. */
  readOnlyToken?: string;
  /** Requests per flood (≤ 300). */
  flood: number;
  add: (item: string, attempt: string, expected: string, got: string, verdict: Verdict) => void;
}

const ITEM = '10';
const CALL = 'cm00000000000000attack00';
const MB = 'x'.repeat(1024 * 1024);
const BIG = '413 (408 if the request timeout ends the upload first)';
/** A 1 MB body is refused: 413 at the limit, or 408 / the connection cut by the server's request timeout. */
const bigRefused = (r: { status: number; error?: string }): boolean =>
  r.status === 413 || r.status === 408 || (r.status === 0 && /ECONNRESET|EPIPE|socket hang up/.test(r.error ?? ''));

/** The supervisor and admin actions: method, path, JSON body. */
const ACTIONS: { method: string; path: string; body?: string }[] = [
  { method: 'GET', path: `/api/calls/${CALL}/listen` },
  { method: 'POST', path: `/api/calls/${CALL}/whisper`, body: '{"text":"offer the discount"}' },
  { method: 'POST', path: `/api/calls/${CALL}/take-over`, body: '{"action":"end"}' },
  { method: 'PUT', path: '/api/alert-rules', body: '{"rules":[]}' },
  { method: 'POST', path: '/api/webhooks', body: '{"url":"http://127.0.0.1:9/x","events":["call.ended"]}' },
  { method: 'GET', path: '/api/webhooks' },
];

export async function supervisionChecks(ctx: SupervisionAttackContext): Promise<void> {
  const { target, timeoutMs, add } = ctx;
  const send = (method: string, path: string, token?: string, body?: string): Promise<HttpResult> =>
    httpRequest(target, path, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body,
      timeoutMs: Math.max(timeoutMs, 10_000),
    });
  const status = (r: { status: number; error?: string }): string =>
    r.status ? String(r.status) : `no answer (${r.error})`;
  const refused = (ok: boolean): Verdict => (ok ? 'REFUSED' : 'ALLOWED!');

  // Missing and forged tokens: 401 before anything else.
  const forged = randomBytes(24).toString('base64url');
  for (const a of ACTIONS) {
    const none = await send(a.method, a.path, undefined, a.body);
    add(ITEM, `${a.method} ${a.path} without a token`, '401', status(none), refused(none.status === 401));
    const bad = await send(a.method, a.path, forged, a.body);
    add(ITEM, `${a.method} ${a.path} with a forged token`, '401', status(bad), refused(bad.status === 401));
  }
  const inQuery = await send('GET', `/api/calls/${CALL}/listen?access_token=${forged}`);
  add(
    ITEM,
    'GET listen with a token in the query',
    '401 (tokens in URLs are not read)',
    status(inQuery),
    refused(inQuery.status === 401),
  );

  // A read-only token watches but does not act.
  if (ctx.readOnlyToken) {
    for (const a of ACTIONS) {
      const r = await send(a.method, a.path, ctx.readOnlyToken, a.body);
      add(ITEM, `${a.method} ${a.path} with a read-only token`, '403', status(r), refused(r.status === 403));
    }
    const watch = await send('GET', '/api/alert-rules', ctx.readOnlyToken);
    add(
      ITEM,
      'GET /api/alert-rules with a read-only token',
      '200 (watching is allowed)',
      status(watch),
      watch.status === 200 ? 'OK' : 'ERROR',
    );
    for (const path of ['/ws', '/voice-gateway']) {
      const r = await rawExchange(
        target,
        upgradeRequest(target, path, { authorization: `Bearer ${ctx.readOnlyToken}` }),
        timeoutMs,
      );
      add(ITEM, `upgrade ${path} with a read-only token`, '403, never 101', status(r), refused(r.status === 403));
    }
  } else {
    add(ITEM, 'supervisor actions with a read-only token', '403', 'needs --read-only-token', 'SKIPPED');
  }

  if (ctx.apiToken) {
    // A valid token reaches the route: an unknown call is 404 (so the refusals above are the guard's).
    const unknown = await send('POST', `/api/calls/${CALL}/whisper`, ctx.apiToken, '{"text":"hello"}');
    add(
      ITEM,
      'POST whisper on an unknown call with a full token',
      '404',
      status(unknown),
      unknown.status === 404 ? 'OK' : 'ERROR',
    );
    // Other spellings of the paths: never a way around the role guard.
    const spellings = [
      `/api/calls/${CALL}/Whisper`,
      `/api/calls/${CALL}/whisper/`,
      `/API/calls/${CALL}/whisper`,
      `/api/calls/${CALL}/%77hisper`,
      `//api/calls/${CALL}/whisper`,
      `/api/calls/${CALL}/./whisper`,
      `/api/calls/${CALL}/TAKE-OVER`,
      `/api/calls/${CALL}/take-over/`,
      '/api/Webhooks',
      '/api/webhooks/',
      '/api/ALERT-RULES',
    ];
    const token = ctx.readOnlyToken;
    for (const path of spellings) {
      const r = await send(
        path.includes('webhooks') ? 'GET' : path.includes('ALERT') ? 'PUT' : 'POST',
        path,
        token,
        '{"text":"x","action":"end","rules":[]}',
      );
      const ok = r.status >= 400;
      add(
        ITEM,
        `${path} ${token ? 'with a read-only token' : 'without a token'}`,
        '401/403/404 (or 400), never 2xx',
        status(r),
        refused(ok),
      );
    }
    // 1 MB bodies: refused unread beyond the route's limit.
    for (const path of [`/api/calls/${CALL}/whisper`, `/api/calls/${CALL}/take-over`, '/api/webhooks']) {
      const r = await send('POST', path, ctx.apiToken, `{"text":"${MB}"}`);
      add(ITEM, `1 MB JSON body to POST ${path} (full token)`, BIG, status(r), refused(bigRefused(r)));
    }
    const rules = await send('PUT', '/api/alert-rules', ctx.apiToken, `{"rules":"${MB}"}`);
    add(ITEM, '1 MB JSON body to PUT /api/alert-rules (full token)', BIG, status(rules), refused(bigRefused(rules)));
  } else {
    add(ITEM, 'other spellings and 1 MB bodies with a valid token', '401/403/404; 413', 'needs --api-token', 'SKIPPED');
  }

  // The app WebSockets: no token, a forged one, other spellings.
  for (const path of ['/ws', '/voice-gateway']) {
    const none = await rawExchange(target, upgradeRequest(target, path), timeoutMs);
    add(ITEM, `upgrade ${path} without a token`, '401, never 101', status(none), refused(none.status === 401));
    const bad = await rawExchange(
      target,
      upgradeRequest(target, path, { authorization: `Bearer ${forged}` }),
      timeoutMs,
    );
    add(ITEM, `upgrade ${path} with a forged token`, '401, never 101', status(bad), refused(bad.status === 401));
  }
  for (const path of ['/WS', '/ws/', '/%77s', '/Voice-Gateway', '/voice-gateway/', '//voice-gateway']) {
    const r = await rawExchange(
      target,
      upgradeRequest(target, path, ctx.apiToken ? { authorization: `Bearer ${ctx.apiToken}` } : {}),
      timeoutMs,
    );
    add(
      ITEM,
      `upgrade ${path}${ctx.apiToken ? ' (valid token)' : ''}`,
      '404, never 101',
      status(r),
      refused(r.status === 404),
    );
  }

  // Provider webhooks: SMS (Twilio-signed) and Telnyx (Ed25519-signed).
  const form = 'MessageSid=SM00000000000000000000000000000000&From=%2B15550001111&To=%2B15550002222&Body=hi';
  const post = (path: string, body: string, type: string, headers: Record<string, string> = {}): Promise<HttpResult> =>
    httpRequest(target, path, {
      method: 'POST',
      headers: { 'content-type': type, ...headers },
      body,
      timeoutMs: Math.max(timeoutMs, 10_000),
    });
  const urlencoded = 'application/x-www-form-urlencoded';
  const sms = await post('/twilio/sms', form, urlencoded);
  add(ITEM, 'unsigned POST /twilio/sms', '403', status(sms), refused(sms.status === 403));
  const smsForged = await post('/twilio/sms', form, urlencoded, {
    'x-twilio-signature': randomBytes(20).toString('base64'),
  });
  add(ITEM, 'POST /twilio/sms with a forged signature', '403', status(smsForged), refused(smsForged.status === 403));
  const telnyxBody = JSON.stringify({ data: { event_type: 'call.initiated', payload: { call_control_id: 'v3:x' } } });
  const json = 'application/json';
  for (const path of ['/telnyx/voice', '/telnyx/status', '/telnyx/stream-ended']) {
    const r = await post(path, telnyxBody, json);
    add(ITEM, `unsigned POST ${path}`, '403', status(r), refused(r.status === 403));
  }
  const telnyxForged = await post('/telnyx/voice', telnyxBody, json, {
    'telnyx-signature-ed25519': randomBytes(64).toString('base64'),
    'telnyx-timestamp': String(Math.floor(Date.now() / 1000)),
  });
  add(
    ITEM,
    'POST /telnyx/voice with a forged Ed25519 signature',
    '403',
    status(telnyxForged),
    refused(telnyxForged.status === 403),
  );
  for (const path of ['/twilio/SMS', '/twilio/sms/', '/Telnyx/voice', '/telnyx/voice/', '/telnyx/%76oice']) {
    const r = await post(
      path,
      path.includes('sms') || path.includes('SMS') ? form : telnyxBody,
      path.toLowerCase().includes('sms') ? urlencoded : json,
    );
    add(ITEM, `unsigned POST ${path}`, '403/404, never 2xx', status(r), refused(r.status === 403 || r.status === 404));
  }
  const smsBig = await post('/twilio/sms', `Body=${MB}`, urlencoded);
  add(ITEM, '1 MB body to POST /twilio/sms', BIG, status(smsBig), refused(bigRefused(smsBig)));
  const telnyxBig = await post('/telnyx/voice', `{"data":"${MB}"}`, json);
  add(ITEM, '1 MB body to POST /telnyx/voice', BIG, status(telnyxBig), refused(bigRefused(telnyxBig)));
}

/**
 * Floods of the new routes (run with the other floods, last): each must meet a 429. The rate-limit
 * budgets are per client address and per limiter, so a route that shares a limiter with an earlier
 * flood may answer 429 from its first request: that still proves the limiter covers it.
 */
export async function supervisionFloods(
  ctx: SupervisionAttackContext,
  floodUntil429: (
    label: string,
    send: () => Promise<{ status: number; headers?: Record<string, unknown> }>,
    hint: string,
  ) => Promise<void>,
): Promise<void> {
  const { target, timeoutMs, flood } = ctx;
  await floodUntil429(
    `flood POST /api/calls/:id/whisper without a token (${flood} max)`,
    () =>
      httpRequest(target, `/api/calls/${CALL}/whisper`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"text":"x"}',
        timeoutMs,
      }),
    'API_RATE_LIMIT_PER_MIN',
  );
  await floodUntil429(
    `flood unsigned POST /twilio/sms (${flood} max)`,
    () =>
      httpRequest(target, '/twilio/sms', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'Body=x',
        timeoutMs,
      }),
    'WEBHOOK_RATE_LIMIT_PER_MIN',
  );
  await floodUntil429(
    `flood unsigned POST /telnyx/voice (${flood} max)`,
    () =>
      httpRequest(target, '/telnyx/voice', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
        timeoutMs,
      }),
    'WEBHOOK_RATE_LIMIT_PER_MIN',
  );
  await floodUntil429(
    `flood upgrades GET /ws without a token (${flood} max)`,
    () => rawExchange(target, upgradeRequest(target, '/ws'), timeoutMs),
    'upgrades carry no headers: lower WEBHOOK_RATE_LIMIT_PER_MIN below the cap to see it',
  );
}
