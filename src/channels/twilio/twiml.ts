/**
 * TwiML answers for the voice webhooks, written as strings. Verbs after <Connect> run only once the
 * server closes the stream socket: that is where the fallback apology (or, later, a transfer <Dial>)
 * lives.
 *
 * The output is byte for byte what twilio's `VoiceResponse` (xmlbuilder) writes for the same verbs,
 * with the same escaping (test/unit/telephony-twiml.test.ts holds the two side by side). A character
 * XML 1.0 cannot carry is refused (an Error, without the value) in text, as there, and in attributes,
 * where twilio's builder would write it into an answer Twilio rejects. Written by hand because every
 * call's webhook built an xmlbuilder document of a dozen objects per node: ~39 µs and a few KB of
 * garbage per answer on the main thread, promoted when webhooks arrive in a burst
 * (docs/benchmarks/bridge.md, "What is promoted").
 */

export interface ConnectStreamOptions {
  /** wss://<public host>/streams (see streamUrl()). Query strings are stripped by Twilio: use parameters. */
  streamUrl: string;
  /** Delivered to the stream as start.customParameters. */
  parameters?: Record<string, string>;
  /** Spoken if the stream ends without the server redirecting the call (e.g. the bridge failed). */
  fallbackMessage?: string;
  /** Optional <Connect action>: Twilio requests it for new TwiML when the stream ends (transfer hook). */
  action?: string;
  /** Voice for <Say>. */
  voice?: string;
}

const DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>';

/** Characters XML 1.0 cannot carry (controls but tab, LF, CR; U+FFFE/U+FFFF; lone surrogates). */
/* eslint-disable no-control-regex -- the control characters are what it finds */
const ILLEGAL =
  /[\0-\x08\x0B\f\x0E-\x1F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?:[^\uD800-\uDBFF]|^)[\uDC00-\uDFFF]/;
/* eslint-enable no-control-regex */
const TEXT_SPECIAL = /[&<>\r]/;
const ATTRIBUTE_SPECIAL = /[&<"\t\n\r]/;

function legal(value: string): string {
  // The value itself stays out of the message: it may be a caller's number or a name.
  const bad = ILLEGAL.exec(value);
  if (bad) throw new Error(`invalid character for TwiML at index ${bad.index}`);
  return value;
}

function text(value: string): string {
  if (!TEXT_SPECIAL.test(value)) return legal(value);
  return legal(value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r/g, '&#xD;'));
}

function attribute(value: string): string {
  if (!ATTRIBUTE_SPECIAL.test(value)) return legal(value);
  return legal(
    value
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/"/g, '&quot;')
      .replace(/\t/g, '&#x9;')
      .replace(/\n/g, '&#xA;')
      .replace(/\r/g, '&#xD;'),
  );
}

/** `<name a="v"...>inner</name>`, or `<name .../>` when the inner XML is empty. Absent attributes are left out. */
function element(name: string, attributes: Record<string, string | undefined>, inner = ''): string {
  let open = `<${name}`;
  for (const key in attributes) {
    const value = attributes[key];
    if (value !== undefined) open += ` ${key}="${attribute(value)}"`;
  }
  return inner === '' ? `${open}/>` : `${open}>${inner}</${name}>`;
}

function response(inner: string): string {
  return DECLARATION + element('Response', {}, inner);
}

function say(message: string, voice: string | undefined): string {
  return element('Say', { voice: voice || undefined }, text(message));
}

export function connectStreamTwiml(options: ConnectStreamOptions): string {
  let parameters = '';
  for (const [name, value] of Object.entries(options.parameters ?? {})) {
    parameters += element('Parameter', { name, value });
  }
  const stream = element('Stream', { url: options.streamUrl }, parameters);
  const connect = element('Connect', { action: options.action || undefined }, stream);
  return response(connect + (options.fallbackMessage ? say(options.fallbackMessage, options.voice) : ''));
}

/** Polite refusal (e.g. the concurrent-call cap is reached): say the message, then hang up. */
export function refusalTwiml(message: string, voice?: string): string {
  return sayAndHangupTwiml(message, voice);
}

export function sayAndHangupTwiml(message: string, voice?: string): string {
  return response(say(message, voice) + '<Hangup/>');
}

/** Hang up, saying the message first when there is one (an answering machine's voicemail). */
export function hangupTwiml(message?: string): string {
  return response((message ? say(message, undefined) : '') + '<Hangup/>');
}

/** Transfer the caller (after the stream closed) to a number or SIP URI, with an optional announcement. */
export function dialTwiml(
  target: string,
  options: { announce?: string; callerId?: string; voice?: string } = {},
): string {
  const announce = options.announce ? say(options.announce, options.voice) : '';
  const destination = target.startsWith('sip:')
    ? element('Sip', {}, text(target))
    : element('Number', {}, text(target));
  return response(announce + element('Dial', { callerId: options.callerId || undefined }, destination));
}

/** Empty <Response/>: acknowledges a webhook (e.g. status callbacks) without instructions. */
export function emptyTwiml(): string {
  return response('');
}
