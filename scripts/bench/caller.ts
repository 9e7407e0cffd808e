/**
 * The caller side of `npm run bench`, run in its own process (forked with IPC by scripts/bench.ts):
 * simulated Twilio calls (placeCall, real-pace 20 ms frames, keepAudio off) that hold a
 * conversation: wait for the agent's greeting (or, greeting off, speak first after 1 s), ask a
 * question, and on every second turn interrupt the agent's answer (a barge-in). Calls end at a
 * quiet moment (the last answer fully played), so the frame totals add up exactly.
 *
 * Scenarios: 'steady' and 'burst' start N calls evenly over rampMs and hold them until 'finish';
 * 'churn' starts N calls over rampMs, and each lasts a random 10-30 s (then hangs up at the next
 * quiet moment) and is replaced at once by a new call, so N stay up, until 'finish'.
 *
 * Caller-side latency (config.tags): every 10th frame each call sends carries a tag (scripts/bench/tags.ts)
 * stamped with the send time on the shared clock; tags in the agent audio received are stamped on
 * arrival. The times go back to the orchestrator with the totals.
 *
 * Light on purpose: one 100 ms interval drives every call's script (the frames themselves go out
 * on the simulator's shared ticker, every 5 ms), the caller's speech is synthesized once per phrase.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import {
  placeCall,
  SharedTicker,
  type CallHandle,
  type CallSummary,
  type MediaTap,
} from '../../src/simulators/twilio-caller';
import { synthesize } from '../../src/simulators/tts';
import { SendTimes, fromPerfNow, now, readTags, tagBase64Frame } from './tags';

export type Scenario = 'steady' | 'burst' | 'churn';

export interface CallerConfig {
  baseUrl: string;
  publicUrl: string;
  authToken: string;
  /** Calls up at once (churn: kept up by replacing each call that ends). */
  calls: number;
  /** The first `calls` calls are started evenly over this long. */
  rampMs: number;
  scenario: Scenario;
  /** The agent speaks first (AGENT_GREETS_FIRST); false: the caller asks after FIRST_QUESTION_MS. */
  greeting: boolean;
  /** Tag every `tagEvery`-th frame (0: no tags). */
  tagEvery: number;
  /** Churn: each call lasts a random duration in this range (ms, from stream start). */
  churnMinMs: number;
  churnMaxMs: number;
  /** Voice webhook path of the server under test. */
  webhookPath: string;
  /** POST signed status callbacks (Switchboard records them; a relay-only server has no such route). */
  statusCallbacks: boolean;
}

export interface CallerTotals {
  calls: number;
  callsPlaced: number;
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

/** One call's milestones on the shared clock (tags.now()); null = did not happen. */
export interface CallRecord {
  placedAt: number;
  twimlAt: number | null;
  /** 'start' sent on the open stream socket (the upgrade began at twimlAt). */
  streamAt: number | null;
  firstAgentAudioAt: number | null;
  endAt: number;
  ok: boolean;
}

export interface CallerReport {
  totals: CallerTotals;
  records: CallRecord[];
  /** Uplink tags: send time by id (index = id). */
  upSent: (number | null)[];
  /** Downlink tags received: flat [id, arrival time, the call's streamAt, ...]. */
  downReceived: number[];
  /** This process's event-loop delay between 'window-start' and 'window-end' (ms). */
  eventLoopMs: { p99: number; max: number };
}

export type CallerMessage =
  | { type: 'ready' }
  | { type: 'streaming'; streams: number; failed: number }
  | { type: 'done'; report: CallerReport }
  | { type: 'error'; message: string };

export type OrchestratorMessage =
  | { type: 'start'; config: CallerConfig }
  | { type: 'go' }
  | { type: 'window-start' }
  | { type: 'window-end' }
  | { type: 'finish' };

const QUESTIONS = ["Hi, I'd like to check on my order please.", 'Can you tell me when it ships?'];
const INTERRUPTION = 'Sorry, one more thing.';
/** The agent counts as done talking after this much silence. */
const AGENT_SILENT_MS = 700;
/** After the caller stops speaking: VAD silence (500 ms) plus margin before the answer is expected. */
const ANSWER_WAIT_MS = 1200;
/** Interrupt once the answer has been playing this long. */
const INTERRUPT_AFTER_MS = 800;
const GREETING_TIMEOUT_MS = 15_000;
/** Greeting off: the caller speaks first, this long after the stream starts. */
const FIRST_QUESTION_MS = 1000;
const FINISH_TIMEOUT_MS = 20_000;
const LOOP_RESOLUTION_MS = 10;
/**
 * The shared ticker runs every 5 ms, not 20: each call still sends one frame per 20 ms on its own
 * clock, but the calls' frames leave in four groups per 20 ms instead of one burst of N, closer to
 * Twilio, whose streams arrive at independent phases.
 */
const TICK_MS = 5;

interface CallState {
  handle: CallHandle;
  record: CallRecord;
  streaming: boolean;
  /** Caller-clock ms when the agent audio received so far ends playing. */
  playEndMs: number;
  heardAgent: boolean;
  phase: 'greeting' | 'asked' | 'listen' | 'done';
  utterEndMs: number;
  cycle: number;
  interruptPending: boolean;
  answerStartMs: number;
  /** Churn: the call hangs up at the first quiet moment after this (ms since stream start). */
  leaveAfterMs: number;
}

function send(message: CallerMessage): void {
  process.send?.(message);
}

function emptyTotals(calls: number): CallerTotals {
  return {
    calls,
    callsPlaced: 0,
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
}

async function run(config: CallerConfig): Promise<void> {
  const [q1, q2, interruption] = await Promise.all([
    synthesize(QUESTIONS[0], { format: 'pcmu', engine: 'tone' }),
    synthesize(QUESTIONS[1], { format: 'pcmu', engine: 'tone' }),
    synthesize(INTERRUPTION, { format: 'pcmu', engine: 'tone' }),
  ]);
  const questions = [q1, q2];
  const ticker = new SharedTicker(TICK_MS);
  const states = new Set<CallState>();
  const summaries: CallSummary[] = [];
  const records: CallRecord[] = [];
  const totals = emptyTotals(config.calls);
  const upSent = new SendTimes();
  const downReceived: number[] = [];
  let nextTagId = 1;
  let finishing = false;
  let finishAt = 0;
  let placed = 0;
  let live = 0;
  let initialStreams = 0;
  let initialFailed = 0;
  let reportedStreaming = false;
  let resolveAll!: () => void;
  const allDone = new Promise<void>((resolve) => (resolveAll = resolve));

  const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  loop.enable();
  let loopFigures = { p99: NaN, max: NaN };

  const maybeReportStreaming = (): void => {
    if (reportedStreaming || initialStreams + initialFailed < config.calls) return;
    reportedStreaming = true;
    send({ type: 'streaming', streams: initialStreams, failed: initialFailed });
  };

  const startCall = (): void => {
    const callNo = placed++;
    const initial = callNo < config.calls;
    live++;
    const record: CallRecord = {
      placedAt: now(),
      twimlAt: null,
      streamAt: null,
      firstAgentAudioAt: null,
      endAt: NaN,
      ok: false,
    };
    records.push(record);
    let mediaTap: MediaTap | undefined;
    if (config.tagEvery > 0) {
      mediaTap = {
        outgoing: (payload, index) => {
          // Spread the tagged frames of different calls over different ticks.
          if ((index + callNo) % config.tagEvery !== 0) return payload;
          const id = nextTagId++;
          const tagged = tagBase64Frame(payload, id);
          upSent.set(id, now());
          return tagged;
        },
        incoming: (payload, arrivedAt) => {
          const at = fromPerfNow(arrivedAt);
          readTags(Buffer.from(payload, 'base64'), (id) => downReceived.push(id, at, record.streamAt ?? NaN));
        },
      };
    }
    const handle = placeCall({
      baseUrl: config.baseUrl,
      publicUrl: config.publicUrl,
      authToken: config.authToken,
      from: `+1555${String(1000000 + (callNo % 9000000)).slice(-7)}`,
      to: '+15559990000',
      script: [],
      hangupAfterScript: false,
      keepAudio: false,
      ticker,
      mediaTap,
      webhookPath: config.webhookPath,
      sendStatusCallbacks: config.statusCallbacks,
    });
    const state: CallState = {
      handle,
      record,
      streaming: false,
      playEndMs: 0,
      heardAgent: false,
      phase: 'greeting',
      utterEndMs: 0,
      cycle: 0,
      interruptPending: false,
      answerStartMs: 0,
      leaveAfterMs:
        config.scenario === 'churn'
          ? config.churnMinMs + Math.random() * (config.churnMaxMs - config.churnMinMs)
          : Infinity,
    };
    states.add(state);
    handle.events.on('twiml', () => {
      record.twimlAt = now();
    });
    handle.events.on('stream-start', () => {
      record.streamAt = now();
      state.streaming = true;
      totals.streamsStarted++;
      if (initial) initialStreams++;
      maybeReportStreaming();
    });
    handle.events.on('agent-audio', ({ bytes, atMs }) => {
      record.firstAgentAudioAt ??= now();
      if (state.playEndMs <= atMs) state.answerStartMs = atMs;
      state.playEndMs = Math.max(state.playEndMs, atMs) + bytes / 8;
      state.heardAgent = true;
    });
    handle.events.on('clear', ({ atMs }) => {
      state.playEndMs = atMs;
    });
    void handle.done.then((summary) => {
      record.endAt = now();
      record.ok = summary.ok;
      summaries.push(summary);
      if (!state.streaming && initial) initialFailed++;
      state.phase = 'done';
      states.delete(state);
      live--;
      maybeReportStreaming();
      if (config.scenario === 'churn' && !finishing) {
        // Replaced at once; a call that failed before streaming is replaced after a short pause.
        if (state.streaming) startCall();
        else setTimeout(() => (finishing ? undefined : startCall()), 100);
      }
      if (finishing && live === 0) resolveAll();
    });
  };

  const gapMs = config.calls > 1 ? config.rampMs / (config.calls - 1) : 0;
  const rampTimers: NodeJS.Timeout[] = [];
  const go = (): void => {
    for (let i = 0; i < config.calls; i++) rampTimers.push(setTimeout(startCall, i * gapMs));
  };

  const say = (state: CallState, audio: Buffer, nowMs: number): void => {
    state.handle.inject(audio);
    state.utterEndMs = nowMs + audio.length / 8;
  };

  const step = (state: CallState): void => {
    if (!state.streaming || state.phase === 'done') return;
    const nowMs = state.handle.nowMs;
    const silentMs = nowMs - state.playEndMs;
    const agentQuiet = state.heardAgent && silentMs >= AGENT_SILENT_MS;
    const leaving = finishing || nowMs >= state.leaveAfterMs;
    if (!finishing && nowMs >= state.leaveAfterMs + FINISH_TIMEOUT_MS) {
      state.phase = 'done';
      totals.forcedHangups++;
      void state.handle.hangup();
      return;
    }
    switch (state.phase) {
      case 'greeting':
      case 'listen': {
        let ready: boolean;
        if (state.phase === 'listen') ready = nowMs >= state.utterEndMs + ANSWER_WAIT_MS && agentQuiet;
        else if (config.greeting) ready = agentQuiet || nowMs > GREETING_TIMEOUT_MS;
        else ready = nowMs >= FIRST_QUESTION_MS && (!state.heardAgent || agentQuiet);
        if (!ready) return;
        if (leaving) {
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

  control = (message: OrchestratorMessage): void => {
    if (message.type === 'go') {
      go();
    } else if (message.type === 'window-start') {
      loop.reset();
    } else if (message.type === 'window-end') {
      loopFigures = {
        p99: Math.max(0, loop.percentile(99) / 1e6 - LOOP_RESOLUTION_MS),
        max: Math.max(0, loop.max / 1e6 - LOOP_RESOLUTION_MS),
      };
    } else if (message.type === 'finish' && !finishing) {
      finishing = true;
      finishAt = performance.now();
      for (const t of rampTimers) clearTimeout(t);
      if (live === 0) resolveAll();
    }
  };
  send({ type: 'ready' });

  await allDone;
  clearInterval(driver);
  loop.disable();
  totals.callsPlaced = placed;
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
  send({
    type: 'done',
    report: { totals, records, upSent: upSent.toJSON(), downReceived, eventLoopMs: loopFigures },
  });
}

/** Handles the orchestrator's messages once the run is set up. */
let control: ((message: OrchestratorMessage) => void) | undefined;

process.on('message', (message: OrchestratorMessage) => {
  if (message.type === 'start') {
    run(message.config).catch((err: unknown) => {
      send({ type: 'error', message: (err as Error).stack ?? String(err) });
    });
  } else {
    control?.(message);
  }
});

// The orchestrator is done with us (or gone): exit, so that `--profile`'s profile is written.
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
