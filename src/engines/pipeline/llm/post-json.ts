import { StageError } from '../providers';

const MAX_REPLY_BYTES = 256 * 1024;

/** POSTs JSON and returns the JSON object answered; StageError('llm') on any failure. */
export async function postJson(
  provider: string,
  url: string,
  payload: unknown,
  opts: { apiKey: string; timeoutMs: number; signal: AbortSignal },
): Promise<Record<string, unknown>> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  if (opts.apiKey) headers.authorization = `Bearer ${opts.apiKey}`;
  const signal = AbortSignal.any([opts.signal, AbortSignal.timeout(opts.timeoutMs)]);
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(payload), signal });
    text = await res.text();
  } catch (err) {
    if (opts.signal.aborted) throw err;
    const timedOut = (err as Error).name === 'TimeoutError';
    throw new StageError('llm', provider, timedOut ? `no answer within ${opts.timeoutMs} ms` : (err as Error).message);
  }
  if (!res.ok) throw new StageError('llm', provider, `HTTP ${res.status}`);
  if (text.length > MAX_REPLY_BYTES) throw new StageError('llm', provider, 'reply too large');
  try {
    const body = JSON.parse(text) as unknown;
    if (body && typeof body === 'object' && !Array.isArray(body)) return body as Record<string, unknown>;
  } catch {
    /* reported below */
  }
  throw new StageError('llm', provider, 'reply is not a JSON object');
}
