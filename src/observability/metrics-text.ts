/**
 * A scrape that never holds the event loop for the whole exposition.
 *
 * prom-client's `registry.metrics()` runs every metric's `collect()` and formats every series in
 * one turn of the event loop: at 100 calls that held the main thread 2.3–8.5 ms on earlier
 * machines and p50 3.1 ms (max 9.9) on a PVM guest (docs/benchmarks/bridge.md, "A scrape in
 * slices"), and every frame that arrived meanwhile waited for it, once per scrape interval.
 * `metricsText` produces the same text one metric per turn: frames queued behind a slice wait for
 * that slice only (the dearest one, not the sum). The scrape takes a few turns longer; a scraper
 * waits for its answer anyway.
 *
 * The series are read in registration order, as prom-client does, so a collect() that depends on
 * an earlier one (the bench's latency gauge before the loop-delay gauge that resets the histogram)
 * still sees it first. A metric removed during a scrape is skipped. Registries in OpenMetrics format
 * (counters renamed, `# EOF`) are answered by prom-client itself.
 */
import { readdir } from 'node:fs/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Gauge, Registry, type RegistryContentType } from 'prom-client';

export async function metricsText(registry: Registry<RegistryContentType>): Promise<string> {
  if (registry.contentType !== Registry.PROMETHEUS_CONTENT_TYPE) return registry.metrics();
  const parts: string[] = [];
  for (const { name } of registry.getMetricsAsArray()) {
    if (!registry.getSingleMetric(name)) continue;
    parts.push(await registry.getSingleMetricAsString(name));
    await nextTurn();
  }
  return `${parts.join('\n\n')}\n`;
}

/** prom-client's default open-descriptor gauge (its name, its help). */
const OPEN_FDS = 'process_open_fds';

/**
 * prom-client's `process_open_fds` counts `/proc/self/fd` with `readdirSync` on the main thread
 * (one entry per socket: hundreds at 100 calls). This replaces it, same name and help, with the
 * same count read on libuv's pool. Linux only, as prom-client's own; elsewhere nothing changes.
 */
export function openFdsOffThread(registry: Registry, prefix: string): void {
  const name = prefix + OPEN_FDS;
  if (!registry.getSingleMetric(name)) return;
  registry.removeSingleMetric(name);
  new Gauge({
    name,
    help: 'Number of open file descriptors.',
    registers: [registry],
    async collect() {
      try {
        // Minus the descriptor readdir itself held open while it read.
        this.set((await readdir('/proc/self/fd')).length - 1);
      } catch {
        // Not readable (no /proc): the gauge keeps its last value, as prom-client's does.
      }
    },
  });
}
