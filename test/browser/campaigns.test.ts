/**
 * The campaigns page in Debian's chromium against the real app, the fake Twilio REST API and
 * answering callees: create a campaign from a CSV file, start it, watch it complete, and follow a
 * contact's link to its call. The console stays clean (no errors, no CSP violations).
 */
import type { Page } from 'playwright-core';
import { launchBrowser, type BrowserSession } from '../../scripts/lib/browser';
import {
  startBridgeHarness,
  TEST_AUTH_TOKEN,
  TEST_PUBLIC_URL,
  type BridgeHarness,
} from '../../scripts/lib/bridge-harness';
import { startFakeTwilioRest, FAKE_ACCOUNT_SID, type FakeTwilioRest } from '../helpers/fake-twilio-rest';
import { attachCallees, zoneWithLocalHour, type CampaignCallees } from '../helpers/campaign-callees';

const TOKEN = 'campaign-browser-token-0123456789';

describe('dashboard: campaigns', () => {
  let h: BridgeHarness;
  let fake: FakeTwilioRest;
  let callees: CampaignCallees;
  let browser: BrowserSession;
  let page: Page;

  beforeAll(async () => {
    fake = await startFakeTwilioRest(FAKE_ACCOUNT_SID, TEST_AUTH_TOKEN);
    callees = attachCallees(fake, {
      baseUrl: () => h.t.baseUrl,
      publicUrl: TEST_PUBLIC_URL,
      authToken: TEST_AUTH_TOKEN,
      accountSid: FAKE_ACCOUNT_SID,
      behaviour: (to) => (to.endsWith('3') ? 'machine' : 'answer'),
      holdMs: 100,
    });
    h = await startBridgeHarness(
      { ttsEngine: 'tone', replies: ['Hello.'] },
      {
        API_TOKENS: TOKEN,
        TWILIO_ACCOUNT_SID: FAKE_ACCOUNT_SID,
        TWILIO_PHONE_NUMBER: '+15559990000',
        TWILIO_API_BASE_URL: fake.baseUrl,
      },
    );
    browser = await launchBrowser();
    page = await browser.newPage();
  });

  afterAll(async () => {
    await callees?.settled();
    await browser?.close();
    await h?.close();
    await fake?.close();
  });

  afterEach(() => {
    expect(browser.problems.splice(0)).toEqual([]);
  });

  it('creates a campaign from a CSV, starts it and watches it complete', async () => {
    await page.goto(`${h.t.baseUrl}/#/campaigns`);
    await page.locator('#login-token').fill(TOKEN);
    await page.locator('#login-form button[type=submit]').click();
    await page.locator('#campaign-form').waitFor();
    const zone = zoneWithLocalHour(12);
    const csv = ['phone,name,timeZone,plan', ...[1, 2, 3, 4].map((i) => `+1555660000${i},Pat ${i},${zone},gold`)].join(
      '\n',
    );
    await page.locator('#campaign-name').fill('Browser campaign');
    await page
      .locator('#campaign-csv')
      .setInputFiles({ name: 'contacts.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    await page.locator('#campaign-start').fill('10:00');
    await page.locator('#campaign-end').fill('14:00');
    await page.locator('#campaign-concurrent').fill('2');
    await page.locator('#campaign-voicemail').fill('Hi {{contactName}}, please call back.');
    await page.locator('#campaign-create').click();
    await page.locator('#campaign-status', { hasText: 'draft' }).waitFor();
    await expect(page.locator('#campaign-contacts tbody tr').count()).resolves.toBe(4);
    await page.locator('button[data-action="start"]').click();
    await page.locator('#campaign-status', { hasText: 'completed' }).waitFor({ timeout: 30_000 });
    await expect(page.locator('#campaign-progress').textContent()).resolves.toContain('4 / 4 done');
    await expect(page.locator('#campaign-outcomes li[data-outcome="answered"] strong').textContent()).resolves.toBe(
      '3',
    );
    await expect(page.locator('#campaign-outcomes li[data-outcome="voicemail"] strong').textContent()).resolves.toBe(
      '1',
    );
    expect(callees.machineTwiml.get('+15556600003')).toContain('<Say>Hi Pat 3, please call back.</Say>');
    // Each dialled contact links to its call detail.
    await page.locator('#campaign-contacts tbody tr[data-row="1"] a').click();
    await page.waitForURL(/#\/calls\//);
    await page.locator('#view h1, #view h2').first().waitFor();
  });
});
