import { LatencyRecorder } from '../../src/observability/latency-recorder';
import { Metrics } from '../../src/observability/metrics';

describe('LatencyRecorder', () => {
  it('gives percentiles exact to 1 µs and the exact max', () => {
    const r = new LatencyRecorder(100);
    for (let i = 1; i <= 1000; i++) r.observe(i / 100); // 0.01 .. 10 ms
    const s = r.snapshot();
    expect(s.count).toBe(1000);
    // The upper edge of the 1 µs bin holding the value.
    expect(s.p50).toBeGreaterThanOrEqual(5.0);
    expect(s.p50).toBeLessThanOrEqual(5.001);
    expect(s.p99).toBeGreaterThanOrEqual(9.9);
    expect(s.p99).toBeLessThanOrEqual(9.901);
    expect(s.max).toBe(10);
    expect(s.mean).toBeCloseTo(5.005, 6);
  });

  it('counts values above its range in max and the upper percentiles, and ignores nonsense', () => {
    const r = new LatencyRecorder(1);
    r.observe(0.5);
    r.observe(250);
    r.observe(-1);
    r.observe(Number.NaN);
    r.observe(Infinity);
    expect(r.snapshot()).toMatchObject({ count: 2, max: 250, p99: 250 });
    expect(r.percentile(50)).toBeCloseTo(0.501, 6);
  });

  it('allocates bins only where values land, and stays exact across pages', () => {
    const r = new LatencyRecorder(1000); // 1,000,000 bins: 4 MB if flat
    expect(r.binBytes).toBe(0);
    for (let i = 0; i < 99; i++) r.observe(0.2 + i / 1000); // 0.200 .. 0.298 ms: one page
    expect(r.binBytes).toBe(4096);
    r.observe(512.3456); // bin 512,345, page 500
    expect(r.binBytes).toBe(8192);
    expect(r.percentile(50)).toBeCloseTo(0.25, 6);
    expect(r.percentile(99)).toBeCloseTo(0.299, 6);
    expect(r.percentile(100)).toBe(512.3456); // the bin edge, capped at the exact max
    expect(r.snapshot().max).toBe(512.3456);
    r.reset();
    r.observe(1.0234);
    r.observe(0.5);
    expect(r.snapshot()).toMatchObject({ count: 2, p50: 0.501, max: 1.0234 }); // nothing left of the 512 ms value
  });

  it('gives in one walk the percentiles that percentile() gives one by one', () => {
    const r = new LatencyRecorder(1000);
    let seed = 7;
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) ** 3 * 1200; // some above range
    for (let i = 0; i < 5000; i++) r.observe(random());
    const ps = [50, 90, 99, 99.9, 100];
    expect(r.percentiles(ps)).toEqual(ps.map((p) => r.percentile(p)));
    const s = r.snapshot();
    expect([s.p50, s.p90, s.p99, s.p999]).toEqual([50, 90, 99, 99.9].map((p) => r.percentile(p)));
  });

  it('starts over after reset', () => {
    const r = new LatencyRecorder();
    r.observe(3);
    r.reset();
    expect(r.snapshot()).toEqual({ count: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 });
    expect(() => new LatencyRecorder(0)).toThrow(RangeError);
  });
});

describe('Metrics in benchmark mode', () => {
  it('exports exact latency per series on /metrics and resets it at each scrape', async () => {
    const m = new Metrics({ exactLatency: true });
    try {
      m.uplinkLatency.observe(0.25);
      m.uplinkLatency.observe(0.75);
      m.bargeInReaction.observe(1.5);
      const text = await m.registry.metrics();
      expect(text).toContain('switchboard_bench_latency_ms{series="uplink",stat="count"} 2');
      expect(text).toContain('switchboard_bench_latency_ms{series="uplink",stat="max"} 0.75');
      expect(text).toContain('switchboard_bench_latency_ms{series="barge_in",stat="p50"} 1.5');
      // The Prometheus histogram still sees every observation.
      expect(text).toContain('switchboard_bridge_latency_ms_count{direction="uplink"} 2');
      expect(await m.registry.metrics()).toContain('switchboard_bench_latency_ms{series="uplink",stat="count"} 0');
    } finally {
      m.stop();
    }
  });

  it('exports nothing extra without it', async () => {
    const m = new Metrics({ exactLatency: false });
    try {
      expect(m.exact).toBeUndefined();
      expect(await m.registry.metrics()).not.toContain('switchboard_bench_latency_ms');
    } finally {
      m.stop();
    }
  });
});
