/** The web-call routes in the API's OpenAPI document (paths relative to the /api server). */
type Schema = Record<string, unknown>;

const error = (description: string): Schema => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});
const LANGUAGE = {
  type: 'string',
  pattern: '^(auto|[a-z]{2,3}(-[A-Za-z0-9]{2,8})?)$',
  description: 'Language hint of the conversation: `auto` or an ISO 639 code; stored as the call metadata `language`.',
};
const json = (schema: Schema): Schema => ({ 'application/json': { schema } });

export const WEB_CALLS_OPENAPI_PATHS: Record<string, Schema> = {
  '/web-calls': {
    post: {
      summary: 'Mint a short-lived, single-use session token for one web call (a website widget)',
      description:
        "A website's server calls this with its API token and hands the token to its page, which places one call " +
        'with `POST /web-calls/offer` and never sees the API token. The token fixes the agent profile and expires ' +
        'after `ttlSec`. A session token cannot mint more.',
      requestBody: {
        content: json({
          type: 'object',
          properties: {
            profile: { type: 'string', maxLength: 64, description: 'Agent profile (default: `default`)' },
            ttlSec: { type: 'integer', minimum: 10, maximum: 3600, default: 300 },
            languageHint: LANGUAGE,
          },
        }),
      },
      responses: {
        '201': {
          description: 'Minted.',
          content: json({
            type: 'object',
            properties: {
              token: { type: 'string', pattern: '^wcs1\\.' },
              profile: { type: 'string' },
              languageHint: { type: 'string' },
              expiresAt: { type: 'string', format: 'date-time' },
              offerUrl: { type: 'string' },
            },
          }),
        },
        '400': error('A bad field (named in `field`).'),
        '401': error('No API token, a wrong one, or a session token.'),
      },
    },
  },
  '/web-calls/offer': {
    post: {
      summary: 'Place a web call: SDP offer in, SDP answer out (WebRTC, Opus)',
      description:
        'Authenticated by an API token or a session token from `POST /web-calls` (`Authorization: Bearer wcs1.…`; ' +
        'single use, bound to its profile). Send the offer with its ICE candidates gathered (no trickle); the answer ' +
        "carries the server's (host candidates, plus server-reflexive ones with WEBRTC_ICE_SERVERS). The call starts at " +
        'once: a call record with provider `webrtc`, transcripts, a stereo recording. The page may open a data channel ' +
        'named `control`: `{"type":"hangup"}` ends the call, `{"type":"dtmf","digit"}` sends a digit, and the server ' +
        'says `{"type":"ended"}` when the agent hangs up.',
      requestBody: {
        required: true,
        content: json({
          type: 'object',
          required: ['sdp'],
          properties: {
            type: { type: 'string', enum: ['offer'] },
            sdp: { type: 'string', maxLength: 16384, description: 'The SDP offer, with an m=audio section' },
            profile: { type: 'string', description: 'Agent profile (API token only; a session token fixes it)' },
            languageHint: LANGUAGE,
          },
        }),
      },
      responses: {
        '200': {
          description: 'Answered; audio flows once the browser connects.',
          content: json({
            type: 'object',
            properties: {
              callId: { type: 'string' },
              type: { type: 'string', enum: ['answer'] },
              sdp: { type: 'string' },
            },
          }),
        },
        '400': error('Not a usable SDP offer, or a bad field.'),
        '401': error('No credential, or a wrong, forged, malformed, expired or already used session token.'),
        '403': error('A session token used for another profile.'),
        '413': error('Body over 32 KiB or SDP over 16 KiB.'),
        '503': error(
          'Web-call cap (WEBRTC_MAX_CALLS) or the call cap reached (Retry-After), or the server is draining.',
        ),
      },
    },
  },
  '/web-calls/profiles': {
    get: {
      summary: "The agent profiles the dashboard's softphone offers (with the echo profile's delay)",
      responses: {
        '200': {
          description: 'The profiles.',
          content: json({
            type: 'object',
            properties: {
              profiles: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    name: { type: 'string' },
                    engine: { type: 'string' },
                    default: { type: 'boolean' },
                    echoDelayMs: { type: 'integer' },
                  },
                },
              },
            },
          }),
        },
        '401': error('No API token or a wrong one.'),
      },
    },
  },
};
