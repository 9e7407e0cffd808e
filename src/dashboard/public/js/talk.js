/**
 * "Talk to the agent": the softphone. Pick a profile and a language, allow the microphone, talk,
 * hear the agent, follow the live transcript (from the dashboard's SSE stream), hang up. The echo
 * test calls the built-in `echo` profile (the caller's audio played back after ECHO_DELAY_MS) and
 * times a beep's round trip.
 */
import { getJson } from './api.js';
import { h, mount } from './dom.js';
import { WebCall } from './softphone.js';

const LANGUAGES = [
  ['auto', 'Detect automatically'],
  ['en', 'English'],
  ['es', 'Spanish'],
  ['fr', 'French'],
  ['de', 'German'],
  ['pt', 'Portuguese'],
  ['it', 'Italian'],
  ['ar', 'Arabic'],
  ['ru', 'Russian'],
];
const STATE_LABELS = {
  idle: 'Not in a call',
  microphone: 'Waiting for the microphone…',
  connecting: 'Connecting…',
  connected: 'In a call',
  ended: 'Call ended',
};

export function renderTalk(root, stream) {
  const profileSelect = h('select', { id: 'talk-profile', name: 'profile' });
  const languageSelect = h(
    'select',
    { id: 'talk-language', name: 'language' },
    LANGUAGES.map(([value, label]) => h('option', { value }, label)),
  );
  const callButton = h('button', { type: 'button', class: 'btn btn-primary', id: 'talk-call' }, 'Call the agent');
  const echoButton = h('button', { type: 'button', class: 'btn', id: 'talk-echo' }, 'Echo test');
  const hangButton = h('button', { type: 'button', class: 'btn', id: 'talk-hangup', disabled: true }, 'Hang up');
  const status = h('p', { class: 'talk-status', id: 'talk-status', role: 'status' }, STATE_LABELS.idle);
  const error = h('p', { class: 'login-error', id: 'talk-error', role: 'alert' });
  const micMeter = h('meter', { id: 'talk-mic-level', min: 0, max: 0.5, value: 0 });
  const agentMeter = h('meter', { id: 'talk-agent-level', min: 0, max: 0.5, value: 0 });
  const rtt = h('p', { class: 'talk-rtt', id: 'talk-rtt' });
  const transcript = h('ol', { class: 'talk-transcript', id: 'talk-transcript' });
  const callLink = h('p', { class: 'muted', id: 'talk-call-link' });
  const audio = h('audio', { id: 'talk-audio', autoplay: true });
  let call;
  let echoDelayMs;
  const seen = new Set();

  mount(
    root,
    h(
      'div',
      { class: 'page-head' },
      h('h1', {}, 'Talk to the agent'),
      h(
        'p',
        { class: 'page-sub' },
        'Call an agent profile from this browser, or test your microphone and the round trip.',
      ),
    ),
    h(
      'section',
      { class: 'card section talk-card' },
      h(
        'div',
        { class: 'talk-controls' },
        h('label', { class: 'field' }, h('span', {}, 'Agent profile'), profileSelect),
        h('label', { class: 'field' }, h('span', {}, 'Language'), languageSelect),
      ),
      h('div', { class: 'talk-buttons' }, callButton, echoButton, hangButton),
      status,
      error,
      h(
        'div',
        { class: 'talk-meters' },
        h('label', {}, h('span', {}, 'Microphone'), micMeter),
        h('label', {}, h('span', {}, 'Agent'), agentMeter),
      ),
      rtt,
      callLink,
      audio,
    ),
    h('section', { class: 'card section' }, h('h2', {}, 'Live transcript'), transcript),
  );

  const setBusy = (busy) => {
    callButton.disabled = busy;
    echoButton.disabled = busy;
    profileSelect.disabled = busy;
    languageSelect.disabled = busy;
    hangButton.disabled = !busy;
  };

  const addLine = (t) => {
    const key = t.id ?? `${t.speaker}:${t.startMs}:${t.text}`;
    if (seen.has(key)) return;
    seen.add(key);
    transcript.append(
      h(
        'li',
        { class: `talk-line talk-${t.speaker}`, dataset: { speaker: t.speaker } },
        h('strong', {}, t.speaker === 'agent' ? 'Agent: ' : 'You: '),
        t.text,
        t.interrupted && t.unheardText ? h('del', { title: 'Not heard' }, ` ${t.unheardText}`) : null,
      ),
    );
  };

  // Transcript events that arrive before the offer's answer names our call are kept a moment.
  const early = [];
  const unsubscribe = stream.subscribe((type, payload) => {
    const data = payload?.data ?? {};
    if (type === 'transcript.added' && !call?.callId) {
      early.push(data);
      if (early.length > 50) early.shift();
      return;
    }
    if (!call?.callId) return;
    if (type === 'transcript.added' && data.callId === call.callId) addLine(data.transcript);
    if (type === 'call.ended' && data.call?.id === call.callId) call.finish('server');
  });

  const place = async (profile, echo) => {
    error.textContent = '';
    rtt.textContent = '';
    transcript.replaceChildren();
    seen.clear();
    early.length = 0;
    setBusy(true);
    call = new WebCall({
      onState: (state) => {
        status.textContent = STATE_LABELS[state] ?? state;
        status.dataset.state = state;
      },
      onLevels: (mic, agent) => {
        micMeter.value = mic;
        agentMeter.value = agent;
        agentMeter.dataset.peak = String(call.agentPeak);
      },
      onEnded: () => setBusy(false),
    });
    try {
      const callId = await call.start({ profile, languageHint: languageSelect.value, audioElement: audio });
      status.dataset.callId = callId;
      for (const e of early.splice(0)) if (e.callId === callId) addLine(e.transcript);
      mount(callLink, 'Call ', h('a', { href: `#/calls/${encodeURIComponent(callId)}` }, callId));
      if (echo) {
        rtt.textContent = 'Speak: you should hear yourself. Measuring the round trip…';
        const samples = [];
        for (let i = 0; i < 3 && !call.closed; i++) samples.push(await call.measureRoundTrip());
        samples.sort((a, b) => a - b);
        const median = samples[Math.floor(samples.length / 2)];
        rtt.dataset.ms = String(median);
        rtt.textContent =
          `Round trip: ${median} ms` +
          (echoDelayMs !== undefined
            ? ` (echo delay ${echoDelayMs} ms + ${median - echoDelayMs} ms network and audio path)`
            : '');
      }
    } catch (err) {
      error.textContent = `Call failed: ${err.message}`;
      call.finish('error');
    }
  };

  callButton.addEventListener('click', () => void place(profileSelect.value, false));
  echoButton.addEventListener('click', () => void place('echo', true));
  hangButton.addEventListener('click', () => call?.hangUp());

  getJson('/api/web-calls/profiles')
    .then(({ profiles }) => {
      const echo = profiles.find((p) => p.engine === 'echo' && p.name === 'echo');
      echoDelayMs = echo?.echoDelayMs;
      echoButton.hidden = !echo;
      mount(
        profileSelect,
        profiles
          .filter((p) => p.name !== 'echo')
          .map((p) => h('option', { value: p.name, selected: p.default }, p.default ? `${p.name} (default)` : p.name)),
      );
    })
    .catch((err) => {
      error.textContent = `Could not load the agent profiles: ${err.message}`;
    });

  return () => {
    unsubscribe();
    call?.hangUp();
  };
}
