/**
 * Switchboard supervisor dashboard: a hash router over five views (live board, history, call
 * detail, analytics, the softphone), the API-token log-in, and one live SSE connection shared by every view.
 */
import { auth, getJson, loadServerConfig, LiveStream, UnauthorizedError } from './js/api.js';
import { LiveStore, renderLive, startDurationTicker } from './js/live.js';
import { renderHistory } from './js/history.js';
import { renderDetail } from './js/detail.js';
import { renderAnalytics } from './js/analytics.js';
import { renderTalk } from './js/talk.js';
import { renderCampaigns } from './js/campaigns.js';

const view = document.getElementById('view');
const loginPanel = document.getElementById('login');
const loginForm = document.getElementById('login-form');
const loginError = document.getElementById('login-error');
const logoutButton = document.getElementById('logout');
const connState = document.getElementById('conn-state');
const navCount = document.getElementById('nav-live-count');

const stream = new LiveStream();
const store = new LiveStore(stream);
let cleanup;
let started = false;

const CONN_LABELS = { live: 'Live', connecting: 'Reconnecting…', offline: 'Offline' };
stream.onState((state) => {
  connState.dataset.state = state;
  connState.textContent = CONN_LABELS[state] ?? state;
});
store.subscribe(() => {
  navCount.textContent = store.calls.size > 0 ? String(store.calls.size) : '';
});

function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function route() {
  if (!started) return;
  const raw = location.hash.replace(/^#/, '') || '/live';
  const [path, query = ''] = raw.split('?');
  const params = new URLSearchParams(query);
  const parts = path.split('/').filter(Boolean);
  cleanup?.();
  cleanup = undefined;
  const section = parts[0] === 'calls' ? 'history' : parts[0];
  for (const link of document.querySelectorAll('[data-route]')) {
    link.classList.toggle('active', link.dataset.route === section);
    if (link.dataset.route === section) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  switch (parts[0]) {
    case 'history':
      document.title = 'Call history · Switchboard';
      cleanup = renderHistory(view, params, navigate);
      break;
    case 'calls':
      document.title = 'Call · Switchboard';
      cleanup = renderDetail(view, decodeURIComponent(parts[1] ?? ''));
      break;
    case 'analytics':
      document.title = 'Analytics · Switchboard';
      cleanup = renderAnalytics(view, params, navigate, stream);
      break;
    case 'campaigns':
      document.title = 'Campaigns · Switchboard';
      cleanup = renderCampaigns(view, parts[1] ? decodeURIComponent(parts[1]) : undefined, navigate);
      break;
    case 'talk':
      document.title = 'Talk to the agent · Switchboard';
      cleanup = renderTalk(view, stream);
      break;
    default:
      document.title = 'Live calls · Switchboard';
      cleanup = renderLive(view, store);
  }
  window.scrollTo(0, 0);
}

function begin() {
  loginPanel.hidden = true;
  document.body.classList.remove('logged-out');
  logoutButton.hidden = !auth.required;
  if (!started) {
    started = true;
    startDurationTicker();
  }
  stream.start();
  route();
}

function showLogin(message = '') {
  stream.stop();
  cleanup?.();
  cleanup = undefined;
  view.replaceChildren();
  document.body.classList.add('logged-out');
  loginPanel.hidden = false;
  logoutButton.hidden = true;
  loginError.textContent = message;
  loginForm.elements.token.focus();
}

loginForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  const token = loginForm.elements.token.value.trim();
  if (!token) return;
  const previous = auth.token;
  auth.save(token, loginForm.elements.remember.checked);
  loginError.textContent = '';
  try {
    await getJson('/api/calls', { limit: 1 });
    loginForm.reset();
    begin();
  } catch (err) {
    if (previous) auth.save(previous, false);
    else auth.clear();
    loginError.textContent =
      err instanceof UnauthorizedError
        ? 'That token was refused. Check API_TOKENS on the server.'
        : `Could not reach the server: ${err.message}`;
  }
});

logoutButton.addEventListener('click', () => {
  auth.clear();
  showLogin();
});

window.addEventListener('hashchange', route);

async function main() {
  try {
    await loadServerConfig();
  } catch {
    /* an older server without config.json: assume open, a 401 brings the log-in up */
  }
  auth.onUnauthorized.add(() => showLogin('Your token was refused or has expired. Log in again.'));
  if (auth.required && !auth.token) showLogin();
  else begin();
}

void main();
