/**
 * Twilio call simulator: plays the part of Twilio (and of the person on the phone) against a
 * Switchboard server, over real HTTP and WebSocket connections.
 *
 * Like Twilio it: POSTs the signed voice webhook, reads the TwiML, opens the Media Stream with a
 * signed upgrade request, sends `connected`, `start`, then one `media` frame (160 bytes of mu-law)
 * every 20 ms — speech from the script, silence (0xFF) otherwise — plays the agent's audio at real
 * time, echoes each mark once the audio queued before it has played, honours `clear` (drops the
 * queue, echoes pending marks at once), sends `stop` when the caller hangs up, and posts signed
 * status callbacks. When the server closes the stream and the TwiML's <Connect> has an action URL,
 * it fetches the next TwiML there (the transfer hook).
 *
 * Light enough for hundreds of calls in one process: all calls share one 20 ms ticker that catches
 * up from the monotonic clock (no timer per frame or per call), outgoing frames are pre-encoded
 * base64 strings, and kept agent audio is optional.
 */
import { EventEmitter } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import type { Logger } from '../logging/logger';
import { computeTwilioSignature, webhookUrl } from '../channels/twilio/signature';
import { base64DecodedLength } from '../channels/twilio/protocol';
import { readWavAsMulaw } from './wav-input';
import { synthesize, type TtsEngine } from './tts';

export const FRAME_MS = 20;
export const FRAME_BYTES = 160;
const BYTES_PER_MS = 8;
const MULAW_SILENCE = 0xff;
const SILENCE_FRAME_B64 = Buffer.alloc(FRAME_BYTES, MULAW_SILENCE).toString('base64');
/** Frames sent in one catch-up; beyond this the simulator itself is overloaded and skips frames. */
const MAX_CATCH_UP_FRAMES = 50;
/** In flood mode, pause sending while this much is waiting in the socket. */
const FLOOD_MAX_BUFFERED_BYTES = 1024 * 1024;
const FLOOD_BATCH_FRAMES = 25;
const DEFAULT_WAIT_FOR_AGENT_MS = 15000;
const DEFAULT_GAP_THRESHOLD_MS = 500;
const HTTP_TIMEOUT_MS = 10000;
const CLOSE_TIMEOUT_MS = 2000;

export type CallScriptStep =
  | { say: string }
  | { wavFile: string }
  | { audio: Buffer }
  | { silenceMs: number }
  | { dtmf: string }
  /**
   * Waits (silent) at most waitForAgentMs, ending early once the agent has been silent for
   * untilAgentSilentMs after speaking, or once untilAgentHeardMs of its audio has played in this
   * wait (to talk over an answer at a known point of it, however late the answer starts).
   */
  | { waitForAgentMs?: number; untilAgentSilentMs?: number; untilAgentHeardMs?: number };

/** The `start` message Twilio sends first on a Media Stream (8 kHz mu-law, inbound track). */
export function twilioStartMessage(start: {
  streamSid: string;
  callSid: string;
  accountSid: string;
  customParameters: Record<string, string>;
  sequenceNumber?: number;
}): string {
  return JSON.stringify({
    event: 'start',
    sequenceNumber: String(start.sequenceNumber ?? 1),
    streamSid: start.streamSid,
    start: {
      accountSid: start.accountSid,
      streamSid: start.streamSid,
      callSid: start.callSid,
      tracks: ['inbound'],
      mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
      customParameters: start.customParameters,
    },
  });
}

export interface PlaceCallOptions {
  /** Where to connect, e.g. http://127.0.0.1:3000. */
  baseUrl: string;
  /** What the server believes its public URL is (signatures use it). Default: baseUrl. */
  publicUrl?: string;
  /** Sign the webhook, the stream handshake and status callbacks when set. */
  authToken?: string;
  from?: string;
  to?: string;
  callSid?: string;
  accountSid?: string;
  /** 'inbound' (default) or 'outbound-api' (a call the server placed, answered by this caller). */
  direction?: 'inbound' | 'outbound-api';
  /** Voice webhook path. Default /twilio/incoming-call. */
  webhookPath?: string;
  /** Status callback path. Default /twilio/call-status. */
  statusCallbackPath?: string;
  /** Steps run in order; silence frames fill every moment nothing is being said. */
  script?: CallScriptStep[];
  /** Pace frames at 20 ms (default). false: as fast as the socket takes them, on a simulated clock. */
  realtime?: boolean;
  /** Hang up this long after the stream started, wherever the script is. */
  hangupAfterMs?: number;
  /** Hang up when the script ends (default true); false keeps the line open (silence) until hangupAfterMs or the server closes. */
  hangupAfterScript?: boolean;
  /** POST signed status callbacks: in-progress at stream start, completed at the end (default true). */
  sendStatusCallbacks?: boolean;
  /** Keep the agent audio that was played (receivedAudio). Default true; turn off for big benchmarks. */
  keepAudio?: boolean;
  /** Playback underruns shorter than this count as gaps (longer silences are turn boundaries). Default 500. */
  gapThresholdMs?: number;
  /** Speech engine for `say` steps (default 'auto': espeak-ng when installed, else a synthetic voice). */
  ttsEngine?: TtsEngine;
  logger?: Logger;
  /** Clock shared by calls; default: one per process. */
  ticker?: SharedTicker;
  /** Benchmark taps (npm run bench tags frames to time them across the bridge); unset costs nothing. */
  mediaTap?: MediaTap;
}

export interface MediaTap {
  /** Called just before each media frame is sent; returns the payload (base64) to send instead. */
  outgoing?(payloadB64: string, frameIndex: number): string;
  /** Each agent media payload (base64), with its arrival time (performance.now(), taken before parsing). */
  incoming?(payloadB64: string, arrivedAtMs: number): void;
}

export interface StatusCallbackResult {
  status: string;
  httpStatus: number | null;
}

export interface CallSummary {
  callSid: string;
  streamSid: string | undefined;
  /** True when the stream ran and nothing went wrong on the caller's side. */
  ok: boolean;
  errors: string[];
  webhookStatus: number | null;
  twiml: string | undefined;
  streamUrl: string | undefined;
  customParameters: Record<string, string>;
  /** HTTP status of a rejected WebSocket upgrade, if any. */
  handshakeStatus: number | null;
  /** From stream start to the end of the call, on the wall clock (0 when no stream was opened). */
  durationMs: number;
  /**
   * The stream's length on its media clock: the next frame's timestamp when sending stopped, skipped
   * frames included. What a recording of the call lasts; below durationMs when the simulator fell
   * behind the wall clock (a late tick catches up at most MAX_CATCH_UP_FRAMES at a time).
   */
  mediaMs: number;
  framesSent: number;
  /** Frames the simulator could not send in time (it was itself overloaded). */
  framesSkipped: number;
  /** Media messages received from the server. */
  framesReceived: number;
  bytesReceived: number;
  /** Agent audio actually played to the caller, in bytes of 8 kHz mu-law (cut at clears). */
  agentAudioBytes: number;
  /** Agent audio thrown away by clears, in bytes. agentAudioBytes + clearedAudioBytes + what was
   * still queued at hang-up = bytesReceived. */
  clearedAudioBytes: number;
  /**
   * Agent audio received (ms of 8 kHz mu-law), played or not. The *AudioMs fields are exact
   * (bytes / 8, not rounded: multiples of 0.125 ms, which floating point holds exactly), so they
   * add up like the byte counts they come from.
   */
  agentAudioReceivedMs: number;
  /** Agent audio actually played to the caller (cut at clears). */
  agentAudioMs: number;
  marksReceived: number;
  /** Marks echoed back (after playback or on clear). */
  marksEchoed: number;
  /** Of marksEchoed, those echoed because of a clear rather than after playback. */
  marksEchoedOnClear: number;
  clears: number;
  /** Agent audio thrown away by clears (ms). */
  clearedAudioMs: number;
  dtmfSent: number;
  /** From stream start to the first agent media message; null if none came. */
  firstAgentAudioMs: number | null;
  closedBy: 'caller' | 'server';
  closeCode: number | null;
  /** Sum of playback underruns shorter than gapThresholdMs (audio arriving late inside a turn). */
  playbackGapMs: number;
  underruns: number;
  /** Messages from the server that were not valid Twilio stream messages. */
  serverProtocolErrors: number;
  /** TwiML fetched from <Connect action> after the server closed the stream. */
  afterStreamTwiml: string | undefined;
  statusCallbacks: StatusCallbackResult[];
}

export interface CallHandleEvents {
  twiml: [xml: string];
  'stream-start': [info: { streamSid: string; atMs: number }];
  'agent-audio': [info: { bytes: number; atMs: number }];
  mark: [info: { name: string; onClear: boolean; atMs: number }];
  clear: [info: { droppedBytes: number; atMs: number }];
  closed: [summary: CallSummary];
}

export interface CallHandle {
  readonly callSid: string;
  readonly done: Promise<CallSummary>;
  readonly events: EventEmitter<CallHandleEvents>;
  /** Agent mu-law actually played to the caller so far (cut at clears). */
  readonly receivedAudio: Buffer;
  /** Milliseconds since the stream started (simulated clock when realtime is false). */
  readonly nowMs: number;
  /** The caller hangs up now (stop + close). Resolves with the summary. */
  hangup(): Promise<CallSummary>;
  /** The caller says this (raw 8 kHz mu-law) now, ahead of the rest of the script. */
  inject(audio: Buffer): void;
  /** The caller presses keys now. */
  pressDigits(digits: string): void;
}

/** One setInterval for every simulated call in the process (started on demand, stopped when idle). */
export class SharedTicker {
  private readonly subscribers = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly intervalMs: number = FRAME_MS) {}

  add(fn: () => void): void {
    this.subscribers.add(fn);
    this.timer ??= setInterval(() => {
      for (const subscriber of this.subscribers) subscriber();
    }, this.intervalMs);
  }

  remove(fn: () => void): void {
    this.subscribers.delete(fn);
    if (this.subscribers.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  get size(): number {
    return this.subscribers.size;
  }
}

const defaultTicker = new SharedTicker();

// ---- TwiML (a small parser for the verbs the simulator acts on) ---------------------------------

export interface ParsedTwiml {
  streamUrl: string | undefined;
  parameters: Record<string, string>;
  connectAction: string | undefined;
  /** Verb names in document order (top level and nested), e.g. ['Response','Connect','Stream','Parameter','Say']. */
  verbs: string[];
  /** Text of <Say> elements, in order. */
  says: string[];
  hasHangup: boolean;
  dial: string | undefined;
}

function unescapeXml(value: string): string {
  return value.replace(/&(lt|gt|quot|apos|amp|#\d+|#x[0-9a-fA-F]+);/g, (_m, entity: string) => {
    switch (entity) {
      case 'lt':
        return '<';
      case 'gt':
        return '>';
      case 'quot':
        return '"';
      case 'apos':
        return "'";
      case 'amp':
        return '&';
      default:
        return String.fromCodePoint(entity[1] === 'x' ? parseInt(entity.slice(2), 16) : parseInt(entity.slice(1), 10));
    }
  });
}

function attributes(tag: string): Record<string, string> {
  const result: Record<string, string> = {};
  for (const match of tag.matchAll(/([A-Za-z_:][\w:.-]*)\s*=\s*("([^"]*)"|'([^']*)')/g)) {
    result[match[1]] = unescapeXml(match[3] ?? match[4] ?? '');
  }
  return result;
}

/** Reads the parts of TwiML the simulator needs. Tolerant: unknown verbs are listed and ignored. */
export function parseTwiml(xml: string): ParsedTwiml {
  const parsed: ParsedTwiml = {
    streamUrl: undefined,
    parameters: {},
    connectAction: undefined,
    verbs: [],
    says: [],
    hasHangup: false,
    dial: undefined,
  };
  const body = xml.replace(/<\?xml[^>]*\?>/, '').replace(/<!--[\s\S]*?-->/g, '');
  // Attribute values may hold a raw '>' (XML only requires '<' and '&' escaped): match quoted values whole.
  for (const match of body.matchAll(/<([A-Za-z]+)((?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*\/?>/g)) {
    const [, name, attrText] = match;
    parsed.verbs.push(name);
    const attrs = attributes(attrText);
    if (name === 'Stream' && parsed.streamUrl === undefined) parsed.streamUrl = attrs.url;
    else if (name === 'Parameter' && attrs.name !== undefined) parsed.parameters[attrs.name] = attrs.value ?? '';
    else if (name === 'Connect' && attrs.action) parsed.connectAction = attrs.action;
    else if (name === 'Hangup') parsed.hasHangup = true;
  }
  for (const match of body.matchAll(/<Say(?:\s[^>]*)?>([\s\S]*?)<\/Say>/g)) parsed.says.push(unescapeXml(match[1]));
  const dial = /<Dial(?:\s[^>]*)?>([\s\S]*?)<\/Dial>/.exec(body);
  if (dial) parsed.dial = unescapeXml(dial[1].replace(/<[^>]+>/g, '').trim());
  return parsed;
}

// ---- HTTP helper -------------------------------------------------------------------------------

interface HttpResult {
  status: number;
  body: string;
}

/** POST a form; one connection per request (no keep-alive sockets left behind). */
function postForm(url: string, params: Record<string, string>, headers: Record<string, string>): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const body = new URLSearchParams(params).toString();
    const target = new URL(url);
    const client = target.protocol === 'https:' ? https : http;
    const req = client.request(
      target,
      {
        method: 'POST',
        agent: false,
        timeout: HTTP_TIMEOUT_MS,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'content-length': Buffer.byteLength(body),
          connection: 'close',
          'user-agent': 'TwilioProxy/1.1 (switchboard simulator)',
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size <= 1024 * 1024) chunks.push(chunk);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${target.pathname} within ${HTTP_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

// ---- Audio preparation -------------------------------------------------------------------------

/** Raw mu-law -> base64 of each 20 ms frame (last one padded with silence). Cached per buffer. */
const frameCache = new WeakMap<Buffer, string[]>();

export function toFrames(audio: Buffer): string[] {
  const cached = frameCache.get(audio);
  if (cached) return cached;
  const frames: string[] = [];
  for (let offset = 0; offset < audio.length; offset += FRAME_BYTES) {
    let frame = audio.subarray(offset, offset + FRAME_BYTES);
    if (frame.length < FRAME_BYTES) {
      const padded = Buffer.alloc(FRAME_BYTES, MULAW_SILENCE);
      frame.copy(padded);
      frame = padded;
    }
    frames.push(frame.toString('base64'));
  }
  frameCache.set(audio, frames);
  return frames;
}

export type PreparedStep =
  | { kind: 'audio'; frames: string[] }
  | { kind: 'silence'; frames: number }
  | { kind: 'dtmf'; digits: string }
  | { kind: 'wait'; maxMs: number; untilAgentSilentMs: number | undefined; untilAgentHeardMs: number | undefined };

export async function prepareScript(script: CallScriptStep[], engine: TtsEngine | undefined): Promise<PreparedStep[]> {
  const steps: PreparedStep[] = [];
  for (const step of script) {
    if ('say' in step) {
      steps.push({ kind: 'audio', frames: toFrames(await synthesize(step.say, { format: 'pcmu', engine })) });
    } else if ('wavFile' in step) {
      steps.push({ kind: 'audio', frames: toFrames(await readWavAsMulaw(step.wavFile)) });
    } else if ('audio' in step) {
      if (!Buffer.isBuffer(step.audio)) throw new TypeError('script audio must be a Buffer of raw mu-law');
      steps.push({ kind: 'audio', frames: toFrames(step.audio) });
    } else if ('silenceMs' in step) {
      if (!(step.silenceMs >= 0)) throw new RangeError('silenceMs must be >= 0');
      steps.push({ kind: 'silence', frames: Math.ceil(step.silenceMs / FRAME_MS) });
    } else if ('dtmf' in step) {
      if (!/^[0-9*#A-D]+$/.test(step.dtmf)) throw new RangeError(`invalid DTMF digits: ${step.dtmf}`);
      steps.push({ kind: 'dtmf', digits: step.dtmf });
    } else {
      const maxMs = step.waitForAgentMs ?? DEFAULT_WAIT_FOR_AGENT_MS;
      if (!(maxMs >= 0)) throw new RangeError('waitForAgentMs must be >= 0');
      steps.push({
        kind: 'wait',
        maxMs,
        untilAgentSilentMs: step.untilAgentSilentMs,
        untilAgentHeardMs: step.untilAgentHeardMs,
      });
    }
  }
  return steps;
}

// ---- Playback (what Twilio does with the agent's audio) ----------------------------------------
// Exported for the Telnyx caller simulator, which plays agent audio and echoes marks the same way.

type QueueItem = { audio: Buffer | null; bytes: number } | { mark: string };

export class Playback {
  private items: QueueItem[] = [];
  private head = 0;
  private headOffset = 0;
  /** Clock time up to which playback has been computed. */
  private playheadMs = 0;
  queuedBytes = 0;
  playedBytes = 0;
  clearedBytes = 0;
  /** When the queue last ran dry (null while audio is playing or before any audio). */
  drainedAtMs: number | null = null;
  playbackGapMs = 0;
  underruns = 0;
  readonly played: Buffer[] = [];

  constructor(
    private readonly keepAudio: boolean,
    private readonly gapThresholdMs: number,
    private readonly echo: (name: string, onClear: boolean) => void,
  ) {}

  get isPlaying(): boolean {
    return this.queuedBytes > 0;
  }

  pushAudio(audio: Buffer | null, bytes: number, nowMs: number): void {
    this.advance(nowMs);
    if (this.queuedBytes === 0) {
      // Playback (re)starts now; a short dry spell inside a turn is an underrun.
      this.playheadMs = nowMs;
      if (this.drainedAtMs !== null) {
        const gapMs = nowMs - this.drainedAtMs;
        if (gapMs < this.gapThresholdMs) {
          this.playbackGapMs += gapMs;
          this.underruns++;
        }
      }
      this.drainedAtMs = null;
    }
    this.items.push({ audio, bytes });
    this.queuedBytes += bytes;
  }

  pushMark(name: string, nowMs: number): void {
    this.advance(nowMs);
    if (this.head === this.items.length) this.echo(name, false);
    else this.items.push({ mark: name });
  }

  /** Plays everything due by nowMs, echoing marks as the audio before them finishes. */
  advance(nowMs: number): void {
    while (this.head < this.items.length) {
      const item = this.items[this.head];
      if ('mark' in item) {
        this.head++;
        this.echo(item.mark, false);
        continue;
      }
      const budget = Math.floor((nowMs - this.playheadMs) * BYTES_PER_MS);
      if (budget <= 0) break;
      const remaining = item.bytes - this.headOffset;
      const take = Math.min(budget, remaining);
      if (this.keepAudio && item.audio) this.played.push(item.audio.subarray(this.headOffset, this.headOffset + take));
      this.headOffset += take;
      this.playedBytes += take;
      this.queuedBytes -= take;
      this.playheadMs += take / BYTES_PER_MS;
      if (this.headOffset === item.bytes) {
        this.head++;
        this.headOffset = 0;
      }
    }
    if (this.head === this.items.length) {
      if (this.items.length > 0) {
        if (this.drainedAtMs === null) this.drainedAtMs = this.playheadMs;
        this.items = [];
        this.head = 0;
      }
      this.playheadMs = nowMs;
    } else if (this.head > 1024) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  /** Twilio `clear`: drop queued audio, echo every pending mark at once. Returns dropped bytes. */
  clear(nowMs: number): number {
    this.advance(nowMs);
    const dropped = this.queuedBytes;
    const pending = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    this.headOffset = 0;
    this.queuedBytes = 0;
    this.clearedBytes += dropped;
    if (dropped > 0 || pending.length > 0) this.drainedAtMs = null;
    this.playheadMs = nowMs;
    for (const item of pending) if ('mark' in item) this.echo(item.mark, true);
    return dropped;
  }
}

// ---- The call ----------------------------------------------------------------------------------

function randomSid(prefix: string): string {
  return prefix + randomBytes(16).toString('hex');
}

class SimulatedCall implements CallHandle {
  readonly events = new EventEmitter<CallHandleEvents>();
  readonly callSid: string;
  readonly done: Promise<CallSummary>;

  private readonly opts: PlaceCallOptions;
  private readonly accountSid: string;
  private readonly publicUrl: string;
  private readonly realtime: boolean;
  private readonly ticker: SharedTicker;
  private readonly playback: Playback;
  private resolveDone!: (summary: CallSummary) => void;

  private ws: WebSocket | undefined;
  private streamSid: string | undefined;
  private steps: PreparedStep[] = [];
  private stepIndex = 0;
  private stepPos = 0;
  private waitStartMs = 0;
  private waitPlayedBytes = 0;
  private injected: string[] = [];
  private injectedPos = 0;
  private sequenceNumber = 0;
  private startedAt = 0;
  private virtualNowMs = 0;
  private running = false;
  private finishing = false;
  private hangingUp = false;
  private readonly tickFn = (): void => this.tick();
  private floodTimer: NodeJS.Timeout | undefined;
  private closeTimer: NodeJS.Timeout | undefined;
  private pendingCallbacks: Promise<unknown>[] = [];
  private cachedAudio: Buffer | undefined;
  private cachedAudioParts = 0;

  private readonly summary: CallSummary;

  constructor(opts: PlaceCallOptions) {
    this.opts = opts;
    this.callSid = opts.callSid ?? randomSid('CA');
    this.accountSid = opts.accountSid ?? randomSid('AC');
    this.publicUrl = (opts.publicUrl ?? opts.baseUrl).replace(/\/+$/, '');
    this.realtime = opts.realtime ?? true;
    this.ticker = opts.ticker ?? defaultTicker;
    this.playback = new Playback(opts.keepAudio ?? true, opts.gapThresholdMs ?? DEFAULT_GAP_THRESHOLD_MS, (n, c) =>
      this.echoMark(n, c),
    );
    this.summary = {
      callSid: this.callSid,
      streamSid: undefined,
      ok: false,
      errors: [],
      webhookStatus: null,
      twiml: undefined,
      streamUrl: undefined,
      customParameters: {},
      handshakeStatus: null,
      durationMs: 0,
      mediaMs: 0,
      framesSent: 0,
      framesSkipped: 0,
      framesReceived: 0,
      bytesReceived: 0,
      agentAudioBytes: 0,
      clearedAudioBytes: 0,
      agentAudioReceivedMs: 0,
      agentAudioMs: 0,
      marksReceived: 0,
      marksEchoed: 0,
      marksEchoedOnClear: 0,
      clears: 0,
      clearedAudioMs: 0,
      dtmfSent: 0,
      firstAgentAudioMs: null,
      closedBy: 'server',
      closeCode: null,
      playbackGapMs: 0,
      underruns: 0,
      serverProtocolErrors: 0,
      afterStreamTwiml: undefined,
      statusCallbacks: [],
    };
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.start().catch((err: Error) => this.fail(`simulator: ${err.message}`));
  }

  get nowMs(): number {
    if (!this.startedAt) return 0;
    return this.realtime ? performance.now() - this.startedAt : this.virtualNowMs;
  }

  get receivedAudio(): Buffer {
    if (!this.cachedAudio || this.cachedAudioParts !== this.playback.played.length) {
      this.cachedAudio = Buffer.concat(this.playback.played);
      this.cachedAudioParts = this.playback.played.length;
    }
    return this.cachedAudio;
  }

  hangup(): Promise<CallSummary> {
    if (this.running) this.callerHangup();
    else if (!this.finishing && this.ws) {
      // Still connecting: abandon the call.
      this.hangingUp = true;
      this.ws.terminate();
    }
    return this.done;
  }

  inject(audio: Buffer): void {
    this.injected.push(...toFrames(audio));
  }

  pressDigits(digits: string): void {
    if (!this.running) return;
    for (const digit of digits) this.sendDtmf(digit);
  }

  // -- setup --

  private async start(): Promise<void> {
    try {
      this.steps = await prepareScript(this.opts.script ?? [], this.opts.ttsEngine);
    } catch (err) {
      return this.fail(`script: ${(err as Error).message}`);
    }
    const path = this.opts.webhookPath ?? '/twilio/incoming-call';
    const params: Record<string, string> = {
      CallSid: this.callSid,
      AccountSid: this.accountSid,
      From: this.opts.from ?? '+15005550006',
      To: this.opts.to ?? '+15005550001',
      CallStatus: 'ringing',
      Direction: this.opts.direction ?? 'inbound',
      ApiVersion: '2010-04-01',
      Caller: this.opts.from ?? '+15005550006',
      Called: this.opts.to ?? '+15005550001',
    };
    let twiml: string;
    try {
      const res = await postForm(
        this.baseUrl(path),
        params,
        this.signatureHeader(webhookUrl(this.publicUrl, path), params),
      );
      this.summary.webhookStatus = res.status;
      if (res.status !== 200) return this.fail(`webhook answered HTTP ${res.status}`);
      twiml = res.body;
    } catch (err) {
      return this.fail(`webhook failed: ${(err as Error).message}`);
    }
    this.summary.twiml = twiml;
    this.events.emit('twiml', twiml);
    const parsed = parseTwiml(twiml);
    this.summary.customParameters = parsed.parameters;
    if (!parsed.streamUrl) {
      // A refusal (<Say><Hangup/>) or any TwiML without a stream: the call ends there.
      this.opts.logger?.info('simulated call got TwiML without a stream', { callSid: this.callSid });
      this.summary.ok = true;
      return this.finish('server', null);
    }
    this.summary.streamUrl = parsed.streamUrl;
    this.openStream(parsed.streamUrl, parsed.connectAction);
  }

  private baseUrl(path: string): string {
    return webhookUrl(this.opts.baseUrl, path);
  }

  private signatureHeader(url: string, params: Record<string, string>): Record<string, string> {
    return this.opts.authToken
      ? { 'x-twilio-signature': computeTwilioSignature(this.opts.authToken, url, params) }
      : {};
  }

  private openStream(streamUrl: string, connectAction: string | undefined): void {
    let target: string;
    try {
      const fromTwiml = new URL(streamUrl);
      const base = new URL(this.opts.baseUrl);
      // Twilio strips the query string of a stream URL; connect to our base with the TwiML's path.
      target = `${base.protocol === 'https:' ? 'wss:' : 'ws:'}//${base.host}${fromTwiml.pathname}`;
    } catch {
      void this.fail(`invalid stream URL in TwiML: ${streamUrl}`);
      return;
    }
    const ws = new WebSocket(target, {
      headers: this.signatureHeader(streamUrl, {}),
      perMessageDeflate: false,
      handshakeTimeout: HTTP_TIMEOUT_MS,
    });
    this.ws = ws;
    let opened = false;
    ws.on('open', () => {
      opened = true;
      this.onOpen();
    });
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    ws.on('error', (err) => {
      const status = /Unexpected server response: (\d+)/.exec(err.message);
      if (status) this.summary.handshakeStatus = Number(status[1]);
      if (!this.finishing) this.summary.errors.push(`stream socket: ${err.message}`);
    });
    ws.on('close', (code) => {
      if (!opened && !this.summary.errors.length && !this.hangingUp) {
        this.summary.errors.push('stream closed before it opened');
      }
      this.onClosed(code, connectAction).catch((err: Error) => this.fail(`simulator: ${err.message}`));
    });
  }

  private onOpen(): void {
    const ws = this.ws as WebSocket;
    this.streamSid = randomSid('MZ');
    this.summary.streamSid = this.streamSid;
    ws.send('{"event":"connected","protocol":"Call","version":"1.0.0"}');
    ws.send(
      twilioStartMessage({
        sequenceNumber: ++this.sequenceNumber,
        streamSid: this.streamSid,
        accountSid: this.accountSid,
        callSid: this.callSid,
        customParameters: this.summary.customParameters,
      }),
    );
    this.startedAt = performance.now();
    this.running = true;
    this.events.emit('stream-start', { streamSid: this.streamSid, atMs: 0 });
    this.statusCallback('in-progress');
    if (this.realtime) this.ticker.add(this.tickFn);
    else this.floodLoop();
  }

  // -- the per-tick work --

  private tick(): void {
    if (!this.running) return;
    try {
      const nowMs = this.nowMs;
      this.playback.advance(nowMs);
      let due = Math.floor(nowMs / FRAME_MS) + 1 - this.summary.framesSent - this.summary.framesSkipped;
      if (due > MAX_CATCH_UP_FRAMES) {
        this.summary.framesSkipped += due - MAX_CATCH_UP_FRAMES;
        due = MAX_CATCH_UP_FRAMES;
      }
      for (let i = 0; i < due && this.running; i++) this.sendFrame();
    } catch (err) {
      this.summary.errors.push(`simulator: ${(err as Error).message}`);
      this.callerHangup();
    }
  }

  private floodLoop(): void {
    this.floodTimer = undefined;
    if (!this.running) return;
    try {
      const ws = this.ws as WebSocket;
      if (ws.bufferedAmount > FLOOD_MAX_BUFFERED_BYTES) {
        this.floodTimer = setTimeout(() => this.floodLoop(), 1);
        return;
      }
      for (let i = 0; i < FLOOD_BATCH_FRAMES && this.running; i++) {
        this.virtualNowMs = (this.summary.framesSent + this.summary.framesSkipped) * FRAME_MS;
        this.playback.advance(this.virtualNowMs);
        this.sendFrame();
      }
    } catch (err) {
      this.summary.errors.push(`simulator: ${(err as Error).message}`);
      this.callerHangup();
      return;
    }
    if (this.running) this.floodTimer = setTimeout(() => this.floodLoop(), 0);
  }

  private sendFrame(): void {
    const index = this.summary.framesSent + this.summary.framesSkipped;
    const frameTimeMs = index * FRAME_MS;
    const hangupAfterMs = this.opts.hangupAfterMs;
    if (hangupAfterMs !== undefined && frameTimeMs >= hangupAfterMs) return this.callerHangup();
    let payload = this.nextPayload(frameTimeMs);
    if (payload === null) return this.callerHangup();
    const tap = this.opts.mediaTap?.outgoing;
    if (tap) payload = tap(payload, index);
    const sequenceNumber = ++this.sequenceNumber;
    (this.ws as WebSocket).send(
      `{"event":"media","sequenceNumber":"${sequenceNumber}","media":{"track":"inbound","chunk":"${index + 1}","timestamp":"${frameTimeMs}","payload":"${payload}"},"streamSid":"${this.streamSid}"}`,
    );
    this.summary.framesSent++;
  }

  /** The caller's next 20 ms: injected speech, then the script, else silence; null = hang up now. */
  private nextPayload(frameTimeMs: number): string | null {
    if (this.injectedPos < this.injected.length) {
      const frame = this.injected[this.injectedPos++];
      if (this.injectedPos === this.injected.length) {
        this.injected = [];
        this.injectedPos = 0;
      }
      return frame;
    }
    while (this.stepIndex < this.steps.length) {
      const step = this.steps[this.stepIndex];
      switch (step.kind) {
        case 'audio':
          if (this.stepPos < step.frames.length) return step.frames[this.stepPos++];
          break;
        case 'silence':
          if (this.stepPos++ < step.frames) return SILENCE_FRAME_B64;
          break;
        case 'dtmf':
          for (const digit of step.digits) this.sendDtmf(digit);
          break;
        case 'wait': {
          if (this.stepPos === 0) {
            this.stepPos = 1;
            this.waitStartMs = frameTimeMs;
            this.waitPlayedBytes = this.playback.playedBytes;
          }
          const waitedMs = frameTimeMs - this.waitStartMs;
          const heard = this.playback.playedBytes > this.waitPlayedBytes;
          const silentMs =
            this.playback.isPlaying || this.playback.drainedAtMs === null ? 0 : frameTimeMs - this.playback.drainedAtMs;
          const heardMs = (this.playback.playedBytes - this.waitPlayedBytes) / BYTES_PER_MS;
          const satisfied =
            (step.untilAgentSilentMs !== undefined && heard && silentMs >= step.untilAgentSilentMs) ||
            (step.untilAgentHeardMs !== undefined && heardMs >= step.untilAgentHeardMs);
          if (!satisfied && waitedMs < step.maxMs) return SILENCE_FRAME_B64;
          break;
        }
      }
      this.stepIndex++;
      this.stepPos = 0;
    }
    if (this.opts.hangupAfterScript ?? true) return null;
    return SILENCE_FRAME_B64;
  }

  private sendDtmf(digit: string): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    ws.send(
      `{"event":"dtmf","streamSid":"${this.streamSid}","sequenceNumber":"${++this.sequenceNumber}","dtmf":{"track":"inbound_track","digit":"${digit}"}}`,
    );
    this.summary.dtmfSent++;
  }

  // -- from the server --

  private onMessage(data: WebSocket.RawData, isBinary: boolean): void {
    if (!this.running) return;
    const arrivedAt = this.opts.mediaTap?.incoming ? performance.now() : 0;
    if (isBinary) {
      this.summary.serverProtocolErrors++;
      return;
    }
    let message: { event?: unknown; streamSid?: unknown; media?: { payload?: unknown }; mark?: { name?: unknown } };
    try {
      message = JSON.parse(data.toString()) as typeof message;
    } catch {
      this.summary.serverProtocolErrors++;
      return;
    }
    if (typeof message !== 'object' || message === null || message.streamSid !== this.streamSid) {
      this.summary.serverProtocolErrors++;
      return;
    }
    const nowMs = this.nowMs;
    switch (message.event) {
      case 'media': {
        const payload = message.media?.payload;
        if (typeof payload !== 'string' || payload.length % 4 !== 0) {
          this.summary.serverProtocolErrors++;
          return;
        }
        const bytes = base64DecodedLength(payload);
        if (bytes <= 0) return;
        this.summary.framesReceived++;
        this.summary.bytesReceived += bytes;
        if (this.summary.firstAgentAudioMs === null) this.summary.firstAgentAudioMs = Math.round(nowMs);
        const audio = (this.opts.keepAudio ?? true) ? Buffer.from(payload, 'base64') : null;
        this.playback.pushAudio(audio, bytes, nowMs);
        this.opts.mediaTap?.incoming?.(payload, arrivedAt);
        if (this.events.listenerCount('agent-audio')) this.events.emit('agent-audio', { bytes, atMs: nowMs });
        return;
      }
      case 'mark': {
        const name = message.mark?.name;
        if (typeof name !== 'string') {
          this.summary.serverProtocolErrors++;
          return;
        }
        this.summary.marksReceived++;
        this.playback.pushMark(name, nowMs);
        return;
      }
      case 'clear': {
        this.summary.clears++;
        const droppedBytes = this.playback.clear(nowMs);
        this.events.emit('clear', { droppedBytes, atMs: nowMs });
        return;
      }
      default:
        this.summary.serverProtocolErrors++;
    }
  }

  private echoMark(name: string, onClear: boolean): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    ws.send(
      `{"event":"mark","sequenceNumber":"${++this.sequenceNumber}","streamSid":"${this.streamSid}","mark":{"name":${JSON.stringify(name)}}}`,
    );
    this.summary.marksEchoed++;
    if (onClear) this.summary.marksEchoedOnClear++;
    this.events.emit('mark', { name, onClear, atMs: this.nowMs });
  }

  // -- ending --

  private callerHangup(): void {
    if (!this.running || this.hangingUp) return;
    this.hangingUp = true;
    this.summary.closedBy = 'caller';
    this.stopSending();
    const ws = this.ws as WebSocket;
    if (ws.readyState === WebSocket.OPEN) {
      ws.send(
        JSON.stringify({
          event: 'stop',
          sequenceNumber: String(++this.sequenceNumber),
          streamSid: this.streamSid,
          stop: { accountSid: this.accountSid, callSid: this.callSid },
        }),
      );
      ws.close(1000, 'caller hung up');
      this.closeTimer = setTimeout(() => ws.terminate(), CLOSE_TIMEOUT_MS);
    } else {
      ws.terminate();
    }
  }

  private stopSending(): void {
    if (this.running) {
      // Account for audio that played up to this moment.
      this.playback.advance(this.nowMs);
      this.summary.durationMs = Math.round(this.nowMs);
      this.summary.mediaMs = (this.summary.framesSent + this.summary.framesSkipped) * FRAME_MS;
    }
    this.running = false;
    this.ticker.remove(this.tickFn);
    if (this.floodTimer) clearTimeout(this.floodTimer);
    this.floodTimer = undefined;
  }

  private async onClosed(code: number, connectAction: string | undefined): Promise<void> {
    if (this.closeTimer) clearTimeout(this.closeTimer);
    const byServer = !this.hangingUp;
    this.stopSending();
    this.summary.closeCode = code;
    if (byServer && this.summary.streamSid && connectAction) {
      // Twilio asks <Connect action> for what to do next once the stream ends (e.g. a transfer <Dial>).
      try {
        const actionUrl = new URL(connectAction, this.publicUrl + '/').toString();
        const path = actionUrl.slice(new URL(actionUrl).origin.length);
        const params = {
          CallSid: this.callSid,
          AccountSid: this.accountSid,
          CallStatus: 'in-progress',
          Direction: this.opts.direction ?? 'inbound',
          ApiVersion: '2010-04-01',
        };
        const res = await postForm(this.baseUrl(path), params, this.signatureHeader(actionUrl, params));
        if (res.status === 200) this.summary.afterStreamTwiml = res.body;
        else this.summary.errors.push(`connect action answered HTTP ${res.status}`);
      } catch (err) {
        this.summary.errors.push(`connect action failed: ${(err as Error).message}`);
      }
    }
    this.summary.ok = this.summary.streamSid !== undefined && this.summary.errors.length === 0;
    await this.finish(byServer ? 'server' : 'caller', code);
  }

  private fail(error: string): Promise<void> {
    this.summary.errors.push(error);
    this.opts.logger?.warn('simulated call failed', { callSid: this.callSid, error });
    return this.finish('server', null);
  }

  private async finish(closedBy: 'caller' | 'server', code: number | null): Promise<void> {
    if (this.finishing) return;
    this.finishing = true;
    this.stopSending();
    this.summary.closedBy = closedBy;
    this.summary.closeCode = code;
    if (this.summary.streamSid) this.statusCallback('completed');
    await Promise.allSettled(this.pendingCallbacks);
    const s = this.summary;
    // Exact, never rounded one by one: played + cleared must add up to what was received.
    s.agentAudioBytes = this.playback.playedBytes;
    s.clearedAudioBytes = this.playback.clearedBytes;
    s.agentAudioMs = s.agentAudioBytes / BYTES_PER_MS;
    s.agentAudioReceivedMs = s.bytesReceived / BYTES_PER_MS;
    s.clearedAudioMs = s.clearedAudioBytes / BYTES_PER_MS;
    s.playbackGapMs = Math.round(this.playback.playbackGapMs);
    s.underruns = this.playback.underruns;
    this.opts.logger?.info('simulated call ended', {
      callSid: this.callSid,
      closedBy,
      durationMs: s.durationMs,
      errors: s.errors.length,
    });
    try {
      this.events.emit('closed', s);
    } catch (err) {
      this.opts.logger?.warn('simulated call closed listener failed', {
        callSid: this.callSid,
        error: (err as Error).message,
      });
    }
    this.resolveDone(s);
  }

  private statusCallback(status: 'in-progress' | 'completed'): void {
    if (!(this.opts.sendStatusCallbacks ?? true)) return;
    const path = this.opts.statusCallbackPath ?? '/twilio/call-status';
    const params: Record<string, string> = {
      CallSid: this.callSid,
      AccountSid: this.accountSid,
      From: this.opts.from ?? '+15005550006',
      To: this.opts.to ?? '+15005550001',
      CallStatus: status,
      Direction: this.opts.direction ?? 'inbound',
      ApiVersion: '2010-04-01',
      Timestamp: new Date().toUTCString(),
      SequenceNumber: status === 'in-progress' ? '0' : '1',
      CallbackSource: 'call-progress-events',
    };
    if (status === 'completed') params.CallDuration = String(Math.round(this.summary.durationMs / 1000));
    const result: StatusCallbackResult = { status, httpStatus: null };
    this.summary.statusCallbacks.push(result);
    this.pendingCallbacks.push(
      postForm(this.baseUrl(path), params, this.signatureHeader(webhookUrl(this.publicUrl, path), params)).then(
        (res) => {
          result.httpStatus = res.status;
        },
        (err: Error) => {
          this.opts.logger?.warn('simulated status callback failed', { callSid: this.callSid, error: err.message });
        },
      ),
    );
  }
}

/** Places one simulated call. The returned handle's `done` always resolves (never rejects). */
export function placeCall(options: PlaceCallOptions): CallHandle {
  if (!options || typeof options.baseUrl !== 'string' || !/^https?:\/\//.test(options.baseUrl)) {
    throw new TypeError('placeCall: baseUrl must be an http:// or https:// URL');
  }
  if (options.hangupAfterMs !== undefined && !(options.hangupAfterMs >= 0)) {
    throw new RangeError('placeCall: hangupAfterMs must be >= 0');
  }
  return new SimulatedCall(options);
}
