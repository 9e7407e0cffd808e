/**
 * /api/campaigns (src/campaigns/): create (JSON contacts or a CSV), list, read with progress,
 * contacts, results as CSV, start/pause/resume/cancel; /api/do-not-call: the do-not-call list.
 * Reads need any token; every change an admin token (dialling costs money), and starting needs
 * API_TOKENS configured at all, like POST /api/calls/outbound.
 */
import express, { Router } from 'express';
import { E164_PATTERN } from '../agent/profiles';
import type { ApiTokenEntry } from '../supervision/roles';
import { requireRole } from '../supervision/role-guard';
import { CampaignInputError } from '../campaigns/model';
import { MAX_CSV_BYTES } from '../campaigns/csv';
import { CampaignConflict, CampaignNotFound, type CampaignAction, type Campaigns } from '../campaigns/campaigns';
import { ApiError } from './errors';

export interface CampaignRouteDeps {
  campaigns: Campaigns;
  tokens: readonly ApiTokenEntry[];
}

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function idOf(value: unknown): string {
  if (typeof value !== 'string' || !ID.test(value)) throw ApiError.notFound('campaign');
  return value;
}

function page(query: Record<string, unknown>, max: number): { limit: number; offset: number } {
  const limit = query.limit === undefined ? Math.min(100, max) : Number(query.limit);
  const offset = query.offset === undefined ? 0 : Number(query.offset);
  if (!Number.isInteger(limit) || limit < 1 || limit > max) throw ApiError.invalid('limit', `must be 1-${max}`);
  if (!Number.isInteger(offset) || offset < 0 || offset > 1_000_000)
    throw ApiError.invalid('offset', 'must be 0 or more');
  return { limit, offset };
}

async function mapErrors<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof CampaignInputError) throw ApiError.invalid(err.field, err.message.slice(err.field.length + 2));
    if (err instanceof CampaignNotFound) throw ApiError.notFound('campaign');
    if (err instanceof CampaignConflict) throw new ApiError('conflict', err.message);
    throw err;
  }
}

export function createCampaignRouter(deps: CampaignRouteDeps): Router {
  const { campaigns } = deps;
  const router = Router({ caseSensitive: true, strict: true });
  const admin = requireRole('admin', deps.tokens);
  // The CSV travels inside the JSON body (escaped): leave room for it.
  const json = express.json({ limit: MAX_CSV_BYTES * 2 });

  router.get('/campaigns', async (req, res) => {
    const { limit, offset } = page(req.query, 100);
    res.json(await campaigns.store.list(limit, offset));
  });

  router.post('/campaigns', admin, json, async (req, res) => {
    const body = req.body as unknown;
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      throw new ApiError('invalid_body', 'the body must be a JSON object');
    }
    const campaign = await mapErrors(() => campaigns.create(body as Record<string, unknown>));
    res.status(201).json({ campaign: await campaigns.summary(campaign.id) });
  });

  router.get('/campaigns/:id', async (req, res) => {
    const id = idOf(req.params.id);
    res.json({ campaign: await mapErrors(() => campaigns.summary(id)) });
  });

  router.get('/campaigns/:id/contacts', async (req, res) => {
    const id = idOf(req.params.id);
    const { limit, offset } = page(req.query, 1000);
    if (!(await campaigns.store.get(id))) throw ApiError.notFound('campaign');
    res.json({ contacts: await campaigns.store.contacts(id, limit, offset) });
  });

  router.get('/campaigns/:id/results.csv', async (req, res) => {
    const id = idOf(req.params.id);
    const csv = await mapErrors(() => campaigns.resultsCsv(id));
    res.setHeader('Content-Type', 'text/csv; charset=utf-8');
    res.setHeader('Content-Disposition', `attachment; filename="campaign-${id}.csv"`);
    res.send(csv);
  });

  for (const action of ['start', 'pause', 'resume', 'cancel'] as CampaignAction[]) {
    router.post(`/campaigns/:id/${action}`, admin, async (req, res) => {
      const id = idOf(req.params.id);
      if ((action === 'start' || action === 'resume') && deps.tokens.length === 0) {
        throw new ApiError('forbidden', 'dialling a campaign requires API_TOKENS to be configured');
      }
      const campaign = await mapErrors(() => campaigns.act(id, action));
      res.json({ campaign: await campaigns.summary(campaign.id) });
    });
  }

  router.get('/do-not-call', async (req, res) => {
    const { limit, offset } = page(req.query, 1000);
    res.json(await campaigns.store.listDoNotCall(limit, offset));
  });

  router.post('/do-not-call', admin, express.json({ limit: '256kb' }), async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const { phones, reason } = body;
    if (!Array.isArray(phones) || phones.length === 0 || phones.length > 5000) {
      throw ApiError.invalid('phones', 'must be an array of 1-5000 E.164 numbers');
    }
    const bad = phones.findIndex((p) => typeof p !== 'string' || !E164_PATTERN.test(p));
    if (bad >= 0) throw ApiError.invalid('phones', `item ${bad} is not an E.164 number`);
    if (reason !== undefined && (typeof reason !== 'string' || reason.length > 200)) {
      throw ApiError.invalid('reason', 'must be a string of at most 200 characters');
    }
    const added = await campaigns.store.addDoNotCall([...new Set(phones as string[])], (reason as string) ?? null);
    res.status(201).json({ added });
  });

  router.delete('/do-not-call/:phone', admin, async (req, res) => {
    const phone = req.params.phone;
    if (typeof phone !== 'string' || !E164_PATTERN.test(phone)) throw ApiError.invalid('phone', 'must be E.164');
    if (!(await campaigns.store.removeDoNotCall(phone))) throw ApiError.notFound('number');
    res.status(204).end();
  });

  return router;
}
