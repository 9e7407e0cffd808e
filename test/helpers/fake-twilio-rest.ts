/**
 * A local fake of the parts of Twilio's REST API Switchboard uses, over real HTTP: create a call,
 * update a call, send a message. It checks HTTP Basic auth (account SID + auth token), parses the
 * form body like Twilio, records every request for assertions, and answers with Twilio-shaped JSON
 * (or a Twilio error body when told to fail).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';

export const FAKE_ACCOUNT_SID = `AC${'0123456789abcdef'.repeat(2)}`;
export const FAKE_AUTH_TOKEN = 'fake-twilio-auth-token-0123456789';

export interface FakeTwilioRequest {
  method: string;
  path: string;
  /** Account SID from the Basic auth header (null when missing). */
  username: string | null;
  authorized: boolean;
  /** Form parameters; repeated keys (StatusCallbackEvent) become arrays. */
  params: Record<string, string | string[]>;
}

export interface FakeTwilioRest {
  readonly baseUrl: string;
  readonly requests: FakeTwilioRequest[];
  /** Answer the next request with this Twilio error. */
  failNext(status: number, code: number, message: string): void;
  /** Called for each created call (e.g. to have the simulator answer it). */
  onCallCreated?: (call: { sid: string; params: Record<string, string | string[]> }) => void;
  close(): Promise<void>;
}

function sid(prefix: string): string {
  return prefix + randomBytes(16).toString('hex');
}

function parseForm(body: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [key, value] of new URLSearchParams(body)) {
    const prev = out[key];
    if (prev === undefined) out[key] = value;
    else out[key] = Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return out;
}

export async function startFakeTwilioRest(
  accountSid = FAKE_ACCOUNT_SID,
  authToken = FAKE_AUTH_TOKEN,
): Promise<FakeTwilioRest> {
  const requests: FakeTwilioRequest[] = [];
  let failure: { status: number; code: number; message: string } | undefined;
  const expectedAuth = `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`;

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const auth = req.headers.authorization ?? '';
      const username = auth.startsWith('Basic ')
        ? Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':')[0]
        : null;
      const path = (req.url ?? '').split('?')[0];
      const params = parseForm(Buffer.concat(chunks).toString('utf8'));
      const record: FakeTwilioRequest = {
        method: req.method ?? '',
        path,
        username,
        authorized: auth === expectedAuth,
        params,
      };
      requests.push(record);
      const send = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (!record.authorized) {
        send(401, {
          code: 20003,
          message: 'Authenticate',
          more_info: 'https://www.twilio.com/docs/errors/20003',
          status: 401,
        });
        return;
      }
      if (failure) {
        const f = failure;
        failure = undefined;
        send(f.status, { code: f.code, message: f.message, more_info: '', status: f.status });
        return;
      }
      const base = `/2010-04-01/Accounts/${accountSid}`;
      const now = new Date().toUTCString();
      if (req.method === 'POST' && path === `${base}/Calls.json`) {
        const call = { sid: sid('CA'), params };
        send(201, {
          sid: call.sid,
          account_sid: accountSid,
          to: params.To,
          from: params.From,
          status: 'queued',
          direction: 'outbound-api',
          date_created: now,
          uri: `${base}/Calls/${call.sid}.json`,
        });
        fake.onCallCreated?.(call);
        return;
      }
      const update = new RegExp(`^${base}/Calls/(CA[0-9a-f]{32})\\.json$`).exec(path);
      if (req.method === 'POST' && update) {
        send(200, {
          sid: update[1],
          account_sid: accountSid,
          status: params.Status === 'completed' ? 'completed' : 'in-progress',
          date_updated: now,
        });
        return;
      }
      if (req.method === 'POST' && path === `${base}/Messages.json`) {
        send(201, {
          sid: sid('SM'),
          account_sid: accountSid,
          to: params.To,
          from: params.From,
          body: params.Body,
          status: 'queued',
          date_created: now,
        });
        return;
      }
      send(404, { code: 20404, message: 'The requested resource was not found', more_info: '', status: 404 });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  const fake: FakeTwilioRest = {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    failNext(status, code, message) {
      failure = { status, code, message };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  return fake;
}
