/**
 * Screenshots of the supervisor dashboard for the README (docs/screenshots/*.png): the live board
 * with calls in progress, the call history, a call's detail, analytics, and phone-size views.
 *
 * Runs everything locally: the real app on a temporary database, the local Realtime server (tone
 * speech), simulated calls through the Twilio simulator, and a few weeks of seeded history; drives
 * Debian's chromium with playwright-core. Usage: npm run screenshots
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { startBridgeHarness, eventually } from './lib/bridge-harness';
import { launchBrowser } from './lib/browser';
import { seedCall } from './lib/seed';
import type { CallStatus } from '../src/calls/call-status';
import { applyPendingMigrations } from '../src/db/migrations';

const OUT_DIR = path.resolve(__dirname, '..', 'docs', 'screenshots');
const DAY_MS = 86_400_000;

const GREETING =
  'Hello, thanks for calling Northwind support. I can help with orders, returns and billing. Before we start, ' +
  'let me tell you about our new premium plan with free next-day delivery on every order.';
const REPLIES = [
  GREETING,
  'Of course. Your order 4471 shipped yesterday and arrives tomorrow before noon.',
  'You are welcome. Is there anything else I can help you with today?',
];
const CALLER_LINES = ['Sorry, I just need to know where my order is', 'Great, thank you very much', 'No, that is all'];

const AGENTS = ['default', 'billing', 'sales'];
const CALLER_TOPICS = [
  'I would like to check the status of my order',
  'I need a refund for a damaged parcel',
  'Can I change my delivery address',
  'I was charged twice this month',
  'Thank you, that was really helpful',
  'I want to upgrade to the premium plan',
];

/** A small deterministic PRNG, so the screenshots look the same from run to run. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

async function shot(page: Page, name: string, fullPage = false): Promise<void> {
  await page.waitForTimeout(300);
  const file = path.join(OUT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage });
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
}

async function main(): Promise<void> {
  mkdirSync(OUT_DIR, { recursive: true });
  // A migrated database template of its own (tests get theirs from jest's global set-up).
  const templateDir = mkdtempSync(path.join(tmpdir(), 'switchboard-screenshots-'));
  process.env.SWITCHBOARD_TEMPLATE_DB = path.join(templateDir, 'template.db');
  await applyPendingMigrations(`file:${process.env.SWITCHBOARD_TEMPLATE_DB}`);
  const h = await startBridgeHarness({
    ttsEngine: 'tone',
    replies: REPLIES,
    callerTranscripts: CALLER_LINES,
    // A model takes a moment to answer; the local server would answer at once.
    responseDelayMs: 450,
  });
  const browser = await launchBrowser({ viewport: { width: 1440, height: 900 } });
  const live: ReturnType<typeof h.call>[] = [];
  try {
    const sb = h.t.sb;
    const rand = prng(42);
    const now = Date.now();
    for (let i = 0; i < 140; i++) {
      const startedAt = new Date(now - rand() * 28 * DAY_MS - 3_600_000);
      const r = rand();
      const status: CallStatus = r < 0.86 ? 'completed' : r < 0.92 ? 'no-answer' : r < 0.96 ? 'busy' : 'failed';
      const answered = status === 'completed';
      const s = rand();
      const p50 = Math.round(380 + rand() * 420);
      await seedCall(sb, {
        from: `+1555${String(Math.floor(1_000_000 + rand() * 8_999_999))}`,
        agent: AGENTS[Math.floor(rand() * AGENTS.length)],
        status,
        startedAt,
        durationMs: answered ? Math.round(40_000 + rand() * 360_000) : Math.round(5000 + rand() * 20_000),
        transcripts: answered
          ? [{ speaker: 'caller', text: CALLER_TOPICS[Math.floor(rand() * CALLER_TOPICS.length)], startMs: 4000 }]
          : [],
        analytics: answered
          ? {
              sentimentLabel: s < 0.55 ? 'positive' : s < 0.85 ? 'neutral' : 'negative',
              sentimentScore: s < 0.55 ? 0.6 : s < 0.85 ? 0 : -0.5,
              sentimentSource: 'local',
              latencyP50Ms: p50,
              latencyP95Ms: Math.round(p50 * (1.3 + rand() * 0.6)),
              interruptions: Math.floor(rand() * rand() * 5),
              callerTalkMs: Math.round(20_000 + rand() * 90_000),
              agentTalkMs: Math.round(30_000 + rand() * 120_000),
              turns: 4 + Math.floor(rand() * 14),
              inputTokens: Math.round(2000 + rand() * 9000),
              outputTokens: Math.round(3000 + rand() * 12000),
              estimatedCostUsd: Math.round((0.04 + rand() * 0.4) * 10_000) / 10_000,
            }
          : undefined,
      });
    }

    // One whole call with a barge-in, for the detail page (real recording, transcript, analytics).
    const done = await h.call({
      from: '+15550104477',
      ttsEngine: 'tone',
      script: [
        { waitForAgentMs: 3500 },
        { say: CALLER_LINES[0] },
        { untilAgentSilentMs: 700 },
        { say: CALLER_LINES[1] },
        { untilAgentSilentMs: 700 },
        { dtmf: '1' },
        { silenceMs: 600 },
      ],
    }).done;
    const detailCall = await eventually(async () => {
      const c = await sb.db.call.findFirst({ where: { callSid: done.callSid }, include: { analytics: true } });
      return c?.analytics ? c : null;
    }, 20_000);
    await sb.db.call.update({
      where: { id: detailCall.id },
      data: { notes: 'Customer asked about order 4471. Offered premium plan; not interested. No follow-up needed.' },
    });

    // Calls in progress for the live board.
    const page = await browser.newPage();
    await page.goto(`${h.t.baseUrl}/#/live`);
    for (const from of ['+15550142233', '+15550178810', '+15550163302']) {
      live.push(
        h.call({
          from,
          ttsEngine: 'tone',
          hangupAfterScript: false,
          hangupAfterMs: 120_000,
          script: [
            { waitForAgentMs: 3000 },
            { say: CALLER_LINES[0] },
            { untilAgentSilentMs: 700 },
            { say: CALLER_LINES[1] },
          ],
        }),
      );
      await page.waitForTimeout(1500);
    }
    await page.locator('.live-card .line-agent', { hasText: 'Your order 4471' }).first().waitFor({ timeout: 30_000 });
    await page.waitForTimeout(2500);
    await shot(page, 'live-board');

    await page.goto(`${h.t.baseUrl}/#/history`);
    await page.locator('.calls-table tbody tr').first().waitFor();
    await shot(page, 'history');

    await page.goto(`${h.t.baseUrl}/#/calls/${detailCall.id}`);
    await page.locator('#call-transcript').waitFor();
    await page.evaluate(
      'new Promise((r) => { const a = document.querySelector("#call-audio"); if (a.readyState > 0) r(); else a.addEventListener("loadedmetadata", r); })',
    );
    await shot(page, 'call-detail', true);

    await page.goto(`${h.t.baseUrl}/#/analytics?period=30d`);
    await page.locator('#chart-cost').waitFor();
    await shot(page, 'analytics', true);

    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${h.t.baseUrl}/#/live`);
    await page.locator('.live-card').first().waitFor();
    await page.waitForTimeout(1500);
    await shot(page, 'phone-live-board');
    await page.goto(`${h.t.baseUrl}/#/history?status=completed`);
    await page.locator('.calls-table tbody tr').first().waitFor();
    await shot(page, 'phone-history');

    if (browser.problems.length) console.error('browser console problems:\n' + browser.problems.join('\n'));
  } finally {
    await Promise.all(live.map((c) => c.hangup().catch(() => undefined)));
    await browser.close();
    await h.close();
    rmSync(templateDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
