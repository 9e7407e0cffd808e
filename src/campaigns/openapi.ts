/** The campaign routes (src/http/campaign-routes.ts) and the personalised outbound call in the OpenAPI document. */
type Schema = Record<string, unknown>;

const error = (description: string): Schema => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});
const json = (schema: Schema): Schema => ({ 'application/json': { schema } });
const ok = (description: string, schema: Schema = { type: 'object' }): Schema => ({
  description,
  content: json(schema),
});
const E164 = { type: 'string', pattern: '^\\+[1-9]\\d{1,14}$' };
const ID = { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
const PAGE = [
  { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1 } },
  { name: 'offset', in: 'query', schema: { type: 'integer', minimum: 0 } },
];
const READ = { '401': error('No token or a wrong one.') };
const WRITE = {
  '400': error('Invalid parameter or body; `error.field` names it.'),
  '401': error('No token or a wrong one.'),
  '403': error('Not an admin token.'),
};
const RETRY = {
  type: 'object',
  properties: { attempts: { type: 'integer', minimum: 0, maximum: 10 }, delaySec: { type: 'integer', minimum: 1 } },
};
const PERSONAL = {
  contactName: { type: 'string', maxLength: 100, description: 'Fills {{contactName}} in the profile templates' },
  businessName: { type: 'string', maxLength: 100 },
  userId: { type: 'string', maxLength: 64 },
  variables: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean'] }, maxProperties: 30 },
  message: { type: 'string', maxLength: 1000, description: 'Fixed message mode: the agent says it and hangs up' },
};

const action = (summary: string): Schema => ({
  post: {
    summary,
    parameters: [ID],
    responses: {
      '200': ok('The campaign with its progress.'),
      ...WRITE,
      '404': error('No such campaign.'),
      '409': error('Not allowed from its status.'),
    },
  },
});

export const CAMPAIGN_OPENAPI_PATHS: Record<string, Schema> = {
  '/campaigns': {
    get: {
      summary: 'Campaigns, newest first',
      parameters: PAGE,
      responses: { '200': ok('campaigns and total'), ...READ },
    },
    post: {
      summary: 'Create a campaign (draft) from JSON contacts or a CSV (admin)',
      description:
        'CSV: a header row with `phone` (E.164), optional `name` and `timeZone` (IANA), any other column a template variable; at most 10,000 rows.',
      requestBody: {
        required: true,
        content: json({
          type: 'object',
          required: ['name'],
          properties: {
            name: { type: 'string', maxLength: 100 },
            agent: { type: 'string' },
            contacts: {
              type: 'array',
              maxItems: 10000,
              items: {
                type: 'object',
                required: ['phone'],
                properties: {
                  phone: E164,
                  name: { type: 'string' },
                  timeZone: { type: 'string' },
                  variables: { type: 'object' },
                },
              },
            },
            csv: { type: 'string', description: 'The contacts as CSV text (instead of contacts)' },
            hours: {
              type: 'object',
              properties: {
                start: { type: 'string', example: '09:00' },
                end: { type: 'string', example: '20:00' },
                days: { type: 'array', items: { type: 'integer', minimum: 1, maximum: 7 } },
              },
            },
            timeZone: { type: 'string', description: 'For contacts without one (default UTC)' },
            maxConcurrent: { type: 'integer', minimum: 1, maximum: 100 },
            callsPerMinute: { type: 'integer', minimum: 1, maximum: 600 },
            retries: { type: 'object', properties: { busy: RETRY, noAnswer: RETRY, failed: RETRY } },
            voicemail: { type: 'string', enum: ['message', 'hangup'] },
            voicemailMessage: { type: 'string', maxLength: 1000 },
            message: { type: 'string', maxLength: 1000 },
          },
        }),
      },
      responses: { '201': ok('Created (draft).'), ...WRITE, '413': error('Body too large.') },
    },
  },
  '/campaigns/{id}': {
    get: {
      summary: 'A campaign with its progress',
      parameters: [ID],
      responses: { '200': ok('campaign'), ...READ, '404': error('No such campaign.') },
    },
  },
  '/campaigns/{id}/contacts': {
    get: {
      summary: "A campaign's contacts with state, outcome, disposition, attempts and call id",
      parameters: [ID, ...PAGE],
      responses: { '200': ok('contacts'), ...READ, '404': error('No such campaign.') },
    },
  },
  '/campaigns/{id}/results.csv': {
    get: {
      summary: 'Results as CSV, one row per contact',
      parameters: [ID],
      responses: {
        '200': { description: 'CSV', content: { 'text/csv': { schema: { type: 'string' } } } },
        ...READ,
        '404': error('No such campaign.'),
      },
    },
  },
  '/campaigns/{id}/start': action('Start dialling a draft campaign (admin; needs API_TOKENS)'),
  '/campaigns/{id}/pause': action('Pause a running campaign (admin)'),
  '/campaigns/{id}/resume': action('Resume a paused campaign (admin; needs API_TOKENS)'),
  '/campaigns/{id}/cancel': action('Cancel a campaign; its remaining contacts end as cancelled (admin)'),
  '/do-not-call': {
    get: { summary: 'The do-not-call list', parameters: PAGE, responses: { '200': ok('entries and total'), ...READ } },
    post: {
      summary: 'Add numbers to the do-not-call list (admin)',
      requestBody: {
        required: true,
        content: json({
          type: 'object',
          required: ['phones'],
          properties: {
            phones: { type: 'array', items: E164, maxItems: 5000 },
            reason: { type: 'string', maxLength: 200 },
          },
        }),
      },
      responses: { '201': ok('added'), ...WRITE },
    },
  },
  '/do-not-call/{phone}': {
    delete: {
      summary: 'Remove a number from the do-not-call list (admin)',
      parameters: [{ name: 'phone', in: 'path', required: true, schema: E164 }],
      responses: { '204': { description: 'Removed.' }, ...WRITE, '404': error('Not on the list.') },
    },
  },
};

export function addCampaignPaths(doc: Record<string, unknown>): Record<string, unknown> {
  const paths = { ...((doc.paths ?? {}) as Record<string, Schema>) };
  for (const [p, methods] of Object.entries(CAMPAIGN_OPENAPI_PATHS)) paths[p] = { ...(paths[p] ?? {}), ...methods };
  // The personalised outbound call: its extra fields and the Idempotency-Key header.
  const outbound = paths['/calls/outbound'] as { post?: Record<string, any> } | undefined; // eslint-disable-line @typescript-eslint/no-explicit-any
  const schema = outbound?.post?.requestBody?.content?.['application/json']?.schema as Schema | undefined;
  if (outbound?.post && schema) {
    schema.properties = { ...(schema.properties as Schema), ...PERSONAL };
    outbound.post.parameters = [
      ...((outbound.post.parameters as unknown[]) ?? []),
      {
        name: 'Idempotency-Key',
        in: 'header',
        schema: { type: 'string', pattern: '^[A-Za-z0-9_.:-]{8,128}$' },
        description:
          'A retried request with the same key and body never dials twice (200, Idempotency-Replayed: true); another body is a 409',
      },
    ];
  }
  return { ...doc, paths };
}
