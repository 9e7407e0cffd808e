/**
 * Ten supervisors listening to one call leave it as it was: the same scripted call, once without
 * listeners and once with ten, has the same agent response latency (within a generous margin on a
 * shared 2-core machine) and the same per-frame bridge handling time (within 1 ms), loses no frame,
 * and every listener hears it.
 */
import http from 'node:http';
import { startBridgeHarness, eventually, type BridgeHarness } from '../../scripts/lib/bridge-harness';

const SUPERVISOR = 'super-token-0123456789ab';
const LINES = ['I would like to check my order', 'And the invoice please'];

interface Run {
  p50: number;
  uplinkMeanMs: number;
  downlinkMeanMs: number;
  framesLost: number;
  heardBytes: number[];
}

describe('ten listeners on one call', () => {
  let h: BridgeHarness;
  beforeAll(async () => {
    h = await startBridgeHarness(
      {
        ttsEngine: 'tone',
        replies: ['Hello, how can I help?', 'Sure, let me check.', 'Here it is.'],
        callerTranscripts: LINES,
      },
      { API_TOKENS: `supervisor:sue:${SUPERVISOR}` },
    );
  });
  afterAll(() => h.close());

  async function bridgeTotals(): Promise<Record<string, { sum: number; count: number }>> {
    const metric = h.t.sb.metrics.registry.getSingleMetric('switchboard_bridge_latency_ms');
    const values = (await metric!.get()).values;
    const out: Record<string, { sum: number; count: number }> = {};
    for (const v of values) {
      const dir = String(v.labels.direction);
      out[dir] ??= { sum: 0, count: 0 };
      const name = (v as { metricName?: string }).metricName ?? '';
      if (name.endsWith('_sum')) out[dir].sum = v.value;
      if (name.endsWith('_count')) out[dir].count = v.value;
    }
    return out;
  }

  async function run(listeners: number): Promise<Run> {
    const before = await bridgeTotals();
    const handle = h.call({
      script: [
        { untilAgentSilentMs: 500 },
        { say: LINES[0] },
        { untilAgentSilentMs: 500 },
        { say: LINES[1] },
        { untilAgentSilentMs: 500 },
      ],
    });
    const callId = await eventually(async () => {
      const c = await h.t.sb.db.call.findFirst({ where: { callSid: handle.callSid } });
      return c && h.t.sb.bridge.get(c.id)?.streaming ? c.id : null;
    });
    const conversation = h.t.sb.bridge.get(callId)!;
    const heard = Array.from({ length: listeners }, () => 0);
    const requests: http.ClientRequest[] = [];
    for (let i = 0; i < listeners; i++) {
      requests.push(
        http.get(
          `${h.t.baseUrl}/api/calls/${callId}/listen?side=${['both', 'caller', 'agent'][i % 3]}`,
          { headers: { Authorization: `Bearer ${SUPERVISOR}` } },
          (res) => res.on('data', (b: Buffer) => (heard[i] += b.length)),
        ),
      );
    }
    const summary = await handle.done;
    for (const r of requests) r.destroy();
    expect(summary.ok).toBe(true);
    await eventually(async () => (await h.t.sb.db.call.findUnique({ where: { id: callId } }))?.endedAt);
    const latencies = [...conversation.stats.latenciesMs].sort((a, b) => a - b);
    expect(latencies.length).toBeGreaterThanOrEqual(2);
    const after = await bridgeTotals();
    const mean = (dir: string) =>
      (after[dir].sum - (before[dir]?.sum ?? 0)) / Math.max(1, after[dir].count - (before[dir]?.count ?? 0));
    return {
      p50: latencies[Math.floor(latencies.length / 2)],
      uplinkMeanMs: mean('uplink'),
      downlinkMeanMs: mean('downlink'),
      framesLost: summary.underruns,
      heardBytes: heard,
    };
  }

  it('keeps response latency and per-frame handling unchanged', async () => {
    const alone = await run(0);
    const listened = await run(10);
    expect(listened.heardBytes.every((b) => b > 8000)).toBe(true);
    expect(listened.p50).toBeLessThan(alone.p50 + 300);
    expect(listened.uplinkMeanMs).toBeLessThan(alone.uplinkMeanMs + 1);
    expect(listened.downlinkMeanMs).toBeLessThan(alone.downlinkMeanMs + 1);
    expect(listened.framesLost).toBeLessThanOrEqual(alone.framesLost + 2);
  });
});
