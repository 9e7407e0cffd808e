/**
 * http_lookup: asks the customer's backend for data (an order status, an account balance) at an
 * endpoint named in the configuration. No SSRF: the model picks an endpoint by name and supplies
 * only the query values (GET) or the JSON body (POST); the URL, method and headers come from the
 * configuration, redirects are refused, the answer must be JSON within the size limit, and the
 * request is aborted at the endpoint's timeout.
 */
import { defineSkill, SkillError } from './types';
import type { HttpEndpoint } from '../profiles';

type Scalar = string | number | boolean;

export const httpLookupSkill = defineSkill<{ endpoint: string; params?: Record<string, Scalar> }>({
  name: 'http_lookup',
  description: (settings) => {
    const list = Object.entries(settings.httpEndpoints).map(([name, e]) =>
      e.description ? `${name}: ${e.description}` : name,
    );
    return `Look up information in the company's systems. Endpoints: ${list.join('; ') || 'none configured'}.`;
  },
  parameters: (settings) => {
    const names = Object.keys(settings.httpEndpoints);
    return {
      type: 'object',
      properties: {
        endpoint: { type: 'string', enum: names.length ? names : ['none'], description: 'Which lookup to run' },
        params: {
          type: 'object',
          description: 'Values for the lookup, e.g. {"orderId": "A123"}',
          maxProperties: 20,
          additionalProperties: { type: ['string', 'number', 'boolean'], maxLength: 500 },
        },
      },
      required: ['endpoint'],
      additionalProperties: false,
    };
  },
  // The handler enforces the endpoint's own timeout; the runner allows a little more.
  timeoutMs: (args, settings) => (settings.httpEndpoints[args.endpoint]?.timeoutMs ?? settings.toolTimeoutMs) + 500,
  checkConfig: (settings) =>
    Object.keys(settings.httpEndpoints).length === 0 ? 'needs httpEndpoints in AGENT_PROFILES_FILE' : undefined,
  async handler(args, ctx) {
    const endpoint = ctx.services.settings.httpEndpoints[args.endpoint];
    if (!endpoint) throw new SkillError('unknown_endpoint', `no endpoint named ${args.endpoint}`);
    return { ok: true, ...(await fetchJson(endpoint, args.params ?? {}, ctx.signal)) };
  },
});

export async function fetchJson(
  endpoint: HttpEndpoint,
  params: Record<string, Scalar>,
  signal: AbortSignal,
): Promise<{ status: number; data: unknown }> {
  const url = new URL(endpoint.url);
  const init: RequestInit = {
    method: endpoint.method,
    headers: { accept: 'application/json', ...endpoint.headers },
    redirect: 'error',
    signal: AbortSignal.any([signal, AbortSignal.timeout(endpoint.timeoutMs)]),
  };
  if (endpoint.method === 'GET') {
    for (const [key, value] of Object.entries(params)) url.searchParams.set(key, String(value));
  } else {
    init.body = JSON.stringify(params);
    (init.headers as Record<string, string>)['content-type'] = 'application/json';
  }
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch (err) {
    throw requestError(err, endpoint);
  }
  try {
    const type = res.headers.get('content-type') ?? '';
    if (!/^application\/([\w.+-]+\+)?json\b/i.test(type)) {
      throw new SkillError('bad_response', `the endpoint answered ${type || 'no content type'}, not JSON`);
    }
    const declared = Number(res.headers.get('content-length'));
    if (Number.isFinite(declared) && declared > endpoint.maxResponseBytes) {
      throw new SkillError('response_too_large', `the answer is larger than ${endpoint.maxResponseBytes} bytes`);
    }
    const text = await readLimited(res, endpoint.maxResponseBytes);
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw new SkillError('bad_response', 'the endpoint answered invalid JSON');
    }
    if (!res.ok) return { status: res.status, data: { error: `HTTP ${res.status}`, body: data } };
    return { status: res.status, data };
  } catch (err) {
    void res.body?.cancel().catch(() => undefined);
    if (err instanceof SkillError) throw err;
    throw requestError(err, endpoint);
  }
}

async function readLimited(res: Response, maxBytes: number): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw new SkillError('response_too_large', `the answer is larger than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function requestError(err: unknown, endpoint: HttpEndpoint): SkillError {
  const e = err as Error;
  if (e.name === 'TimeoutError' || e.name === 'AbortError') {
    return new SkillError('timeout', `the lookup did not answer within ${endpoint.timeoutMs} ms`);
  }
  return new SkillError('request_failed', 'the lookup service could not be reached');
}
