/**
 * Twilio webhooks, translated into the calls layer (src/calls/call-admission.ts) and answered in
 * TwiML: the voice webhook connects the call's audio to our /streams WebSocket, the outbound answer
 * webhook bridges a call we placed, <Connect action> says what happens after the stream, and the
 * status callback tracks the call. All are checked against X-Twilio-Signature computed over
 * PUBLIC_URL + path (so they work behind a TLS proxy); errors are ApiErrors. They run in the webhook
 * lane (src/http/webhook-lane.ts): on node's request, in front of express, with the same limiter.
 */
import type { Call } from '../../generated/prisma/client';
import type { ChannelServices } from '../index';
import { isValidTwilioSignature, signatureFromHeaders, streamUrl, webhookUrl } from './signature';
import { connectStreamTwiml, dialTwiml, emptyTwiml, hangupTwiml, refusalTwiml, sayAndHangupTwiml } from './twiml';
import { STREAM_TOKEN_PARAMETER } from '../../calls/stream-token';
import { ApiError } from '../../http/errors';
import { isCallStatus } from '../../calls/call-status';
import type { EndAction } from '../../conversation/channel';
import type { WebhookReply, WebhookRoutes } from '../../http/webhook-lane';
import { once, required, str, xmlReply as twiml } from '../../http/webhook-fields';

export const FALLBACK_MESSAGE = 'We are sorry, our assistant is not available right now. Please call again later.';
/** The stream parameter naming the conversation's language ('auto' or an ISO 639 code). */
export const LANGUAGE_PARAMETER = 'language';
export const BUSY_MESSAGE = 'We are sorry, all our lines are busy right now. Please call again in a few minutes.';

export interface TwilioRouteDeps extends ChannelServices {
  /** What our side asked for when it ended a call's stream (hang-up, transfer), taken once. */
  takeStreamEnding(callId: string): EndAction | undefined;
}

export function createTwilioWebhooks(deps: TwilioRouteDeps): WebhookRoutes {
  const { config, admission, logger } = deps;

  /** The profile's language hint as a <Parameter name="language"> (the stream's start carries it back). */
  const languageParameter = (call: Call): Record<string, string> => {
    const hint = deps.bridge.profileOf(call.agent).languageHint;
    return hint ? { [LANGUAGE_PARAMETER]: hint } : {};
  };

  /** <Connect><Stream> for a prepared call; <Connect action> asks us what to do when the stream ends. */
  const connectTwiml = (call: Call): string =>
    connectStreamTwiml({
      streamUrl: streamUrl(config.publicUrl),
      parameters: {
        callId: call.id,
        agent: call.agent,
        [STREAM_TOKEN_PARAMETER]: deps.streamTokens.issue(call.id),
        ...languageParameter(call),
      },
      // Ignored by Twilio when the action answers; kept for a stream that ends before it is asked.
      fallbackMessage: FALLBACK_MESSAGE,
      action: webhookUrl(config.publicUrl, `/twilio/stream-ended?callId=${encodeURIComponent(call.id)}`),
    });

  /** The TwiML is built first: a call is never left prepared behind a failed answer. */
  const bridgeAndAnswer = async (call: Call): Promise<WebhookReply> => {
    let body: string;
    try {
      body = connectTwiml(call);
    } catch (err) {
      logger.error('could not build the TwiML answer', { callId: call.id, error: (err as Error).message });
      await admission.abandon(call);
      return twiml(sayAndHangupTwiml(FALLBACK_MESSAGE));
    }
    return twiml((await admission.prepare(call)) ? body : sayAndHangupTwiml(FALLBACK_MESSAGE));
  };

  return {
    authenticate(req) {
      if (!config.twilio.validateSignatures) return;
      const url = webhookUrl(config.publicUrl, req.url);
      if (!isValidTwilioSignature(config.twilio.authToken, signatureFromHeaders(req.headers), url, req.body)) {
        deps.counters.signatureFailures++;
        logger.warn('rejected a Twilio webhook with a bad signature', { path: req.path });
        throw new ApiError('forbidden', 'invalid Twilio signature');
      }
    },
    post: {
      async '/incoming-call'(req) {
        const body = req.body as Record<string, unknown>;
        const callSid = required(body, 'CallSid', 64);
        const direction = str(body.Direction, 32) ?? 'inbound';
        const admitted = await admission.admitIncoming({
          providerCallId: callSid,
          accountId: str(body.AccountSid, 64),
          from: str(body.From, 64),
          to: str(body.To, 64),
          direction: direction.startsWith('outbound') ? 'outbound' : 'inbound',
          provider: 'twilio',
          status: str(body.CallStatus, 32),
          region:
            [str(body.FromCity, 64), str(body.FromState, 64), str(body.FromCountry, 8)].filter(Boolean).join(', ') ||
            null,
          callerName: str(body.CallerName, 128),
        });
        if (!admitted.admitted) {
          return twiml(refusalTwiml(admitted.refusal === 'busy' ? BUSY_MESSAGE : FALLBACK_MESSAGE));
        }
        return bridgeAndAnswer(admitted.call);
      },

      // An outbound call we placed (POST /api/calls/outbound) was answered: bridge it like an inbound one.
      async '/outbound-call'(req) {
        const body = req.body as Record<string, unknown>;
        const callSid = required(body, 'CallSid', 64);
        const callId = required({ callId: once(req.query, 'callId') }, 'callId', 64);
        // Machine detection (MachineDetection on the placed call): leave a message or hang up.
        const answeredBy = str(body.AnsweredBy, 32);
        if (answeredBy && /^(machine_|fax$)/.test(answeredBy) && deps.answeredByMachine) {
          const onMachine = await deps.answeredByMachine(callId, answeredBy);
          if (onMachine) return twiml(hangupTwiml(onMachine.message));
        }
        const admitted = await admission.admitAnswered(callId, callSid, str(body.AccountSid, 64));
        if (!admitted.admitted) return twiml(refusalTwiml(BUSY_MESSAGE));
        return bridgeAndAnswer(admitted.call);
      },

      // <Connect action>: the stream ended and the call is still up. Transfer, hang up, or apologise.
      '/stream-ended'(req) {
        const callId = str(once(req.query, 'callId'), 64);
        const ending = callId ? deps.takeStreamEnding(callId) : undefined;
        if (ending?.kind === 'transfer') {
          const { number, announce, callerId } = ending.target;
          logger.info('call transferred', { callId });
          return twiml(dialTwiml(number, { announce, callerId }));
        }
        if (ending?.kind === 'hangup') return twiml(hangupTwiml());
        return twiml(sayAndHangupTwiml(FALLBACK_MESSAGE));
      },

      async '/call-status'(req) {
        const body = req.body as Record<string, unknown>;
        const message = 'is missing or not a Twilio call status';
        const callSid = required(body, 'CallSid', 64, message);
        const status = str(body.CallStatus, 32);
        if (!status || !isCallStatus(status))
          throw new ApiError('invalid_body', `CallStatus: ${message}`, 'CallStatus');
        const duration = Number(body.CallDuration);
        await admission.applyStatus(
          callSid,
          status,
          Number.isFinite(duration) && body.CallDuration !== undefined ? duration : undefined,
          str(once(req.query, 'callId'), 64),
        );
        return twiml(emptyTwiml());
      },
    },
  };
}
