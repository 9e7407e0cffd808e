import { StageError } from '../providers';

const MAX_REPLY_BYTES = 256 * 1024;

/** Reads at most `limit` bytes of a body; undefined (and the rest cancelled) when it is longer. */
async function readBounded(body: ReadableStream<Uint8Array> | null, limit: number): Promise<string | undefined> {
  if (!body) return '';
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.length;
    if (size > limit) return undefined; // leaving the loop cancels the body
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks).toString('utf8');
}

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
  let text: string | undefined;
  try {
    res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(payload), signal });
    text = await readBounded(res.body, MAX_REPLY_BYTES);
  } catch (err) {
    if (opts.signal.aborted) throw err;
    const timedOut = (err as Error).name === 'TimeoutError';
    throw new StageError('llm', provider, timedOut ? `no answer within ${opts.timeoutMs} ms` : (err as Error).message);
  }
  if (!res.ok) throw new StageError('llm', provider, `HTTP ${res.status}`);
  if (text === undefined) throw new StageError('llm', provider, `reply larger than ${MAX_REPLY_BYTES} bytes`);
  try {
    const body = JSON.parse(text) as unknown;
    if (body && typeof body === 'object' && !Array.isArray(body)) return body as Record<string, unknown>;
  } catch {
    /* reported below */
  }
  throw new StageError('llm', provider, 'reply is not a JSON object');
}
