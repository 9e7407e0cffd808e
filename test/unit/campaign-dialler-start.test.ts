/**
 * The dialler's start-up check (CampaignDialler `hasWork`): with no running campaign and nothing left
 * unsettled it asks the campaign store nothing (the app answers `hasWork` from the read pool, so the
 * main thread's database client is never opened); with work, or when the check fails, it recovers as
 * before.
 */
import { CampaignDialler } from '../../src/campaigns/dialler';
import type { CampaignStore } from '../../src/campaigns/store';
import { EventBus } from '../../src/events/event-bus';
import { createLogger } from '../../src/logging/logger';

function countingStore(): { store: CampaignStore; calls: string[] } {
  const calls: string[] = [];
  const store = {
    unsettled: async () => (calls.push('unsettled'), []),
    byStatus: async () => (calls.push('byStatus'), []),
  } as unknown as CampaignStore;
  return { store, calls };
}

async function withDialler(
  hasWork: (() => Promise<boolean>) | undefined,
  body: (d: CampaignDialler, calls: string[]) => Promise<void>,
): Promise<void> {
  const { store, calls } = countingStore();
  const dialler = new CampaignDialler({
    store,
    outbound: { place: async () => Promise.reject(new Error('no dialling here')) },
    bus: new EventBus(),
    logger: createLogger({ level: 'error', json: true, silent: true }),
    tickMs: 10,
    hasWork,
  });
  try {
    await body(dialler, calls);
  } finally {
    await dialler.stop();
  }
}

const ticks = (n: number): Promise<void> => new Promise((r) => setTimeout(r, n * 10 + 20));

describe('campaign dialler start-up', () => {
  it('asks the store nothing while there is no work, until a campaign starts', async () => {
    await withDialler(
      async () => false,
      async (d, calls) => {
        await d.start();
        await ticks(5);
        expect(calls).toEqual([]);
        d.wake();
        await ticks(2);
        expect(calls).toContain('byStatus');
        expect(calls).not.toContain('unsettled');
      },
    );
  });

  it('recovers and ticks when there is work, when the check fails, or without a check', async () => {
    for (const hasWork of [async () => true, async () => Promise.reject(new Error('pool down')), undefined]) {
      await withDialler(hasWork, async (d, calls) => {
        await d.start();
        await ticks(2);
        expect(calls[0]).toBe('unsettled');
        expect(calls).toContain('byStatus');
      });
    }
  });
});
