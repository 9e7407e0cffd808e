/**
 * The /metrics exposition in slices (src/observability/metrics-text.ts): the same text as
 * prom-client's, one metric per turn of the event loop, and the open-descriptor count read off
 * the main thread.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type OpenMetricsContentType } from 'prom-client';
import { Metrics } from '../../src/observability/metrics';
import { metricsText, openFdsOffThread } from '../../src/observability/metrics-text';

/** A registry with each kind of metric, labels, escapes and values set. */
function filledRegistry(): Registry {
  const r = new Registry();
  r.setDefaultLabels({ instance: 'a"b' });
  const c = new Counter({
    name: 'c_total',
    help: 'a counter \\ with\nescapes',
    labelNames: ['reason'],
    registers: [r],
  });
  c.inc({ reason: 'hangup' }, 3);
  c.inc({ reason: 'error "x"' });
  new Gauge({ name: 'g', help: 'collected', registers: [r], collect: (): void => undefined }).set(7.5);
  new Gauge({ name: 'g_empty', help: 'never set', labelNames: ['k'], registers: [r] });
  const h = new Histogram({ name: 'h_ms', help: 'h', labelNames: ['d'], buckets: [1, 5, 10], registers: [r] });
  for (const v of [0.5, 2, 7, 50]) h.observe({ d: 'up' }, v);
  h.observe({ d: 'down' }, 3);
  return r;
}

/** A count that a free-running setImmediate loop raises once per turn of the event loop. */
function turnCounter(): { turns: () => number; stop: () => void } {
  let turns = 0;
  let running = true;
  const tick = (): void => {
    turns++;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  return { turns: () => turns, stop: () => void (running = false) };
}

/** Five gauges that note, when collected, how many turns of the event loop had run. */
function noting(r: Registry, seen: number[], turns: () => number): void {
  for (let i = 0; i < 5; i++) {
    new Gauge({
      name: `noting_${i}`,
      help: 'notes the turn',
      registers: [r],
      collect() {
        seen.push(turns());
        this.set(i);
      },
    });
  }
}

describe('metricsText', () => {
  it("gives prom-client's text, byte for byte", async () => {
    const a = filledRegistry();
    expect(await metricsText(a)).toBe(await a.metrics());
    const empty = new Registry();
    expect(await metricsText(empty)).toBe(await empty.metrics());
  });

  it('collects each metric in its own turn of the event loop (prom-client: all in one)', async () => {
    const counter = turnCounter();
    try {
      const whole = new Registry();
      const wholeSeen: number[] = [];
      noting(whole, wholeSeen, counter.turns);
      await whole.metrics();
      // The control: prom-client collects all five without letting the loop turn.
      expect(new Set(wholeSeen).size).toBe(1);

      const sliced = new Registry();
      const slicedSeen: number[] = [];
      noting(sliced, slicedSeen, counter.turns);
      const text = await metricsText(sliced);
      for (let i = 1; i < slicedSeen.length; i++) expect(slicedSeen[i]).toBeGreaterThan(slicedSeen[i - 1]);
      expect(text).toBe(await sliced.metrics());
    } finally {
      counter.stop();
    }
  });

  it('keeps registration order, and skips a metric removed while the scrape is under way', async () => {
    const r = new Registry();
    const order: string[] = [];
    for (const name of ['first', 'second', 'third']) {
      new Gauge({
        name,
        help: name,
        registers: [r],
        collect() {
          order.push(name);
          if (name === 'first') r.removeSingleMetric('third');
          this.set(1);
        },
      });
    }
    const text = await metricsText(r);
    expect(order).toEqual(['first', 'second']);
    expect(text).toContain('first 1');
    expect(text).toContain('second 1');
    expect(text).not.toContain('third');
  });

  it('leaves an OpenMetrics registry to prom-client', async () => {
    const r = new Registry<OpenMetricsContentType>();
    r.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    new Counter({ name: 'c', help: 'c', registers: [r] }).inc();
    const text = await metricsText(r);
    expect(text).toContain('c_total 1');
    expect(text.endsWith('# EOF\n')).toBe(true);
  });
});

describe('the open-descriptor count', () => {
  const onLinux = process.platform === 'linux';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fds-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const value = (text: string): number => {
    const line = text.split('\n').find((l) => l.startsWith('x_process_open_fds '));
    return Number(line?.split(' ')[1]);
  };

  it('is read without readdirSync on the main thread, and counts what is open', async () => {
    const r = new Registry();
    collectDefaultMetrics({ register: r, prefix: 'x_' });
    const spy = jest.spyOn(fs, 'readdirSync');
    try {
      // The control: prom-client's own gauge lists /proc/self/fd synchronously (Linux).
      await r.metrics();
      const syncReads = spy.mock.calls.filter(([p]) => p === '/proc/self/fd').length;
      expect(syncReads).toBe(onLinux ? 1 : 0);

      openFdsOffThread(r, 'x_');
      spy.mockClear();
      const before = value(await metricsText(r));
      const handles = Array.from({ length: 20 }, (_, i) => fs.openSync(path.join(dir, `f${i}`), 'w'));
      const after = value(await metricsText(r));
      handles.forEach((fd) => fs.closeSync(fd));
      expect(spy.mock.calls.filter(([p]) => p === '/proc/self/fd')).toHaveLength(0);
      if (onLinux) {
        expect(before).toBeGreaterThan(3);
        // Other descriptors of the process (jest's, libuv's) may come and go meanwhile.
        expect(after - before).toBeGreaterThanOrEqual(18);
        expect(after - before).toBeLessThanOrEqual(22);
      }
    } finally {
      spy.mockRestore();
    }
  });

  it("is in the app's metrics under prom-client's name and help", async () => {
    const m = new Metrics({ defaultMetrics: true });
    try {
      const text = await m.text();
      if (onLinux) {
        expect(text).toContain('# HELP switchboard_process_open_fds Number of open file descriptors.');
        expect(text).toMatch(/^switchboard_process_open_fds \d+$/m);
      }
      expect(text).toContain('switchboard_event_loop_delay_p99_ms');
    } finally {
      m.stop();
    }
  });
});
