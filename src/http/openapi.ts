/**
 * The OpenAPI 3.1 document of /api, served as /api/openapi.json and rendered by Swagger UI at
 * /api/docs. Written by hand next to the routes; test/integration/api-auth.test.ts checks that
 * every route the router answers is documented.
 */
import { CALL_STATUSES } from '../calls/call-status';
import { MAX_BUCKETS } from '../db/analytics-queries';
import { DEFAULT_HEARTBEAT_MS, SSE_RETRY_MS } from './sse';
import {
  DEFAULT_PAGE_LIMIT,
  INTERVALS,
  MAX_NOTES_LENGTH,
  MAX_PAGE_LIMIT,
  MAX_QUERY_TEXT_LENGTH,
  SENTIMENTS,
} from './validation';

import { WEB_CALLS_OPENAPI_PATHS } from '../channels/webrtc/openapi';
import { SUPERVISION_PATHS } from './openapi-supervision';
type Schema = Record<string, unknown>;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const nullable = (type: string, extra: Schema = {}): Schema => ({ type: [type, 'null'], ...extra });
const errorResponse = (description: string): Schema => ({
  description,
  content: { 'application/json': { schema: ref('Error') } },
});
const queryParam = (name: string, description: string, schema: Schema): Schema => ({
  name,
  in: 'query',
  required: false,
  description,
  schema,
});

const ID_PARAM = {
  name: 'id',
  in: 'path',
  required: true,
  description: 'Call id (1-64 letters, digits, "-" or "_"; anything else is a 400).',
  schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
};

const DATE_DESCRIPTION =
  'ISO-8601 date (`2026-11-01`, UTC) or date-time with a zone (`2026-11-01T10:00:00Z`). Malformed: 400 naming the field.';

const FILTER_PARAMS = [
  queryParam('caller', 'Exact caller number (Call.from), e.g. +15551234567.', { type: 'string', maxLength: 100 }),
  queryParam('agent', 'Exact agent name.', { type: 'string', maxLength: 100 }),
  queryParam('status', 'Call status.', { type: 'string', enum: [...CALL_STATUSES] }),
  queryParam('sentiment', 'Sentiment label from the call analytics.', { type: 'string', enum: [...SENTIMENTS] }),
  queryParam('language', "The conversation's language hint (metadata.language): `auto` or an ISO 639 code.", {
    type: 'string',
    pattern: '^(auto|[a-z]{2,3}(-[A-Za-z0-9]{2,8})?)$',
  }),
  queryParam('provider', 'The caller channel (Call.provider): twilio, telnyx, webrtc, app-ws, chat or sms.', {
    type: 'string',
    pattern: '^[a-z][a-z0-9-]{1,31}$',
  }),
  queryParam('startDate', `Calls started at or after this instant. ${DATE_DESCRIPTION}`, {
    type: 'string',
    format: 'date-time',
  }),
  queryParam(
    'endDate',
    `Calls started at or before this instant; a date-only value includes that whole UTC day. Before startDate: 400. ${DATE_DESCRIPTION}`,
    { type: 'string', format: 'date-time' },
  ),
  queryParam(
    'q',
    'Full-text search of the transcripts: calls having one turn that contains every word (the last word also as a prefix; case and accents ignored). Search operators are not interpreted.',
    { type: 'string', maxLength: MAX_QUERY_TEXT_LENGTH },
  ),
];

const ERRORS = {
  '400': errorResponse('Invalid parameter or body; `error.field` names it.'),
  '401': errorResponse('API tokens are configured and the request has none or a wrong one.'),
};

export function buildOpenApiDocument(version: string): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Switchboard API',
      version,
      description:
        'Call records, recordings, analytics and live status of the Switchboard phone/AI bridge. ' +
        'Errors are `{"error":{"code","message","field?"}}`. When API_TOKENS is set every route needs ' +
        '`Authorization: Bearer <token>`; a token in the URL (`?access_token=`) is accepted only on `GET /status` (EventSource cannot send headers), ' +
        'and a recording also opens with a short-lived signed URL from `GET /calls/{id}/recording-url`. Dates are ISO-8601 strings in UTC.',
      license: { name: 'MIT' },
    },
    servers: [{ url: '/api' }],
    security: [{ bearer: [] }],
    paths: {
      ...SUPERVISION_PATHS,
      ...WEB_CALLS_OPENAPI_PATHS,
      '/calls': {
        get: {
          summary: 'List calls, newest first',
          parameters: [
            queryParam('limit', `Page size, 1-${MAX_PAGE_LIMIT} (larger or negative: 400).`, {
              type: 'integer',
              minimum: 1,
              maximum: MAX_PAGE_LIMIT,
              default: DEFAULT_PAGE_LIMIT,
            }),
            queryParam('offset', 'Rows to skip.', { type: 'integer', minimum: 0, default: 0 }),
            ...FILTER_PARAMS,
          ],
          responses: {
            '200': {
              description: 'One page and the total number of matching calls.',
              content: { 'application/json': { schema: ref('CallPage') } },
            },
            ...ERRORS,
          },
        },
      },
      '/calls/export.csv': {
        get: {
          summary: 'Export the filtered call list as CSV (all matching rows, newest first)',
          parameters: FILTER_PARAMS,
          responses: {
            '200': {
              description:
                'RFC 4180 CSV with a header row (the CallListItem fields). Cells a spreadsheet would run as a formula are prefixed with a quote.',
              content: { 'text/csv': { schema: { type: 'string' } } },
            },
            ...ERRORS,
          },
        },
      },
      '/calls/{id}': {
        get: {
          summary: 'One call with its transcript (in speaking order), recordings, analytics, metadata and timeline',
          parameters: [ID_PARAM],
          responses: {
            '200': { description: 'The call.', content: { 'application/json': { schema: ref('CallDetail') } } },
            ...ERRORS,
            '404': errorResponse('No such call.'),
          },
        },
      },
      '/calls/{id}/recording': {
        get: {
          summary: "The call's latest recording (WAV), seekable",
          description:
            'Supports single byte ranges (`bytes=a-b`, `bytes=a-`, `bytes=-n`) with 206 and Content-Range, ' +
            '416 with `Content-Range: bytes */size` outside the file; ETag, Last-Modified, If-None-Match, If-Range. ' +
            'Only files inside the recordings folder are ever served. Authorized by the bearer token, or by a signed URL ' +
            '(`expires`, `sig`) from `GET /calls/{id}/recording-url` for this call, before it expires.',
          security: [{ bearer: [] }, {}],
          parameters: [
            ID_PARAM,
            queryParam('download', 'Send as an attachment.', { type: 'boolean', default: false }),
            queryParam('expires', 'Signed URL: expiry (Unix seconds).', { type: 'integer' }),
            queryParam('sig', 'Signed URL: HMAC-SHA256 of the call id and expiry (base64url).', { type: 'string' }),
            { name: 'Range', in: 'header', required: false, schema: { type: 'string', example: 'bytes=0-1023' } },
          ],
          responses: {
            '200': {
              description: 'The whole file.',
              content: { 'audio/wav': { schema: { type: 'string', format: 'binary' } } },
            },
            '206': {
              description: 'The requested range.',
              content: { 'audio/wav': { schema: { type: 'string', format: 'binary' } } },
            },
            '304': { description: 'Not modified (If-None-Match).' },
            ...ERRORS,
            '404': errorResponse('No such call, no recording, or the file is missing.'),
            '416': errorResponse('Range not satisfiable.'),
          },
        },
      },
      '/calls/{id}/recording-url': {
        get: {
          summary: "A signed URL of the call's recording, for players that cannot send a header",
          description:
            'Returns `{url, expiresAt, expiresInSec}`: `url` is `/api/calls/{id}/recording?expires=<unix>&sig=<hmac>`, ' +
            'valid for this call only, for a few minutes (an <audio> element can load and seek it without the token). ' +
            'Ask again for a new one when it has expired.',
          parameters: [ID_PARAM],
          responses: {
            '200': {
              description: 'The signed URL.',
              content: {
                'application/json': {
                  schema: {
                    type: 'object',
                    required: ['url', 'expiresAt', 'expiresInSec'],
                    properties: {
                      url: { type: 'string' },
                      expiresAt: { type: 'string', format: 'date-time' },
                      expiresInSec: { type: 'integer' },
                    },
                  },
                },
              },
            },
            ...ERRORS,
            '404': errorResponse('No such call, or no recording.'),
          },
        },
      },
      '/messages': {
        post: {
          summary: 'Send one SMS through Twilio as the agent; recorded as an outbound sms conversation',
          description:
            'Requires API_TOKENS to be configured (403 otherwise: messages cost money). The limits of send_sms apply: ' +
            "the profile's sms.countryCodes, at most 480 characters without control characters, and the daily counters " +
            'per number and per profile (429 with Retry-After). The message is stored as the agent transcript of a call ' +
            'record with provider `sms`, listed and searchable with calls.',
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['to', 'body'],
                  properties: {
                    to: { type: 'string', pattern: '^\\+[1-9]\\d{6,14}$', description: 'E.164 recipient' },
                    body: { type: 'string', minLength: 1, maxLength: 480 },
                    profile: { type: 'string', description: 'Agent profile whose SMS rules apply (default profile)' },
                  },
                },
              },
            },
          },
          responses: {
            '201': {
              description: 'Sent (queued at Twilio).',
              content: {
                'application/json': {
                  schema: {
                    type: 'object',
                    properties: {
                      message: {
                        type: 'object',
                        properties: {
                          sid: { type: 'string' },
                          status: { type: 'string' },
                          to: { type: 'string' },
                          from: { type: 'string' },
                        },
                      },
                      callId: { type: 'string' },
                    },
                  },
                },
              },
            },
            ...ERRORS,
            '403': errorResponse('API_TOKENS not configured, or a country code the profile does not allow.'),
            '413': errorResponse('Body over 16 KB.'),
            '429': errorResponse('A daily SMS limit is reached (Retry-After).'),
            '503': errorResponse('Text messages are not configured, or Twilio refused the message.'),
          },
        },
      },
      '/calls/outbound': {
        post: {
          summary: 'Place an outbound call through Twilio; the answer is bridged to the agent like an inbound call',
          description:
            'Requires API_TOKENS to be configured (403 otherwise: placing calls costs money). The call is created at once ' +
            '(direction outbound) and tracked through Twilio status callbacks.',
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['to'],
                  additionalProperties: false,
                  properties: {
                    to: { type: 'string', pattern: '^\\+[1-9]\\d{1,14}$', description: 'E.164 number to call' },
                    agent: { type: 'string', description: 'Agent profile name (default profile when omitted)' },
                    metadata: { type: 'object', description: 'Custom JSON stored with the call (small)' },
                  },
                },
              },
            },
          },
          responses: {
            '201': {
              description: 'Placed.',
              content: {
                'application/json': {
                  schema: {
                    type: 'object',
                    properties: {
                      call: {
                        type: 'object',
                        properties: {
                          id: { type: 'string' },
                          callSid: { type: ['string', 'null'] },
                          direction: { type: 'string' },
                          agent: { type: 'string' },
                          status: { type: 'string' },
                          to: { type: ['string', 'null'] },
                          from: { type: ['string', 'null'] },
                          startedAt: { type: 'string', format: 'date-time' },
                        },
                      },
                    },
                  },
                },
              },
            },
            ...ERRORS,
            '403': errorResponse('API_TOKENS is not configured.'),
            '503': errorResponse('Twilio could not be reached.'),
          },
        },
      },
      '/calls/{id}/notes': {
        post: {
          summary: "Set a call's notes (writes nothing else)",
          parameters: [ID_PARAM],
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['notes'],
                  properties: { notes: { type: 'string', maxLength: MAX_NOTES_LENGTH } },
                },
              },
            },
          },
          responses: {
            '200': {
              description: 'Saved.',
              content: {
                'application/json': {
                  schema: { type: 'object', properties: { id: { type: 'string' }, notes: { type: 'string' } } },
                },
              },
            },
            ...ERRORS,
            '404': errorResponse('No such call.'),
            '413': errorResponse('Body larger than 64 kB.'),
          },
        },
      },
      '/analytics': {
        get: {
          summary: 'Aggregates and a time series of the calls started in a range',
          description:
            'Range defaults to the 30 days before endDate (default now). Buckets are UTC; week buckets start Monday 00:00 UTC; ' +
            `empty buckets are included; more than ${MAX_BUCKETS} buckets is a 400 naming \`interval\`. Definitions: ` +
            '*completed* = status completed; *failed* = failed, busy, no-answer or canceled (interrupted calls are counted apart); ' +
            "*avgLatencyMs* = mean over analysed calls of each call's median response latency (latencyP50Ms); " +
            "*p95LatencyMs* = 95th percentile (nearest rank) over analysed calls of each call's own p95 latency; " +
            '*callerTalkRatio* = caller talk time / (caller + agent talk time); cost = sum of the per-call estimates; ' +
            '*stages* (cascaded-engine calls only, by stage transcriptMs, firstTokenMs, firstSpeechByteMs, firstAudioMs: ' +
            "ms from the caller's end of speech): *avgP50Ms* = mean of the calls' medians, *p95Ms* = 95th percentile " +
            "(nearest rank) of the calls' own p95.",
          parameters: [
            queryParam('startDate', DATE_DESCRIPTION, { type: 'string', format: 'date-time' }),
            queryParam('endDate', `${DATE_DESCRIPTION} A date-only value includes that whole day.`, {
              type: 'string',
              format: 'date-time',
            }),
            queryParam('interval', 'Bucket size of the time series.', {
              type: 'string',
              enum: [...INTERVALS],
              default: 'day',
            }),
          ],
          responses: {
            '200': { description: 'The report.', content: { 'application/json': { schema: ref('AnalyticsReport') } } },
            ...ERRORS,
          },
        },
      },
      '/status': {
        get: {
          summary: 'Live status as Server-Sent Events',
          description:
            `Sends \`retry: ${SSE_RETRY_MS}\`, then an event \`snapshot\` (data \`{activeCalls, stats, lastEventId, at}\`: \`stats\` maps each active call id to its last \`call.stats\`; id = last bus id), ` +
            'then every bus event (`call.started`, `call.updated`, `transcript.added`, `call.ended`, `analytics.ready`, `call.stats`) as ' +
            '`id: N`, `event: <type>`, `data: {"id","type","at","data"}`. ' +
            `A \`: ping\` comment is sent every ${DEFAULT_HEARTBEAT_MS / 1000} s. With Last-Event-ID (or ?lastEventId=) the events after it ` +
            'are replayed instead of the snapshot; when they are no longer kept, a snapshot is sent.',
          security: [{ bearer: [] }, { accessToken: [] }],
          parameters: [
            { name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'string' } },
            queryParam('lastEventId', 'Same as the Last-Event-ID header.', { type: 'integer', minimum: 0 }),
          ],
          responses: {
            '200': {
              description: 'An endless event stream.',
              content: { 'text/event-stream': { schema: { type: 'string' } } },
            },
            ...ERRORS,
          },
        },
      },
      '/openapi.json': {
        get: { summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1 JSON.' } } },
      },
    },
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer' },
        accessToken: { type: 'apiKey', in: 'query', name: 'access_token' },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: {
                code: {
                  type: 'string',
                  enum: [
                    'invalid_parameter',
                    'invalid_body',
                    'unauthorized',
                    'not_found',
                    'payload_too_large',
                    'range_not_satisfiable',
                    'internal',
                  ],
                },
                message: { type: 'string' },
                field: { type: 'string', description: 'The parameter or body field at fault.' },
              },
            },
          },
        },
        CallListItem: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            callSid: nullable('string'),
            from: nullable('string'),
            to: nullable('string'),
            direction: { type: 'string' },
            agent: { type: 'string' },
            status: { type: 'string', enum: [...CALL_STATUSES] },
            startedAt: { type: 'string', format: 'date-time' },
            answeredAt: nullable('string', { format: 'date-time' }),
            endedAt: nullable('string', { format: 'date-time' }),
            durationMs: nullable('integer'),
            endReason: nullable('string'),
            notes: nullable('string'),
            sentiment: nullable('string', { enum: [...SENTIMENTS, null] }),
            sentimentScore: nullable('number'),
            interruptions: nullable('integer'),
            latencyP50Ms: nullable('integer'),
            latencyP95Ms: nullable('integer'),
            estimatedCostUsd: nullable('number'),
            hasRecording: { type: 'boolean' },
          },
        },
        CallPage: {
          type: 'object',
          properties: {
            items: { type: 'array', items: ref('CallListItem') },
            total: { type: 'integer' },
            limit: { type: 'integer' },
            offset: { type: 'integer' },
          },
        },
        CallDetail: {
          type: 'object',
          description:
            'The Call row plus transcripts (ordered by startMs), recordings (newest first, each with `url`), analytics, metadata and events (ordered by time).',
          properties: {
            id: { type: 'string' },
            status: { type: 'string' },
            startedAt: { type: 'string', format: 'date-time' },
            transcripts: { type: 'array', items: { type: 'object' } },
            recordings: { type: 'array', items: { type: 'object' } },
            analytics: nullable('object'),
            metadata: nullable('object'),
            events: { type: 'array', items: { type: 'object' } },
          },
          additionalProperties: true,
        },
        AnalyticsBucket: {
          type: 'object',
          properties: {
            start: { type: 'string', format: 'date-time' },
            calls: { type: 'integer' },
            completed: { type: 'integer' },
            failed: { type: 'integer' },
            avgDurationMs: nullable('number'),
            avgLatencyMs: nullable('number'),
            interruptions: { type: 'integer' },
            costUsd: { type: 'number' },
          },
        },
        AnalyticsReport: {
          type: 'object',
          properties: {
            range: {
              type: 'object',
              properties: {
                startDate: { type: 'string', format: 'date-time' },
                endDate: { type: 'string', format: 'date-time' },
                interval: { type: 'string', enum: [...INTERVALS] },
              },
            },
            summary: {
              type: 'object',
              properties: {
                calls: { type: 'integer' },
                completed: { type: 'integer' },
                failed: { type: 'integer' },
                interrupted: { type: 'integer' },
                analyzedCalls: { type: 'integer' },
                totalDurationMs: { type: 'integer' },
                avgDurationMs: nullable('number'),
                avgLatencyMs: nullable('number'),
                p95LatencyMs: nullable('number'),
                interruptions: { type: 'integer' },
                sentiment: {
                  type: 'object',
                  properties: {
                    positive: { type: 'integer' },
                    neutral: { type: 'integer' },
                    negative: { type: 'integer' },
                    unknown: { type: 'integer' },
                  },
                },
                talk: {
                  type: 'object',
                  properties: {
                    callerTalkMs: { type: 'integer' },
                    agentTalkMs: { type: 'integer' },
                    callerTalkRatio: nullable('number'),
                  },
                },
                cost: {
                  type: 'object',
                  properties: {
                    totalUsd: { type: 'number' },
                    avgPerCallUsd: nullable('number'),
                    inputTokens: { type: 'integer' },
                    outputTokens: { type: 'integer' },
                  },
                },
                stages: {
                  type: 'object',
                  description: 'Per-stage turn latency of cascaded-engine calls; a stage no such call had is absent',
                  additionalProperties: {
                    type: 'object',
                    properties: {
                      calls: { type: 'integer' },
                      avgP50Ms: nullable('number'),
                      p95Ms: nullable('number'),
                    },
                  },
                },
              },
            },
            series: { type: 'array', items: ref('AnalyticsBucket') },
          },
        },
      },
    },
  };
}
