/**
 * Test harness of the SMS channel: the Twilio Messaging webhook (under /twilio) and POST
 * /api/messages on a real HTTP server, sending through the real TwilioRestService to the local fake
 * Twilio REST API; a scripted conversation stands in for the call core (it answers each text with
 * "You wrote: …"), and a small call recorder stands in for the CallManager.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { errorHandler, notFoundHandler } from '../../src/http/errors';
import { createLogger } from '../../src/logging/logger';
import type { Config } from '../../src/config';
import type { SmsSettings } from '../../src/agent/profiles';
import { SmsLimiter } from '../../src/agent/skills/sms-limiter';
import type { CallManager } from '../../src/calls/call-manager';
import type { CallerChannel, ChannelStart } from '../../src/conversation/channel';
import { TwilioRestService } from '../../src/channels/twilio/twilio-rest-service';
import { computeTwilioSignature } from '../../src/channels/twilio/signature';
import { SmsSender } from '../../src/channels/text/sms-sender';
import { SmsConversations } from '../../src/channels/text/sms-conversations';
import { createSmsWebhookRouter } from '../../src/channels/text/sms-webhook';
import { createMessagesRouter } from '../../src/channels/text/messages-route';
import { FAKE_ACCOUNT_SID, FAKE_AUTH_TOKEN, startFakeTwilioRest, type FakeTwilioRest } from './fake-twilio-rest';

export const OUR_NUMBER = '+15550001111';

export const TEST_SMS: SmsSettings = {
  maxPerCall: 3,
  maxPerNumberPerDay: 5,
  maxPerDay: 100,
  countryCodes: ['+1'],
  templates: {},
  allowFreeText: false,
  maxFreeTextChars: 320,
};

export interface SmsTestServer {
  url: string;
  twilio: FakeTwilioRest;
  conversations: SmsConversations;
  started: { channel: CallerChannel; start: ChannelStart; callId: string; texts: string[]; ended?: string }[];
  calls: { id: string; input: Record<string, unknown>; transcripts: unknown[]; ended?: unknown }[];
  counters: { signatureFailures: number };
  /** Posts a signed (or, with `signature`, a chosen) Messaging webhook. */
  postSms(params: Record<string, string>, opts?: { signature?: string; path?: string }): Promise<Response>;
  sent(): Record<string, string | string[]>[];
  close(): Promise<void>;
}

export async function startSmsServer(
  opts: {
    sms?: Partial<SmsSettings>;
    maxReplies?: number;
    maxInbound?: number;
    idleMs?: number;
    apiOpen?: boolean;
  } = {},
) {
  const logger = createLogger({ level: 'error', json: false, silent: true });
  const twilio = await startFakeTwilioRest();
  const app = express();
  app.set('case sensitive routing', true);
  app.set('strict routing', true);
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const config = {
    publicUrl: url,
    twilio: { accountSid: FAKE_ACCOUNT_SID, authToken: FAKE_AUTH_TOKEN, validateSignatures: true },
  } as unknown as Pick<Config, 'publicUrl' | 'twilio'>;
  const rest = new TwilioRestService({
    accountSid: FAKE_ACCOUNT_SID,
    authToken: FAKE_AUTH_TOKEN,
    baseUrl: twilio.baseUrl,
    logger,
  });
  const sender = new SmsSender({ transport: rest, logger, limiter: new SmsLimiter() });
  const sms = { ...TEST_SMS, ...opts.sms };
  const started: SmsTestServer['started'] = [];
  const conversations = new SmsConversations({
    sender,
    settings: undefined,
    defaults: { from: OUR_NUMBER, sms },
    logger,
    idleMs: opts.idleMs,
    maxRepliesPerConversation: opts.maxReplies,
    maxInboundPerConversation: opts.maxInbound,
    start: async (channel, start) => {
      // Like the call core: the conversation listens to the channel only once it is attached.
      await new Promise((r) => setTimeout(r, 30));
      const entry = {
        channel,
        start,
        callId: `sms-call-${started.length + 1}`,
        texts: [] as string[],
        ended: undefined as string | undefined,
      };
      started.push(entry);
      channel.on('text', (text) => {
        entry.texts.push(text);
        setTimeout(() => channel.sendText?.(`You wrote: ${text}`, 'agent'), 10);
      });
      channel.on('end', (cause) => (entry.ended = cause));
      return { callId: entry.callId };
    },
  });
  const calls: SmsTestServer['calls'] = [];
  const callManager = {
    async createCall(input: Record<string, unknown>) {
      const call = { id: `rec-${calls.length + 1}`, input, transcripts: [] as unknown[], ended: undefined as unknown };
      calls.push(call);
      return { id: call.id };
    },
    addTranscript(id: string, t: unknown) {
      calls.find((c) => c.id === id)!.transcripts.push(t);
    },
    async endCall(id: string, input: unknown) {
      calls.find((c) => c.id === id)!.ended = input;
      return { id };
    },
  } as unknown as CallManager;
  const counters = { signatureFailures: 0 };
  app.use('/twilio', createSmsWebhookRouter({ config, conversations, logger, counters }));
  app.use(
    '/api',
    createMessagesRouter({
      apiTokensConfigured: opts.apiOpen !== true,
      sender,
      callManager,
      settings: undefined,
      defaults: { from: OUR_NUMBER, sms },
      logger,
    }),
  );
  app.use(notFoundHandler);
  app.use(errorHandler(logger));

  return {
    url,
    twilio,
    conversations,
    started,
    calls,
    counters,
    postSms(params: Record<string, string>, o: { signature?: string; path?: string } = {}) {
      const path = o.path ?? '/twilio/sms';
      const signature = o.signature ?? computeTwilioSignature(FAKE_AUTH_TOKEN, `${url}${path}`, params);
      return fetch(`${url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
        body: new URLSearchParams(params).toString(),
      });
    },
    sent() {
      return twilio.requests.filter((r) => r.path.endsWith('/Messages.json')).map((r) => r.params);
    },
    async close() {
      conversations.closeAll();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await twilio.close();
    },
  } satisfies SmsTestServer;
}
