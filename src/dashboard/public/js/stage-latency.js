/**
 * Per-stage turn latency of cascaded-engine calls (speech end → final transcript, first model token,
 * first speech byte, first agent audio): a call's turns and p50/p95 (call detail, from
 * analytics.stageLatencies) and the period's figures (analytics page, from summary.stages).
 */
import { h, formatInt, formatMs } from './dom.js';

export const STAGES = [
  ['transcriptMs', 'Transcript'],
  ['firstTokenMs', 'First token'],
  ['firstSpeechByteMs', 'First speech byte'],
  ['firstAudioMs', 'First agent audio'],
];

const th = (text, num) => h('th', num ? { class: 'num' } : {}, text);
const td = (text, num) => h('td', num ? { class: 'num' } : {}, text);

/** The call detail's table: p50/p95/max per stage, then each turn (null when the call has no stage figures). */
export function stageLatencyPanel(stages) {
  if (!stages || !stages.summary || !Array.isArray(stages.turns)) return null;
  return h(
    'div',
    { class: 'table-scroll', id: 'call-stage-latency' },
    h(
      'p',
      { class: 'muted small' },
      'Cascaded engine: time from the end of the caller’s speech to each stage’s first result.',
    ),
    h(
      'table',
      { class: 'calls-table stage-table' },
      h('thead', {}, h('tr', {}, th('Stage'), th('p50', true), th('p95', true), th('max', true))),
      h(
        'tbody',
        {},
        STAGES.map(([key, label]) => {
          const s = stages.summary[key] ?? {};
          return h(
            'tr',
            { dataset: { stage: key } },
            td(label),
            td(formatMs(s.p50), true),
            td(formatMs(s.p95), true),
            td(formatMs(s.max), true),
          );
        }),
      ),
    ),
    h(
      'table',
      { class: 'calls-table stage-table', id: 'call-stage-turns' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          th('Turn'),
          STAGES.map(([, label]) => th(label, true)),
        ),
      ),
      h(
        'tbody',
        {},
        stages.turns.map((turn, i) =>
          h(
            'tr',
            {},
            td(formatInt(i + 1)),
            STAGES.map(([key]) => td(formatMs(turn[key]), true)),
          ),
        ),
      ),
    ),
  );
}

/** The analytics page's cards: per stage, the mean of the calls' medians and the p95 of their p95s. */
export function stageLatencyKpis(summaryStages, kpi) {
  const present = STAGES.filter(([key]) => summaryStages && summaryStages[key]);
  if (present.length === 0) return null;
  return h(
    'div',
    { class: 'kpi-grid kpi-grid-wide', id: 'analytics-stages' },
    present.map(([key, label]) => {
      const s = summaryStages[key];
      return kpi(
        `${label} (pipeline)`,
        formatMs(s.avgP50Ms),
        `p95 ${formatMs(s.p95Ms)} · ${formatInt(s.calls)} ${s.calls === 1 ? 'call' : 'calls'}`,
        `kpi-stage-${key}`,
      );
    }),
  );
}
