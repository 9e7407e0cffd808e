/**
 * Prometheus metrics of one app instance (its own registry: tests run several apps in a process).
 * The per-frame path only calls `observe()` on a histogram (a few array increments), never I/O.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Sub-millisecond buckets: the bridge's own work per frame is microseconds. */
const BRIDGE_BUCKETS_MS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 50];

export class Metrics {
  readonly registry = new Registry();
  readonly callsEnded: Counter<'reason'>;
  readonly aiReconnects: Counter;
  readonly framesIn: Counter;
  readonly framesOut: Counter;
  readonly bargeIns: Counter;
  readonly bridgeLatencyMs: Histogram<'direction'>;
  readonly bargeInReactionMs: Histogram;
  /** Pre-bound children of bridgeLatencyMs (no label lookup on the per-frame path). */
  readonly uplinkLatency: { observe(ms: number): void };
  readonly downlinkLatency: { observe(ms: number): void };
  readonly dbWriteMs: Histogram;
  private readonly loopDelay: IntervalHistogram;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const r = this.registry;
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
    this.framesIn = new Counter({
      name: 'switchboard_frames_in_total',
      help: 'Caller 20 ms frames received from Twilio',
      registers: [r],
    });
    this.framesOut = new Counter({
      name: 'switchboard_frames_out_total',
      help: 'Agent 20 ms frames sent to Twilio',
      registers: [r],
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
    });
    this.uplinkLatency = this.bridgeLatencyMs.labels('uplink');
    this.downlinkLatency = this.bridgeLatencyMs.labels('downlink');
    this.bargeInReactionMs = new Histogram({
      name: 'switchboard_barge_in_reaction_ms',
      help: 'speech_started received -> Twilio clear sent',
      buckets: BRIDGE_BUCKETS_MS,
      registers: [r],
    });
    this.dbWriteMs = new Histogram({
      name: 'switchboard_db_write_ms',
      help: 'Duration of batched database writes',
      buckets: [0.5, 1, 2, 5, 10, 25, 50, 100, 250, 1000],
      registers: [r],
    });

    this.loopDelay = monitorEventLoopDelay({ resolution: 10 });
    this.loopDelay.enable();
    const loop = this.loopDelay;
    new Gauge({
      name: 'switchboard_event_loop_delay_p99_ms',
      help: 'Event-loop delay p99 since the previous scrape',
      registers: [r],
      collect() {
        this.set(loop.percentile(99) / 1e6);
        loop.reset();
      },
    });
    if (options.defaultMetrics) collectDefaultMetrics({ register: r, prefix: 'switchboard_' });
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

  /** Event-loop delay percentile in ms since the last reset (for /health). */
  eventLoopDelayMs(percentile = 99): number {
    return this.loopDelay.percentile(percentile) / 1e6;
  }

  stop(): void {
    this.loopDelay.disable();
  }
}
