/**
 * `npm run bench -- --listeners N`: supervisors listening in during the bridge benchmark (issue 17's
 * claim "ten listeners on one call leave its latency unchanged", checked in the same run).
 *
 * The measured window is split in four quarters: without listeners, with N listeners on GET
 * /api/calls/:id/listen?side=both on ONE live call (from this orchestrator process, reading the audio
 * as a supervisor's browser would), without, with. The caller-side latency of the tagged frames (all
 * calls, the listened one included) is reported for the quarters without and those with, with the
 * listeners' own figures (audio received, who was dropped) and a verdict: p99 each way within 2 ms
 * or 10 %.
 */
import http from 'node:http';
import type { CallerSide, Ranges } from './figures';

export interface ListenersPhase {
  listeners: number;
  callId: string | null;
  /** Audio received per listener (s of 8 kHz PCM16) and how many ended before the window did. */
  audioSecondsMin: number;
  audioSecondsMax: number;
  endedEarly: number;
  without: CallerSide | null;
  with: CallerSide | null;
  /** p99 each way with listeners within max(2 ms, 10 %) of without. */
  unchanged: boolean | null;
  /**
   * The noise floor: the 1st and 3rd quarters, neither with listeners, against each other. A p99
   * that moves as much between two quarters without listeners says nothing about the listeners.
   */
  control?: { first: CallerSide; third: CallerSide } | null;
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
 * Alternates listeners over the window in four quarters: none, `count` listeners on one live call,
 * none, `count` listeners again (the same call while it lives). Comparing the two quarters with
 * listeners against the two without cancels a drift over the window (longer recordings, a heap that
 * grows): a first-half/second-half split charged such a drift to the listeners. `stop()` (at the
 * window's end) closes them and returns their figures and the ranges of each kind.
 */
export async function startListenersPhase(
  baseUrl: string,
  token: string,
  count: number,
  windowStart: number,
  seconds: number,
  clock: () => number,
): Promise<{ stop: () => Omit<ListenersPhase, 'without' | 'with' | 'unchanged'> & { on: Ranges; off: Ranges } }> {
  const quarter = (seconds * 1000) / 4;
  const at = (k: number): number => windowStart + quarter * k;
  const on: [number, number][] = [];
  const off: [number, number][] = [[windowStart, at(1)]];
  const all: OpenListener[] = [];
  let callId: string | null = null;
  let open: OpenListener[] = [];
  let stopped = false;
  /** Start of the quarter with listeners now running (stop() at the window's end closes it). */
  let openSince: number | null = null;
  const openOn = async (): Promise<void> => {
    const ids = callId ? [callId] : await liveCallIds(baseUrl, token);
    for (const id of ids) {
      const first = await listen(baseUrl, token, id);
      if (!first) continue;
      callId = id;
      const rest = await Promise.all(Array.from({ length: count - 1 }, () => listen(baseUrl, token, id)));
      open = [first, ...rest].filter((l): l is OpenListener => l !== null);
      all.push(...open);
      return;
    }
    console.error(`bench: --listeners: no live call accepted a listener`);
  };
  const closeAll = (): void => {
    for (const l of open) l.req.destroy();
    open = [];
  };
  const schedule = (async () => {
    for (const k of [1, 3]) {
      await new Promise((r) => setTimeout(r, Math.max(0, at(k) - clock())));
      if (stopped) return;
      openSince = clock();
      await openOn();
      console.error(`bench: ${open.length} listeners on call ${callId} (quarter ${k + 1})`);
      await new Promise((r) => setTimeout(r, Math.max(0, at(k + 1) - clock())));
      if (stopped) return;
      on.push([openSince, clock()]);
      openSince = null;
      if (k === 1) {
        closeAll();
        off.push([clock(), at(3)]);
      }
    }
  })();
  void schedule;
  return {
    stop: () => {
      stopped = true;
      // The window ended before the last quarter's timer fired: that quarter still counts.
      if (openSince !== null) on.push([openSince, clock()]);
      openSince = null;
      const seconds = all.map((l) => l.bytes / 16000);
      const endedEarly = all.filter((l) => l.ended && open.includes(l)).length;
      closeAll();
      return {
        listeners: count,
        callId,
        on,
        off,
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

/** The Markdown section of the report (one line per run, and the median of the runs' p99s). */
export function listenersMarkdown(runs: { label: string; phase: ListenersPhase }[]): string {
  if (runs.length === 0) return '';
  const d = (s: CallerSide | null, k: 'uplinkMs' | 'downlinkMs'): string =>
    s ? `${s[k].p50} / ${s[k].p99} / ${s[k].max} (n ${s[k].n})` : 'n/a';
  const c = (p: ListenersPhase): string =>
    p.control
      ? `${p.control.first.uplinkMs.p99} vs ${p.control.third.uplinkMs.p99} / ${p.control.first.downlinkMs.p99} vs ${p.control.third.downlinkMs.p99}`
      : 'n/a';
  const lines = runs.map(
    ({ label, phase: p }) =>
      `| ${label} | ${p.listeners} | ${d(p.without, 'uplinkMs')} | ${d(p.with, 'uplinkMs')} | ${d(p.without, 'downlinkMs')} | ${d(p.with, 'downlinkMs')} | ${c(p)} | ${p.audioSecondsMin.toFixed(1)}–${p.audioSecondsMax.toFixed(1)} s, ${p.endedEarly} ended early | ${p.unchanged === null ? 'n/a' : p.unchanged ? 'yes' : 'NO'} |`,
  );
  const measured = runs.map((r) => r.phase).filter((p) => p.without && p.with);
  if (measured.length > 1) {
    const median = (xs: number[]): number => {
      const v = [...xs].sort((a, b) => a - b);
      return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    };
    const m = (pick: (p: ListenersPhase) => number): number => Math.round(median(measured.map(pick)) * 10) / 10;
    const up = [m((p) => p.without!.uplinkMs.p99), m((p) => p.with!.uplinkMs.p99)];
    const down = [m((p) => p.without!.downlinkMs.p99), m((p) => p.with!.downlinkMs.p99)];
    const ok = (a: number, b: number): boolean => b - a <= Math.max(2, a * 0.1);
    lines.push(
      `| median of ${measured.length} runs (p99) | ${measured[0].listeners} | ${up[0]} | ${up[1]} | ${down[0]} | ${down[1]} | | | ${ok(up[0], up[1]) && ok(down[0], down[1]) ? 'yes' : 'NO'} |`,
    );
  }
  return (
    '\n\nListeners (window in quarters: without, with N listeners on one call, without, with; caller-side latency of all calls, ms):\n\n' +
    '| Run | Listeners | Uplink p50 / p99 / max without | with | Downlink p50 / p99 / max without | with | Control: p99 up / down, 1st vs 3rd quarter (no listeners in either) | Audio per listener | Unchanged (p99 within 2 ms or 10 %) |\n' +
    '|---|---:|---|---|---|---|---|---|---|\n' +
    `${lines.join('\n')}\n`
  );
}
