import { PerformanceObserver, constants } from 'node:perf_hooks';
import { Counter, Histogram, Registry } from 'prom-client';
import { Metrics } from '../../src/observability/metrics';

const BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 50];
const VALUES = [0, 0.003, 0.01, 0.011, 0.05, 0.3, 1, 1.5, 2, 7, 49.9, 50, 51, 1000];

function lines(text: string, prefix: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(prefix));
}

describe('per-frame metrics counted in plain numbers', () => {
  it('export exactly what prom-client would have exported for the same observations', async () => {
    const m = new Metrics();
    const reference = new Registry();
    const hist = new Histogram({
      name: 'switchboard_bridge_latency_ms',
      help: 'x',
      labelNames: ['direction'],
      buckets: BUCKETS,
      registers: [reference],
    });
    const framesIn = new Counter({ name: 'switchboard_frames_in_total', help: 'x', registers: [reference] });
    const framesOut = new Counter({ name: 'switchboard_frames_out_total', help: 'x', registers: [reference] });
    for (let round = 1; round <= 2; round++) {
      for (const v of VALUES) {
        m.uplinkLatency.observe(v);
        hist.labels('uplink').observe(v);
        m.downlinkLatency.observe(v * 2);
        hist.labels('downlink').observe(v * 2);
        m.framesIn.inc();
        framesIn.inc();
      }
      m.framesOut.inc(7.5);
      framesOut.inc(7.5);
      // Scraped twice: the second scrape holds everything since the start, not a window.
      const ours = await m.registry.metrics();
      const theirs = await reference.metrics();
      for (const prefix of [
        'switchboard_bridge_latency_ms_',
        'switchboard_frames_in_total ',
        'switchboard_frames_out_total ',
      ]) {
        expect(lines(ours, prefix)).toEqual(lines(theirs, prefix));
        expect(lines(ours, prefix).length).toBeGreaterThan(0);
      }
      expect(ours).toContain(`switchboard_bridge_latency_ms_count{direction="uplink"} ${VALUES.length * round}`);
      expect(ours).toContain(`switchboard_frames_out_total ${7.5 * round}`);
    }
  });

  it('a non-finite latency is ignored, never thrown at the frame path', async () => {
    const m = new Metrics();
    expect(() => m.uplinkLatency.observe(Number.NaN)).not.toThrow();
    m.uplinkLatency.observe(0.2);
    expect(await m.registry.metrics()).toContain('switchboard_bridge_latency_ms_count{direction="uplink"} 1');
  });

  it('a million frames (counter + latency each way) allocate nothing: no young-generation GC', async () => {
    const m = new Metrics();
    // Warm up (compile the paths), then let pending GC entries drain before counting.
    for (let i = 0; i < 10_000; i++) m.uplinkLatency.observe(i % 3);
    await new Promise((resolve) => setTimeout(resolve, 50));
    let scavenges = 0;
    const observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        const kind = (entry as unknown as { detail?: { kind?: number } }).detail?.kind;
        if (kind === constants.NODE_PERFORMANCE_GC_MINOR) scavenges++;
      }
    });
    observer.observe({ entryTypes: ['gc'] });
    for (let i = 0; i < 1_000_000; i++) {
      m.framesIn.inc();
      m.uplinkLatency.observe((i % 100) * 0.013);
      m.downlinkLatency.observe((i % 50) * 0.021);
      m.framesOut.inc(1);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    observer.disconnect();
    expect(await m.registry.metrics()).toContain('switchboard_frames_in_total 1000000');
    expect(scavenges).toBeLessThanOrEqual(1); // prom-client's own inc/observe: dozens
  });
});
