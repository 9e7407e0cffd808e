/**
 * Twilio request signatures (X-Twilio-Signature): base64(HMAC-SHA1(authToken, url + sorted params)).
 * Validation always uses the configured PUBLIC_URL, never the Host header or req.protocol, so it
 * works behind proxies and cannot be steered by the caller. Twilio also signs the WebSocket upgrade
 * GET of a Media Stream, with the stream URL (wss://<public host>/streams) and no params.
 */
// Only the webhook signature helpers, not the whole SDK.
import { getExpectedTwilioSignature, validateRequest } from 'twilio/lib/webhooks/webhooks';
import type { IncomingHttpHeaders } from 'node:http';

export const STREAM_PATH = '/streams';
export const SIGNATURE_HEADER = 'x-twilio-signature';

export type SignatureParams = Record<string, string | string[]>;

/** The signature Twilio would send for this URL and form parameters. */
export function computeTwilioSignature(authToken: string, url: string, params: SignatureParams = {}): string {
  return getExpectedTwilioSignature(authToken, url, params);
}

/**
 * Constant-time check (twilio.validateRequest uses crypto.timingSafeEqual), tolerant of the
 * default-port forms Twilio may have signed (https://host/x vs https://host:443/x). Never throws.
 */
export function isValidTwilioSignature(
  authToken: string,
  signature: string | undefined,
  url: string,
  params: SignatureParams = {},
): boolean {
  if (!authToken || !signature || typeof signature !== 'string') return false;
  try {
    return validateRequest(authToken, signature, url, params);
  } catch {
    // validateRequest falls back to `new URL(url)`, which throws on a malformed URL.
    return false;
  }
}

function trimBase(publicUrl: string): string {
  return publicUrl.replace(/\/+$/, '');
}

/** Full URL Twilio requests for a webhook path: `webhookUrl('https://a.b/', '/twilio/x')` → `https://a.b/twilio/x`. */
export function webhookUrl(publicUrl: string, path: string): string {
  return `${trimBase(publicUrl)}${path.startsWith('/') ? path : `/${path}`}`;
}

/**
 * The Media Stream URL for the TwiML: wss:// for an https PUBLIC_URL, ws:// for http (local
 * development only: real Twilio requires wss), keeping any path prefix of PUBLIC_URL.
 */
export function streamUrl(publicUrl: string, path: string = STREAM_PATH): string {
  const base = trimBase(publicUrl);
  let wsBase: string;
  if (base.startsWith('https://')) wsBase = `wss://${base.slice('https://'.length)}`;
  else if (base.startsWith('http://')) wsBase = `ws://${base.slice('http://'.length)}`;
  else if (base.startsWith('wss://') || base.startsWith('ws://')) wsBase = base;
  else throw new Error(`PUBLIC_URL must start with http:// or https:// (got ${JSON.stringify(publicUrl)})`);
  return `${wsBase}${path.startsWith('/') ? path : `/${path}`}`;
}

/** Reads X-Twilio-Signature from Node's lower-cased header object (first value if repeated). */
export function signatureFromHeaders(headers: IncomingHttpHeaders): string | undefined {
  const value = headers[SIGNATURE_HEADER];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Checks the upgrade request of a Media Stream: Twilio signs the stream URL (as written in the
 * TwiML, i.e. derived from PUBLIC_URL) with empty params. Call it in the HTTP server's upgrade
 * path, before the socket is accepted, so no audio ever reaches the AI from an unsigned client.
 */
export function validateStreamHandshake(
  authToken: string,
  publicUrl: string,
  headers: IncomingHttpHeaders,
  path: string = STREAM_PATH,
): boolean {
  let url: string;
  try {
    url = streamUrl(publicUrl, path);
  } catch {
    return false;
  }
  return isValidTwilioSignature(authToken, signatureFromHeaders(headers), url, {});
}
