/**
 * Take over from the live board in chromium: "Transfer to a human" on a live call shows the AI's
 * summary for whoever picks up, the agent announces the transfer and the call leaves the board as
 * transferred to the configured number. No console error or CSP violation.
 */
import type { Page } from 'playwright-core';
import { startBridgeHarness, eventually, type BridgeHarness } from '../../scripts/lib/bridge-harness';
import { launchBrowser, type BrowserSession } from '../../scripts/lib/browser';

describe('take over from the live board', () => {
  let h: BridgeHarness;
  let browser: BrowserSession;
  let page: Page;

  beforeAll(async () => {
    h = await startBridgeHarness(
      { ttsEngine: 'tone', replies: ['Hello, how can I help?', 'I am transferring you now.'] },
      { TRANSFER_NUMBER: '+15550008888' },
    );
    browser = await launchBrowser();
    page = await browser.newPage();
  });
  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  it('transfers a live call with the AI summary shown', async () => {
    await page.goto(`${h.t.baseUrl}/#/live`);
    const handle = h.call({ from: '+15554440004', script: [{ untilAgentSilentMs: 400 }, { silenceMs: 20000 }] });
    try {
      const card = page.locator('.live-card', { hasText: '+15554440004' });
      await card.locator('.line-agent', { hasText: 'Hello, how can I help?' }).waitFor({ timeout: 15000 });
      await card.locator('.takeover-transfer').click();
      await card.locator('.takeover-summary', { hasText: 'AI summary:' }).waitFor({ timeout: 10000 });
      await card.locator('.takeover-status', { hasText: 'Transferred to default' }).waitFor();
      const summary = await handle.done;
      expect(summary.afterStreamTwiml).toContain('<Dial><Number>+15550008888</Number></Dial>');
      await card.waitFor({ state: 'detached', timeout: 15000 });
      const call = await eventually(() =>
        h.t.sb.db.call.findFirst({ where: { callSid: handle.callSid, endedAt: { not: null } } }),
      );
      expect(call.endReason).toBe('transferred');
    } finally {
      await handle.hangup();
    }
    expect(browser.problems).toEqual([]);
  });
});
