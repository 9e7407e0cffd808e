/**
 * Text channels: SMS in (`POST /twilio/sms`, mounted beside the Twilio voice webhooks) and out
 * (`POST /api/messages`, behind the API token), on the calls layer like every channel. The chat is
 * the orchestrator protocol's text turns (src/channels/app-ws). Guide: docs/app-websocket-protocols.md.
 */
import type { Router } from 'express';
import type { AppChannelStats } from '../../observability/metrics';
import type { ChannelModule, ChannelServices } from '../index';
import { APP_WS_MODULE_NAME, type AppWsModule } from '../app-ws';
import { createConversationStarter } from '../app-ws/conversation-starter';
import { createMessagesRouter } from './messages-route';
import { SmsConversations } from './sms-conversations';
import { SmsSender, type SmsTransport } from './sms-sender';
import { createSmsWebhookRouter } from './sms-webhook';

export interface TextChannels {
  /** Mount under /twilio (webhook rate limit). */
  smsWebhook: Router;
  /** Mount in the /api chain, behind the API token. */
  messages: Router;
  conversations: SmsConversations;
}

export function createTextChannels(services: ChannelServices, twilio: SmsTransport | undefined): TextChannels {
  const { config, logger, agentSettings } = services;
  const log = logger.child({ channel: 'sms' });
  const sender = new SmsSender({ transport: twilio, logger: log });
  const defaults = { from: agentSettings?.sms.from || config.twilio.phoneNumber, sms: agentSettings?.sms };
  const conversations = new SmsConversations({
    start: createConversationStarter(services),
    sender,
    settings: agentSettings,
    defaults,
    logger: log,
  });
  return {
    smsWebhook: createSmsWebhookRouter({ config, conversations, logger: log, counters: services.counters }),
    messages: createMessagesRouter({
      apiTokensConfigured: config.apiTokens.length > 0,
      sender,
      callManager: services.callManager,
      settings: agentSettings,
      defaults,
      logger: log,
    }),
    conversations,
  };
}

const sum = (counts: Record<string, number>): number => Object.values(counts).reduce((a, b) => a + b, 0);

/** The app WebSocket and SMS counters for /metrics (Metrics.trackAppChannels). */
export function appChannelStats(modules: readonly ChannelModule[], text: TextChannels): AppChannelStats {
  const appWs = modules.find((m): m is AppWsModule => m.name === APP_WS_MODULE_NAME);
  const sms = text.conversations.counters;
  return {
    appSockets: appWs?.counters.connections ?? 0,
    appRefused: appWs ? sum(appWs.counters.refused) : 0,
    appErrors: appWs ? sum(appWs.counters.protocolErrors) : 0,
    smsConversations: text.conversations.size,
    smsInbound: sms.inbound,
    smsReplies: sms.replies,
    smsRepliesRefused: sum(sms.repliesRefused),
  };
}
