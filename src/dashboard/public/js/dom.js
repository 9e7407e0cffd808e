/**
 * DOM and formatting helpers. Elements are built with h() and text is always set as text (never as
 * HTML), so call data can contain anything. No inline styles or handlers: the page runs under a
 * strict Content-Security-Policy.
 */

/**
 * h('div', { class: 'x', dataset: { id }, onclick: fn }, 'text', child, [children]) → element.
 * Attributes named on* become event listeners; `false`, null and undefined attributes are left out.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'class') el.className = value;
    else if (key in el && typeof value !== 'string') el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces the children of `el`. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export const pad2 = (n) => String(n).padStart(2, '0');

/** Whole seconds → "1:15" / "1:02:03". */
function clock(totalSeconds) {
  const total = Math.max(0, totalSeconds);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  return hours > 0 ? `${hours}:${pad2(minutes)}:${pad2(seconds)}` : `${minutes}:${pad2(seconds)}`;
}

/**
 * A duration, rounded to the nearest second: 75_000 → "1:15", 28_700 → "0:29", 3_723_000 →
 * "1:02:03". The one rule for every duration on the page (live board, lists, detail, recording),
 * and the one Twilio's whole-second CallDuration follows, so a call reads the same everywhere.
 */
export function formatDuration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  return clock(Math.round(ms / 1000));
}

/** Offset in the call (ms) → "0:07.4" (a position, so truncated: 7_480 is still second 7). */
export function formatOffset(ms) {
  if (ms === null || ms === undefined) return '';
  const tenths = Math.floor((ms % 1000) / 100);
  return `${clock(Math.floor(ms / 1000))}.${tenths}`;
}

const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const timeFormat = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' });

export const formatDateTime = (iso) => (iso ? dateTimeFormat.format(new Date(iso)) : '—');
export const formatTime = (iso) => (iso ? timeFormat.format(new Date(iso)) : '—');
export const formatMs = (ms) => (ms === null || ms === undefined ? '—' : `${Math.round(ms).toLocaleString()} ms`);
export const formatInt = (n) => (n === null || n === undefined ? '—' : Math.round(n).toLocaleString());
export const formatPercent = (ratio) =>
  ratio === null || ratio === undefined ? '—' : `${(ratio * 100).toFixed(ratio < 0.1 ? 1 : 0)}%`;

/** 0.12 → "$0.12"; small amounts keep up to 4 decimals without trailing zeros: 0.05 → "$0.05", 0.0123 → "$0.0123". */
export function formatUsd(value) {
  if (value === null || value === undefined) return '—';
  if (value === 0 || Math.abs(value) >= 0.1) return `$${value.toFixed(2)}`;
  return `$${value.toFixed(4).replace(/0{1,2}$/, '')}`;
}

/** Decimals (2 to 4) that show every one of these amounts exactly: one count for a whole axis. */
export function usdDecimals(values) {
  let digits = 2;
  for (const v of values) {
    while (digits < 4 && Math.abs(Number(v.toFixed(digits)) - v) > 1e-9) digits++;
  }
  return digits;
}

/** Chart.js tick callback: every label of the axis with the same number of decimals ($0.00 … $0.15). */
export function usdTick(value, _index, ticks) {
  return `$${Number(value).toFixed(usdDecimals(ticks.map((t) => t.value)))}`;
}

const STATUS_TONE = {
  initiated: 'info',
  queued: 'info',
  ringing: 'info',
  'in-progress': 'live',
  streaming: 'live',
  completed: 'ok',
  transferred: 'ok',
  busy: 'warn',
  'no-answer': 'warn',
  canceled: 'muted',
  interrupted: 'warn',
  reconnecting: 'warn',
  failed: 'bad',
};

/** A coloured status pill. */
export function statusBadge(status) {
  return h('span', { class: `badge badge-${STATUS_TONE[status] ?? 'muted'}`, dataset: { status } }, status ?? '—');
}

export function sentimentBadge(sentiment) {
  if (!sentiment) return h('span', { class: 'muted' }, '—');
  return h('span', { class: `sentiment sentiment-${sentiment}` }, sentiment);
}

/** A centred message for empty lists and errors. */
export function emptyState(title, detail, tone = '') {
  return h('div', { class: `empty ${tone}` }, h('p', { class: 'empty-title' }, title), detail && h('p', {}, detail));
}

/** Skeleton placeholder lines while data loads. */
export function loading(label = 'Loading…', lines = 3) {
  return h(
    'div',
    { class: 'loading', role: 'status', 'aria-live': 'polite' },
    h('span', { class: 'sr-only' }, label),
    Array.from({ length: lines }, () => h('div', { class: 'skeleton' })),
  );
}
