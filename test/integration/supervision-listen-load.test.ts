/**
 * Ten supervisors listening to one call leave it as it was: the same scripted call, once without
 * listeners and once with ten, completes the same way, loses no more audio, and every listener hears
 * it. Whether its latency stays the same is a benchmark, not a timed test (a shared machine's load
 * moves it more than ten listeners do): `npm run bench -- --listeners 10`, figures in
 * docs/benchmarks/supervision.md.
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

  it('every listener hears the call, which completes and loses no more audio than alone', async () => {
    const alone = await run(0);
    const listened = await run(10);
    expect(listened.heardBytes.every((b) => b > 8000)).toBe(true);
    expect(listened.framesLost).toBeLessThanOrEqual(alone.framesLost + 2);
    // Both runs timed the bridge's per-frame handling and got the agent's answers.
    expect(Number.isFinite(listened.uplinkMeanMs) && Number.isFinite(listened.downlinkMeanMs)).toBe(true);
    expect(Number.isFinite(listened.p50) && Number.isFinite(alone.p50)).toBe(true);
  });
});
