/**
 * Prometheus metrics of one app instance (its own registry: tests run several apps in a process).
 * The per-frame path (frame counters, bridge latency) counts in plain numbers (`plain-metrics.ts`): no
 * allocation, no I/O; prom-client reads them at scrape time.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { droppedLogLines } from '../logging/destination';
import { LatencyRecorder } from './latency-recorder';
import { metricsText, openFdsOffThread } from './metrics-text';
import { PlainCounter, PlainHistogram, foldCounter, foldHistogram } from './plain-metrics';

/** Sub-millisecond buckets: the bridge's own work per frame is microseconds. */
const BRIDGE_BUCKETS_MS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 50];
/**
 * Event-loop delay sampling period. Node's histogram records the whole interval between two timer
 * runs (an idle loop reads ~10.1 ms at resolution 10), so the resolution is subtracted to report
 * the delay itself.
 */
const LOOP_RESOLUTION_MS = 10;

/** Delay in ms from an IntervalHistogram value in ns (the sampling period removed). */
function loopDelayMs(ns: number): number {
  return Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS);
}

interface Observer {
  observe(ms: number): void;
}

/** Both a Prometheus child and an exact recorder (benchmark mode). */
function tee(a: Observer, b: LatencyRecorder): Observer {
  return {
    observe(ms: number) {
      a.observe(ms);
      b.observe(ms);
    },
  };
}

/** What trackAppChannels reads. */
export interface AppChannelStats {
  appSockets: number;
  appRefused: number;
  appErrors: number;
  smsConversations: number;
  smsInbound: number;
  smsReplies: number;
  smsRepliesRefused: number;
}

/** What trackWebCalls reads: live web calls (WebRTC) and refused requests by reason. */
export interface WebCallStats {
  active: number;
  refusals: Readonly<Record<string, number>>;
}

export class Metrics {
  readonly registry = new Registry();
  readonly callsEnded: Counter<'reason'>;
  readonly aiReconnects: Counter;
  /** Per-frame counts (plain numbers; exported as switchboard_frames_in_total / _out_total). */
  readonly framesIn = new PlainCounter();
  readonly framesOut = new PlainCounter();
  readonly bargeIns: Counter;
  readonly bridgeLatencyMs: Histogram<'direction'>;
  readonly bargeInReactionMs: Histogram;
  /** bridgeLatencyMs by direction, counted in plain numbers and folded in at scrape time. */
  readonly uplinkLatency: Observer;
  readonly downlinkLatency: Observer;
  /** speech_started received -> clear sent (bargeInReactionMs, plus the exact recorder in benchmark mode). */
  readonly bargeInReaction: Observer;
  /**
   * Exact latency recorders, only in benchmark mode (`exactLatency` option or
   * SWITCHBOARD_BENCH_METRICS=1): exported as switchboard_bench_latency_ms{series,stat}, each
   * scrape reading and resetting them (a window since the previous scrape).
   */
  readonly exact: { uplink: LatencyRecorder; downlink: LatencyRecorder; bargeIn: LatencyRecorder } | undefined;
  readonly dbWriteMs: Histogram;
  /** Cascaded engine: caller's end of speech -> each stage's first result, per turn (stage label). */
  readonly pipelineStageMs: Histogram<'stage'>;
  private readonly loopDelay: IntervalHistogram;

  constructor(options: { defaultMetrics?: boolean; exactLatency?: boolean } = {}) {
    const r = this.registry;
    const exactLatency = options.exactLatency ?? process.env.SWITCHBOARD_BENCH_METRICS === '1';
    this.exact = exactLatency
      ? { uplink: new LatencyRecorder(), downlink: new LatencyRecorder(), bargeIn: new LatencyRecorder(1000) }
      : undefined;
    this.callsEnded = new Counter({
      name: 'switchboard_calls_ended_total',
      help: 'Calls ended, by end reason',
      labelNames: ['reason'],
      registers: [r],
    });
    this.aiReconnects = new Counter({
      name: 'switchboard_ai_reconnects_total',
      help: 'AI sessions re-made after a drop',
      registers: [r],
    });
    const { framesIn, framesOut } = this;
    new Counter({
      name: 'switchboard_frames_in_total',
      help: 'Caller 20 ms frames received from Twilio',
      registers: [r],
      collect() {
        foldCounter(this, framesIn);
      },
    });
    new Counter({
      name: 'switchboard_frames_out_total',
      help: 'Agent 20 ms frames sent to Twilio',
      registers: [r],
      collect() {
        foldCounter(this, framesOut);
      },
    });
    this.bargeIns = new Counter({
      name: 'switchboard_barge_ins_total',
      help: 'Caller interruptions of the agent',
      registers: [r],
    });
    this.bridgeLatencyMs = new Histogram({
      name: 'switchboard_bridge_latency_ms',
      help: 'Time the bridge adds per message: uplink = Twilio frame received -> appended on the AI socket; downlink = AI audio received -> media sent to Twilio',
      labelNames: ['direction'],
      buckets: BRIDGE_BUCKETS_MS,
      registers: [r],
      collect() {
        foldHistogram(this, 'direction', bridge);
      },
    });
    const uplink = new PlainHistogram(BRIDGE_BUCKETS_MS);
    const downlink = new PlainHistogram(BRIDGE_BUCKETS_MS);
    const bridge = [['uplink', uplink] as const, ['downlink', downlink] as const];
    this.uplinkLatency = this.exact ? tee(uplink, this.exact.uplink) : uplink;
    this.downlinkLatency = this.exact ? tee(downlink, this.exact.downlink) : downlink;
    this.bargeInReactionMs = new Histogram({
      name: 'switchboard_barge_in_reaction_ms',
      help: 'speech_started received -> Twilio clear sent',
      buckets: BRIDGE_BUCKETS_MS,
      registers: [r],
    });
    this.bargeInReaction = this.exact ? tee(this.bargeInReactionMs, this.exact.bargeIn) : this.bargeInReactionMs;
    this.dbWriteMs = new Histogram({
      name: 'switchboard_db_write_ms',
      help: 'Duration of batched database writes',
      buckets: [0.5, 1, 2, 5, 10, 25, 50, 100, 250, 1000],
      registers: [r],
    });

    this.pipelineStageMs = new Histogram({
      name: 'switchboard_pipeline_stage_ms',
      help: 'Cascaded engine, per turn: caller speech end -> final transcript (transcript), first model token (first_token), first speech byte (first_speech_byte), first agent audio (first_audio)',
      labelNames: ['stage'],
      buckets: [10, 25, 50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 8000],
      registers: [r],
    });

    this.loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
    this.loopDelay.enable();
    const loop = this.loopDelay;
    const exact = this.exact;
    if (exact) {
      // Registered before the p99 gauge below, which resets the loop histogram when collected.
      new Gauge({
        name: 'switchboard_bench_latency_ms',
        help: 'Benchmark mode: exact latency statistics since the previous scrape (series uplink, downlink, barge_in, event_loop)',
        labelNames: ['series', 'stat'],
        registers: [r],
        collect() {
          const series: [string, LatencyRecorder][] = [
            ['uplink', exact.uplink],
            ['downlink', exact.downlink],
            ['barge_in', exact.bargeIn],
          ];
          for (const [name, recorder] of series) {
            const snap = recorder.snapshot();
            for (const [stat, value] of Object.entries(snap)) this.set({ series: name, stat }, value);
            recorder.reset();
          }
          this.set({ series: 'event_loop', stat: 'count' }, loop.count);
          this.set({ series: 'event_loop', stat: 'p50' }, loopDelayMs(loop.percentile(50)));
          this.set({ series: 'event_loop', stat: 'p99' }, loopDelayMs(loop.percentile(99)));
          this.set({ series: 'event_loop', stat: 'max' }, loop.count ? loopDelayMs(loop.max) : 0);
        },
      });
    }
    new Gauge({
      name: 'switchboard_event_loop_delay_p99_ms',
      help: 'Event-loop delay p99 since the previous scrape (the 10 ms sampling period excluded)',
      registers: [r],
      collect() {
        this.set(loop.count ? loopDelayMs(loop.percentile(99)) : 0);
        loop.reset();
      },
    });
    new Gauge({
      name: 'switchboard_log_lines_dropped_total',
      help: 'Log lines dropped because the reader of stdout fell behind (8 MB of lines were waiting)',
      registers: [r],
      collect() {
        this.set(droppedLogLines());
      },
    });
    if (options.defaultMetrics) {
      collectDefaultMetrics({ register: r, prefix: 'switchboard_' });
      openFdsOffThread(r, 'switchboard_');
    }
  }

  /**
   * Metrics read from the bridge at scrape time (nothing to do on the hot path): active calls,
   * protocol errors, signature failures, refused calls.
   */
  trackBridge(
    bridge: { size: number; counters: { protocolErrors: number } },
    counters: { signatureFailures: number; handshakesRejected: number; callsRefused: number },
  ): void {
    const registers = [this.registry];
    new Gauge({
      name: 'switchboard_active_calls',
      help: 'Calls being bridged now',
      registers,
      collect() {
        this.set(bridge.size);
      },
    });
    // Monotonic totals kept by the bridge and the routes, exposed as gauges read at scrape time
    // (prom-client counters cannot be set; these only ever grow, so rate() works on them).
    const total = (name: string, help: string, read: () => number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    };
    total(
      'switchboard_protocol_errors_total',
      'Malformed or unexpected Twilio stream messages',
      () => bridge.counters.protocolErrors,
    );
    total(
      'switchboard_webhook_signature_failures_total',
      'Twilio webhooks rejected for a bad signature',
      () => counters.signatureFailures,
    );
    total(
      'switchboard_handshake_signature_failures_total',
      'Media stream handshakes rejected for a bad signature',
      () => counters.handshakesRejected,
    );
    total(
      'switchboard_calls_refused_total',
      'Calls refused (concurrent-call cap or shutdown)',
      () => counters.callsRefused,
    );
  }

  /** The app WebSocket and SMS channels' counters, read at scrape time (src/channels/app-ws, text). */
  trackAppChannels(read: () => AppChannelStats): void {
    const registers = [this.registry];
    const gauge = (name: string, help: string, pick: (s: AppChannelStats) => number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(pick(read()));
        },
      });
    };
    gauge('switchboard_app_sockets', 'Open app WebSockets (voice gateway and orchestrator)', (s) => s.appSockets);
    gauge(
      'switchboard_app_sockets_refused_total',
      'App WebSocket upgrades refused (auth, capacity)',
      (s) => s.appRefused,
    );
    gauge(
      'switchboard_app_protocol_errors_total',
      'Bad app WebSocket messages answered with an error',
      (s) => s.appErrors,
    );
    gauge('switchboard_sms_conversations', 'Live SMS conversations', (s) => s.smsConversations);
    gauge('switchboard_sms_inbound_total', 'Inbound SMS handed to a conversation', (s) => s.smsInbound);
    gauge('switchboard_sms_replies_total', 'Agent replies sent by SMS', (s) => s.smsReplies);
    gauge('switchboard_sms_replies_refused_total', 'Agent SMS replies refused by a limit', (s) => s.smsRepliesRefused);
  }

  /** The WebRTC channel's web calls, read at scrape time (src/channels/webrtc). */
  trackWebCalls(read: () => WebCallStats): void {
    const registers = [this.registry];
    new Gauge({
      name: 'switchboard_web_calls',
      help: 'Live web calls (WebRTC peer connections)',
      registers,
      collect() {
        this.set(read().active);
      },
    });
    new Gauge({
      name: 'switchboard_web_calls_refused_total',
      help: 'Web-call requests refused, by reason (credential, offer, capacity, shutdown, start)',
      labelNames: ['reason'],
      registers,
      collect() {
        for (const [reason, count] of Object.entries(read().refusals)) this.set({ reason }, count);
      },
    });
  }

  /**
   * The batched-write queue, read at scrape time: rows waiting for the database, its bound, the age
   * of the oldest, rows moved to the dead letter and rows lost since start (see CallManager).
   */
  trackWriteQueue(queue: {
    writeQueueState(): {
      rows: number;
      maxRows: number;
      oldestAgeMs: number;
      deadLetteredTotal: number;
      droppedTotal: number;
    };
  }): void {
    const registers = [this.registry];
    const gauge = (name: string, help: string, read: () => number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    };
    gauge(
      'switchboard_db_write_queue_rows',
      'Transcript/event rows waiting to be written',
      () => queue.writeQueueState().rows,
    );
    gauge(
      'switchboard_db_write_queue_max_rows',
      'Bound of the write queue (the oldest rows beyond go to the dead letter)',
      () => queue.writeQueueState().maxRows,
    );
    gauge(
      'switchboard_db_write_queue_oldest_age_seconds',
      'Age of the oldest row waiting to be written',
      () => queue.writeQueueState().oldestAgeMs / 1000,
    );
    gauge(
      'switchboard_db_dead_lettered_rows_total',
      'Rows written to the dead-letter file instead of the database (npm run db:reimport)',
      () => queue.writeQueueState().deadLetteredTotal,
    );
    gauge(
      'switchboard_db_dropped_rows_total',
      'Rows lost: neither the database nor the dead-letter file took them',
      () => queue.writeQueueState().droppedTotal,
    );
  }

  /** The Prometheus exposition, collected one metric per turn of the event loop (`metrics-text.ts`). */
  text(): Promise<string> {
    return metricsText(this.registry);
  }

  /** Event-loop delay percentile in ms since the last reset (for /health). */
  eventLoopDelayMs(percentile = 99): number {
    return this.loopDelay.count ? loopDelayMs(this.loopDelay.percentile(percentile)) : 0;
  }

  stop(): void {
    this.loopDelay.disable();
  }
}
