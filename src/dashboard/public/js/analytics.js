/**
 * Analytics for a chosen period (GET /api/analytics?startDate&endDate&interval): calls per interval,
 * average and p95 latency, interruptions, sentiment, talk ratio and cost. Charts are drawn by
 * Chart.js (served from node_modules, loaded as a classic script: window.Chart).
 */
import { getJson } from './api.js';
import {
  h,
  mount,
  emptyState,
  formatDuration,
  formatInt,
  formatMs,
  formatPercent,
  formatUsd,
  loading,
  usdTick,
} from './dom.js';
import { stageLatencyKpis } from './stage-latency.js';

const PERIODS = {
  '24h': { label: 'Last 24 hours', ms: 86_400_000, interval: 'hour' },
  '7d': { label: 'Last 7 days', ms: 7 * 86_400_000, interval: 'day' },
  '30d': { label: 'Last 30 days', ms: 30 * 86_400_000, interval: 'day' },
  '12w': { label: 'Last 12 weeks', ms: 84 * 86_400_000, interval: 'week' },
};
const DEFAULT_PERIOD = '7d';

const COLORS = {
  blue: '#2563eb',
  green: '#16a34a',
  red: '#dc2626',
  amber: '#d97706',
  slate: '#94a3b8',
  violet: '#7c3aed',
  teal: '#0d9488',
};

function bucketLabel(iso, interval) {
  const d = new Date(iso);
  if (interval === 'hour') return d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  return d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
}

function baseOptions(extra = {}) {
  return {
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    interaction: { mode: 'index', intersect: false },
    plugins: { legend: { position: 'bottom', labels: { boxWidth: 12, usePointStyle: true } } },
    scales: {
      x: { grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 12 } },
      y: { beginAtZero: true, grid: { color: '#eef2f7' }, ticks: { precision: 0 } },
    },
    ...extra,
  };
}

function chartCard(id, title, subtitle) {
  const canvas = h('canvas', { id, role: 'img', 'aria-label': title });
  return {
    canvas,
    el: h(
      'section',
      { class: 'card chart-card' },
      h('h2', {}, title),
      subtitle && h('p', { class: 'muted small' }, subtitle),
      h('div', { class: 'chart-box' }, canvas),
    ),
  };
}

function kpi(label, value, hint, id) {
  return h(
    'div',
    { class: 'kpi', id },
    h('div', { class: 'kpi-label' }, label),
    h('div', { class: 'kpi-value' }, value),
    hint && h('div', { class: 'kpi-hint' }, hint),
  );
}

export function renderAnalytics(root, params, navigate, stream) {
  const periodKey = PERIODS[params.get('period')] ? params.get('period') : DEFAULT_PERIOD;
  const period = PERIODS[periodKey];
  const picker = h(
    'div',
    { class: 'segmented', role: 'radiogroup', 'aria-label': 'Period', id: 'period-picker' },
    Object.entries(PERIODS).map(([key, p]) =>
      h(
        'label',
        {},
        h('input', {
          type: 'radio',
          name: 'period',
          value: key,
          checked: key === periodKey,
          onchange: () => navigate(`#/analytics?period=${key}`),
        }),
        h('span', {}, p.label),
      ),
    ),
  );
  const body = h('div', { id: 'analytics-body' }, loading('Loading analytics…', 6));
  mount(
    root,
    h(
      'div',
      { class: 'page-head page-head-row' },
      h('div', {}, h('h1', {}, 'Analytics'), h('p', { class: 'page-sub' }, `${period.label}, by ${period.interval}`)),
      picker,
    ),
    body,
  );

  const charts = [];
  let cancelled = false;
  let timer;

  const load = async () => {
    const end = new Date();
    const start = new Date(end.getTime() - period.ms);
    const report = await getJson('/api/analytics', {
      startDate: start.toISOString(),
      endDate: end.toISOString(),
      interval: period.interval,
    });
    if (cancelled) return;
    draw(report);
  };

  const draw = (report) => {
    for (const c of charts.splice(0)) c.destroy();
    const s = report.summary;
    if (s.calls === 0) {
      mount(
        body,
        emptyState(
          'No calls in this period',
          'Pick a longer period, or place a call: it shows here once it has ended.',
        ),
      );
      return;
    }
    const labels = report.series.map((b) => bucketLabel(b.start, report.range.interval));
    const cards = {
      calls: chartCard('chart-calls', 'Calls', `per ${report.range.interval}`),
      latency: chartCard('chart-latency', 'Response latency', 'average per interval, p95 over the period'),
      interruptions: chartCard('chart-interruptions', 'Interruptions', `barge-ins per ${report.range.interval}`),
      sentiment: chartCard('chart-sentiment', 'Caller sentiment', `${formatInt(s.analyzedCalls)} analysed calls`),
      talk: chartCard('chart-talk', 'Talk ratio', 'caller vs agent talk time'),
      cost: chartCard('chart-cost', 'Cost', `estimated USD per ${report.range.interval}`),
    };
    mount(
      body,
      h(
        'div',
        { class: 'kpi-grid kpi-grid-wide', id: 'analytics-kpis' },
        kpi(
          'Calls',
          formatInt(s.calls),
          `${formatInt(s.completed)} completed · ${formatInt(s.failed)} failed`,
          'kpi-calls',
        ),
        kpi('Avg duration', formatDuration(s.avgDurationMs), `${formatDuration(s.totalDurationMs)} in total`),
        kpi('Avg latency', formatMs(s.avgLatencyMs), `p95 ${formatMs(s.p95LatencyMs)}`),
        kpi(
          'Interruptions',
          formatInt(s.interruptions),
          s.calls ? `${(s.interruptions / s.calls).toFixed(1)} per call` : '',
        ),
        kpi('Caller talk', formatPercent(s.talk.callerTalkRatio), 'of all talk time'),
        kpi('Cost', formatUsd(s.cost.totalUsd), `${formatUsd(s.cost.avgPerCallUsd)} per call`),
      ),
      stageLatencyKpis(s.stages, kpi),
      h(
        'div',
        { class: 'chart-grid' },
        Object.values(cards).map((c) => c.el),
      ),
    );
    const Chart = window.Chart;
    const series = report.series;
    charts.push(
      new Chart(cards.calls.canvas, {
        type: 'bar',
        data: {
          labels,
          datasets: [
            {
              label: 'Completed',
              data: series.map((b) => b.completed),
              backgroundColor: COLORS.green,
              stack: 'calls',
              borderRadius: 3,
            },
            {
              label: 'Failed',
              data: series.map((b) => b.failed),
              backgroundColor: COLORS.red,
              stack: 'calls',
              borderRadius: 3,
            },
            {
              label: 'Other',
              data: series.map((b) => Math.max(0, b.calls - b.completed - b.failed)),
              backgroundColor: COLORS.slate,
              stack: 'calls',
              borderRadius: 3,
            },
          ],
        },
        options: baseOptions({
          scales: {
            x: { stacked: true, grid: { display: false } },
            y: { stacked: true, beginAtZero: true, ticks: { precision: 0 }, grid: { color: '#eef2f7' } },
          },
        }),
      }),
      new Chart(cards.latency.canvas, {
        type: 'line',
        data: {
          labels,
          datasets: [
            {
              label: 'Average (ms)',
              data: series.map((b) => b.avgLatencyMs),
              borderColor: COLORS.blue,
              backgroundColor: 'rgba(37,99,235,0.12)',
              fill: true,
              spanGaps: true,
              tension: 0.3,
              pointRadius: 2,
            },
            {
              label: 'p95 of period (ms)',
              data: series.map(() => s.p95LatencyMs),
              borderColor: COLORS.amber,
              borderDash: [6, 4],
              pointRadius: 0,
              fill: false,
            },
          ],
        },
        options: baseOptions(),
      }),
      new Chart(cards.interruptions.canvas, {
        type: 'bar',
        data: {
          labels,
          datasets: [
            {
              label: 'Interruptions',
              data: series.map((b) => b.interruptions),
              backgroundColor: COLORS.violet,
              borderRadius: 3,
            },
          ],
        },
        options: baseOptions({ plugins: { legend: { display: false } } }),
      }),
      new Chart(cards.sentiment.canvas, {
        type: 'doughnut',
        data: {
          labels: ['Positive', 'Neutral', 'Negative', 'Not analysed'],
          datasets: [
            {
              data: [s.sentiment.positive, s.sentiment.neutral, s.sentiment.negative, s.sentiment.unknown],
              backgroundColor: [COLORS.green, COLORS.slate, COLORS.red, '#e2e8f0'],
              borderWidth: 0,
            },
          ],
        },
        options: {
          responsive: true,
          maintainAspectRatio: false,
          animation: false,
          cutout: '62%',
          plugins: { legend: { position: 'right', labels: { boxWidth: 12, usePointStyle: true } } },
        },
      }),
      new Chart(cards.talk.canvas, {
        type: 'doughnut',
        data: {
          labels: ['Caller', 'Agent'],
          datasets: [
            {
              data: [Math.round(s.talk.callerTalkMs / 1000), Math.round(s.talk.agentTalkMs / 1000)],
              backgroundColor: [COLORS.teal, COLORS.blue],
              borderWidth: 0,
            },
          ],
        },
        options: {
          responsive: true,
          maintainAspectRatio: false,
          animation: false,
          cutout: '62%',
          plugins: {
            legend: { position: 'right', labels: { boxWidth: 12, usePointStyle: true } },
            tooltip: { callbacks: { label: (ctx) => ` ${ctx.label}: ${formatDuration(ctx.parsed * 1000)}` } },
          },
        },
      }),
      new Chart(cards.cost.canvas, {
        type: 'bar',
        data: {
          labels,
          datasets: [
            { label: 'Cost (USD)', data: series.map((b) => b.costUsd), backgroundColor: COLORS.amber, borderRadius: 3 },
          ],
        },
        options: baseOptions({
          plugins: {
            legend: { display: false },
            tooltip: { callbacks: { label: (ctx) => ` ${formatUsd(ctx.parsed.y)}` } },
          },
          scales: {
            x: { grid: { display: false } },
            y: { beginAtZero: true, grid: { color: '#eef2f7' }, ticks: { callback: usdTick } },
          },
        }),
      }),
    );
  };

  load().catch((err) => {
    if (!cancelled) mount(body, emptyState('Could not load analytics', err.message, 'error'));
  });
  // New analytics arrive when calls end: refresh (at most every few seconds).
  const unsubscribe = stream.subscribe((type) => {
    if (type !== 'analytics.ready' || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      load().catch(() => undefined);
    }, 3000);
  });
  return () => {
    cancelled = true;
    clearTimeout(timer);
    unsubscribe();
    for (const c of charts.splice(0)) c.destroy();
  };
}
