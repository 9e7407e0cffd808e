/**
 * Outbound calls (the use case behind POST /api/calls/outbound): the call row is created first
 * (direction outbound, its agent profile, status queued), then Twilio is asked through the REST
 * service to place the call with our outbound webhook (which bridges the answered call exactly like
 * an inbound one) and a status callback that tracks it. A refused request ends the row as failed.
 */
import type { Call } from '../generated/prisma/client';
import type { Config } from '../config';
import type { CallManager } from './call-manager';
import type { Logger } from '../logging/logger';
import { webhookUrl } from '../channels/twilio/signature';
import { TwilioRestError, type TwilioRestService } from '../channels/twilio/twilio-rest-service';
import type { AgentSettings } from '../agent/profiles';
import { personalisationRecord, type Personalisation, type PersonalisationStore } from '../campaigns/personalisation';

export interface OutboundCallRequest {
  /** E.164 number to call. */
  to: string;
  /** Agent profile name (default: the default profile). */
  agent?: string;
  /** Free-form data kept with the call (CallMetadata.custom). */
  metadata?: Record<string, unknown>;
  /** Who is called (fills the profile's templates), or a fixed message (src/campaigns/personalisation.ts). */
  personalisation?: Personalisation;
  /** Ask the provider to detect an answering machine (the answer webhook then says who answered). */
  machineDetection?: boolean;
}

export class OutboundCallError extends Error {
  constructor(
    readonly code: 'not_configured' | 'unknown_agent' | 'rejected' | 'twilio_unavailable',
    message: string,
  ) {
    super(message);
    this.name = 'OutboundCallError';
  }
}

export interface OutboundCallsDeps {
  config: Config;
  callManager: CallManager;
  settings: AgentSettings;
  twilio: TwilioRestService | undefined;
  logger: Logger;
  /** Keeps each call's personalisation until the bridge prepares it. */
  personalisations?: PersonalisationStore;
}

export class OutboundCalls {
  constructor(private readonly deps: OutboundCallsDeps) {}

  get configured(): boolean {
    return Boolean(this.deps.twilio && this.deps.config.twilio.phoneNumber);
  }

  async place(request: OutboundCallRequest): Promise<Call> {
    const { config, callManager, settings, twilio, logger } = this.deps;
    if (!twilio || !config.twilio.phoneNumber) {
      throw new OutboundCallError(
        'not_configured',
        'outbound calls need TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_PHONE_NUMBER',
      );
    }
    const agent = request.agent ?? settings.defaultProfile;
    if (!settings.profiles.has(agent)) {
      throw new OutboundCallError('unknown_agent', `no agent profile named ${agent}`);
    }
    const from = config.twilio.phoneNumber;
    const { personalisation } = request;
    const custom = {
      ...(request.metadata ?? {}),
      ...(personalisation ? { personalisation: personalisationRecord(personalisation) } : {}),
    };
    const call = await callManager.createCall({
      direction: 'outbound',
      agent,
      to: request.to,
      from,
      accountSid: twilio.accountSid,
      status: 'queued',
      metadata: Object.keys(custom).length > 0 ? { custom: custom as never } : undefined,
    });
    // Before dialling: the answer webhook may come before Twilio's reply to us.
    if (personalisation) this.deps.personalisations?.set(call.id, personalisation);
    const query = `callId=${encodeURIComponent(call.id)}`;
    try {
      const placed = await twilio.createCall({
        to: request.to,
        from,
        url: webhookUrl(config.publicUrl, `/twilio/outbound-call?${query}`),
        statusCallback: webhookUrl(config.publicUrl, `/twilio/call-status?${query}`),
        statusCallbackEvent: ['initiated', 'ringing', 'answered', 'completed'],
        ...(request.machineDetection ? { machineDetection: 'DetectMessageEnd' as const } : {}),
      });
      const current = await callManager.findCall(call.id);
      // The answer webhook may already have stored the CallSid.
      const updated =
        current && !current.callSid ? await callManager.updateCall(call.id, { callSid: placed.sid }) : current;
      logger.info('outbound call requested', { callId: call.id, callSid: placed.sid, agent });
      return updated ?? call;
    } catch (err) {
      this.deps.personalisations?.forget(call.id);
      await callManager.endCall(call.id, { reason: 'error', status: 'failed' }).catch(() => undefined);
      if (err instanceof TwilioRestError) {
        const rejected = err.httpStatus !== null && err.httpStatus >= 400 && err.httpStatus < 500;
        throw new OutboundCallError(rejected ? 'rejected' : 'twilio_unavailable', err.message);
      }
      throw err;
    }
  }
}
