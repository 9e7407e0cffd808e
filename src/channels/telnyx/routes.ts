/**
 * Telnyx webhooks under /telnyx, translated into the calls layer (src/calls/call-admission.ts):
 * - POST /telnyx/voice: the TeXML application's voice webhook (form-encoded, Twilio-compatible
 *   parameters: CallSid is the call_control_id). Answers TeXML that connects the call's audio to
 *   our /telnyx/stream WebSocket with the call's id and single-use stream token as <Parameter>s.
 * - POST /telnyx/status: TeXML status callbacks (form: CallSid, CallStatus, CallDuration) and Call
 *   Control webhooks (JSON `{data:{event_type, payload:{call_control_id, ...}}}`: call.initiated,
 *   call.answered, call.hangup, streaming.started/stopped, ...).
 * - POST /telnyx/stream-ended?callId=: the <Redirect> after <Connect>, fetched once the stream
 *   ended: a transfer <Dial> or a <Hangup/> when our side ended it, else an apology.
 * Every request is checked against telnyx-signature-ed25519 over `timestamp|raw body` (so the body is
 * read raw, verified, then parsed); a replayed signature is refused. Errors are ApiErrors. They run in
 * the webhook lane (src/http/webhook-lane.ts): on node's request, in front of express.
 */
import type { Call } from '../../generated/prisma/client';
import type { ChannelServices } from '../index';
import { STREAM_TOKEN_PARAMETER } from '../../calls/stream-token';
import { isCallStatus, type CallStatus } from '../../calls/call-status';
import { ApiError } from '../../http/errors';
import type { EndAction } from '../../conversation/channel';
import { connectStreamTexml, dialTexml, emptyTexml, hangupTexml, sayAndHangupTexml, type TelnyxCodec } from './texml';
import type { TelnyxWebhookVerifier } from './signature';
import { TELNYX_PROVIDER } from './channel';
import { parseForm, type WebhookRequest, type WebhookRoutes } from '../../http/webhook-lane';
import { once, required, str, xmlReply as texml } from '../../http/webhook-fields';

export const TELNYX_STREAM_PATH = '/telnyx/stream';
export const FALLBACK_MESSAGE = 'We are sorry, our assistant is not available right now. Please call again later.';
export const BUSY_MESSAGE = 'We are sorry, all our lines are busy right now. Please call again in a few minutes.';

export interface TelnyxRouteDeps extends ChannelServices {
  /** undefined: signatures are not checked (development without TELNYX_PUBLIC_KEY). */
  verifier: TelnyxWebhookVerifier | undefined;
  /** True when webhooks must be refused outright (production without TELNYX_PUBLIC_KEY). */
  refuseUnsigned: boolean;
  codec: TelnyxCodec;
  /** What our side asked for when it ended a call's stream (hang-up, transfer), taken once. */
  takeStreamEnding(callId: string): EndAction | undefined;
}

/** wss://<public host>[/prefix]/telnyx/stream for an https PUBLIC_URL (ws:// for http, local only). */
export function telnyxStreamUrl(publicUrl: string): string {
  const base = publicUrl.replace(/\/+$/, '').replace(/^http(s?):\/\//, 'ws$1://');
  return `${base}${TELNYX_STREAM_PATH}`;
}

/** The status a Call Control event means for the call, or undefined when it does not change it. */
export function statusOfCallControlEvent(eventType: string, payload: Record<string, unknown>): CallStatus | undefined {
  switch (eventType) {
    case 'call.initiated':
      return 'ringing';
    case 'call.answered':
      return 'in-progress';
    case 'call.hangup': {
      const cause = str(payload.hangup_cause, 64);
      if (cause === 'busy' || cause === 'user_busy') return 'busy';
      if (cause === 'timeout' || cause === 'no_answer') return 'no-answer';
      return 'completed';
    }
    default:
      return undefined;
  }
}

/** The body as a form, whatever its declared type (TeXML posts forms). */
function form(req: WebhookRequest): Record<string, unknown> {
  const fields = parseForm(req.raw, 200);
  if (!fields) throw new ApiError('invalid_body', 'too many parameters');
  return fields;
}

export function createTelnyxWebhooks(deps: TelnyxRouteDeps): WebhookRoutes {
  const { config, admission, logger } = deps;

  const connectTexml = (call: Call): string =>
    connectStreamTexml({
      streamUrl: telnyxStreamUrl(config.publicUrl),
      codec: deps.codec,
      parameters: { callId: call.id, agent: call.agent, [STREAM_TOKEN_PARAMETER]: deps.streamTokens.issue(call.id) },
      afterStreamUrl: `${config.publicUrl.replace(/\/+$/, '')}/telnyx/stream-ended?callId=${encodeURIComponent(call.id)}`,
    });

  return {
    // The signature covers the body exactly as sent: checked on the raw bytes, before any parsing.
    authenticate(req) {
      if (deps.refuseUnsigned) {
        deps.counters.signatureFailures++;
        throw new ApiError('forbidden', 'Telnyx webhooks are not configured (TELNYX_PUBLIC_KEY)');
      }
      if (!deps.verifier) return;
      const check = deps.verifier.check(req.raw, req.headers);
      if (check !== 'ok') {
        deps.counters.signatureFailures++;
        logger.warn('rejected a Telnyx webhook', { path: req.path, reason: check });
        throw new ApiError('forbidden', `invalid Telnyx signature (${check})`);
      }
    },
    post: {
      async '/voice'(req) {
        const body = form(req);
        const callSid = required(body, 'CallSid', 128);
        const direction = str(body.Direction, 32) ?? 'inbound';
        const admitted = await admission.admitIncoming({
          providerCallId: callSid,
          accountId: str(body.AccountSid, 64),
          from: str(body.From, 64),
          to: str(body.To, 64),
          direction: direction.startsWith('outbound') ? 'outbound' : 'inbound',
          provider: TELNYX_PROVIDER,
          status: str(body.CallStatus, 32),
          region: null,
          callerName: str(body.CallerName, 128) ?? str(body.CallerId, 128),
        });
        if (!admitted.admitted) {
          return texml(sayAndHangupTexml(admitted.refusal === 'busy' ? BUSY_MESSAGE : FALLBACK_MESSAGE));
        }
        const answer = connectTexml(admitted.call);
        return texml((await admission.prepare(admitted.call)) ? answer : sayAndHangupTexml(FALLBACK_MESSAGE));
      },

      // The <Redirect> after <Connect>: the stream ended and the call is still up.
      '/stream-ended'(req) {
        const callId = str(once(req.query, 'callId'), 64);
        const ending = callId ? deps.takeStreamEnding(callId) : undefined;
        if (ending?.kind === 'transfer') {
          const { number, announce, callerId } = ending.target;
          logger.info('call transferred', { callId });
          return texml(dialTexml(number, { announce, callerId }));
        }
        return texml(ending?.kind === 'hangup' ? hangupTexml() : sayAndHangupTexml(FALLBACK_MESSAGE));
      },

      async '/status'(req) {
        const isJson = (req.headers['content-type'] ?? '').toLowerCase().startsWith('application/json');
        if (!isJson) {
          // TeXML status callback.
          const body = form(req);
          const message = 'is missing or not a call status';
          const callSid = required(body, 'CallSid', 128, message);
          const status = str(body.CallStatus, 32);
          if (!status || !isCallStatus(status)) {
            throw new ApiError('invalid_body', `CallStatus: ${message}`, 'CallStatus');
          }
          const duration = Number(body.CallDuration);
          await admission.applyStatus(
            callSid,
            status,
            body.CallDuration && Number.isFinite(duration) ? duration : undefined,
            null,
          );
          return texml(emptyTexml());
        }
        let event: unknown;
        try {
          event = JSON.parse(req.raw.toString('utf8'));
        } catch {
          throw new ApiError('invalid_body', 'body is not JSON');
        }
        const data = (event as { data?: unknown } | null)?.data as
          { event_type?: unknown; payload?: unknown } | undefined;
        const eventType = str(data?.event_type, 64);
        const payload = data?.payload;
        if (!eventType || typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
          throw new ApiError('invalid_body', 'data.event_type and data.payload are required', 'data');
        }
        const fields = payload as Record<string, unknown>;
        const callControlId = required(fields, 'call_control_id', 128);
        const status = statusOfCallControlEvent(eventType, fields);
        if (status) await admission.applyStatus(callControlId, status, undefined, null);
        else logger.debug('telnyx event without a status change', { eventType });
        return { contentType: 'application/json; charset=utf-8', body: '{"received":true}' };
      },
    },
  };
}
