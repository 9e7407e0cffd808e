/**
 * The campaign dialler: every tick, for each running campaign, it dials the contacts that are due,
 * within the contact's calling hours, never beyond the campaign's concurrent calls or calls per
 * minute, and never a number on the do-not-call list (checked just before each dial). A contact
 * is claimed (state `dialling`, committed) before the provider is asked, and its call id stored
 * next, so a process killed at any point never dials anyone twice: at the next start, a contact
 * left `dialling` is settled as `unknown`, one left `in-call` from its call's final status.
 * Outcomes come from the calls' ends (the bus's call.ended), with retries per outcome and delay.
 */
import type { Call } from '../generated/prisma/client';
import type { EventBus } from '../events/event-bus';
import type { Logger } from '../logging/logger';
import type { OutboundCalls } from '../calls/outbound-calls';
import { isFinalStatus } from '../calls/call-status';
import type { CampaignRow, CampaignStore, ContactRow } from './store';
import { outcomeOf, retryAt, withinHours, type Outcome } from './schedule';
import type { Personalisation } from './personalisation';

export interface DiallerDeps {
  store: CampaignStore;
  outbound: Pick<OutboundCalls, 'place'>;
  bus: EventBus;
  logger: Logger;
  /**
   * Whether there is anything to recover or dial at start-up (a read that need not touch `store`'s
   * database client). Without it, or when it says yes, start() recovers and ticks at once.
   */
  hasWork?: () => Promise<boolean>;
  /** How often the dialler looks for due contacts (default 250 ms). */
  tickMs?: number;
  /** A contact outside its calling hours is looked at again after this long (default 60 s). */
  hoursRecheckMs?: number;
  now?: () => Date;
}

/** Call ids whose end arrived before their contact knew its call id (bounded). */
const MAX_EARLY_ENDINGS = 1000;

export class CampaignDialler {
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private stopped = false;
  private readonly dials = new Map<string, number[]>();
  private readonly earlyEndings = new Map<string, Call>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private unsubscribe: (() => void) | undefined;
  private readonly now: () => Date;
  /** Whether a campaign may be running: while none is, a tick costs no database query. */
  private active = true;
  private wakes = 0;

  constructor(private readonly deps: DiallerDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async start(): Promise<void> {
    const sub = this.deps.bus.subscribe((event) => {
      if (event.type !== 'call.ended') return;
      this.track(this.onCallEnded(event.data.call));
    });
    this.unsubscribe = typeof sub === 'function' ? sub : undefined;
    // Nothing running and nothing left unsettled: no query until a campaign starts (wake()), unless
    // one started while the answer was on its way.
    const wakesBefore = this.wakes;
    if (await this.hasWorkAtStart()) await this.recover();
    else if (this.wakes === wakesBefore) this.active = false;
    this.timer = setInterval(() => this.track(this.tick()), this.deps.tickMs ?? 250);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.unsubscribe?.();
    await Promise.allSettled([...this.inFlight]);
  }

  private track(p: Promise<unknown>): void {
    const tracked = p.catch((err: unknown) =>
      this.deps.logger.error('campaign dialler step failed', { error: (err as Error).message }),
    );
    this.inFlight.add(tracked);
    void tracked.finally(() => this.inFlight.delete(tracked));
  }

  /** Settles what a dead process left behind. Never dials: a claimed contact may have been dialled. */
  async recover(): Promise<void> {
    const { store, logger } = this.deps;
    for (const contact of await store.unsettled()) {
      const call = contact.lastCallId ? await store.db.call.findUnique({ where: { id: contact.lastCallId } }) : null;
      if (call && isFinalStatus(call.status)) {
        await this.settle(contact, call);
      } else if (!call) {
        await store.update(contact.id, { state: 'done', outcome: 'unknown', nextAttemptAt: null });
        logger.warn('campaign contact left dialling by a stopped process: not dialled again', {
          campaignId: contact.campaignId,
          contactId: contact.id,
        });
      } else {
        await store.update(contact.id, { state: 'in-call' });
      }
    }
  }

  /** deps.hasWork's answer; yes without it, or when the check itself fails (recovering is safe). */
  private async hasWorkAtStart(): Promise<boolean> {
    if (!this.deps.hasWork) return true;
    try {
      return await this.deps.hasWork();
    } catch (err) {
      this.deps.logger.warn('campaign dialler: start-up check failed; recovering anyway', {
        error: (err as Error).message,
      });
      return true;
    }
  }

  /** A campaign was started or resumed: look for due contacts now. */
  wake(): void {
    this.wakes++;
    this.active = true;
    this.track(this.tick());
  }

  /** One pass over the running campaigns (never two at once). */
  async tick(): Promise<void> {
    if (this.ticking || this.stopped || !this.active) return;
    this.ticking = true;
    try {
      const running = await this.deps.store.byStatus('running');
      // Calls still up keep their contacts settling through call.ended, which needs no tick.
      if (running.length === 0) this.active = false;
      for (const campaign of running) {
        if (this.stopped) return;
        await this.runCampaign(campaign);
      }
    } finally {
      this.ticking = false;
    }
  }

  private async runCampaign(campaign: CampaignRow): Promise<void> {
    const { store } = this.deps;
    const now = this.now();
    const settings = campaign.settings;
    const window = await this.dialWindow(campaign.id, now);
    const busy = await store.countInState(campaign.id, ['dialling', 'in-call']);
    let slots = Math.min(settings.maxConcurrent - busy, settings.callsPerMinute - window.length);
    if (slots <= 0) return;
    const due = await store.due(campaign.id, now, Math.max(slots * 4, 20));
    if (due.length === 0 && busy === 0) {
      if ((await store.countInState(campaign.id, ['pending'])) === 0) {
        if (await store.transition(campaign.id, ['running'], 'completed')) {
          this.deps.logger.info('campaign completed', { campaignId: campaign.id });
        }
      }
      return;
    }
    for (const contact of due) {
      if (slots <= 0 || this.stopped) break;
      if (!withinHours(settings, contact.timeZone, now)) {
        const recheck = new Date(now.getTime() + (this.deps.hoursRecheckMs ?? 60_000));
        await store.update(contact.id, { nextAttemptAt: recheck });
        continue;
      }
      if (await store.isDoNotCall(contact.phone)) {
        await store.update(contact.id, { state: 'done', outcome: 'do-not-call', nextAttemptAt: null });
        continue;
      }
      // Still running? A pause or cancel between ticks stops the dialling at once.
      const current = await store.get(campaign.id);
      if (current?.status !== 'running') return;
      if (!(await store.claim(contact.id, now))) continue;
      window.push(now.getTime());
      slots--;
      await this.dial(campaign, contact);
    }
  }

  private async dialWindow(campaignId: string, now: Date): Promise<number[]> {
    const since = now.getTime() - 60_000;
    let window = this.dials.get(campaignId);
    if (!window) {
      window = (await this.deps.store.recentDials(campaignId, new Date(since))).map((d) => d.getTime());
      this.dials.set(campaignId, window);
    }
    while (window.length > 0 && window[0] <= since) window.shift();
    return window;
  }

  private async dial(campaign: CampaignRow, contact: ContactRow): Promise<void> {
    const { store, outbound, logger } = this.deps;
    const vars = contact.variables ?? {};
    const personalisation: Personalisation = {
      ...(contact.name ? { contactName: contact.name } : {}),
      ...(vars.businessName ? { businessName: vars.businessName } : {}),
      ...(vars.userId ? { userId: vars.userId } : {}),
      variables: vars,
      ...(campaign.settings.message ? { message: campaign.settings.message } : {}),
    };
    let call: Call;
    try {
      call = await outbound.place({
        to: contact.phone,
        agent: campaign.agent ?? undefined,
        metadata: { campaignId: campaign.id, contactId: contact.id, row: contact.row },
        personalisation,
        machineDetection: true,
      });
    } catch (err) {
      logger.warn('campaign dial refused', {
        campaignId: campaign.id,
        contactId: contact.id,
        error: (err as Error).message,
      });
      await this.finish({ ...contact, attempts: contact.attempts + 1 }, campaign, 'failed');
      return;
    }
    await store.update(contact.id, { state: 'in-call', lastCallId: call.id });
    const early = this.earlyEndings.get(call.id);
    if (early) {
      this.earlyEndings.delete(call.id);
      await this.onCallEnded(early);
    }
  }

  private async onCallEnded(call: Call): Promise<void> {
    if (call.direction !== 'outbound') return;
    const contact = await this.deps.store.byCallId(call.id);
    if (!contact) {
      if (this.earlyEndings.size >= MAX_EARLY_ENDINGS) this.earlyEndings.delete(this.earlyEndings.keys().next().value!);
      this.earlyEndings.set(call.id, call);
      return;
    }
    if (contact.state !== 'in-call') return;
    await this.settle(contact, call);
  }

  private async settle(contact: ContactRow, call: Call): Promise<void> {
    const campaign = await this.deps.store.get(contact.campaignId);
    if (!campaign) return;
    const outcome = outcomeOf(call.status, {
      voicemail: contact.outcome === 'voicemail',
      disposition: contact.disposition,
    });
    await this.finish(contact, campaign, outcome);
  }

  private async finish(contact: ContactRow, campaign: CampaignRow, outcome: Outcome): Promise<void> {
    const now = this.now();
    const again = campaign.status === 'cancelled' ? null : retryAt(campaign.settings, outcome, contact.attempts, now);
    await this.deps.store.update(
      contact.id,
      again ? { state: 'pending', outcome, nextAttemptAt: again } : { state: 'done', outcome, nextAttemptAt: null },
    );
    this.deps.logger.info('campaign contact outcome', {
      campaignId: campaign.id,
      contactId: contact.id,
      outcome,
      attempts: contact.attempts,
      retryAt: again?.toISOString() ?? null,
    });
  }

  /** The answering machine picked up this call (its contact's outcome becomes voicemail). */
  async markVoicemail(callId: string): Promise<void> {
    const contact = await this.deps.store.byCallId(callId);
    if (contact) await this.deps.store.update(contact.id, { outcome: 'voicemail' });
  }

  /** The agent's set_disposition on this call. */
  async setDisposition(callId: string, disposition: string): Promise<boolean> {
    const contact = await this.deps.store.byCallId(callId);
    if (!contact) return false;
    await this.deps.store.update(contact.id, { disposition });
    // Asked on the call never to be called again: onto the do-not-call list, for every campaign.
    if (disposition === 'do-not-call') await this.deps.store.addDoNotCall([contact.phone], 'asked on a campaign call');
    return true;
  }
}
