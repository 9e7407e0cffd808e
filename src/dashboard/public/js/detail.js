/**
 * One call: the transcript as a conversation with times (agent words the caller never heard shown
 * struck through), the stereo recording (seekable: the API serves Range; a channel selector through
 * Web Audio), the call's analytics, its event timeline, and editable notes.
 */
import { getJson, postJson, recordingUrl } from './api.js';
import {
  h,
  mount,
  emptyState,
  formatDateTime,
  formatDuration,
  formatInt,
  formatMs,
  formatOffset,
  formatPercent,
  formatTime,
  formatUsd,
  loading,
  sentimentBadge,
  statusBadge,
} from './dom.js';
import { stageLatencyPanel } from './stage-latency.js';

const MAX_NOTES_LENGTH = 10_000;

function describeEvent(e) {
  const d = e.data ?? {};
  switch (e.type) {
    case 'barge-in':
      return {
        tone: 'warn',
        title: 'Caller barged in',
        detail: d.heardMs != null ? `heard ${formatMs(d.heardMs)} of ${formatMs(d.sentMs)} sent` : '',
      };
    case 'status.changed':
      return {
        tone: 'muted',
        title: `Status: ${d.to ?? '?'}`,
        detail: `from ${d.from ?? '?'}${d.source ? ` (${d.source})` : ''}`,
      };
    case 'dtmf':
      return { tone: 'info', title: `Keypad: ${d.digit ?? '?'}`, detail: '' };
    case 'tool.call':
      return {
        tone: d.ok === false ? 'bad' : 'info',
        title: `Tool ${d.name ?? ''}${d.ok === false ? ' failed' : ''}`,
        detail: [
          d.ok === false ? `${d.error?.code ?? 'error'}: ${d.error?.message ?? ''}` : '',
          d.durationMs != null ? `${d.durationMs} ms` : '',
        ]
          .filter(Boolean)
          .join(' · '),
        json: { arguments: d.arguments, ...(d.ok === false ? { error: d.error } : { result: d.result }) },
      };
    case 'ai.reconnecting':
      return {
        tone: 'warn',
        title: 'AI connection dropped, reconnecting',
        detail: `attempt ${d.attempt ?? '?'} · ${d.reason ?? ''}`,
      };
    case 'ai.reconnected':
      return {
        tone: 'ok',
        title: 'AI connection restored',
        detail: d.contextTurns != null ? `${d.contextTurns} turns of context re-sent` : '',
      };
    case 'ai.failed':
      return { tone: 'bad', title: 'AI connection lost for good', detail: d.reason ?? '' };
    case 'ai.error':
      return { tone: 'bad', title: 'AI error', detail: [d.code, d.message].filter(Boolean).join(': ') };
    case 'ai.response_failed':
      return { tone: 'bad', title: 'AI response failed', detail: '' };
    case 'ai.session_replaced':
      return { tone: 'info', title: 'AI session replaced (time limit)', detail: '' };
    case 'transcription.failed':
      return { tone: 'warn', title: 'Caller transcription failed', detail: '' };
    default:
      return { tone: 'muted', title: e.type, detail: '', json: Object.keys(d).length ? d : undefined };
  }
}

function timeline(call) {
  const items = [
    {
      at: call.startedAt,
      offsetMs: null,
      tone: 'info',
      title: 'Call started',
      detail: `${call.direction} · ${call.from ?? ''} → ${call.to ?? ''}`,
    },
    call.answeredAt && { at: call.answeredAt, offsetMs: null, tone: 'ok', title: 'Answered', detail: '' },
    ...call.events.map((e) => ({ at: e.at, offsetMs: e.offsetMs, ...describeEvent(e) })),
    call.endedAt && {
      at: call.endedAt,
      offsetMs: null,
      tone: call.status === 'completed' ? 'ok' : 'warn',
      title: `Ended: ${call.status}`,
      detail: call.endReason ?? '',
    },
  ].filter(Boolean);
  items.sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  return h(
    'ol',
    { class: 'timeline', id: 'call-timeline' },
    items.map((item) =>
      h(
        'li',
        { class: `tl tl-${item.tone}` },
        h('span', { class: 'tl-dot', 'aria-hidden': 'true' }),
        h(
          'div',
          { class: 'tl-body' },
          h(
            'div',
            { class: 'tl-title' },
            item.title,
            h(
              'span',
              { class: 'tl-time' },
              item.offsetMs != null ? `at ${formatOffset(item.offsetMs)}` : formatTime(item.at),
            ),
          ),
          item.detail && h('div', { class: 'tl-detail' }, item.detail),
          item.json && h('details', {}, h('summary', {}, 'Data'), h('pre', {}, JSON.stringify(item.json, null, 2))),
        ),
      ),
    ),
  );
}

function conversation(call, seek) {
  if (call.transcripts.length === 0)
    return emptyState('No transcript', 'Nothing was said on this call, or it has not been transcribed.');
  return h(
    'ol',
    { class: 'conversation', id: 'call-transcript' },
    call.transcripts.map((t) =>
      h(
        'li',
        { class: `bubble-row ${t.speaker === 'agent' ? 'from-agent' : 'from-caller'}` },
        h(
          'div',
          { class: 'bubble' },
          h(
            'div',
            { class: 'bubble-head' },
            h('span', { class: 'bubble-who' }, t.speaker === 'agent' ? 'Agent' : 'Caller'),
            h(
              'button',
              {
                type: 'button',
                class: 'time-link',
                title: 'Play from here',
                dataset: { startMs: t.startMs },
                onclick: () => seek(t.startMs),
              },
              `▶ ${formatOffset(t.startMs)}`,
            ),
          ),
          h('p', { class: 'bubble-text' }, t.text || (t.unheardText ? '' : '…')),
          t.interrupted && t.unheardText
            ? h(
                'p',
                { class: 'unheard-block' },
                h('span', { class: 'unheard-label' }, 'Not heard'),
                h('del', { class: 'unheard' }, t.unheardText),
              )
            : null,
          t.interrupted ? h('span', { class: 'cut-tag' }, 'interrupted') : null,
        ),
      ),
    ),
  );
}

function kpi(label, value, hint) {
  return h(
    'div',
    { class: 'kpi' },
    h('div', { class: 'kpi-label' }, label),
    h('div', { class: 'kpi-value' }, value),
    hint && h('div', { class: 'kpi-hint' }, hint),
  );
}

function analyticsPanel(a, call) {
  if (!a)
    return emptyState(
      'No analytics yet',
      call.endedAt ? 'Analytics were not stored for this call.' : 'They are computed when the call ends.',
    );
  const talk = a.callerTalkMs + a.agentTalkMs;
  return h(
    'div',
    { class: 'kpi-grid', id: 'call-analytics' },
    kpi(
      'Sentiment',
      sentimentBadge(a.sentimentLabel),
      a.sentimentScore != null ? `score ${a.sentimentScore.toFixed(2)} · ${a.sentimentSource ?? ''}` : '',
    ),
    kpi('Turns', formatInt(a.turns)),
    kpi('Interruptions', formatInt(a.interruptions)),
    kpi('Latency p50', formatMs(a.latencyP50Ms), `p95 ${formatMs(a.latencyP95Ms)} · max ${formatMs(a.latencyMaxMs)}`),
    kpi('Caller talk', formatDuration(a.callerTalkMs), talk ? `${formatPercent(a.callerTalkMs / talk)} of talk` : ''),
    kpi('Agent talk', formatDuration(a.agentTalkMs), `silence ${formatDuration(a.silenceMs)}`),
    kpi(
      'Tokens',
      formatInt(a.inputTokens + a.outputTokens),
      `${formatInt(a.inputTokens)} in · ${formatInt(a.outputTokens)} out`,
    ),
    kpi('Est. cost', formatUsd(a.estimatedCostUsd)),
  );
}

/** Stereo routing through Web Audio: both channels, or one of them on both ears. */
class ChannelRouter {
  constructor(audio) {
    this.audio = audio;
    this.ctx = undefined;
  }

  set(mode) {
    if (!this.ctx) {
      if (mode === 'both') return;
      const Ctx = window.AudioContext ?? window.webkitAudioContext;
      if (!Ctx) return;
      this.ctx = new Ctx();
      const source = this.ctx.createMediaElementSource(this.audio);
      const splitter = this.ctx.createChannelSplitter(2);
      const merger = this.ctx.createChannelMerger(2);
      this.gains = [0, 1].map(() => this.ctx.createGain());
      source.connect(splitter);
      // Caller (left) and agent (right) each to both ears, through their own gain.
      splitter.connect(this.gains[0], 0);
      splitter.connect(this.gains[1], 1);
      for (const g of this.gains) {
        g.connect(merger, 0, 0);
        g.connect(merger, 0, 1);
      }
      this.merger = merger;
      merger.connect(this.ctx.destination);
    }
    void this.ctx.resume();
    const [left, right] = mode === 'caller' ? [1, 0] : mode === 'agent' ? [0, 1] : [1, 1];
    this.gains[0].gain.value = left;
    this.gains[1].gain.value = right;
  }
}

function player(call) {
  const rec = call.recordings[0];
  if (!rec) return { el: emptyState('No recording', 'This call has no recording.'), seek: () => undefined };
  const audio = h('audio', { controls: true, preload: 'metadata', id: 'call-audio' });
  const router = new ChannelRouter(audio);
  // The player loads a signed URL (no token in it) that expires after a few minutes; seeking later
  // asks for new byte ranges, so a fresh URL is fetched when the old one is about to expire or fails.
  let expiresAt = 0;
  let failures = 0;
  const load = async (position = audio.currentTime, play = !audio.paused) => {
    const signed = await recordingUrl(call.id);
    expiresAt = signed.expiresAt;
    audio.src = signed.url;
    if (position > 0 || play) {
      audio.addEventListener(
        'loadedmetadata',
        () => {
          if (position > 0) audio.currentTime = position;
          if (play) void audio.play().catch(() => undefined);
        },
        { once: true },
      );
    }
  };
  const expiring = () => Date.now() > expiresAt - 30_000;
  void load(0, false).catch(() => undefined);
  audio.addEventListener('loadeddata', () => {
    failures = 0;
  });
  audio.addEventListener('error', () => {
    if (failures++ < 2) void load().catch(() => undefined);
  });
  audio.addEventListener('seeking', () => {
    if (expiring()) void load().catch(() => undefined);
  });
  audio.addEventListener('play', () => {
    if (expiring()) void load(audio.currentTime, true).catch(() => undefined);
  });
  const channel = h(
    'div',
    { class: 'segmented', role: 'radiogroup', 'aria-label': 'Channel' },
    [
      ['both', 'Both (stereo)'],
      ['caller', 'Caller (left)'],
      ['agent', 'Agent (right)'],
    ].map(([value, label]) =>
      h(
        'label',
        {},
        h('input', {
          type: 'radio',
          name: 'channel',
          value,
          checked: value === 'both',
          onchange: () => router.set(value),
        }),
        h('span', {}, label),
      ),
    ),
  );
  const seek = (ms) => {
    if (expiring()) {
      void load(ms / 1000, true).catch(() => undefined);
      return;
    }
    audio.currentTime = ms / 1000;
    void audio.play().catch(() => undefined);
  };
  const download = async (event) => {
    event.preventDefault();
    const { url } = await recordingUrl(call.id);
    const link = h('a', { href: `${url}&download=true`, download: `call-${call.id}.wav` });
    document.body.append(link);
    link.click();
    link.remove();
  };
  return {
    el: h(
      'div',
      { class: 'player' },
      audio,
      h(
        'div',
        { class: 'player-row' },
        channel,
        h(
          'span',
          { class: 'muted small' },
          `${rec.channels === 2 ? 'Stereo' : 'Mono'} · ${rec.sampleRateHz / 1000} kHz · ${formatDuration(rec.durationMs)} · ${(rec.sizeBytes / 1e6).toFixed(1)} MB`,
        ),
        h(
          'a',
          { class: 'btn btn-small', href: rec.url, onclick: (e) => void download(e).catch(() => undefined) },
          'Download WAV',
        ),
      ),
    ),
    seek,
  };
}

function notesEditor(call) {
  const textarea = h('textarea', {
    id: 'call-notes',
    rows: 5,
    maxlength: MAX_NOTES_LENGTH,
    placeholder: 'Notes for this call (follow-up, outcome…)',
  });
  textarea.value = call.notes ?? '';
  const status = h('span', { class: 'muted small', id: 'notes-status', 'aria-live': 'polite' }, '');
  const save = h(
    'button',
    { type: 'submit', class: 'btn btn-primary', id: 'save-notes', disabled: true },
    'Save notes',
  );
  let saved = textarea.value;
  textarea.addEventListener('input', () => {
    save.disabled = textarea.value === saved;
    status.textContent = textarea.value === saved ? '' : 'Unsaved changes';
  });
  const form = h('form', { class: 'notes' }, textarea, h('div', { class: 'notes-actions' }, status, save));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    save.disabled = true;
    status.textContent = 'Saving…';
    try {
      const res = await postJson(`/api/calls/${encodeURIComponent(call.id)}/notes`, { notes: textarea.value });
      saved = res.notes;
      status.textContent = `Saved at ${formatTime(new Date().toISOString())}`;
      status.dataset.state = 'saved';
    } catch (err) {
      status.textContent = `Not saved: ${err.message}`;
      status.dataset.state = 'error';
      save.disabled = false;
    }
  });
  return form;
}

function section(title, ...children) {
  return h('section', { class: 'card section' }, h('h2', {}, title), ...children);
}

export function renderDetail(root, callId) {
  mount(
    root,
    h(
      'div',
      { class: 'page-head' },
      h('a', { href: '#/history', class: 'back' }, '← Call history'),
      h('h1', {}, 'Call'),
    ),
    loading('Loading the call…', 8),
  );
  let cancelled = false;
  getJson(`/api/calls/${encodeURIComponent(callId)}`)
    .then((call) => {
      if (cancelled) return;
      const { el: playerEl, seek } = player(call);
      mount(
        root,
        h(
          'div',
          { class: 'page-head' },
          h('a', { href: '#/history', class: 'back' }, '← Call history'),
          h(
            'h1',
            { class: 'detail-title' },
            call.from ?? 'Unknown caller',
            h('span', { class: 'arrow' }, ' → '),
            h('span', { class: 'muted' }, call.to ?? ''),
            ' ',
            statusBadge(call.status),
          ),
          h(
            'dl',
            { class: 'meta' },
            [
              ['Started', formatDateTime(call.startedAt)],
              ['Duration', formatDuration(call.durationMs)],
              ['Agent', call.agent],
              ['Direction', call.direction],
              ['End reason', call.endReason ?? '—'],
              ['Call SID', call.callSid ?? '—'],
            ].map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v))),
          ),
        ),
        h(
          'div',
          { class: 'detail-grid' },
          h(
            'div',
            { class: 'detail-main' },
            section('Recording', playerEl),
            section(
              'Transcript',
              h(
                'p',
                { class: 'muted small' },
                'Select a time to play the recording from there. Struck-through text was cut off by the caller and never heard.',
              ),
              conversation(call, seek),
            ),
          ),
          h(
            'div',
            { class: 'detail-side' },
            section('Analytics', analyticsPanel(call.analytics, call)),
            call.analytics?.stageLatencies
              ? section('Turn latency by stage', stageLatencyPanel(call.analytics.stageLatencies))
              : null,
            section('Notes', notesEditor(call)),
            section('Timeline', timeline(call)),
          ),
        ),
      );
    })
    .catch((err) => {
      if (cancelled) return;
      mount(
        root,
        h('div', { class: 'page-head' }, h('a', { href: '#/history', class: 'back' }, '← Call history')),
        emptyState(err.status === 404 ? 'Call not found' : 'Could not load the call', err.message, 'error'),
      );
    });
  return () => {
    cancelled = true;
  };
}
