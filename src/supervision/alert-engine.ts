/**
 * Evaluates the alert rules on every live call, off the audio path: transcripts (keyword, sentiment)
 * as the bus publishes them, and a sweep every `sweepMs` over the live conversations that only reads
 * what the call already counts (latencies, barge-ins, reconnects, talk segments, call time). A rule
 * fires once per call (or again after its cooldown): on the call's timeline (`alert.fired`), as
 * SSE `alert.fired`, in /metrics (`switchboard_alerts_fired_total{rule,kind}`) and in the log.
 */
import Sentiment from 'sentiment';
import { Counter, type Registry } from 'prom-client';
import type { EventBus, AnyBusEvent } from '../events/event-bus';
import type { Logger } from '../logging/logger';
import type { Conversation } from '../conversation/conversation';
import { phraseMatcher, type AlertRule } from './alert-rules';
import type { AlertRuleStore } from './alert-rule-store';

/** What the engine reads of a live call (a Conversation has all of it). */
export type WatchedCall = Pick<
  Conversation,
  'callId' | 'callerClockMs' | 'callerTurns' | 'stats' | 'playout' | 'active' | 'streaming' | 'call' | 'deps'
>;

export interface AlertEngineDeps {
  bus: EventBus;
  rules: AlertRuleStore;
  /** The live calls of this instance. */
  calls: () => Iterable<WatchedCall>;
  call: (callId: string) => WatchedCall | undefined;
  addEvent: (callId: string, type: string, data: Record<string, unknown>, offsetMs?: number) => void;
  logger: Logger;
  registry?: Registry;
  sweepMs?: number;
  now?: () => number;
}

interface CallState {
  /** When each rule last fired on this call (Date.now()). */
  fired: Map<string, number>;
  reconnectsSeen: number;
  reconnectTimes: number[];
}

export interface AlertFired {
  callId: string;
  ruleId: string;
  kind: AlertRule['kind'];
  message: string;
  offsetMs: number;
}

const sentiment = new Sentiment();
/** How long an ended call's state is kept for transcripts committed after it ended. */
const ENDED_GRACE_MS = 15_000;

export class AlertEngine {
  private readonly states = new Map<string, CallState>();
  private readonly timer: NodeJS.Timeout;
  private readonly unsubscribe: () => void;
  private readonly counter: Counter<'rule' | 'kind'> | undefined;
  private readonly matchers = new WeakMap<AlertRule, RegExp>();
  private readonly forgetTimers = new Set<NodeJS.Timeout>();
  private readonly now: () => number;

  constructor(private readonly deps: AlertEngineDeps) {
    this.now = deps.now ?? Date.now;
    this.counter = deps.registry
      ? new Counter({
          name: 'switchboard_alerts_fired_total',
          help: 'Alerts fired on calls, by rule id and kind',
          labelNames: ['rule', 'kind'],
          registers: [deps.registry],
        })
      : undefined;
    this.unsubscribe = deps.bus.subscribe((event) => this.onBusEvent(event));
    this.timer = setInterval(() => this.sweep(), deps.sweepMs ?? 250);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
    for (const t of this.forgetTimers) clearTimeout(t);
    this.forgetTimers.clear();
    this.unsubscribe();
  }

  private state(callId: string): CallState {
    let s = this.states.get(callId);
    if (!s) {
      s = { fired: new Map(), reconnectsSeen: 0, reconnectTimes: [] };
      this.states.set(callId, s);
    }
    return s;
  }

  private onBusEvent(event: AnyBusEvent): void {
    if (event.type === 'transcript.added') {
      const { callId, transcript } = event.data;
      if (!this.states.has(callId) && !this.deps.call(callId)) return;
      this.onTranscript(callId, transcript.speaker, transcript.text, transcript.startMs);
    } else if (event.type === 'call.ended') {
      const callId = event.data.call.id;
      const t = setTimeout(() => {
        this.forgetTimers.delete(t);
        this.states.delete(callId);
      }, ENDED_GRACE_MS);
      t.unref();
      this.forgetTimers.add(t);
    }
  }

  private onTranscript(callId: string, speaker: string, text: string, offsetMs: number): void {
    for (const rule of this.deps.rules.active()) {
      if (rule.kind === 'keyword') {
        if (rule.speaker !== 'any' && rule.speaker !== speaker) continue;
        let re = this.matchers.get(rule);
        if (!re) {
          re = phraseMatcher(rule.phrases);
          this.matchers.set(rule, re);
        }
        const m = re.exec(text);
        if (m) this.fire(callId, rule, `${speaker} said "${m[0]}"`, offsetMs, { speaker, phrase: m[0] });
      } else if (rule.kind === 'negative-sentiment' && speaker === 'caller') {
        const score = sentiment.analyze(text).comparative;
        if (score <= rule.threshold)
          this.fire(callId, rule, `caller sentiment ${score.toFixed(2)} on a turn`, offsetMs, {
            score: Math.round(score * 100) / 100,
          });
      }
    }
  }

  /** One pass over the live calls (also called by tests). */
  sweep(): void {
    const rules = this.deps.rules.active();
    if (rules.length === 0) return;
    const now = this.now();
    for (const c of this.deps.calls()) {
      if (!c.active) continue;
      try {
        this.check(c, rules, now);
      } catch (err) {
        this.deps.logger.error('alert rule check failed', { callId: c.callId, error: (err as Error).message });
      }
    }
  }

  private check(c: WatchedCall, rules: readonly AlertRule[], now: number): void {
    const s = this.state(c.callId);
    const reconnects = c.stats.counts.aiReconnects;
    while (s.reconnectsSeen < reconnects) {
      s.reconnectsSeen++;
      s.reconnectTimes.push(now);
      if (s.reconnectTimes.length > 1000) s.reconnectTimes.shift();
    }
    const at = c.callerClockMs;
    for (const rule of rules) {
      switch (rule.kind) {
        case 'dead-air': {
          const silentMs = c.streaming && c.deps.mode === 'voice' ? this.silenceMs(c) : 0;
          if (silentMs >= rule.seconds * 1000)
            this.fire(c.callId, rule, `no one has spoken for ${Math.round(silentMs / 1000)} s`, at, { silentMs });
          break;
        }
        case 'slow-response': {
          const l = c.stats.latenciesMs;
          if (l.length >= rule.turns && l.slice(-rule.turns).every((ms) => ms > rule.ms))
            this.fire(c.callId, rule, `response latency over ${rule.ms} ms for ${rule.turns} turns`, at, {
              latenciesMs: l.slice(-rule.turns).map(Math.round),
            });
          break;
        }
        case 'barge-ins': {
          const n = c.stats.interruptionsAtMs.length;
          if (n >= rule.count)
            this.fire(c.callId, rule, `the caller cut the agent off ${n} times`, at, { bargeIns: n });
          break;
        }
        case 'reconnect-storm': {
          const since = now - rule.withinSec * 1000;
          const n = s.reconnectTimes.filter((t) => t >= since).length;
          if (n >= rule.count)
            this.fire(c.callId, rule, `${n} AI reconnects within ${rule.withinSec} s`, at, { reconnects: n });
          break;
        }
        case 'long-call': {
          const ms = now - c.call.startedAt.getTime();
          if (ms >= rule.minutes * 60_000)
            this.fire(c.callId, rule, `the call has lasted ${Math.round(ms / 1000)} s`, at, { durationMs: ms });
          break;
        }
        default:
          break;
      }
    }
  }

  /** Call time since anyone last spoke; 0 while someone speaks or the agent's audio plays. */
  private silenceMs(c: WatchedCall): number {
    if (c.playout?.hasUnplayedAudio()) return 0;
    let last = 0;
    for (const turn of c.callerTurns.values()) {
      if (turn.endMs === undefined) return 0;
      if (turn.endMs > last) last = turn.endMs;
    }
    const lastOf = (segments: readonly { endMs: number }[]): number =>
      segments.length ? segments[segments.length - 1].endMs : 0;
    last = Math.max(last, lastOf(c.stats.callerSegments), lastOf(c.stats.agentSegments));
    return Math.max(0, c.callerClockMs - last);
  }

  private fire(
    callId: string,
    rule: AlertRule,
    message: string,
    offsetMs: number,
    detail: Record<string, unknown>,
  ): void {
    const s = this.state(callId);
    const now = this.now();
    const last = s.fired.get(rule.id);
    if (last !== undefined && (rule.cooldownSec === 0 || now - last < rule.cooldownSec * 1000)) return;
    s.fired.set(rule.id, now);
    const at = Math.max(0, Math.round(offsetMs));
    this.deps.addEvent(callId, 'alert.fired', { ruleId: rule.id, kind: rule.kind, message, ...detail }, at);
    const fired: AlertFired = { callId, ruleId: rule.id, kind: rule.kind, message, offsetMs: at };
    this.deps.bus.publish('alert.fired', fired);
    this.counter?.inc({ rule: rule.id, kind: rule.kind });
    this.deps.logger.warn('alert fired', { callId, ruleId: rule.id, kind: rule.kind });
  }
}
