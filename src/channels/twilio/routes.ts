/**
 * Twilio webhooks: the incoming-call webhook answers TwiML that connects the call's audio to our
 * /streams WebSocket; the status callback tracks the call's status idempotently. Both are checked
 * against X-Twilio-Signature computed over PUBLIC_URL + path (so they work behind a TLS proxy).
 */
import express, { Router, type RequestHandler } from 'express';
import twilio from 'twilio';
import type { Config } from '../../config';
import type { CallManager } from '../../calls/call-manager';
import type { CallBridge } from '../../calls/call-bridge';
import { isCallStatus, isFinalStatus } from '../../calls/call-status';
import type { Logger } from '../../logging/logger';
import { isValidTwilioSignature, signatureFromHeaders, streamUrl, webhookUrl } from './signature';
import { connectStreamTwiml, dialTwiml, emptyTwiml, refusalTwiml, sayAndHangupTwiml } from './twiml';
import type { Call } from '../../generated/prisma/client';
import { profileForNumber, type AgentSettings } from '../../agent/profiles';
import { STREAM_TOKEN_PARAMETER, type StreamTokens } from './stream-token';

export interface TwilioRouteDeps {
  config: Config;
  callManager: CallManager;
  bridge: CallBridge;
  logger: Logger;
  counters: { signatureFailures: number; callsRefused: number };
  /** Agent profiles: the dialled number picks the profile of an inbound call. */
  agentSettings?: AgentSettings;
  /** Issues the single-use token the call's stream must present in its start message. */
  streamTokens: StreamTokens;
}

export const FALLBACK_MESSAGE = 'We are sorry, our assistant is not available right now. Please call again later.';
export const BUSY_MESSAGE = 'We are sorry, all our lines are busy right now. Please call again in a few minutes.';

function str(value: unknown, max = 256): string | null {
  return typeof value === 'string' && value.length > 0 ? value.slice(0, max) : null;
}

export function createTwilioRouter(deps: TwilioRouteDeps): Router {
  const { config, callManager, bridge, logger } = deps;
  const router = Router({ caseSensitive: true, strict: true });
  router.use(express.urlencoded({ extended: false, limit: '32kb', parameterLimit: 200 }));

  const checkSignature: RequestHandler = (req, res, next) => {
    if (!config.twilio.validateSignatures) {
      next();
      return;
    }
    const url = webhookUrl(config.publicUrl, req.originalUrl);
    const params = (req.body ?? {}) as Record<string, string>;
    if (!isValidTwilioSignature(config.twilio.authToken, signatureFromHeaders(req.headers), url, params)) {
      deps.counters.signatureFailures++;
      logger.warn('rejected a Twilio webhook with a bad signature', { path: req.path });
      res.status(403).json({ error: { code: 'forbidden', message: 'invalid Twilio signature' } });
      return;
    }
    next();
  };

  const twiml = (res: express.Response, body: string): void => {
    res.type('text/xml').send(body);
  };

  /** <Connect><Stream> for a prepared call; <Connect action> asks us what to do when the stream ends. */
  const connectTwiml = (call: Call): string =>
    connectStreamTwiml({
      streamUrl: streamUrl(config.publicUrl),
      parameters: {
        callId: call.id,
        agent: call.agent,
        [STREAM_TOKEN_PARAMETER]: deps.streamTokens.issue(call.id),
      },
      // Ignored by Twilio when the action answers; kept for a stream that ends before it is asked.
      fallbackMessage: FALLBACK_MESSAGE,
      action: webhookUrl(config.publicUrl, `/twilio/stream-ended?callId=${encodeURIComponent(call.id)}`),
    });

  /**
   * Prepares the call's session (its AI connects now) and answers the TwiML that brings its stream.
   * The TwiML is built first: a call is never left prepared behind a failed answer; and a call that
   * cannot be prepared is ended at once rather than left "active".
   */
  const bridgeAndAnswer = async (res: express.Response, call: Call): Promise<void> => {
    let body: string;
    try {
      body = connectTwiml(call);
      await bridge.prepare(call);
    } catch (err) {
      logger.error('could not bridge the call', { callId: call.id, error: (err as Error).message });
      await bridge.end(call.id, 'error');
      if (!bridge.get(call.id)) await callManager.endCall(call.id, { reason: 'error', status: 'failed' });
      twiml(res, sayAndHangupTwiml(FALLBACK_MESSAGE));
      return;
    }
    twiml(res, body);
  };

  router.post('/incoming-call', checkSignature, async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const callSid = str(body.CallSid, 64);
    if (!callSid) {
      res.status(400).json({ error: { code: 'invalid_body', message: 'CallSid: is required', field: 'CallSid' } });
      return;
    }
    if (bridge.isDraining || bridge.size >= config.maxConcurrentCalls) {
      deps.counters.callsRefused++;
      logger.warn('call refused', {
        callSid,
        reason: bridge.isDraining ? 'shutting down' : 'concurrent call cap',
        active: bridge.size,
      });
      twiml(res, refusalTwiml(BUSY_MESSAGE));
      return;
    }
    const direction = str(body.Direction, 32) ?? 'inbound';
    const status = str(body.CallStatus, 32);
    const profile = deps.agentSettings ? profileForNumber(deps.agentSettings, str(body.To, 64)) : undefined;
    const call = await callManager.createCall({
      callSid,
      accountSid: str(body.AccountSid, 64),
      from: str(body.From, 64),
      to: str(body.To, 64),
      direction: direction.startsWith('outbound') ? 'outbound' : 'inbound',
      ...(profile ? { agent: profile.name } : {}),
      status: status && isCallStatus(status) && !isFinalStatus(status) ? status : 'ringing',
      metadata: {
        region:
          [str(body.FromCity, 64), str(body.FromState, 64), str(body.FromCountry, 8)].filter(Boolean).join(', ') ||
          null,
        custom: str(body.CallerName, 128) ? { callerName: str(body.CallerName, 128) } : undefined,
      },
    });
    if (call.endedAt) {
      twiml(res, refusalTwiml(FALLBACK_MESSAGE));
      return;
    }
    await bridgeAndAnswer(res, call);
  });

  // An outbound call we placed (POST /api/calls/outbound) was answered: bridge it like an inbound one.
  router.post('/outbound-call', checkSignature, async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const callSid = str(body.CallSid, 64);
    const callId = str(req.query.callId, 64);
    if (!callSid || !callId) {
      const field = !callSid ? 'CallSid' : 'callId';
      res.status(400).json({ error: { code: 'invalid_body', message: `${field}: is required`, field } });
      return;
    }
    const call = await callManager.findCall(callId);
    if (!call || call.direction !== 'outbound' || (call.callSid && call.callSid !== callSid)) {
      res.status(404).json({ error: { code: 'not_found', message: 'outbound call not found' } });
      return;
    }
    if (call.endedAt || bridge.isDraining || bridge.size >= config.maxConcurrentCalls) {
      deps.counters.callsRefused++;
      logger.warn('outbound call not bridged', { callId, ended: Boolean(call.endedAt), active: bridge.size });
      twiml(res, refusalTwiml(BUSY_MESSAGE));
      return;
    }
    const answered =
      (await callManager.updateCall(call.id, {
        callSid,
        accountSid: str(body.AccountSid, 64) ?? call.accountSid,
        status: 'in-progress',
      })) ?? call;
    await bridgeAndAnswer(res, answered);
  });

  // <Connect action>: the stream ended and the call is still up. Transfer, hang up, or apologise.
  router.post('/stream-ended', checkSignature, (req, res) => {
    const callId = str(req.query.callId, 64);
    const ending = callId ? bridge.takeStreamEnding(callId) : undefined;
    if (ending?.kind === 'transfer') {
      const { number, announce, callerId } = ending.target;
      logger.info('call transferred', { callId });
      twiml(res, dialTwiml(number, { announce, callerId }));
      return;
    }
    if (ending?.kind === 'hangup') {
      const response = new twilio.twiml.VoiceResponse();
      response.hangup();
      twiml(res, response.toString());
      return;
    }
    twiml(res, sayAndHangupTwiml(FALLBACK_MESSAGE));
  });

  router.post('/call-status', checkSignature, async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const callSid = str(body.CallSid, 64);
    const status = str(body.CallStatus, 32);
    if (!callSid || !status || !isCallStatus(status)) {
      const field = !callSid ? 'CallSid' : 'CallStatus';
      res
        .status(400)
        .json({ error: { code: 'invalid_body', message: `${field}: is missing or not a Twilio call status`, field } });
      return;
    }
    const duration = Number(body.CallDuration);
    let call = await callManager.findByCallSid(callSid);
    // An outbound call's first callbacks can arrive before its CallSid is stored: its URL names the call.
    const callId = str(req.query.callId, 64);
    if (!call && callId) {
      const placed = await callManager.findCall(callId);
      if (placed && placed.direction === 'outbound' && !placed.callSid) {
        call = await callManager.updateCall(placed.id, { callSid });
      }
    }
    if (!call) {
      res.status(404).json({ error: { code: 'not_found', message: 'call not found' } });
      return;
    }
    // A final status while our session still runs: end it first, so its recording and analytics are kept.
    if (isFinalStatus(status) && bridge.get(call.id)) await bridge.end(call.id, 'caller-hangup');
    await callManager.applyTwilioStatus(
      callSid,
      status,
      Number.isFinite(duration) && body.CallDuration !== undefined ? duration : undefined,
    );
    twiml(res, emptyTwiml());
  });

  return router;
}
