/**
 * The supervisor routes in the OpenAPI document (merged into openapi.ts's paths): whisper, listen,
 * take over, alert rules and outgoing webhooks. Roles: README "Supervisors".
 */
type Schema = Record<string, unknown>;

const error = (description: string): Schema => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});
const json = (schema: Schema): Schema => ({ required: true, content: { 'application/json': { schema } } });
const ok = (description: string, schema: Schema = { type: 'object' }): Schema => ({
  description,
  content: { 'application/json': { schema } },
});
const ID = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
const COMMON = {
  '400': error('Invalid parameter or body; `error.field` names it.'),
  '401': error('Missing or wrong token.'),
  '403': error('The token’s role may not do this (read-only, or not admin).'),
};

export const SUPERVISION_PATHS: Record<string, unknown> = {
  '/calls/{id}/whisper': {
    post: {
      summary: 'Guidance for a live call’s agent, never heard by the caller (supervisor)',
      parameters: [ID],
      requestBody: json({
        type: 'object',
        required: ['text'],
        properties: { text: { type: 'string', minLength: 1, maxLength: 1000 } },
      }),
      responses: { '202': ok('Handed to the agent.'), ...COMMON, '404': error('Not a live call here.') },
    },
  },
  '/calls/{id}/listen': {
    get: {
      summary: 'The live call’s audio, streamed as 8 kHz 16-bit PCM (supervisor)',
      parameters: [ID, { name: 'side', in: 'query', schema: { type: 'string', enum: ['both', 'caller', 'agent'] } }],
      responses: {
        '200': { description: 'Audio until the call ends.', content: { 'audio/L16; rate=8000; channels=1': {} } },
        ...COMMON,
        '404': error('Not a live voice call here.'),
        '429': error('Ten listeners already.'),
      },
    },
  },
  '/calls/{id}/take-over': {
    post: {
      summary:
        'Transfer a live call with the AI’s summary, end it politely, or take it in your browser softphone (supervisor)',
      description:
        '`softphone`: send your WebRTC offer (`sdp`, complete ICE candidates, an audio track and a `control` data ' +
        'channel); the answer comes back with the summary. The agent tells the caller a colleague joins, then you hear ' +
        'the caller and they hear you; `{"type":"hangup"}` on the data channel ends the call. One take-over per call.',
      parameters: [ID],
      requestBody: json({
        type: 'object',
        required: ['action'],
        properties: {
          action: { type: 'string', enum: ['transfer', 'end', 'softphone'] },
          destination: { type: 'string', description: 'transfer: a configured destination' },
          sdp: { type: 'string', maxLength: 16384, description: 'softphone: the browser’s SDP offer' },
        },
      }),
      responses: {
        '202': ok('Under way (`summary` for a transfer or softphone; `type: "answer"` and `sdp` for a softphone).'),
        ...COMMON,
        '404': error('Not a live call here.'),
        '409': error('The call was already taken over.'),
      },
    },
  },
  '/alert-rules': {
    get: { summary: 'The alert rules in force', responses: { '200': ok('`{rules}`'), ...COMMON } },
    put: {
      summary: 'Replace every alert rule (admin)',
      requestBody: json({ type: ['array', 'object'] }),
      responses: { '200': ok('`{rules}`'), ...COMMON, '413': error('Body over 256 KiB.') },
    },
  },
  '/alert-rules/{id}': {
    put: {
      summary: 'Add or replace one alert rule (admin)',
      parameters: [ID],
      requestBody: json({ type: 'object' }),
      responses: { '200': ok('Replaced.'), '201': ok('Added.'), ...COMMON },
    },
    delete: {
      summary: 'Remove one alert rule (admin)',
      parameters: [ID],
      responses: { '204': { description: 'Removed.' }, ...COMMON, '404': error('No such rule.') },
    },
  },
  '/webhooks': {
    get: {
      summary: 'Outgoing webhook subscriptions (admin)',
      responses: { '200': ok('`{subscriptions}`'), ...COMMON },
    },
    post: {
      summary: 'Subscribe a URL to events; the signing secret is returned once (admin)',
      requestBody: json({
        type: 'object',
        required: ['url', 'events'],
        properties: {
          url: { type: 'string', format: 'uri' },
          events: {
            type: 'array',
            items: { type: 'string', enum: ['call.started', 'call.ended', 'alert.fired', 'transcript.added'] },
          },
        },
      }),
      responses: { '201': ok('The subscription with its `secret`.'), ...COMMON },
    },
  },
  '/webhooks/{id}': {
    delete: {
      summary: 'Remove a subscription (admin)',
      parameters: [ID],
      responses: { '204': { description: 'Removed.' }, ...COMMON, '404': error('No such subscription.') },
    },
  },
  '/webhooks/{id}/deliveries': {
    get: {
      summary: 'The last 100 delivery attempts of a subscription (admin)',
      parameters: [ID],
      responses: { '200': ok('`{deliveries, queued, dropped}`'), ...COMMON, '404': error('No such subscription.') },
    },
  },
};
