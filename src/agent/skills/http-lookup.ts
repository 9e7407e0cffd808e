/**
 * http_lookup: asks the customer's backend for data (an order status, an account balance) at an
 * endpoint named in the configuration. No SSRF: the model picks an endpoint by name and supplies
 * values of the parameters the endpoint declares (query string for GET, JSON body for POST), each
 * checked against its declaration; the URL (with its fixed query parameters), method and headers
 * come from the configuration, redirects are refused, an HTTP error goes back as a status summary
 * (never the backend's body), the answer must be JSON within the size limit, and the request is
 * aborted at the endpoint's timeout.
 */
import { defineSkill, SkillError } from './types';
import type { HttpEndpoint, HttpParam } from '../profiles';

type Scalar = string | number | boolean;

export const httpLookupSkill = defineSkill<{ endpoint: string; params?: Record<string, Scalar> }>({
  name: 'http_lookup',
  description: (settings) => {
    const list = Object.entries(settings.httpEndpoints).map(([name, e]) => {
      const params = Object.entries(e.params).map(([p, d]) => `${p}${d.required ? '' : '?'}`);
      return `${name}${e.description ? `: ${e.description}` : ''} (params: ${params.join(', ') || 'none'})`;
    });
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
          description: 'Values of the endpoint\'s parameters, e.g. {"orderId": "A123"}',
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
    const endpoints = ctx.services.settings.httpEndpoints;
    const endpoint = Object.hasOwn(endpoints, args.endpoint) ? endpoints[args.endpoint] : undefined;
    if (!endpoint) throw new SkillError('unknown_endpoint', `no endpoint named ${args.endpoint}`);
    const params = checkParams(args.endpoint, endpoint, args.params ?? {});
    try {
      return { ok: true, ...(await fetchJson(endpoint, params, ctx.signal)) };
    } catch (err) {
      if (err instanceof SkillError) {
        ctx.logger.warn('http_lookup failed', { endpoint: args.endpoint, code: err.code, error: err.message });
      }
      throw err;
    }
  },
});

/**
 * The model's values, checked against the endpoint's declared `params`: an undeclared name, a missing
 * required one or a value of the wrong type or form is refused (naming the parameter). Returns the
 * values as the backend gets them.
 */
export function checkParams(
  endpointName: string,
  endpoint: HttpEndpoint,
  given: Record<string, Scalar>,
): Record<string, Scalar> {
  const declared = endpoint.params;
  const out: Record<string, Scalar> = {};
  for (const name of Object.keys(given)) {
    if (!Object.hasOwn(declared, name)) {
      const known = Object.keys(declared).join(', ') || 'none';
      throw new SkillError(
        'unknown_parameter',
        `the endpoint ${endpointName} has no parameter ${name} (parameters: ${known})`,
      );
    }
  }
  for (const [name, param] of Object.entries(declared)) {
    const value = given[name];
    if (value === undefined) {
      if (param.required) throw new SkillError('missing_parameter', `the endpoint ${endpointName} needs ${name}`);
      continue;
    }
    const converted = convert(value, param);
    if (converted === undefined) {
      throw new SkillError('invalid_parameter', `${name} must be ${param.description ?? `a valid ${param.type}`}`);
    }
    out[name] = converted;
  }
  return out;
}

function convert(value: Scalar, param: HttpParam): Scalar | undefined {
  switch (param.type) {
    case 'boolean':
      if (typeof value === 'boolean') return value;
      return value === 'true' ? true : value === 'false' ? false : undefined;
    case 'number':
    case 'integer': {
      const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() ? Number(value) : NaN;
      if (!Number.isFinite(n) || (param.type === 'integer' && !Number.isInteger(n))) return undefined;
      return n;
    }
    default: {
      if (typeof value === 'boolean') return undefined;
      const text = String(value);
      if (!text || text.length > param.maxLength || /[\p{Cc}\p{Cf}]/u.test(text)) return undefined;
      if (param.pattern !== undefined && !new RegExp(`^(?:${param.pattern})$`, 'u').test(text)) return undefined;
      return text;
    }
  }
}

export async function fetchJson(
  endpoint: HttpEndpoint,
  params: Record<string, Scalar>,
  signal: AbortSignal,
): Promise<{ status: number; data: unknown }> {
  const url = new URL(endpoint.url);
  const init: RequestInit = {
    method: endpoint.method,
    headers: { accept: 'application/json', ...endpoint.headers },
    // A redirect is never followed (to the same host or another): it is an error.
    redirect: 'error',
    signal: AbortSignal.any([signal, AbortSignal.timeout(endpoint.timeoutMs)]),
  };
  if (endpoint.method === 'GET') {
    for (const [key, value] of Object.entries(params)) {
      // The configured URL's own query parameters are fixed (also refused at start).
      if (url.searchParams.has(key)) throw new SkillError('unknown_parameter', `${key} cannot be set`);
      // URLSearchParams percent-encodes: a value cannot change the path, the host or other parameters.
      url.searchParams.append(key, String(value));
    }
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
    // The backend's error body is never relayed (it may hold internal details or text aimed at the model).
    if (!res.ok) throw statusError(res.status);
    const type = res.headers.get('content-type') ?? '';
    if (!/^application\/([\w.+-]+\+)?json\b/i.test(type)) {
      throw new SkillError('bad_response', 'the lookup service did not answer JSON');
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
    return { status: res.status, data };
  } catch (err) {
    void res.body?.cancel().catch(() => undefined);
    if (err instanceof SkillError) throw err;
    throw requestError(err, endpoint);
  }
}

/** A short, generic summary of an HTTP error status for the model. */
function statusError(status: number): SkillError {
  if (status === 404) return new SkillError('not_found', `nothing was found (HTTP ${status})`);
  if (status === 400 || status === 422) {
    return new SkillError('rejected', `the lookup service refused the request (HTTP ${status})`);
  }
  if (status === 429) return new SkillError('busy', `the lookup service is busy (HTTP ${status})`);
  if (status === 401 || status === 403) {
    return new SkillError('backend_error', `the lookup service refused access (HTTP ${status})`);
  }
  if (status >= 500) return new SkillError('backend_error', `the lookup service failed (HTTP ${status})`);
  return new SkillError('backend_error', `the lookup failed (HTTP ${status})`);
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
