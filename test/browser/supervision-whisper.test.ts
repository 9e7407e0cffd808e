/**
 * Whisper from the live board in chromium: a supervisor types guidance on a live call's card, it
 * shows in the live transcript as a supervisor note, and the agent's next reply reflects it (the
 * local AI quotes supervisor context). The page logs no error or CSP violation.
 */
import type { Page } from 'playwright-core';
import { startBridgeHarness, type BridgeHarness } from '../../scripts/lib/bridge-harness';
import { launchBrowser, type BrowserSession } from '../../scripts/lib/browser';

const GUIDANCE = 'Offer the 10% retention discount';

describe('whisper from the live board', () => {
  let h: BridgeHarness;
  let browser: BrowserSession;
  let page: Page;

  beforeAll(async () => {
    h = await startBridgeHarness({
      ttsEngine: 'tone',
      replies: ['Hello, how can I help?', 'Let me see what I can do.'],
      callerTranscripts: ['I want to cancel'],
    });
    browser = await launchBrowser();
    page = await browser.newPage();
  });
  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  it("sends guidance that appears as a note and in the agent's next reply", async () => {
    await page.goto(`${h.t.baseUrl}/#/live`);
    const handle = h.call({
      from: '+15554440002',
      script: [
        { untilAgentSilentMs: 400 },
        { silenceMs: 4000 },
        { say: 'I want to cancel' },
        { untilAgentSilentMs: 600 },
        { silenceMs: 3000 },
      ],
    });
    try {
      const card = page.locator('.live-card', { hasText: '+15554440002' });
      await card.locator('.line-agent', { hasText: 'Hello, how can I help?' }).waitFor({ timeout: 15000 });
      await card.locator('.whisper-text').fill(GUIDANCE);
      await card.locator('.whisper-send').click();
      await card.locator('.whisper-status', { hasText: 'Sent to the agent' }).waitFor();
      await card.locator('.line-supervisor', { hasText: GUIDANCE }).waitFor();
      const reply = card.locator('.line-agent', { hasText: `Following my supervisor's note: ${GUIDANCE}.` });
      await reply.waitFor({ timeout: 20000 });
      expect(await reply.textContent()).toContain('Let me see what I can do.');
    } finally {
      await handle.hangup();
    }
    expect(browser.problems).toEqual([]);
  });
});
