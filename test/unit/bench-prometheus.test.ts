/**
 * The bench's reading of switchboard_bench_latency_ms over several scrapes (`npm run bench --
 * --scrape S`): each scrape reports the time since the one before.
 */
import { benchStatAcross, parsePrometheus } from '../../scripts/bench/prometheus';

const scrape = (series: string, count: number, p50: number, p99: number, max: number): string =>
  Object.entries({ count, p50, p99, max })
    .map(([stat, v]) => `switchboard_bench_latency_ms{series="${series}",stat="${stat}"} ${v}`)
    .join('\n');

describe('benchStatAcross', () => {
  it('adds the counts, keeps the largest maximum and the largest interval percentiles', () => {
    const scrapes = [
      scrape('uplink', 100, 0.1, 0.5, 2),
      scrape('uplink', 50, 0.3, 0.4, 9),
      scrape('uplink', 70, 0.2, 0.9, 1),
    ];
    expect(benchStatAcross(scrapes.map(parsePrometheus), 'uplink')).toEqual({ count: 220, p50: 0.3, p99: 0.9, max: 9 });
  });

  it('leaves out intervals with nothing recorded, and reads a single scrape as it is', () => {
    const scrapes = [scrape('uplink', 0, 0, 0, 0), scrape('uplink', 10, 0.2, 0.3, 0.4)].map(parsePrometheus);
    expect(benchStatAcross(scrapes, 'uplink')).toEqual({ count: 10, p50: 0.2, p99: 0.3, max: 0.4 });
    expect(benchStatAcross([parsePrometheus(scrape('downlink', 5, 1, 2, 3))], 'downlink')).toEqual({
      count: 5,
      p50: 1,
      p99: 2,
      max: 3,
    });
  });

  it('gives NaN for a series no scrape has (a server without the bench recorders)', () => {
    const stat = benchStatAcross([parsePrometheus('other_metric 1')], 'uplink');
    expect(stat.count).toBeNaN();
    expect(stat.max).toBeNaN();
  });
});
