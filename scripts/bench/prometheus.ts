/** A small reader of the Prometheus text format: enough for the bench to read /metrics. */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[3]) for (const l of m[3].matchAll(LABEL)) labels[l[1]] = l[2];
    samples.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return samples;
}

/** The value of the first sample with this name whose labels include `labels`. */
export function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

/** The server's in-process recorder figures (switchboard_bench_latency_ms). */
export interface Stat {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

/** One series of switchboard_bench_latency_ms in one scrape (the time since the scrape before). */
export function benchStat(samples: Sample[], series: string): Stat {
  const v = (stat: string): number => valueOf(samples, 'switchboard_bench_latency_ms', { series, stat }) ?? NaN;
  return { count: v('count'), p50: v('p50'), p99: v('p99'), max: v('max') };
}

/**
 * One series over the window's scrapes (each reports the time since the one before, --scrape):
 * counts add up, the maximum is the largest; p50 and p99 are the largest interval's (an upper
 * bound: interval percentiles do not combine).
 */
export function benchStatAcross(scrapes: Sample[][], series: string): Stat {
  const stats = scrapes.map((samples) => benchStat(samples, series)).filter((s) => s.count > 0);
  if (stats.length === 0) return benchStat(scrapes[scrapes.length - 1] ?? [], series);
  const most = (key: 'p50' | 'p99' | 'max'): number => Math.max(...stats.map((s) => s[key]));
  return { count: stats.reduce((sum, s) => sum + s.count, 0), p50: most('p50'), p99: most('p99'), max: most('max') };
}
