/**
 * TwiML answers for the voice webhook, built with twilio.twiml.VoiceResponse (which escapes every
 * attribute and text node). Verbs after <Connect> run only once the server closes the stream
 * socket: that is where the fallback apology (or, later, a transfer <Dial>) lives.
 */
// Only the TwiML builder, not the whole SDK (its REST client alone is ~170 modules).
import VoiceResponse from 'twilio/lib/twiml/VoiceResponse';

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

function sayAttributes(voice: string | undefined): VoiceResponse.SayAttributes {
  // The SDK lists known voices as a union; any other name is passed through for Twilio to judge.
  return voice ? { voice: voice as NonNullable<VoiceResponse.SayAttributes['voice']> } : {};
}

export function connectStreamTwiml(options: ConnectStreamOptions): string {
  const response = new VoiceResponse();
  const connect = response.connect(options.action ? { action: options.action } : {});
  const stream = connect.stream({ url: options.streamUrl });
  for (const [name, value] of Object.entries(options.parameters ?? {})) {
    stream.parameter({ name, value });
  }
  if (options.fallbackMessage) response.say(sayAttributes(options.voice), options.fallbackMessage);
  return response.toString();
}

/** Polite refusal (e.g. the concurrent-call cap is reached): say the message, then hang up. */
export function refusalTwiml(message: string, voice?: string): string {
  return sayAndHangupTwiml(message, voice);
}

export function sayAndHangupTwiml(message: string, voice?: string): string {
  const response = new VoiceResponse();
  response.say(sayAttributes(voice), message);
  response.hangup();
  return response.toString();
}

/** Transfer the caller (after the stream closed) to a number or SIP URI, with an optional announcement. */
export function dialTwiml(
  target: string,
  options: { announce?: string; callerId?: string; voice?: string } = {},
): string {
  const response = new VoiceResponse();
  if (options.announce) response.say(sayAttributes(options.voice), options.announce);
  const dial = response.dial(options.callerId ? { callerId: options.callerId } : {});
  if (target.startsWith('sip:')) dial.sip(target);
  else dial.number(target);
  return response.toString();
}

/** Empty <Response/>: acknowledges a webhook (e.g. status callbacks) without instructions. */
export function emptyTwiml(): string {
  return new VoiceResponse().toString();
}
