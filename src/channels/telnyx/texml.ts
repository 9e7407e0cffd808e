/**
 * TeXML answers for the Telnyx voice webhook. TeXML is Telnyx's TwiML-compatible markup
 * (developers.telnyx.com/docs/voice/programmable-voice/texml-verbs/stream): <Connect><Stream> with
 * bidirectionalMode="rtp" lets us send RTP payloads back on the socket (the default, mp3, plays whole
 * files at most once a second); `codec` and `bidirectionalCodec` pin both directions to PCMU or PCMA
 * (Telnyx transcodes between the two); <Parameter>s arrive in the start frame's custom_parameters.
 * <Connect> runs its stream synchronously and "the following instructions will be executed when the
 * service is stopped" (texml-verbs/connect): a <Redirect> to our stream-ended webhook, which answers
 * what our side decided (a transfer <Dial>, a <Hangup/>) or, for a stream that broke, an apology.
 */

export type TelnyxCodec = 'PCMU' | 'PCMA';

export interface TelnyxStreamTexmlOptions {
  /** wss://<public host>/telnyx/stream */
  streamUrl: string;
  codec: TelnyxCodec;
  /** Delivered to the stream as start.custom_parameters (our callId and single-use token). */
  parameters: Record<string, string>;
  /** Fetched (POST) once the stream ends, for what happens next; without it the call hangs up. */
  afterStreamUrl?: string;
}

const XML_HEADER = '<?xml version="1.0" encoding="UTF-8"?>';

/** Escapes text for an XML attribute value or text node. */
export function escapeXml(value: string): string {
  return value.replace(/[&<>"']/g, (c) =>
    c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&apos;',
  );
}

export function connectStreamTexml(options: TelnyxStreamTexmlOptions): string {
  const parameters = Object.entries(options.parameters)
    .map(([name, value]) => `<Parameter name="${escapeXml(name)}" value="${escapeXml(value)}"/>`)
    .join('');
  const codec = escapeXml(options.codec);
  return (
    `${XML_HEADER}<Response><Connect>` +
    `<Stream url="${escapeXml(options.streamUrl)}" track="inbound_track" codec="${codec}" ` +
    `bidirectionalMode="rtp" bidirectionalCodec="${codec}">${parameters}</Stream>` +
    '</Connect>' +
    (options.afterStreamUrl ? `<Redirect method="POST">${escapeXml(options.afterStreamUrl)}</Redirect>` : '<Hangup/>') +
    '</Response>'
  );
}

/** Hands the caller to a number or SIP URI (after the stream), with an optional announcement. */
export function dialTexml(target: string, options: { announce?: string; callerId?: string } = {}): string {
  const say = options.announce ? `<Say>${escapeXml(options.announce)}</Say>` : '';
  const callerId = options.callerId ? ` callerId="${escapeXml(options.callerId)}"` : '';
  const noun = target.startsWith('sip:') ? 'Sip' : 'Number';
  return `${XML_HEADER}<Response>${say}<Dial${callerId}><${noun}>${escapeXml(target)}</${noun}></Dial></Response>`;
}

/** Hangs up. */
export function hangupTexml(): string {
  return `${XML_HEADER}<Response><Hangup/></Response>`;
}

/** Says the message, then hangs up (busy, or the call could not be bridged). */
export function sayAndHangupTexml(message: string): string {
  return `${XML_HEADER}<Response><Say>${escapeXml(message)}</Say><Hangup/></Response>`;
}

/** Acknowledges a webhook without instructions. */
export function emptyTexml(): string {
  return `${XML_HEADER}<Response/>`;
}
