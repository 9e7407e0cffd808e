/**
 * Campaigns, the use case behind /api/campaigns: create one from JSON contacts or a CSV, move it
 * through its lifecycle (draft → running ⇄ paused → completed; cancelled from any but completed),
 * read its progress and results, and keep the do-not-call list. The dialler does the dialling.
 */
import type { AgentSettings } from '../agent/profiles';
import { CampaignInputError, parseContacts, parseSettings, type ContactInput } from './model';
import { parseContactsCsv, resultsCsv } from './csv';
import type { CampaignRow, CampaignStatus, CampaignStore } from './store';
import type { CampaignDialler } from './dialler';
import { renderTemplate } from './template';

export type CampaignAction = 'start' | 'pause' | 'resume' | 'cancel';

const TRANSITIONS: Record<CampaignAction, { from: CampaignStatus[]; to: CampaignStatus }> = {
  start: { from: ['draft'], to: 'running' },
  pause: { from: ['running'], to: 'paused' },
  resume: { from: ['paused'], to: 'running' },
  cancel: { from: ['draft', 'running', 'paused'], to: 'cancelled' },
};

export class CampaignConflict extends Error {}

export class Campaigns {
  constructor(
    readonly store: CampaignStore,
    readonly dialler: CampaignDialler,
    private readonly agents: AgentSettings,
  ) {}

  async create(body: Record<string, unknown>): Promise<CampaignRow> {
    const { name, agent, contacts, csv, ...rest } = body;
    if (typeof name !== 'string' || name.trim() === '' || name.length > 100) {
      throw new CampaignInputError('name', 'must be a non-empty string of at most 100 characters');
    }
    if (agent !== undefined && (typeof agent !== 'string' || !this.agents.profiles.has(agent))) {
      throw new CampaignInputError('agent', 'must be the name of an agent profile');
    }
    const settings = parseSettings(rest);
    const known = new Set([
      'hours',
      'timeZone',
      'maxConcurrent',
      'callsPerMinute',
      'retries',
      'voicemail',
      'voicemailMessage',
      'message',
    ]);
    const unknown = Object.keys(rest).find((k) => !known.has(k));
    if (unknown !== undefined) throw new CampaignInputError(unknown.slice(0, 40), 'is not a known field');
    let list: ContactInput[];
    if (csv !== undefined && contacts !== undefined)
      throw new CampaignInputError('csv', 'send contacts or csv, not both');
    if (csv !== undefined) {
      if (typeof csv !== 'string') throw new CampaignInputError('csv', 'must be the CSV text');
      list = parseContactsCsv(csv);
    } else {
      list = parseContacts(contacts);
    }
    return this.store.create({
      name: name.trim(),
      agent: (agent as string | undefined) ?? null,
      settings,
      contacts: list,
    });
  }

  async act(id: string, action: CampaignAction): Promise<CampaignRow> {
    const campaign = await this.store.get(id);
    if (!campaign) throw new CampaignNotFound();
    const t = TRANSITIONS[action];
    if (!(await this.store.transition(id, t.from, t.to))) {
      throw new CampaignConflict(`cannot ${action} a campaign that is ${campaign.status}`);
    }
    if (action === 'cancel') await this.store.skipRemaining(id, 'cancelled');
    if (action === 'start' || action === 'resume') this.dialler.wake();
    return (await this.store.get(id))!;
  }

  async summary(id: string) {
    const campaign = await this.store.get(id);
    if (!campaign) throw new CampaignNotFound();
    return { ...campaign, progress: await this.store.progress(id) };
  }

  /**
   * A campaign call reached an answering machine: the contact's outcome becomes voicemail, and the
   * campaign's voicemail message (its template filled for the contact) is left, else we hang up.
   * Null for a call that is not a campaign's (bridged as usual).
   */
  async answeredByMachine(callId: string): Promise<{ message?: string } | null> {
    const meta = await this.store.db.callMetadata.findUnique({ where: { callId } });
    const custom = (meta?.custom ?? {}) as Record<string, unknown>;
    if (typeof custom.contactId !== 'string') return null;
    const contact = await this.store.db.campaignContact.findUnique({ where: { id: custom.contactId } });
    const campaign = contact ? await this.store.get(contact.campaignId) : null;
    if (!contact || !campaign) return null;
    await this.store.update(contact.id, { outcome: 'voicemail' });
    const { voicemail, voicemailMessage } = campaign.settings;
    if (voicemail !== 'message' || !voicemailMessage) return {};
    const vars = (contact.variables ?? {}) as Record<string, string>;
    return { message: renderTemplate(voicemailMessage, { ...vars, contactName: contact.name ?? undefined }) };
  }

  async resultsCsv(id: string): Promise<string> {
    if (!(await this.store.get(id))) throw new CampaignNotFound();
    return resultsCsv(await this.store.contacts(id));
  }
}

export class CampaignNotFound extends Error {
  constructor() {
    super('campaign not found');
  }
}
