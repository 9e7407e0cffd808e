/**
 * SMS conversations: one text conversation (a call record with channel `sms`) per pair of numbers,
 * kept while messages keep coming (ended after `idleMs` of silence). Each inbound message is the
 * caller's text; each agent reply goes back as an SMS through SmsSender (country codes, length, the
 * daily limits of send_sms) and at most `maxRepliesPerConversation` per conversation, so a flood of
 * inbound messages cannot make Switchboard text without bound. A replayed MessageSid is ignored.
 */
import { profileForNumber, type AgentSettings, type SmsSettings } from '../../agent/profiles';
import { maskNumber } from '../../agent/skills/phone-numbers';
import type { Logger } from '../../logging/logger';
import { AppWsChannel } from '../app-ws/app-ws-channel';
import type { ConversationStarter } from '../app-ws/types';
import { SmsRefusal, type SmsSender } from './sms-sender';

export const DEFAULT_SMS_IDLE_MS = 10 * 60_000;
export const DEFAULT_MAX_SMS_CONVERSATIONS = 200;
export const DEFAULT_MAX_REPLIES_PER_CONVERSATION = 20;
/** Inbound messages one conversation hands to the agent (each costs a model response); beyond, ignored. */
export const DEFAULT_MAX_INBOUND_PER_CONVERSATION = 50;
/** MessageSids remembered against replays. */
const MAX_SEEN_MESSAGES = 10_000;

export interface InboundSms {
  messageSid: string;
  from: string;
  to: string;
  body: string;
}

export type InboundResult = 'accepted' | 'duplicate' | 'busy' | 'over-limit';

export interface SmsConversationsDeps {
  start: ConversationStarter;
  sender: SmsSender;
  settings: AgentSettings | undefined;
  /** Fallback sender number and rules when no profiles file is configured. */
  defaults: { from: string; sms: SmsSettings | undefined };
  logger: Logger;
  idleMs?: number;
  maxConversations?: number;
  maxRepliesPerConversation?: number;
  maxInboundPerConversation?: number;
}

interface LiveSms {
  key: string;
  remote: string;
  local: string;
  profile: string;
  sms: SmsSettings | undefined;
  channel: AppWsChannel;
  callId?: string;
  /** Texts that arrived while the conversation was starting (the core listens once it is attached). */
  pending: string[] | undefined;
  replies: number;
  inbound: number;
  sending: Promise<void>;
  idle?: NodeJS.Timeout;
}

export interface SmsCounters {
  inbound: number;
  duplicates: number;
  refusedBusy: number;
  overLimit: number;
  replies: number;
  repliesRefused: Record<string, number>;
}

export class SmsConversations {
  private readonly live = new Map<string, LiveSms>();
  private readonly seen = new Set<string>();
  readonly counters: SmsCounters = {
    inbound: 0,
    duplicates: 0,
    refusedBusy: 0,
    overLimit: 0,
    replies: 0,
    repliesRefused: {},
  };

  constructor(private readonly deps: SmsConversationsDeps) {}

  get size(): number {
    return this.live.size;
  }

  /** The live conversation's call id with this remote number, if any. */
  callIdOf(remote: string, local: string): string | undefined {
    return this.live.get(`${remote}|${local}`)?.callId;
  }

  inbound(msg: InboundSms): InboundResult {
    if (this.seen.has(msg.messageSid)) {
      this.counters.duplicates++;
      return 'duplicate';
    }
    this.seen.add(msg.messageSid);
    if (this.seen.size > MAX_SEEN_MESSAGES) this.seen.delete(this.seen.values().next().value!);
    this.counters.inbound++;
    const key = `${msg.from}|${msg.to}`;
    let live = this.live.get(key);
    if (!live) {
      if (this.live.size >= (this.deps.maxConversations ?? DEFAULT_MAX_SMS_CONVERSATIONS)) {
        this.counters.refusedBusy++;
        this.deps.logger.warn('sms conversation refused: too many at once', { from: msg.from });
        return 'busy';
      }
      live = this.open(key, msg);
    }
    if (++live.inbound > (this.deps.maxInboundPerConversation ?? DEFAULT_MAX_INBOUND_PER_CONVERSATION)) {
      this.counters.overLimit++;
      this.deps.logger.warn('sms ignored: conversation message limit', { callId: live.callId, from: msg.from });
      return 'over-limit';
    }
    this.touch(live);
    if (live.pending) live.pending.push(msg.body);
    else live.channel.pushCallerText(msg.body);
    return 'accepted';
  }

  closeAll(): void {
    for (const live of [...this.live.values()]) live.channel.callerGone();
  }

  private open(key: string, msg: InboundSms): LiveSms {
    const { settings, defaults } = this.deps;
    const profile = settings ? profileForNumber(settings, msg.to) : undefined;
    const live: LiveSms = {
      key,
      remote: msg.from,
      local: msg.to,
      profile: profile?.name ?? 'default',
      sms: profile?.sms ?? defaults.sms,
      pending: [],
      replies: 0,
      inbound: 0,
      sending: Promise.resolve(),
      channel: new AppWsChannel({
        provider: 'sms',
        format: undefined,
        acks: 'immediate',
        sink: {
          audio: () => undefined,
          clear: () => undefined,
          text: (text, role) => {
            if (role === 'agent') this.reply(live, text);
          },
          end: () => this.forget(live),
        },
      }),
    };
    live.channel.once('end', () => this.forget(live));
    this.live.set(key, live);
    this.deps
      .start(
        live.channel,
        { provider: 'sms', streamId: msg.messageSid, from: msg.from, to: msg.to, parameters: {}, format: undefined },
        { mode: 'text', profile: live.profile },
      )
      .then(({ callId }) => {
        live.callId = callId;
        this.deps.logger.info('sms conversation started', { callId, from: msg.from });
        const pending = live.pending ?? [];
        live.pending = undefined;
        for (const text of pending) live.channel.pushCallerText(text);
      })
      .catch((err: unknown) => {
        this.deps.logger.warn('sms conversation could not start', { error: (err as Error).message });
        this.forget(live);
      });
    return live;
  }

  private touch(live: LiveSms): void {
    clearTimeout(live.idle);
    live.idle = setTimeout(() => live.channel.callerGone(), this.deps.idleMs ?? DEFAULT_SMS_IDLE_MS);
    live.idle.unref();
  }

  private forget(live: LiveSms): void {
    clearTimeout(live.idle);
    if (this.live.get(live.key) === live) this.live.delete(live.key);
  }

  private reply(live: LiveSms, text: string): void {
    const cap = this.deps.maxRepliesPerConversation ?? DEFAULT_MAX_REPLIES_PER_CONVERSATION;
    const refuse = (code: string): void => {
      this.counters.repliesRefused[code] = (this.counters.repliesRefused[code] ?? 0) + 1;
      this.deps.logger.warn('sms reply not sent', { callId: live.callId, code, to: maskNumber(live.remote) });
    };
    if (live.replies >= cap) return refuse('conversation_limit');
    if (!live.sms) return refuse('unavailable');
    live.replies++;
    const sms = live.sms;
    // One conversation's replies go out in order.
    live.sending = live.sending.then(async () => {
      try {
        await this.deps.sender.send({
          to: live.remote,
          // From the number the person wrote to (one of ours: Twilio delivered the message to it).
          from: live.local || this.deps.defaults.from,
          body: text,
          profile: live.profile,
          sms,
          callId: live.callId,
        });
        this.counters.replies++;
      } catch (err) {
        refuse(err instanceof SmsRefusal ? err.code : 'send_failed');
      }
    });
  }
}
