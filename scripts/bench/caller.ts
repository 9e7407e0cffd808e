/**
 * The caller side of `npm run bench`, run in its own process (forked with IPC by scripts/bench.ts):
 * N simultaneous simulated Twilio calls (placeCall, real-pace 20 ms frames, keepAudio off) that
 * hold a conversation: wait for the agent's greeting, ask a question, and on every second turn
 * interrupt the agent's answer (a barge-in). On 'finish' each call ends at a quiet moment (its
 * last answer fully played), so the frame totals add up exactly.
 *
 * Light on purpose: one 100 ms interval drives every call's script (the frames themselves go out
 * on the simulator's shared 20 ms ticker), the caller's speech is synthesized once per phrase.
 */
import { performance } from 'node:perf_hooks';
import { placeCall, SharedTicker, type CallHandle, type CallSummary } from '../../src/simulators/twilio-caller';
import { synthesize } from '../../src/simulators/tts';

export interface CallerConfig {
  baseUrl: string;
  publicUrl: string;
  authToken: string;
  calls: number;
  /** Calls are started evenly over this long. */
  rampMs: number;
}

export interface CallerTotals {
  calls: number;
  callsOk: number;
  streamsStarted: number;
  framesSent: number;
  framesSkipped: number;
  framesReceived: number;
  bytesReceived: number;
  marksReceived: number;
  marksEchoed: number;
  clears: number;
  questions: number;
  interruptions: number;
  forcedHangups: number;
  playbackGapMs: number;
  underruns: number;
  serverProtocolErrors: number;
  errors: string[];
}

export type CallerMessage =
  | { type: 'streaming'; streams: number; failed: number }
  | { type: 'done'; totals: CallerTotals }
  | { type: 'error'; message: string };

export type OrchestratorMessage = { type: 'start'; config: CallerConfig } | { type: 'finish' };

const QUESTIONS = ["Hi, I'd like to check on my order please.", 'Can you tell me when it ships?'];
const INTERRUPTION = 'Sorry, one more thing.';
/** The agent counts as done talking after this much silence. */
const AGENT_SILENT_MS = 700;
/** After the caller stops speaking: VAD silence (500 ms) plus margin before the answer is expected. */
const ANSWER_WAIT_MS = 1200;
/** Interrupt once the answer has been playing this long. */
const INTERRUPT_AFTER_MS = 800;
const GREETING_TIMEOUT_MS = 15_000;
const FINISH_TIMEOUT_MS = 20_000;

interface CallState {
  handle: CallHandle;
  streaming: boolean;
  streamAt: number;
  /** Caller-clock ms when the agent audio received so far ends playing. */
  playEndMs: number;
  heardAgent: boolean;
  phase: 'greeting' | 'asked' | 'listen' | 'done';
  utterEndMs: number;
  cycle: number;
  interruptPending: boolean;
  answerStartMs: number;
}

function send(message: CallerMessage): void {
  process.send?.(message);
}

async function run(config: CallerConfig): Promise<void> {
  const [q1, q2, interruption] = await Promise.all([
    synthesize(QUESTIONS[0], { format: 'pcmu', engine: 'tone' }),
    synthesize(QUESTIONS[1], { format: 'pcmu', engine: 'tone' }),
    synthesize(INTERRUPTION, { format: 'pcmu', engine: 'tone' }),
  ]);
  const questions = [q1, q2];
  const ticker = new SharedTicker();
  const states: CallState[] = [];
  const summaries: CallSummary[] = [];
  const totals: CallerTotals = {
    calls: config.calls,
    callsOk: 0,
    streamsStarted: 0,
    framesSent: 0,
    framesSkipped: 0,
    framesReceived: 0,
    bytesReceived: 0,
    marksReceived: 0,
    marksEchoed: 0,
    clears: 0,
    questions: 0,
    interruptions: 0,
    forcedHangups: 0,
    playbackGapMs: 0,
    underruns: 0,
    serverProtocolErrors: 0,
    errors: [],
  };
  let finishing = false;
  let finishAt = 0;
  let settled = 0;
  let failedBeforeStream = 0;
  let reportedStreaming = false;

  const maybeReportStreaming = (): void => {
    if (reportedStreaming) return;
    if (totals.streamsStarted + failedBeforeStream >= config.calls) {
      reportedStreaming = true;
      send({ type: 'streaming', streams: totals.streamsStarted, failed: failedBeforeStream });
    }
  };

  const allDone = new Promise<void>((resolve) => {
    const onSettled = (summary: CallSummary, state: CallState): void => {
      summaries.push(summary);
      if (!state.streaming) failedBeforeStream++;
      state.phase = 'done';
      settled++;
      maybeReportStreaming();
      if (settled === config.calls) resolve();
    };
    const gapMs = config.calls > 1 ? config.rampMs / (config.calls - 1) : 0;
    for (let i = 0; i < config.calls; i++) {
      setTimeout(() => {
        const handle = placeCall({
          baseUrl: config.baseUrl,
          publicUrl: config.publicUrl,
          authToken: config.authToken,
          from: `+1555${String(1000000 + i).slice(-7)}`,
          to: '+15559990000',
          script: [],
          hangupAfterScript: false,
          keepAudio: false,
          ticker,
        });
        const state: CallState = {
          handle,
          streaming: false,
          streamAt: 0,
          playEndMs: 0,
          heardAgent: false,
          phase: 'greeting',
          utterEndMs: 0,
          cycle: 0,
          interruptPending: false,
          answerStartMs: 0,
        };
        states.push(state);
        handle.events.on('stream-start', () => {
          state.streaming = true;
          state.streamAt = performance.now();
          totals.streamsStarted++;
          maybeReportStreaming();
        });
        handle.events.on('agent-audio', ({ bytes, atMs }) => {
          if (state.playEndMs <= atMs) state.answerStartMs = atMs;
          state.playEndMs = Math.max(state.playEndMs, atMs) + bytes / 8;
          state.heardAgent = true;
        });
        handle.events.on('clear', ({ atMs }) => {
          state.playEndMs = atMs;
        });
        void handle.done.then((summary) => onSettled(summary, state));
      }, i * gapMs);
    }
  });

  const say = (state: CallState, audio: Buffer, nowMs: number): void => {
    state.handle.inject(audio);
    state.utterEndMs = nowMs + audio.length / 8;
  };

  const step = (state: CallState): void => {
    if (!state.streaming || state.phase === 'done') return;
    const nowMs = state.handle.nowMs;
    const silentMs = nowMs - state.playEndMs;
    const agentQuiet = state.heardAgent && silentMs >= AGENT_SILENT_MS;
    switch (state.phase) {
      case 'greeting':
      case 'listen': {
        const ready =
          state.phase === 'greeting'
            ? agentQuiet || nowMs > GREETING_TIMEOUT_MS
            : nowMs >= state.utterEndMs + ANSWER_WAIT_MS && agentQuiet;
        if (!ready) return;
        if (finishing) {
          state.phase = 'done';
          void state.handle.hangup();
          return;
        }
        say(state, questions[state.cycle % questions.length], nowMs);
        totals.questions++;
        state.interruptPending = state.cycle % 2 === 1;
        state.cycle++;
        state.phase = state.interruptPending ? 'asked' : 'listen';
        return;
      }
      case 'asked': {
        // Wait for the answer to start playing, then talk over it.
        if (nowMs < state.utterEndMs) return;
        const playing = state.playEndMs > nowMs && state.answerStartMs >= state.utterEndMs;
        if (playing && nowMs - state.answerStartMs >= INTERRUPT_AFTER_MS) {
          say(state, interruption, nowMs);
          totals.interruptions++;
          state.phase = 'listen';
        } else if (nowMs > state.utterEndMs + 6000) {
          state.phase = 'listen'; // no answer came to interrupt
        }
        return;
      }
    }
  };

  const driver = setInterval(() => {
    for (const state of states) step(state);
    if (finishing && performance.now() - finishAt > FINISH_TIMEOUT_MS) {
      for (const state of states) {
        if (state.phase !== 'done') {
          state.phase = 'done';
          totals.forcedHangups++;
          void state.handle.hangup();
        }
      }
    }
  }, 100);

  process.on('message', (message: OrchestratorMessage) => {
    if (message.type === 'finish' && !finishing) {
      finishing = true;
      finishAt = performance.now();
    }
  });

  await allDone;
  clearInterval(driver);
  for (const s of summaries) {
    if (s.ok) totals.callsOk++;
    totals.framesSent += s.framesSent;
    totals.framesSkipped += s.framesSkipped;
    totals.framesReceived += s.framesReceived;
    totals.bytesReceived += s.bytesReceived;
    totals.marksReceived += s.marksReceived;
    totals.marksEchoed += s.marksEchoed;
    totals.clears += s.clears;
    totals.playbackGapMs += s.playbackGapMs;
    totals.underruns += s.underruns;
    totals.serverProtocolErrors += s.serverProtocolErrors;
    for (const e of s.errors) if (totals.errors.length < 20) totals.errors.push(`${s.callSid.slice(0, 10)}: ${e}`);
  }
  send({ type: 'done', totals });
}

process.once('message', (message: OrchestratorMessage) => {
  if (message.type !== 'start') return;
  run(message.config).catch((err: unknown) => {
    send({ type: 'error', message: (err as Error).stack ?? String(err) });
  });
});
