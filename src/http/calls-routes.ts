/**
 * /api/calls: the filtered call list (JSON page or CSV export), one call's detail, its notes.
 * Thin routes: parse and check the input (validation.ts), call a query (db/call-queries.ts), answer.
 */
import { Router, type Response } from 'express';
import { apiReads, type ApiDeps } from './api-deps';
import { ApiError } from './errors';
import {
  DEFAULT_PAGE_LIMIT,
  MAX_PAGE_LIMIT,
  MAX_QUERY_TEXT_LENGTH,
  SENTIMENTS,
  dateRange,
  enumParam,
  idParam,
  integerParam,
  notesBody,
  optionalString,
  statusParam,
  type Query,
} from './validation';
import { iterateCallBatches, setCallNotes, toFtsQuery, type CallFilters, type CallListItem } from '../db/call-queries';

export const MAX_OFFSET = 1_000_000_000;
/** A conversation's language hint: 'auto' or an ISO 639 code with an optional region ('en', 'pt-BR'). */
export const LANGUAGE_PATTERN = /^(auto|[a-z]{2,3}(-[A-Za-z0-9]{2,8})?)$/;
/** Calls per CSV export batch (one read query each). */
export const EXPORT_BATCH_SIZE = 1000;

function languageParam(query: Query): string | undefined {
  const language = optionalString(query, 'language', 16);
  if (language !== undefined && !LANGUAGE_PATTERN.test(language))
    throw ApiError.invalid('language', 'must be "auto" or an ISO 639 language code such as "en" or "pt-BR"');
  return language;
}

/** A caller channel's name as stored on Call.provider. */
const PROVIDER_PATTERN = /^[a-z][a-z0-9-]{1,31}$/;

function providerParam(query: Query): string | undefined {
  const provider = optionalString(query, 'provider', 32);
  if (provider !== undefined && !PROVIDER_PATTERN.test(provider))
    throw ApiError.invalid('provider', 'must be a channel name such as "twilio", "telnyx", "webrtc", "chat" or "sms"');
  return provider;
}

/** The filters shared by the list and the CSV export. */
export function parseCallFilters(query: Query): CallFilters {
  const q = optionalString(query, 'q', MAX_QUERY_TEXT_LENGTH);
  if (q !== undefined && toFtsQuery(q) === undefined) throw ApiError.invalid('q', 'must contain a letter or a digit');
  return {
    caller: optionalString(query, 'caller'),
    agent: optionalString(query, 'agent'),
    status: statusParam(query),
    sentiment: enumParam(query, 'sentiment', SENTIMENTS),
    language: languageParam(query),
    provider: providerParam(query),
    ...dateRange(query),
    q,
  };
}

export const CSV_COLUMNS: (keyof CallListItem)[] = [
  'id',
  'callSid',
  'startedAt',
  'answeredAt',
  'endedAt',
  'durationMs',
  'from',
  'to',
  'direction',
  'agent',
  'status',
  'endReason',
  'sentiment',
  'sentimentScore',
  'interruptions',
  'latencyP50Ms',
  'latencyP95Ms',
  'estimatedCostUsd',
  'hasRecording',
  'notes',
];

/**
 * One CSV field (RFC 4180). Text that a spreadsheet would run as a formula (=, +, -, @, tab, CR at
 * the start) is prefixed with a quote, except plain numbers and phone numbers such as +15551234567.
 */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text) && !/^[+-]?\d[\d\s().-]*$/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Writes a chunk, waiting for the socket to drain; false once the client has gone. */
async function writeChunk(res: Response, chunk: string): Promise<boolean> {
  if (res.destroyed) return false;
  if (res.write(chunk)) return true;
  await new Promise<void>((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
  return !res.destroyed;
}

export function createCallsRouter(deps: ApiDeps): Router {
  const router = Router();
  // Reads run in the read pool (off the main thread); the notes write goes to the main connection.
  const { db, logger } = deps;
  const reads = apiReads(deps);

  router.get('/calls', async (req, res) => {
    const query = req.query as Query;
    const limit = integerParam(query, 'limit', { min: 1, max: MAX_PAGE_LIMIT, default: DEFAULT_PAGE_LIMIT });
    const offset = integerParam(query, 'offset', { min: 0, max: MAX_OFFSET, default: 0 });
    const filters = parseCallFilters(query);
    const page = await reads.run('listCalls', filters, { limit, offset });
    res.json({ items: page.items, total: page.total, limit, offset });
  });

  // Before /calls/:id, which would otherwise take "export.csv" for an id.
  router.get('/calls/export.csv', async (req, res) => {
    const filters = parseCallFilters(req.query as Query);
    const stamp = new Date().toISOString().slice(0, 10);
    res.status(200);
    res.setHeader('Content-Type', 'text/csv; charset=utf-8');
    res.setHeader('Content-Disposition', `attachment; filename="calls-${stamp}.csv"`);
    res.setHeader('Cache-Control', 'no-store');
    let rows = 0;
    try {
      if (!(await writeChunk(res, `${CSV_COLUMNS.join(',')}\r\n`))) return;
      const batches = iterateCallBatches(
        (after) => reads.run('callBatch', filters, after, EXPORT_BATCH_SIZE),
        EXPORT_BATCH_SIZE,
      );
      for await (const batch of batches) {
        const chunk = batch.map((item) => `${CSV_COLUMNS.map((c) => csvField(item[c])).join(',')}\r\n`).join('');
        rows += batch.length;
        if (!(await writeChunk(res, chunk))) return;
      }
      res.end();
    } catch (err) {
      // Headers (and maybe rows) are out: the only honest signal left is a cut connection.
      logger.error('CSV export failed', { error: (err as Error).message, rows });
      res.destroy();
    }
  });

  router.get('/calls/:id', async (req, res) => {
    const id = idParam(req.params.id);
    const call = await reads.run('getCallDetail', id);
    if (!call) throw ApiError.notFound('call');
    res.json({
      ...call,
      recordings: call.recordings.map((r) => ({ ...r, url: `/api/calls/${encodeURIComponent(id)}/recording` })),
    });
  });

  router.post('/calls/:id/notes', async (req, res) => {
    const id = idParam(req.params.id);
    const notes = notesBody(req.body);
    if (!(await setCallNotes(db, id, notes))) throw ApiError.notFound('call');
    res.json({ id, notes });
  });

  return router;
}
