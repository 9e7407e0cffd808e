/**
 * Campaigns page: the list with each campaign's progress, a form creating one from a CSV file
 * (phone, name, timeZone, any other column a template variable), and a campaign's page
 * (#/campaigns/<id>) with its progress, outcomes, start/pause/resume/cancel, the results CSV and
 * every contact, each dialled one linked to its call detail. Refreshed every 2 seconds.
 */
import { getBlob, getJson, postJson } from './api.js';
import { h, mount, emptyState, formatDateTime, loading } from './dom.js';

const REFRESH_MS = 2000;
const ACTIONS = { draft: ['start', 'cancel'], running: ['pause', 'cancel'], paused: ['resume', 'cancel'] };
const OUTCOMES = [
  'completed',
  'answered',
  'voicemail',
  'busy',
  'no-answer',
  'failed',
  'do-not-call',
  'interrupted',
  'unknown',
  'cancelled',
];

function progressText(p) {
  const done = p.states.done ?? 0;
  return `${done} / ${p.total} done`;
}

function progressBar(p) {
  const pct = p.total ? Math.round(((p.states.done ?? 0) * 100) / p.total) : 0;
  return h('progress', { max: 100, value: pct, 'aria-label': `${pct}% done` });
}

function outcomeList(p) {
  const items = OUTCOMES.filter((o) => p.outcomes[o]).map((o) =>
    h('li', { dataset: { outcome: o } }, h('span', { class: 'muted' }, o), ' ', h('strong', {}, String(p.outcomes[o]))),
  );
  return items.length
    ? h('ul', { class: 'campaign-outcomes', id: 'campaign-outcomes' }, items)
    : h('p', { class: 'muted' }, 'No outcomes yet.');
}

function createForm(onCreated, setError) {
  const file = h('input', { type: 'file', name: 'csv', accept: '.csv,text/csv', required: true, id: 'campaign-csv' });
  const name = h('input', { type: 'text', name: 'name', required: true, maxlength: 100, id: 'campaign-name' });
  const agent = h('input', {
    type: 'text',
    name: 'agent',
    maxlength: 40,
    placeholder: 'default',
    id: 'campaign-agent',
  });
  const start = h('input', { type: 'time', name: 'start', value: '09:00', id: 'campaign-start' });
  const end = h('input', { type: 'time', name: 'end', value: '20:00', id: 'campaign-end' });
  const concurrent = h('input', {
    type: 'number',
    name: 'maxConcurrent',
    min: 1,
    max: 100,
    value: 1,
    id: 'campaign-concurrent',
  });
  const perMinute = h('input', {
    type: 'number',
    name: 'callsPerMinute',
    min: 1,
    max: 600,
    value: 10,
    id: 'campaign-per-minute',
  });
  const voicemail = h('input', {
    type: 'text',
    name: 'voicemailMessage',
    maxlength: 1000,
    id: 'campaign-voicemail',
    placeholder: 'Hang up on answering machines',
  });
  const field = (label, input) => h('label', { class: 'field' }, h('span', {}, label), input);
  const form = h(
    'form',
    {
      class: 'card campaign-form',
      id: 'campaign-form',
      onsubmit: async (event) => {
        event.preventDefault();
        setError('');
        try {
          const csv = await file.files[0].text();
          const body = {
            name: name.value,
            csv,
            hours: { start: start.value, end: end.value },
            maxConcurrent: Number(concurrent.value),
            callsPerMinute: Number(perMinute.value),
          };
          if (agent.value) body.agent = agent.value;
          if (voicemail.value) Object.assign(body, { voicemail: 'message', voicemailMessage: voicemail.value });
          const res = await postJson('/api/campaigns', body);
          onCreated(res.campaign);
        } catch (err) {
          setError(err.message);
        }
      },
    },
    h('h2', {}, 'New campaign from a CSV'),
    h('p', { class: 'muted' }, 'Columns: phone (E.164), name, timeZone, and any other column as a template variable.'),
    field('Name', name),
    field('Contacts (CSV)', file),
    field('Agent profile', agent),
    field('Calling from', start),
    field('Calling until', end),
    field('Calls at once', concurrent),
    field('Calls per minute', perMinute),
    field('Voicemail message', voicemail),
    h('button', { type: 'submit', class: 'btn btn-primary', id: 'campaign-create' }, 'Create'),
  );
  return form;
}

function renderList(view, navigate) {
  const error = h('p', { class: 'login-error', role: 'alert', id: 'campaign-error' });
  const list = h('div', { id: 'campaign-list' }, loading());
  const form = createForm(
    (c) => navigate(`#/campaigns/${c.id}`),
    (m) => (error.textContent = m),
  );
  mount(view, h('h1', {}, 'Campaigns'), form, error, list);
  const refresh = async () => {
    const { campaigns } = await getJson('/api/campaigns', { limit: 50 });
    if (!campaigns.length) return mount(list, emptyState('No campaigns yet.'));
    mount(
      list,
      h(
        'table',
        { class: 'table' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['Name', 'Status', 'Created'].map((t) => h('th', {}, t)),
          ),
        ),
        h(
          'tbody',
          {},
          campaigns.map((c) =>
            h(
              'tr',
              { dataset: { id: c.id } },
              h('td', {}, h('a', { href: `#/campaigns/${c.id}` }, c.name)),
              h('td', {}, c.status),
              h('td', {}, formatDateTime(c.createdAt)),
            ),
          ),
        ),
      ),
    );
  };
  return refresh;
}

function renderOne(view, id) {
  const body = h('div', { id: 'campaign' }, loading());
  const error = h('p', { class: 'login-error', role: 'alert' });
  mount(view, h('p', {}, h('a', { href: '#/campaigns' }, '← Campaigns')), error, body);
  const act = async (action) => {
    try {
      await postJson(`/api/campaigns/${id}/${action}`, {});
      await refresh();
    } catch (err) {
      error.textContent = err.message;
    }
  };
  const download = async () => {
    const blob = await getBlob(`/api/campaigns/${id}/results.csv`);
    const a = h('a', { href: URL.createObjectURL(blob), download: `campaign-${id}.csv` });
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  };
  const refresh = async () => {
    const [{ campaign }, { contacts }] = await Promise.all([
      getJson(`/api/campaigns/${id}`),
      getJson(`/api/campaigns/${id}/contacts`, { limit: 1000 }),
    ]);
    const p = campaign.progress;
    mount(
      body,
      h('h1', {}, campaign.name, ' ', h('span', { class: 'badge', id: 'campaign-status' }, campaign.status)),
      h('p', { id: 'campaign-progress' }, progressBar(p), ' ', progressText(p)),
      outcomeList(p),
      h(
        'p',
        { class: 'campaign-actions' },
        (ACTIONS[campaign.status] ?? []).map((a) =>
          h('button', { type: 'button', class: 'btn btn-small', dataset: { action: a }, onclick: () => act(a) }, a),
        ),
        h('button', { type: 'button', class: 'btn btn-ghost btn-small', onclick: download }, 'Results CSV'),
      ),
      h(
        'table',
        { class: 'table', id: 'campaign-contacts' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['#', 'Phone', 'Name', 'State', 'Outcome', 'Disposition', 'Attempts', 'Call'].map((t) => h('th', {}, t)),
          ),
        ),
        h(
          'tbody',
          {},
          contacts.map((c) =>
            h(
              'tr',
              { dataset: { row: c.row } },
              [c.row, c.phone, c.name ?? '', c.state, c.outcome ?? '', c.disposition ?? '', c.attempts].map((v) =>
                h('td', {}, String(v)),
              ),
              h('td', {}, c.lastCallId ? h('a', { href: `#/calls/${c.lastCallId}` }, 'call') : ''),
            ),
          ),
        ),
      ),
    );
  };
  return refresh;
}

/** #/campaigns or #/campaigns/<id>; returns the cleanup. */
export function renderCampaigns(view, id, navigate) {
  const refresh = id ? renderOne(view, id) : renderList(view, navigate);
  let stopped = false;
  const loop = async () => {
    try {
      await refresh();
    } catch (err) {
      if (!stopped) mount(view, emptyState(err.message));
      return;
    }
    if (!stopped) timer = setTimeout(loop, REFRESH_MS);
  };
  let timer = setTimeout(loop, 0);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
