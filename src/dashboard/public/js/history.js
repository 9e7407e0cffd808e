/**
 * Call history: the API's filters (date range, caller, agent, status, sentiment), transcript search,
 * pagination and a CSV export of the filtered list. The filters live in the URL hash
 * (#/history?status=completed&q=order&offset=20), so a filtered view can be bookmarked and Back works.
 */
import { getBlob, getJson } from './api.js';
import {
  h,
  mount,
  emptyState,
  formatDateTime,
  formatDuration,
  formatInt,
  formatMs,
  formatUsd,
  loading,
  sentimentBadge,
  statusBadge,
} from './dom.js';

export const PAGE_LIMIT = 20;
const STATUSES = [
  'completed',
  'in-progress',
  'streaming',
  'reconnecting',
  'ringing',
  'queued',
  'initiated',
  'busy',
  'no-answer',
  'failed',
  'canceled',
  'interrupted',
];
const SENTIMENTS = ['positive', 'neutral', 'negative'];
const FILTER_KEYS = ['startDate', 'endDate', 'caller', 'agent', 'status', 'sentiment', 'q'];

/** Local calendar days (yyyy-mm-dd from a date input) → the API's instants, in the viewer's time zone. */
function localDayStart(day) {
  const [y, m, d] = day.split('-').map(Number);
  return new Date(y, m - 1, d).toISOString();
}
function localDayEnd(day) {
  const [y, m, d] = day.split('-').map(Number);
  return new Date(new Date(y, m - 1, d + 1).getTime() - 1).toISOString();
}

/** The API query for the filters in the hash. */
export function apiFilters(params) {
  const out = {};
  for (const key of FILTER_KEYS) {
    const value = params.get(key)?.trim();
    if (!value) continue;
    if (key === 'startDate') out.startDate = localDayStart(value);
    else if (key === 'endDate') out.endDate = localDayEnd(value);
    else out[key] = value;
  }
  return out;
}

function select(name, label, options, value) {
  return h(
    'label',
    { class: 'field' },
    h('span', {}, label),
    h(
      'select',
      { name },
      h('option', { value: '' }, 'Any'),
      options.map((o) => h('option', { value: o, selected: o === value }, o)),
    ),
  );
}

function input(name, label, value, attrs = {}) {
  return h('label', { class: 'field' }, h('span', {}, label), h('input', { name, value: value ?? '', ...attrs }));
}

export function renderHistory(root, params, navigate) {
  const offset = Math.max(0, Number(params.get('offset')) || 0);
  const form = h(
    'form',
    { class: 'filters card', id: 'history-filters', role: 'search' },
    h(
      'label',
      { class: 'field field-search' },
      h('span', {}, 'Search transcripts'),
      h('input', {
        name: 'q',
        type: 'search',
        value: params.get('q') ?? '',
        placeholder: 'Words said in the call, e.g. “refund order”',
      }),
    ),
    input('startDate', 'From', params.get('startDate'), { type: 'date' }),
    input('endDate', 'To', params.get('endDate'), { type: 'date' }),
    input('caller', 'Caller', params.get('caller'), { placeholder: '+15551234567', inputmode: 'tel' }),
    input('agent', 'Agent', params.get('agent'), { placeholder: 'default' }),
    select('status', 'Status', STATUSES, params.get('status')),
    select('sentiment', 'Sentiment', SENTIMENTS, params.get('sentiment')),
    h(
      'div',
      { class: 'filter-actions' },
      h('button', { type: 'submit', class: 'btn btn-primary' }, 'Apply'),
      h('button', { type: 'reset', class: 'btn btn-ghost' }, 'Clear'),
    ),
  );
  const apply = (next) => {
    const q = new URLSearchParams();
    for (const [key, value] of Object.entries(next)) if (value) q.set(key, value);
    navigate(`#/history${q.toString() ? `?${q}` : ''}`);
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const data = new FormData(form);
    apply(Object.fromEntries(FILTER_KEYS.map((k) => [k, String(data.get(k) ?? '').trim()])));
  });
  form.addEventListener('reset', (e) => {
    e.preventDefault();
    apply({});
  });
  // Selects and dates apply at once; text fields on Enter / Apply.
  form.addEventListener('change', (e) => {
    if (e.target.tagName === 'SELECT' || e.target.type === 'date') form.requestSubmit();
  });

  const exportButton = h('button', { type: 'button', class: 'btn', id: 'export-csv' }, 'Export CSV');
  const summary = h('p', { class: 'page-sub', id: 'history-summary' }, 'Loading…');
  const body = h('div', { class: 'card table-card', id: 'history-results' }, loading('Loading calls…', 6));
  mount(
    root,
    h('div', { class: 'page-head page-head-row' }, h('div', {}, h('h1', {}, 'Call history'), summary), exportButton),
    form,
    body,
  );

  const filters = apiFilters(params);
  exportButton.addEventListener('click', async () => {
    exportButton.disabled = true;
    exportButton.textContent = 'Exporting…';
    try {
      const blob = await getBlob('/api/calls/export.csv', filters);
      const url = URL.createObjectURL(blob);
      const a = h('a', { href: url, download: `calls-${new Date().toISOString().slice(0, 10)}.csv`, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (err) {
      summary.textContent = `Export failed: ${err.message}`;
    } finally {
      exportButton.disabled = false;
      exportButton.textContent = 'Export CSV';
    }
  });

  let cancelled = false;
  getJson('/api/calls', { ...filters, limit: PAGE_LIMIT, offset })
    .then((page) => {
      if (cancelled) return;
      const first = page.total === 0 ? 0 : offset + 1;
      const last = offset + page.items.length;
      summary.textContent =
        page.total === 0
          ? 'No calls match these filters.'
          : `Showing ${first}–${last} of ${page.total.toLocaleString()} calls`;
      if (page.items.length === 0) {
        mount(
          body,
          emptyState(
            'No calls found',
            Object.keys(filters).length
              ? 'Try a wider date range or fewer filters.'
              : 'Calls appear here once they have started.',
          ),
        );
        return;
      }
      const pageParams = (o) => {
        const q = new URLSearchParams(params);
        if (o > 0) q.set('offset', String(o));
        else q.delete('offset');
        return `#/history${q.toString() ? `?${q}` : ''}`;
      };
      mount(
        body,
        h(
          'div',
          { class: 'table-scroll' },
          h(
            'table',
            { class: 'calls-table' },
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                [
                  'Started',
                  'Caller',
                  'Agent',
                  'Duration',
                  'Status',
                  'Sentiment',
                  'Interruptions',
                  'Latency p50',
                  'Cost',
                  '',
                ].map((c) => h('th', { scope: 'col' }, c)),
              ),
            ),
            h(
              'tbody',
              {},
              page.items.map((c) => {
                const href = `#/calls/${encodeURIComponent(c.id)}`;
                const row = h(
                  'tr',
                  { class: 'clickable', dataset: { callId: c.id } },
                  h('td', { 'data-label': 'Started' }, h('a', { href }, formatDateTime(c.startedAt))),
                  h('td', { 'data-label': 'Caller', class: 'mono' }, c.from ?? '—'),
                  h('td', { 'data-label': 'Agent' }, c.agent),
                  h('td', { 'data-label': 'Duration', class: 'num' }, formatDuration(c.durationMs)),
                  h('td', { 'data-label': 'Status' }, statusBadge(c.status)),
                  h('td', { 'data-label': 'Sentiment' }, sentimentBadge(c.sentiment)),
                  h('td', { 'data-label': 'Interruptions', class: 'num' }, formatInt(c.interruptions)),
                  h('td', { 'data-label': 'Latency p50', class: 'num' }, formatMs(c.latencyP50Ms)),
                  h('td', { 'data-label': 'Cost', class: 'num' }, formatUsd(c.estimatedCostUsd)),
                  h(
                    'td',
                    { class: 'icon-cell' },
                    c.hasRecording ? h('span', { class: 'rec-dot', title: 'Has a recording' }, 'REC') : null,
                  ),
                );
                row.addEventListener('click', (e) => {
                  if (e.target.closest('a')) return;
                  navigate(href);
                });
                return row;
              }),
            ),
          ),
        ),
        h(
          'nav',
          { class: 'pager', 'aria-label': 'Pages' },
          h(
            'a',
            {
              class: `btn ${offset === 0 ? 'disabled' : ''}`,
              href: pageParams(Math.max(0, offset - PAGE_LIMIT)),
              'aria-disabled': offset === 0 ? 'true' : false,
              id: 'page-prev',
            },
            '← Newer',
          ),
          h(
            'span',
            { class: 'muted' },
            `Page ${Math.floor(offset / PAGE_LIMIT) + 1} of ${Math.max(1, Math.ceil(page.total / PAGE_LIMIT))}`,
          ),
          h(
            'a',
            {
              class: `btn ${last >= page.total ? 'disabled' : ''}`,
              href: pageParams(offset + PAGE_LIMIT),
              'aria-disabled': last >= page.total ? 'true' : false,
              id: 'page-next',
            },
            'Older →',
          ),
        ),
      );
    })
    .catch((err) => {
      if (cancelled) return;
      summary.textContent = '';
      mount(body, emptyState('Could not load calls', err.message, 'error'));
    });
  return () => {
    cancelled = true;
  };
}
