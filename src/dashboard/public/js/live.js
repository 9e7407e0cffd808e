/**
 * Live board: the active calls, kept from the SSE stream (snapshot, then call.started / call.updated /
 * transcript.added / call.stats / call.ended). The store lives as long as the page, so the board is
 * current whenever it is shown; the view updates cards in place (no re-render per event).
 */
import { getJson, postJson } from './api.js';
import { CallListener } from './listen.js';
import { softphoneTakeOver } from './takeover-softphone.js';
import { h, mount, emptyState, formatDuration, formatMs, formatOffset, formatTime, statusBadge } from './dom.js';

const RECENT_MAX = 6;
const TRANSCRIPT_MAX = 60;

const transcriptKey = (t) => `${t.speaker}|${t.startMs}|${t.itemId ?? ''}|${t.text.length}`;

export class LiveStore {
  constructor(stream) {
    /** id → { call, transcripts: Map<key, transcript>, stats } */
    this.calls = new Map();
    this.recent = [];
    /** Ids of calls seen ending (bounded by the page's lifetime; a few bytes per call). */
    this.ended = new Set();
    this.listeners = new Set();
    this.synced = false;
    stream.subscribe((type, payload) => this.apply(type, payload));
  }

  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(kind, callId) {
    for (const listener of this.listeners) listener(kind, callId);
  }

  entry(call) {
    let entry = this.calls.get(call.id);
    if (!entry) {
      entry = { call, transcripts: new Map(), stats: null, alerts: [] };
      this.calls.set(call.id, entry);
    }
    return entry;
  }

  apply(type, payload) {
    if (type === 'snapshot') return this.applySnapshot(payload.activeCalls ?? [], payload.stats ?? {});
    const data = payload.data ?? {};
    switch (type) {
      case 'call.started':
      case 'call.updated': {
        // A late update (e.g. Twilio's final status callback) must not bring an ended call back.
        if (data.call.endedAt || this.ended.has(data.call.id)) return;
        const isNew = !this.calls.has(data.call.id);
        this.entry(data.call).call = data.call;
        this.emit(isNew ? 'added' : 'updated', data.call.id);
        break;
      }
      case 'transcript.added': {
        const entry = this.calls.get(data.callId);
        if (!entry) return;
        this.addTranscript(entry, data.transcript);
        this.emit('transcript', data.callId);
        break;
      }
      case 'call.stats': {
        const entry = this.calls.get(data.callId);
        if (!entry) return;
        entry.stats = data.stats;
        this.emit('stats', data.callId);
        break;
      }
      case 'alert.fired': {
        // An alert rule fired on this call (src/supervision/alert-engine.ts): the card is highlighted.
        const entry = this.calls.get(data.callId);
        if (!entry) return;
        entry.alerts = [...entry.alerts.filter((a) => a.ruleId !== data.ruleId), data].slice(-5);
        this.emit('alerts', data.callId);
        break;
      }
      case 'supervisor.note': {
        // A supervisor's whisper to the agent, shown in the transcript as a note (the caller never hears it).
        const entry = this.calls.get(data.callId);
        if (!entry) return;
        const note = {
          speaker: 'supervisor',
          text: `${data.by}: ${data.text}`,
          startMs: data.offsetMs,
          itemId: `note-${payload.id}`,
        };
        this.addTranscript(entry, note);
        this.emit('transcript', data.callId);
        break;
      }
      case 'call.ended': {
        this.ended.add(data.call.id);
        if (!this.calls.delete(data.call.id)) return;
        this.recent.unshift(data.call);
        this.recent.length = Math.min(this.recent.length, RECENT_MAX);
        this.emit('removed', data.call.id);
        break;
      }
      default:
        break;
    }
  }

  addTranscript(entry, transcript) {
    entry.transcripts.set(transcriptKey(transcript), transcript);
    if (entry.transcripts.size > TRANSCRIPT_MAX) {
      const oldest = [...entry.transcripts.entries()].sort((a, b) => a[1].startMs - b[1].startMs)[0];
      entry.transcripts.delete(oldest[0]);
    }
  }

  /**
   * A fresh list of active calls (first connect, or a reconnect the server could not replay), with
   * each call's latest live figures (`stats`: call id → the last call.stats), so a board opened
   * mid-call shows latency and interruptions at once.
   */
  applySnapshot(activeCalls, stats = {}) {
    const ids = new Set(activeCalls.map((c) => c.id));
    for (const id of [...this.calls.keys()]) {
      if (!ids.has(id)) {
        this.calls.delete(id);
        this.emit('removed', id);
      }
    }
    for (const call of activeCalls) {
      const isNew = !this.calls.has(call.id);
      const entry = this.entry(call);
      entry.call = call;
      if (stats[call.id]) entry.stats = stats[call.id];
      this.emit(isNew ? 'added' : 'updated', call.id);
      if (!isNew && stats[call.id]) this.emit('stats', call.id);
      // What was said before we connected: the stored transcript so far.
      this.backfill(call.id);
    }
    this.synced = true;
    this.emit('synced');
  }

  async backfill(callId) {
    try {
      const detail = await getJson(`/api/calls/${encodeURIComponent(callId)}`);
      const entry = this.calls.get(callId);
      if (!entry) return;
      for (const t of detail.transcripts ?? []) this.addTranscript(entry, t);
      this.emit('transcript', callId);
    } catch {
      /* the call may have ended meanwhile; live events carry on */
    }
  }
}

function transcriptLine(t) {
  return h(
    'li',
    { class: `line line-${t.speaker}` },
    h(
      'span',
      { class: 'line-who' },
      t.speaker === 'agent' ? 'Agent' : t.speaker === 'supervisor' ? 'Supervisor note' : 'Caller',
    ),
    h('span', { class: 'line-time' }, formatOffset(t.startMs)),
    h(
      'span',
      { class: 'line-text' },
      t.text,
      t.interrupted && t.unheardText
        ? h('del', { class: 'unheard', title: 'Not heard by the caller' }, ` ${t.unheardText}`)
        : null,
    ),
  );
}

function statCell(label, value, name) {
  return h(
    'div',
    { class: 'stat' },
    h('span', { class: 'stat-label' }, label),
    h('span', { class: 'stat-value', dataset: { stat: name } }, value),
  );
}

/** Guidance for the agent (POST /api/calls/:id/whisper, a supervisor token): never heard by the caller. */
function whisperForm(callId) {
  const input = h('input', {
    type: 'text',
    class: 'whisper-text',
    maxlength: '1000',
    placeholder: 'Whisper to the agent…',
    'aria-label': 'Whisper to the agent',
  });
  const status = h('span', { class: 'whisper-status muted', 'aria-live': 'polite' });
  const send = h('button', { type: 'submit', class: 'whisper-send' }, 'Whisper');
  const form = h('form', { class: 'whisper' }, input, send, status);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    send.disabled = true;
    status.textContent = 'Sending…';
    try {
      await postJson(`/api/calls/${encodeURIComponent(callId)}/whisper`, { text });
      input.value = '';
      status.textContent = 'Sent to the agent';
    } catch (err) {
      status.textContent = `Not sent: ${err.message}`;
    } finally {
      send.disabled = false;
    }
  });
  return form;
}

/** Listen in (GET /api/calls/:id/listen, a supervisor token): both sides mixed, or one side. */
function listenControls(callId) {
  let listener;
  const side = h(
    'select',
    { class: 'listen-side', 'aria-label': 'Which side to hear' },
    h('option', { value: 'both' }, 'Both sides'),
    h('option', { value: 'caller' }, 'Caller'),
    h('option', { value: 'agent' }, 'Agent'),
  );
  const status = h('span', { class: 'listen-status muted', 'aria-live': 'polite' });
  const button = h('button', { type: 'button', class: 'listen-toggle' }, 'Listen');
  const box = h('div', { class: 'listen' }, button, side, status);
  const stop = () => {
    listener?.stop();
    listener = undefined;
    button.textContent = 'Listen';
    side.disabled = false;
  };
  button.addEventListener('click', () => {
    if (listener) {
      stop();
      status.textContent = '';
      return;
    }
    button.textContent = 'Stop listening';
    side.disabled = true;
    status.textContent = 'Listening…';
    listener = new CallListener(callId, side.value, (rms, peak) => {
      box.dataset.listenRms = String(Math.round(rms));
      box.dataset.listenPeak = String(Math.max(peak, Number(box.dataset.listenPeak ?? 0)));
      if (peak > 2000 && !box.dataset.listenFirstLoudAt) box.dataset.listenFirstLoudAt = String(Date.now());
    });
    listener
      .start()
      .then(() => {
        status.textContent = 'The call ended';
      })
      .catch((err) => {
        status.textContent = `Cannot listen: ${err.message}`;
      })
      .finally(stop);
  });
  return box;
}

/**
 * Take over (POST /api/calls/:id/take-over, a supervisor token): transfer with the AI's summary, end
 * politely, or take the call in this browser (takeover-softphone.js).
 */
function takeOverControls(callId) {
  const status = h('span', { class: 'takeover-status muted', 'aria-live': 'polite' });
  const summary = h('p', { class: 'takeover-summary', hidden: true });
  const act = async (action, button) => {
    button.disabled = true;
    status.textContent = action === 'transfer' ? 'Transferring…' : 'Ending…';
    try {
      const res = await postJson(`/api/calls/${encodeURIComponent(callId)}/take-over`, { action });
      status.textContent = action === 'transfer' ? `Transferred to ${res.destination}` : 'Ending the call';
      if (res.summary) {
        summary.textContent = `AI summary: ${res.summary}`;
        summary.hidden = false;
      }
    } catch (err) {
      status.textContent = `Not done: ${err.message}`;
      button.disabled = false;
    }
  };
  const transfer = h('button', { type: 'button', class: 'takeover-transfer' }, 'Transfer to a human');
  const end = h('button', { type: 'button', class: 'takeover-end' }, 'End politely');
  transfer.addEventListener('click', () => act('transfer', transfer));
  end.addEventListener('click', () => act('end', end));
  const here = softphoneTakeOver(callId, (text) => {
    summary.textContent = `AI summary: ${text}`;
    summary.hidden = false;
  });
  return h('div', { class: 'takeover' }, transfer, end, here, status, summary);
}

function callCard(entry) {
  const { call } = entry;
  const card = h(
    'article',
    { class: 'card live-card', dataset: { callId: call.id } },
    h(
      'header',
      { class: 'live-card-head' },
      h(
        'div',
        {},
        h(
          'div',
          { class: 'live-caller' },
          h('span', { class: 'pulse', 'aria-hidden': 'true' }),
          call.from ?? 'Unknown caller',
        ),
        h(
          'div',
          { class: 'live-meta' },
          `${call.direction} · agent ${call.agent} · since ${formatTime(call.startedAt)}`,
        ),
      ),
      h(
        'div',
        { class: 'live-right' },
        h('span', { class: 'live-duration', dataset: { since: call.answeredAt ?? call.startedAt } }, '0:00'),
        h('span', { class: 'live-status' }, statusBadge(call.status)),
      ),
    ),
    h(
      'div',
      { class: 'stats-row' },
      statCell('Interruptions', '0', 'interruptions'),
      statCell('Latency (last)', '—', 'latencyLastMs'),
      statCell('Latency (avg)', '—', 'latencyAvgMs'),
      statCell('AI reconnects', '0', 'aiReconnects'),
    ),
    h('ul', { class: 'live-alerts', role: 'alert', hidden: true }),
    h(
      'ol',
      { class: 'live-transcript', 'aria-live': 'polite' },
      h('li', { class: 'line-empty muted' }, 'Waiting for the first words…'),
    ),
    whisperForm(call.id),
    listenControls(call.id),
    takeOverControls(call.id),
    h('footer', { class: 'live-card-foot' }, h('a', { href: `#/calls/${encodeURIComponent(call.id)}` }, 'Open call →')),
  );
  updateCard(card, entry, 'all');
  return card;
}

function updateCard(card, entry, what) {
  const { call } = entry;
  if (what === 'all' || what === 'updated') {
    mount(card.querySelector('.live-status'), statusBadge(call.status));
    card.querySelector('.live-duration').dataset.since = call.answeredAt ?? call.startedAt;
  }
  if ((what === 'all' || what === 'stats') && entry.stats) {
    const s = entry.stats;
    card.querySelector('[data-stat="interruptions"]').textContent = String(s.interruptions);
    card.querySelector('[data-stat="latencyLastMs"]').textContent = formatMs(s.latencyLastMs);
    card.querySelector('[data-stat="latencyAvgMs"]').textContent = formatMs(s.latencyAvgMs);
    card.querySelector('[data-stat="aiReconnects"]').textContent = String(s.aiReconnects);
    card.querySelector('[data-stat="aiReconnects"]').classList.toggle('warn-text', s.aiReconnects > 0);
  }
  if ((what === 'all' || what === 'alerts') && entry.alerts.length > 0) {
    card.classList.add('live-card-alert');
    const list = card.querySelector('.live-alerts');
    list.hidden = false;
    mount(
      list,
      entry.alerts.map((a) => h('li', { dataset: { rule: a.ruleId } }, h('strong', {}, a.ruleId), ` ${a.message}`)),
    );
  }
  if ((what === 'all' || what === 'transcript') && entry.transcripts.size > 0) {
    const list = card.querySelector('.live-transcript');
    const lines = [...entry.transcripts.values()].sort((a, b) => a.startMs - b.startMs);
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 24;
    mount(list, lines.map(transcriptLine));
    if (atBottom) list.scrollTop = list.scrollHeight;
  }
}

/** Ticks every live duration once a second (one timer for the whole page). */
export function startDurationTicker() {
  setInterval(() => {
    const now = Date.now();
    for (const el of document.querySelectorAll('.live-duration[data-since]')) {
      el.textContent = formatDuration(now - Date.parse(el.dataset.since));
    }
  }, 1000);
}

export function renderLive(root, store) {
  const grid = h('div', { class: 'live-grid', id: 'live-calls' });
  const count = h('span', { class: 'count-pill', id: 'live-count' }, '0');
  const recent = h('ul', { class: 'recent-list', id: 'recent-calls' });
  const connecting = h('div', { class: 'card connecting' }, 'Connecting to the live stream…');
  const empty = emptyState(
    'No calls right now',
    'A call appears here the moment it starts, with its transcript as it is spoken.',
  );
  empty.id = 'live-empty';
  mount(
    root,
    h(
      'div',
      { class: 'page-head' },
      h('h1', {}, 'Live calls ', count),
      h(
        'p',
        { class: 'page-sub' },
        'Active calls with their transcript, interruptions and response latency, as they happen.',
      ),
    ),
    connecting,
    grid,
    empty,
    h('section', { class: 'recent' }, h('h2', {}, 'Recently ended'), recent),
  );
  const cards = new Map();

  const refreshChrome = () => {
    count.textContent = String(store.calls.size);
    empty.hidden = store.calls.size > 0 || !store.synced;
    grid.hidden = store.calls.size === 0;
    connecting.hidden = store.synced || store.calls.size > 0;
    mount(
      recent,
      store.recent.length === 0
        ? h('li', { class: 'muted' }, 'No calls have ended since this page was opened.')
        : store.recent.map((c) =>
            h(
              'li',
              {},
              h('a', { href: `#/calls/${encodeURIComponent(c.id)}` }, c.from ?? 'Unknown caller'),
              ' ',
              statusBadge(c.status),
              h('span', { class: 'muted' }, ` ${formatDuration(c.durationMs)} · ended ${formatTime(c.endedAt)}`),
            ),
          ),
    );
  };

  const add = (id) => {
    const entry = store.calls.get(id);
    if (!entry || cards.has(id)) return;
    const card = callCard(entry);
    cards.set(id, card);
    grid.append(card);
  };
  for (const id of store.calls.keys()) add(id);
  refreshChrome();

  const unsubscribe = store.subscribe((kind, id) => {
    if (kind === 'added') add(id);
    else if (kind === 'removed') {
      cards.get(id)?.remove();
      cards.delete(id);
    } else if (id && cards.has(id)) updateCard(cards.get(id), store.calls.get(id), kind);
    if (kind === 'added' || kind === 'removed' || kind === 'synced') refreshChrome();
  });
  return unsubscribe;
}
