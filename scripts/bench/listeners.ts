/**
 * `npm run bench -- --listeners N`: supervisors listening in during the bridge benchmark (issue 17's
 * claim "ten listeners on one call leave its latency unchanged", checked in the same run).
 *
 * The measured window is split in two halves: the first without listeners, then N listeners open
 * GET /api/calls/:id/listen?side=both on ONE live call (from this orchestrator process, reading the
 * audio as a supervisor's browser would) for the second half. The caller-side latency of the tagged
 * frames (all calls, the listened one included) is reported for each half, with the listeners' own
 * figures (bytes received, who was dropped) and a verdict: p99 each way within 2 ms or 10 %.
 */
import http from 'node:http';
import type { CallerSide } from './figures';

export interface ListenersPhase {
  listeners: number;
  callId: string | null;
  /** When the listeners opened (bench clock, ms). */
  openedAt: number;
  /** Audio received per listener (s of 8 kHz PCM16) and how many ended before the window did. */
  audioSecondsMin: number;
  audioSecondsMax: number;
  endedEarly: number;
  without: CallerSide | null;
  with: CallerSide | null;
  /** p99 each way with listeners within max(2 ms, 10 %) of without. */
  unchanged: boolean | null;
}

interface OpenListener {
  bytes: number;
  ended: boolean;
  req: http.ClientRequest;
}

async function liveCallIds(baseUrl: string, token: string): Promise<string[]> {
  const res = await fetch(`${baseUrl}/api/calls?status=streaming&limit=20`, {
    headers: { authorization: `Bearer ${token}` },
  });
  if (!res.ok) return [];
  const body = (await res.json()) as { items?: { id: string }[] };
  return (body.items ?? []).map((c) => c.id);
}

function listen(baseUrl: string, token: string, callId: string): Promise<OpenListener | null> {
  return new Promise((resolve) => {
    const l: OpenListener = { bytes: 0, ended: false, req: undefined as unknown as http.ClientRequest };
    l.req = http.get(
      `${baseUrl}/api/calls/${callId}/listen?side=both`,
      { headers: { authorization: `Bearer ${token}` } },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          resolve(null);
          return;
        }
        res.on('data', (b: Buffer) => (l.bytes += b.length));
        res.on('close', () => (l.ended = true));
        res.on('error', () => (l.ended = true));
        resolve(l);
      },
    );
    l.req.on('error', () => resolve(null));
  });
}

/**
 * Waits until the middle of the window, then opens `count` listeners on one live call. `stop()` (at
 * the window's end) closes them and returns their figures.
 */
export async function startListenersPhase(
  baseUrl: string,
  token: string,
  count: number,
  windowStart: number,
  seconds: number,
  clock: () => number,
): Promise<{ openedAt: number; stop: () => Omit<ListenersPhase, 'without' | 'with' | 'unchanged'> }> {
  await new Promise((r) => setTimeout(r, Math.max(0, windowStart + (seconds * 1000) / 2 - clock())));
  const openedAt = clock();
  let open: OpenListener[] = [];
  let callId: string | null = null;
  for (const id of await liveCallIds(baseUrl, token)) {
    const first = await listen(baseUrl, token, id);
    if (!first) continue;
    callId = id;
    open = [first, ...(await Promise.all(Array.from({ length: count - 1 }, () => listen(baseUrl, token, id))))].filter(
      (l): l is OpenListener => l !== null,
    );
    break;
  }
  if (!callId) console.error('bench: --listeners: no live call accepted a listener');
  else console.error(`bench: ${open.length} listeners on call ${callId}`);
  return {
    openedAt,
    stop: () => {
      const seconds = open.map((l) => l.bytes / 16000);
      const endedEarly = open.filter((l) => l.ended).length;
      for (const l of open) l.req.destroy();
      return {
        listeners: open.length,
        callId,
        openedAt,
        audioSecondsMin: seconds.length ? Math.min(...seconds) : 0,
        audioSecondsMax: seconds.length ? Math.max(...seconds) : 0,
        endedEarly,
      };
    },
  };
}

/** The verdict: p99 each way with listeners within max(2 ms, 10 %) of without. */
export function unchanged(without: CallerSide | null, withL: CallerSide | null): boolean | null {
  if (!without || !withL) return null;
  const ok = (a: number, b: number): boolean => b - a <= Math.max(2, a * 0.1);
  return ok(without.uplinkMs.p99, withL.uplinkMs.p99) && ok(without.downlinkMs.p99, withL.downlinkMs.p99);
}

/** The Markdown section of the report (one line per run). */
export function listenersMarkdown(runs: { label: string; phase: ListenersPhase }[]): string {
  if (runs.length === 0) return '';
  const d = (s: CallerSide | null, k: 'uplinkMs' | 'downlinkMs'): string =>
    s ? `${s[k].p50} / ${s[k].p99} / ${s[k].max} (n ${s[k].n})` : 'n/a';
  const lines = runs.map(
    ({ label, phase: p }) =>
      `| ${label} | ${p.listeners} | ${d(p.without, 'uplinkMs')} | ${d(p.with, 'uplinkMs')} | ${d(p.without, 'downlinkMs')} | ${d(p.with, 'downlinkMs')} | ${p.audioSecondsMin.toFixed(1)}–${p.audioSecondsMax.toFixed(1)} s, ${p.endedEarly} ended early | ${p.unchanged === null ? 'n/a' : p.unchanged ? 'yes' : 'NO'} |`,
  );
  return (
    '\n\nListeners (first half of the window without, second half with N listeners on one call; caller-side latency of all calls, ms):\n\n' +
    '| Run | Listeners | Uplink p50 / p99 / max without | with | Downlink p50 / p99 / max without | with | Audio per listener | Unchanged (p99 within 2 ms or 10 %) |\n' +
    '|---|---:|---|---|---|---|---|---|\n' +
    `${lines.join('\n')}\n`
  );
}
