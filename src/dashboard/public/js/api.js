/**
 * The only way the page talks to the server: the REST API (fetch with `Authorization: Bearer`) and
 * the SSE stream (EventSource with `?access_token=`, since EventSource cannot set headers; the
 * server accepts a token in the URL there only). The <audio> player, which cannot send a header
 * either, gets a short-lived signed URL of the recording instead of the token.
 */

const TOKEN_KEY = 'switchboard.apiToken';

export class UnauthorizedError extends Error {
  constructor(message = 'The API token was refused') {
    super(message);
    this.name = 'UnauthorizedError';
  }
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** Token kept for the browser session only (sessionStorage), or for good with "remember". */
export const auth = {
  required: false,
  get token() {
    return sessionStorage.getItem(TOKEN_KEY) ?? localStorage.getItem(TOKEN_KEY) ?? '';
  },
  save(token, remember) {
    this.clear();
    (remember ? localStorage : sessionStorage).setItem(TOKEN_KEY, token);
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
    localStorage.removeItem(TOKEN_KEY);
  },
  /** Listeners told when the server refuses the token (the page shows the log-in form). */
  onUnauthorized: new Set(),
};

function headers(extra = {}) {
  const token = auth.token;
  return token ? { ...extra, Authorization: `Bearer ${token}` } : extra;
}

/** Query string from an object, leaving out empty values. */
export function toQuery(params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') q.set(key, String(value));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

async function request(path, init = {}) {
  const res = await fetch(path, { ...init, headers: headers(init.headers) });
  if (res.status === 401) {
    for (const listener of auth.onUnauthorized) listener();
    throw new UnauthorizedError();
  }
  if (!res.ok) {
    let code = 'http_error';
    let message = `${res.status} ${res.statusText}`;
    try {
      const body = await res.json();
      code = body?.error?.code ?? code;
      message = body?.error?.message ?? message;
    } catch {
      /* not JSON */
    }
    throw new ApiError(res.status, code, message);
  }
  return res;
}

/** A streamed GET with the token (listen in): the Response, its body not read yet. */
export const openStream = (path, signal) => request(path, { signal });

export const getJson = async (path, params = {}) => (await request(`${path}${toQuery(params)}`)).json();

export async function postJson(path, body) {
  const res = await request(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return res.json();
}

export const getBlob = async (path, params = {}) => (await request(`${path}${toQuery(params)}`)).blob();

/**
 * A URL of the call's recording that an <audio> element or a download can load by itself (they
 * cannot send headers): signed by the server for this call, valid a few minutes, no token in it.
 * Resolves to { url, expiresAt (ms) }.
 */
export async function recordingUrl(callId) {
  const body = await getJson(`/api/calls/${encodeURIComponent(callId)}/recording-url`);
  return { url: body.url, expiresAt: Date.parse(body.expiresAt) };
}

export async function loadServerConfig() {
  const res = await fetch('/assets/config.json', { cache: 'no-store' });
  const config = await res.json();
  auth.required = Boolean(config.authRequired);
  return config;
}

const EVENT_TYPES = [
  'snapshot',
  'call.started',
  'call.updated',
  'transcript.added',
  'call.stats',
  'call.ended',
  'analytics.ready',
  'alert.fired',
  'supervisor.note',
];
const RETRY_MAX_MS = 15_000;

/**
 * One live connection to GET /api/status. EventSource reconnects by itself after a drop and sends
 * Last-Event-ID, so the server replays what was missed (or sends a new snapshot). When the browser
 * gives up (an HTTP error closes an EventSource for good) this re-opens it with backoff, passing the
 * last id as `?lastEventId=`. Listeners get (type, payload); `onstate` gets 'connecting' | 'live' | 'offline'.
 */
export class LiveStream {
  constructor() {
    this.listeners = new Set();
    this.stateListeners = new Set();
    this.lastEventId = undefined;
    this.source = undefined;
    this.retryMs = 1000;
    this.timer = undefined;
    this.state = 'offline';
  }

  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onState(listener) {
    this.stateListeners.add(listener);
    listener(this.state);
    return () => this.stateListeners.delete(listener);
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    for (const listener of this.stateListeners) listener(state);
  }

  start() {
    this.stop();
    const params = {};
    if (auth.token) params.access_token = auth.token;
    if (this.lastEventId !== undefined) params.lastEventId = this.lastEventId;
    const source = new EventSource(`/api/status${toQuery(params)}`);
    this.source = source;
    this.setState('connecting');
    source.onopen = () => {
      this.retryMs = 1000;
      this.setState('live');
    };
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        // Closed for good (e.g. the server answered an error): try again later ourselves.
        this.setState('offline');
        this.timer = setTimeout(() => this.start(), this.retryMs);
        this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
      } else {
        this.setState('connecting');
      }
    };
    for (const type of EVENT_TYPES) {
      source.addEventListener(type, (message) => {
        if (message.lastEventId) this.lastEventId = message.lastEventId;
        let payload;
        try {
          payload = JSON.parse(message.data);
        } catch {
          return;
        }
        for (const listener of this.listeners) listener(type, payload);
      });
    }
  }

  stop() {
    clearTimeout(this.timer);
    this.source?.close();
    this.source = undefined;
    this.setState('offline');
  }
}
