/**
 * The campaigns' rows (Prisma, the app's main connection): campaigns, their contacts' dial state
 * and outcomes, and the do-not-call list. The dialler's every state change is one conditional
 * update, so a contact is claimed (state `dialling`, committed) before the provider is asked.
 */
import type { Db } from '../db/prisma';
import type { CampaignSettings, ContactInput } from './model';
import type { ContactResultRow } from './csv';

export type CampaignStatus = 'draft' | 'running' | 'paused' | 'cancelled' | 'completed';

export interface CampaignRow {
  id: string;
  name: string;
  agent: string | null;
  status: string;
  settings: CampaignSettings;
  createdAt: Date;
  updatedAt: Date;
}

export interface ContactRow extends ContactResultRow {
  id: string;
  campaignId: string;
  variables: Record<string, string> | null;
}

const CHUNK = 500;

export class CampaignStore {
  constructor(readonly db: Db) {}

  async create(input: {
    name: string;
    agent: string | null;
    settings: CampaignSettings;
    contacts: ContactInput[];
  }): Promise<CampaignRow> {
    return this.db.$transaction(async (tx) => {
      const campaign = await tx.campaign.create({
        data: { name: input.name, agent: input.agent, settings: input.settings as never, status: 'draft' },
      });
      for (let i = 0; i < input.contacts.length; i += CHUNK) {
        await tx.campaignContact.createMany({
          data: input.contacts.slice(i, i + CHUNK).map((c, j) => ({
            campaignId: campaign.id,
            row: i + j + 1,
            phone: c.phone,
            name: c.name ?? null,
            timeZone: c.timeZone ?? null,
            variables: (c.variables ?? undefined) as never,
          })),
        });
      }
      return campaign as unknown as CampaignRow;
    });
  }

  async get(id: string): Promise<CampaignRow | null> {
    return (await this.db.campaign.findUnique({ where: { id } })) as unknown as CampaignRow | null;
  }

  async list(limit: number, offset: number): Promise<{ campaigns: CampaignRow[]; total: number }> {
    const [campaigns, total] = await Promise.all([
      this.db.campaign.findMany({ orderBy: { createdAt: 'desc' }, take: limit, skip: offset }),
      this.db.campaign.count(),
    ]);
    return { campaigns: campaigns as unknown as CampaignRow[], total };
  }

  async byStatus(status: CampaignStatus): Promise<CampaignRow[]> {
    return (await this.db.campaign.findMany({ where: { status } })) as unknown as CampaignRow[];
  }

  /** Moves a campaign from one of `from` to `to`; false when it was in another status. */
  async transition(id: string, from: readonly CampaignStatus[], to: CampaignStatus): Promise<boolean> {
    const { count } = await this.db.campaign.updateMany({
      where: { id, status: { in: [...from] } },
      data: { status: to },
    });
    return count === 1;
  }

  async progress(
    id: string,
  ): Promise<{ states: Record<string, number>; outcomes: Record<string, number>; total: number }> {
    const [states, outcomes] = await Promise.all([
      this.db.campaignContact.groupBy({ by: ['state'], where: { campaignId: id }, _count: { _all: true } }),
      this.db.campaignContact.groupBy({ by: ['outcome'], where: { campaignId: id }, _count: { _all: true } }),
    ]);
    const s = Object.fromEntries(states.map((r) => [r.state, r._count._all]));
    const o = Object.fromEntries(outcomes.filter((r) => r.outcome).map((r) => [r.outcome!, r._count._all]));
    return { states: s, outcomes: o, total: Object.values(s).reduce((a, b) => a + b, 0) };
  }

  async contacts(id: string, limit = 100_000, offset = 0): Promise<ContactRow[]> {
    return (await this.db.campaignContact.findMany({
      where: { campaignId: id },
      orderBy: { row: 'asc' },
      take: limit,
      skip: offset,
    })) as unknown as ContactRow[];
  }

  /** Contacts due now (pending, next attempt passed), oldest first. */
  async due(campaignId: string, now: Date, take: number): Promise<ContactRow[]> {
    return (await this.db.campaignContact.findMany({
      where: { campaignId, state: 'pending', OR: [{ nextAttemptAt: null }, { nextAttemptAt: { lte: now } }] },
      orderBy: [{ nextAttemptAt: 'asc' }, { row: 'asc' }],
      take,
    })) as unknown as ContactRow[];
  }

  async countInState(campaignId: string, states: readonly string[]): Promise<number> {
    return this.db.campaignContact.count({ where: { campaignId, state: { in: [...states] } } });
  }

  async recentDials(campaignId: string, since: Date): Promise<Date[]> {
    const rows = await this.db.campaignContact.findMany({
      where: { campaignId, lastDialAt: { gt: since } },
      select: { lastDialAt: true },
    });
    return rows.map((r) => r.lastDialAt!);
  }

  /** Claims a pending contact for a dial (committed before the provider is asked). */
  async claim(contactId: string, now: Date): Promise<boolean> {
    const { count } = await this.db.campaignContact.updateMany({
      where: { id: contactId, state: 'pending' },
      data: { state: 'dialling', attempts: { increment: 1 }, lastDialAt: now, outcome: null, disposition: null },
    });
    return count === 1;
  }

  async update(contactId: string, data: Record<string, unknown>): Promise<void> {
    await this.db.campaignContact.update({ where: { id: contactId }, data: data as never });
  }

  async byCallId(callId: string): Promise<ContactRow | null> {
    return (await this.db.campaignContact.findFirst({ where: { lastCallId: callId } })) as unknown as ContactRow | null;
  }

  /** Contacts a dead process left dialling or in a call. */
  async unsettled(): Promise<ContactRow[]> {
    return (await this.db.campaignContact.findMany({
      where: { state: { in: ['dialling', 'in-call'] } },
    })) as unknown as ContactRow[];
  }

  async skipRemaining(campaignId: string, outcome: string): Promise<number> {
    const { count } = await this.db.campaignContact.updateMany({
      where: { campaignId, state: 'pending' },
      data: { state: 'done', outcome, nextAttemptAt: null },
    });
    return count;
  }

  async isDoNotCall(phone: string): Promise<boolean> {
    return (await this.db.doNotCall.findUnique({ where: { phone } })) !== null;
  }

  async addDoNotCall(phones: readonly string[], reason: string | null): Promise<number> {
    let added = 0;
    for (const phone of phones) {
      const existing = await this.db.doNotCall.findUnique({ where: { phone } });
      if (existing) continue;
      await this.db.doNotCall.create({ data: { phone, reason } });
      added++;
    }
    return added;
  }

  async removeDoNotCall(phone: string): Promise<boolean> {
    const { count } = await this.db.doNotCall.deleteMany({ where: { phone } });
    return count === 1;
  }

  async listDoNotCall(limit: number, offset: number): Promise<{ entries: unknown[]; total: number }> {
    const [entries, total] = await Promise.all([
      this.db.doNotCall.findMany({ orderBy: { createdAt: 'desc' }, take: limit, skip: offset }),
      this.db.doNotCall.count(),
    ]);
    return { entries, total };
  }
}
