/**
 * The Twilio channel module: Programmable Voice webhooks under /twilio, Media Streams on /streams
 * (the upgrade signed with X-Twilio-Signature, checked before the socket opens). A stream's `start`
 * becomes a TwilioChannel attached to its call through the bridge's one check. When our side ends a
 * call on purpose (hang-up, transfer), what <Connect action> must answer Twilio is kept here.
 */
import type { ChannelModule, ChannelServices } from '../index';
import type { EndAction } from '../../conversation/channel';
import { parseLanguageHint } from '../../agent/language';
import { createTwilioWebhooks, LANGUAGE_PARAMETER } from './routes';
import { STREAM_PATH, validateStreamHandshake } from './signature';
import { TwilioMediaStream } from './media-stream';
import { TwilioChannel, twilioChannelStart } from './twilio-channel';

/** How long the answer for Twilio's <Connect action> request is kept after our side ended a stream. */
const STREAM_ENDING_TTL_MS = 120_000;

export function createTwilioChannelModule(services: ChannelServices): ChannelModule {
  const { config, bridge, logger, callManager } = services;
  /** Why our side ended a call's stream (hang-up, transfer): what <Connect action> answers Twilio. */
  const streamEndings = new Map<string, EndAction>();
  const remember = (callId: string, action: EndAction): void => {
    streamEndings.set(callId, action);
    setTimeout(() => streamEndings.delete(callId), STREAM_ENDING_TTL_MS).unref();
  };
  const takeStreamEnding = (callId: string): EndAction | undefined => {
    const action = streamEndings.get(callId);
    streamEndings.delete(callId);
    return action;
  };

  /** A `language` parameter on the stream's start (from our TwiML or the caller's own): the call's language. */
  const storeLanguage = (callId: string, value: string | undefined): void => {
    if (value === undefined) return;
    const language = parseLanguageHint(value);
    if (!language) {
      logger.warn('ignored a malformed language parameter on a stream start', { callId });
      return;
    }
    // The engine started with the profile's hint: a different one changes its transcription and instructions.
    bridge.get(callId)?.engine.setLanguage?.(language);
    callManager.setLanguage(callId, language).catch((err: Error) => {
      logger.warn('could not store the call language', { callId, error: err.message });
    });
  };

  return {
    name: 'twilio',
    webhooks: createTwilioWebhooks({ ...services, takeStreamEnding }),
    upgradePaths: [STREAM_PATH],
    checkUpgrade(req, path, pathAndQuery) {
      if (!config.twilio.validateSignatures) return undefined;
      // Signed over the stream URL as Twilio saw it: the configured public stream URL plus any query
      // (Twilio never adds one, so a query only passes when it was signed).
      const query = pathAndQuery.slice(path.length);
      if (validateStreamHandshake(config.twilio.authToken, config.publicUrl, req.headers, `${path}${query}`)) {
        return undefined;
      }
      return { status: 403, message: 'invalid Twilio signature' };
    },
    onSocket(ws) {
      const stream = new TwilioMediaStream(ws, { logger });
      const pending = bridge.awaitStart((code, reason) => stream.close(code, reason));
      stream.on('protocol-error', ({ reason }) => bridge.countProtocolError(reason));
      stream.once('close', () => pending.settle());
      stream.once('start', (twilioStart) => {
        pending.settle();
        const start = twilioChannelStart(twilioStart);
        const callId = start.parameters.callId;
        const channel = new TwilioChannel(stream, (action) => {
          if (callId) remember(callId, action);
        });
        bridge
          .attach(channel, start, (accepted) => {
            stream.setLogger(logger.child({ callId: accepted }));
            storeLanguage(accepted, start.parameters[LANGUAGE_PARAMETER]);
          })
          .then((refused) => {
            if (refused) stream.close(refused.closeCode, refused.closeReason);
          })
          .catch((err: unknown) => {
            logger.error('could not bridge the media stream', {
              callSid: twilioStart.callSid,
              error: (err as Error).message,
            });
            stream.close(1011, 'internal error');
          });
      });
    },
  };
}
