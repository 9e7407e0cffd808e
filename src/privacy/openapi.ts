/** The data-protection routes (src/http/privacy-routes.ts) in the API's OpenAPI document. */
import { AUDIT_ACTIONS } from './audit';

type Schema = Record<string, unknown>;

const error = (description: string): Schema => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});
const json = (schema: Schema): Schema => ({ 'application/json': { schema } });
const ID = {
  name: 'id',
  in: 'path',
  required: true,
  schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
};
const NUMBER_BODY = {
  required: true,
  content: json({
    type: 'object',
    required: ['number'],
    properties: { number: { type: 'string', pattern: '^\\+[1-9]\\d{6,14}$', description: 'E.164 phone number' } },
  }),
};
const ADMIN = {
  '400': error('Invalid parameter or body; `error.field` names it.'),
  '401': error('No token or a wrong one.'),
  '403': error('Not an admin token.'),
  '413': error('Body larger than 4 kB.'),
};
const AUDIT_FILTERS = [
  { name: 'actor', in: 'query', schema: { type: 'string', maxLength: 64 }, description: "The token's name" },
  { name: 'action', in: 'query', schema: { type: 'string', enum: [...AUDIT_ACTIONS] } },
  {
    name: 'target',
    in: 'query',
    schema: { type: 'string', maxLength: 64 },
    description: 'A call id or a masked number',
  },
  { name: 'startDate', in: 'query', schema: { type: 'string', format: 'date-time' } },
  { name: 'endDate', in: 'query', schema: { type: 'string', format: 'date-time' } },
];

export const PRIVACY_OPENAPI_PATHS: Record<string, Schema> = {
  '/calls/{id}': {
    delete: {
      summary:
        'Erase a call (admin): recording files, transcripts, timeline, analytics, metadata; a tombstone row stays',
      parameters: [ID],
      responses: {
        '200': {
          description: 'Erased (again: harmless).',
          content: json({
            type: 'object',
            properties: { callId: { type: 'string' }, erased: { type: 'boolean' }, files: { type: 'integer' } },
          }),
        },
        ...ADMIN,
        '404': error('No such call.'),
        '409': error('The call is in progress or on legal hold.'),
      },
    },
  },
  '/calls/{id}/legal-hold': {
    put: {
      summary: 'Put a call on legal hold or release it (admin): retention and erasure leave a held call alone',
      parameters: [ID],
      requestBody: {
        required: true,
        content: json({ type: 'object', required: ['hold'], properties: { hold: { type: 'boolean' } } }),
      },
      responses: { '200': { description: 'Set.' }, ...ADMIN, '404': error('No such call (or erased).') },
    },
  },
  '/privacy/erasure': {
    post: {
      summary: 'Erase every call from or to a number (admin); held and live calls are skipped and counted',
      requestBody: NUMBER_BODY,
      responses: {
        '200': {
          description: 'What was erased.',
          content: json({
            type: 'object',
            properties: {
              calls: { type: 'integer' },
              files: { type: 'integer' },
              held: { type: 'integer' },
              active: { type: 'integer' },
            },
          }),
        },
        ...ADMIN,
      },
    },
  },
  '/privacy/export': {
    post: {
      summary: 'Everything stored about a number (admin): a zip of calls.json and recordings/<callId>.wav',
      requestBody: NUMBER_BODY,
      responses: {
        '200': {
          description: 'The zip.',
          content: { 'application/zip': { schema: { type: 'string', format: 'binary' } } },
        },
        ...ADMIN,
      },
    },
  },
  '/audit': {
    get: {
      summary: 'The access audit, newest first (admin)',
      parameters: [
        ...AUDIT_FILTERS,
        { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 500, default: 100 } },
        { name: 'offset', in: 'query', schema: { type: 'integer', minimum: 0, default: 0 } },
      ],
      responses: {
        '200': {
          description: '`{items: [{id, at, actor, role, action, target, detail, ip}], total, limit, offset}`',
          content: json({ type: 'object' }),
        },
        ...ADMIN,
      },
    },
  },
  '/audit.csv': {
    get: {
      summary: 'The access audit as CSV, oldest first (admin)',
      parameters: AUDIT_FILTERS,
      responses: { '200': { description: 'CSV.', content: { 'text/csv': { schema: { type: 'string' } } } }, ...ADMIN },
    },
  },
};

/** Adds the privacy routes to an OpenAPI document (methods merged into existing paths). */
export function addPrivacyPaths(doc: Record<string, unknown>): Record<string, unknown> {
  const paths = (doc.paths ?? {}) as Record<string, Schema>;
  for (const [p, methods] of Object.entries(PRIVACY_OPENAPI_PATHS)) paths[p] = { ...(paths[p] ?? {}), ...methods };
  return { ...doc, paths };
}
