/**
 * Starts a conversation for a client-initiated channel (app WebSocket, chat, SMS): no provider
 * webhook prepares these calls, so the channel's own authenticated connection does it here, through
 * the same calls layer: capacity and draining as for phone calls, a call record (provider = the
 * channel), the profile's engine prepared in the conversation's mode, then the channel attached
 * through the bridge's one start check (with the call's single-use token, like a media stream).
 */
import { profileForNumber } from '../../agent/profiles';
import { STREAM_TOKEN_PARAMETER } from '../../calls/stream-token';
import type { CreateCallInput } from '../../calls/call-manager';
import { ApiError } from '../../http/errors';
import type { ChannelServices } from '../index';
import type { ConversationStarter } from './types';

/** Parameters kept on the call record's metadata (never credentials). */
const KEPT_PARAMETERS = ['protocol', 'clientCallId', 'clientSessionId', 'context', 'auth'];

export function createConversationStarter(
  services: Pick<ChannelServices, 'config' | 'callManager' | 'bridge' | 'streamTokens' | 'agentSettings' | 'logger'>,
): ConversationStarter {
  const { config, callManager, bridge, agentSettings, streamTokens, logger } = services;
  return async (channel, start, request) => {
    if (bridge.isDraining) throw new ApiError('unavailable', 'the server is shutting down; try again shortly');
    if (bridge.size >= config.maxConcurrentCalls) {
      logger.warn('client conversation refused', { reason: 'concurrent call cap', provider: start.provider });
      throw new ApiError('unavailable', 'all lines are busy; try again shortly');
    }
    let agent: string | undefined;
    let profileLanguage: string | undefined;
    if (agentSettings) {
      const profile = request.profile
        ? agentSettings.profiles.get(request.profile)
        : profileForNumber(agentSettings, start.to);
      if (!profile) throw new ApiError('invalid_parameter', `no agent profile named "${request.profile}"`, 'profile');
      agent = profile.name;
      profileLanguage = profile.languageHint;
    }
    const custom: Record<string, string> = { channel: start.provider };
    for (const key of KEPT_PARAMETERS) if (start.parameters[key]) custom[key] = start.parameters[key];
    const input: CreateCallInput = {
      from: start.from ?? null,
      to: start.to ?? null,
      direction: 'inbound',
      ...(agent ? { agent } : {}),
      status: 'in-progress',
      provider: start.provider,
      // The client's language hint, else the profile's.
      metadata: { language: request.languageHint ?? profileLanguage ?? null, custom },
    };
    const call = await callManager.createCall(input);
    try {
      await bridge.prepare(call, request.mode, { languageHint: request.languageHint });
    } catch (err) {
      logger.error('could not start the conversation', { callId: call.id, error: (err as Error).message });
      await bridge.end(call.id, 'error');
      if (!bridge.get(call.id)) await callManager.endCall(call.id, { reason: 'error', status: 'failed' });
      throw new ApiError('unavailable', 'the agent is not available right now');
    }
    const refusal = await bridge.attach(channel, {
      ...start,
      parameters: { ...start.parameters, callId: call.id, [STREAM_TOKEN_PARAMETER]: streamTokens.issue(call.id) },
    });
    if (refusal) {
      await bridge.end(call.id, 'error');
      throw new ApiError('unavailable', 'the conversation could not start');
    }
    return { callId: call.id };
  };
}
