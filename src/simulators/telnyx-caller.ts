/**
 * A simulated Telnyx call, the way Telnyx places one on a TeXML application: a signed voice webhook
 * (form-encoded, `telnyx-signature-ed25519` over `timestamp|body` with the account's Ed25519 key), the
 * TeXML's <Connect><Stream> opened as a WebSocket, `connected` + `start` (stream_id, call_control_id,
 * media_format in the TeXML's codec, custom_parameters), caller audio in 20 ms frames at real pace
 * (PCMU or PCMA), agent audio played at real pace with marks echoed once it has played, `clear`
 * honoured (queued audio dropped, queued marks echoed at once), dtmf, then `stop` and a signed
 * `completed` status callback. The script, its speech and the playback model are the Twilio caller's.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { ALAW_SILENCE, MULAW_SILENCE, mulawToAlaw } from '../audio/g711';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, signTelnyxWebhook } from '../channels/telnyx/signature';
import {
  FRAME_BYTES,
  FRAME_MS,
  Playback,
  SharedTicker,
  parseTwiml,
  prepareScript,
  type PreparedStep,
} from './twilio-caller';
import {
  emptySummary,
  postSigned,
  type TelnyxCallHandle,
  type TelnyxCallOptions,
  type TelnyxCallSummary,
} from './telnyx-call-types';

export type { TelnyxCallHandle, TelnyxCallOptions, TelnyxCallSummary } from './telnyx-call-types';

const MAX_CATCH_UP_FRAMES = 50;
const HTTP_TIMEOUT_MS = 10_000;
const CLOSE_TIMEOUT_MS = 2000;

const defaultTicker = new SharedTicker();

class SimulatedTelnyxCall implements TelnyxCallHandle {
  readonly events = new EventEmitter<{
    clear: [info: { droppedBytes: number; atMs: number }];
    closed: [TelnyxCallSummary];
  }>();
  readonly callControlId: string;
  readonly done: Promise<TelnyxCallSummary>;
  private resolveDone!: (summary: TelnyxCallSummary) => void;
  private readonly ticker: SharedTicker;
  private readonly playback: Playback;
  private readonly summary: TelnyxCallSummary;
  private ws: WebSocket | undefined;
  private steps: PreparedStep[] = [];
  private stepIndex = 0;
  private stepPos = 0;
  private waitStartMs = 0;
  private waitPlayedBytes = 0;
  private injected: string[] = [];
  private sequence = 0;
  private startedAt = 0;
  private running = false;
  private hangingUp = false;
  private finished = false;
  private closeTimer: NodeJS.Timeout | undefined;
  /** The <Redirect> after <Connect>: Telnyx fetches it when the stream ends with the call still up. */
  private redirectUrl: string | undefined;
  private silenceB64 = Buffer.alloc(FRAME_BYTES, MULAW_SILENCE).toString('base64');
  private readonly converted = new Map<string, string>();
  private readonly tickFn = (): void => this.tick();

  constructor(private readonly opts: TelnyxCallOptions) {
    this.callControlId = opts.callControlId ?? `v3:${randomUUID().replace(/-/g, '')}`;
    this.ticker = opts.ticker ?? defaultTicker;
    this.playback = new Playback(true, 500, (name, onClear) => this.echoMark(name, onClear));
    this.summary = emptySummary(this.callControlId);
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.run().catch((err: Error) => this.fail(`simulator: ${err.message}`));
  }

  get nowMs(): number {
    return this.startedAt === 0 ? 0 : performance.now() - this.startedAt;
  }

  get receivedAudio(): Buffer {
    return Buffer.concat(this.playback.played);
  }

  hangup(): Promise<TelnyxCallSummary> {
    if (this.running) this.callerHangup();
    return this.done;
  }

  inject(audio: Buffer): void {
    for (let offset = 0; offset < audio.length; offset += FRAME_BYTES) {
      const frame = Buffer.alloc(FRAME_BYTES, MULAW_SILENCE);
      audio.copy(frame, 0, offset, Math.min(offset + FRAME_BYTES, audio.length));
      this.injected.push(this.inCodec(frame.toString('base64')));
    }
  }

  private signed(body: string): Record<string, string> {
    const timestampS = this.opts.timestampS ?? Math.floor(Date.now() / 1000);
    if (this.opts.signatureOverride !== undefined) {
      return { [SIGNATURE_HEADER]: this.opts.signatureOverride, [TIMESTAMP_HEADER]: String(timestampS) };
    }
    if (!this.opts.privateKey) return {};
    return {
      [SIGNATURE_HEADER]: signTelnyxWebhook(this.opts.privateKey, timestampS, body),
      [TIMESTAMP_HEADER]: String(timestampS),
    };
  }

  private url(path: string): string {
    return `${this.opts.baseUrl.replace(/\/+$/, '')}${path}`;
  }

  private async run(): Promise<void> {
    this.steps = await prepareScript(this.opts.script ?? [], this.opts.ttsEngine);
    // The TeXML voice webhook (Twilio-compatible form parameters; CallSid is the call_control_id).
    const body = new URLSearchParams({
      AccountSid: randomUUID(),
      CallSid: this.callControlId,
      From: this.opts.from ?? '+15005550006',
      To: this.opts.to ?? '+15005550001',
      CallStatus: 'ringing',
      Direction: 'inbound',
    }).toString();
    const res = await postSigned(
      this.url(this.opts.webhookPath ?? '/telnyx/voice'),
      body,
      'application/x-www-form-urlencoded',
      this.signed(body),
    );
    this.summary.webhookStatus = res.status;
    if (res.status !== 200) return this.fail(`webhook answered HTTP ${res.status}`);
    this.summary.texml = res.body;
    const parsed = parseTwiml(res.body);
    if (!parsed.streamUrl) {
      this.summary.ok = true;
      return this.finish('server', null);
    }
    this.summary.streamUrl = parsed.streamUrl;
    const redirect = /<\/Connect>\s*<Redirect[^>]*>([^<]+)<\/Redirect>/.exec(res.body);
    this.redirectUrl = redirect ? redirect[1].replace(/&amp;/g, '&') : undefined;
    this.summary.parameters = this.opts.parametersOverride ?? parsed.parameters;
    this.summary.codec = /\bbidirectionalCodec="PCMA"/.test(res.body) ? 'PCMA' : 'PCMU';
    if (this.summary.codec === 'PCMA') this.silenceB64 = Buffer.alloc(FRAME_BYTES, ALAW_SILENCE).toString('base64');
    this.openStream(parsed.streamUrl);
  }

  private openStream(streamUrl: string): void {
    const base = new URL(this.opts.baseUrl);
    const target = `${base.protocol === 'https:' ? 'wss:' : 'ws:'}//${base.host}${new URL(streamUrl).pathname}`;
    const ws = new WebSocket(target, { perMessageDeflate: false, handshakeTimeout: HTTP_TIMEOUT_MS });
    this.ws = ws;
    ws.on('open', () => this.onOpen());
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    ws.on('unexpected-response', (_req, response) => {
      this.summary.handshakeStatus = response.statusCode ?? null;
      response.resume();
      ws.terminate();
    });
    ws.on('error', (err) => {
      if (!this.hangingUp && this.summary.handshakeStatus === null)
        this.summary.errors.push(`stream socket: ${err.message}`);
    });
    ws.on('close', (code) => this.onClosed(code));
  }

  private onOpen(): void {
    const ws = this.ws as WebSocket;
    this.summary.streamId = randomUUID();
    ws.send('{"event":"connected","version":"1.0.0"}');
    ws.send(
      JSON.stringify({
        event: 'start',
        sequence_number: String(++this.sequence),
        start: {
          user_id: randomUUID(),
          call_control_id: this.callControlId,
          call_session_id: randomUUID(),
          from: this.opts.from ?? '+15005550006',
          to: this.opts.to ?? '+15005550001',
          custom_parameters: this.summary.parameters,
          media_format: { encoding: this.summary.codec, sample_rate: 8000, channels: 1 },
        },
        stream_id: this.summary.streamId,
      }),
    );
    this.startedAt = performance.now();
    this.running = true;
    this.ticker.add(this.tickFn);
  }

  private tick(): void {
    if (!this.running) return;
    const nowMs = this.nowMs;
    this.playback.advance(nowMs);
    const due = Math.min(MAX_CATCH_UP_FRAMES, Math.floor(nowMs / FRAME_MS) + 1 - this.summary.framesSent);
    for (let i = 0; i < due && this.running; i++) this.sendFrame();
  }

  private sendFrame(): void {
    const frameTimeMs = this.summary.framesSent * FRAME_MS;
    if (this.opts.hangupAfterMs !== undefined && frameTimeMs >= this.opts.hangupAfterMs) return this.callerHangup();
    const payload = this.nextPayload(frameTimeMs);
    if (payload === null) return this.callerHangup();
    (this.ws as WebSocket).send(
      `{"event":"media","sequence_number":"${++this.sequence}","media":{"track":"inbound","chunk":"${this.summary.framesSent + 1}","timestamp":"${frameTimeMs}","payload":"${payload}"},"stream_id":"${this.summary.streamId}"}`,
    );
    this.summary.framesSent++;
  }

  /** A mu-law frame (base64) in the stream's codec. */
  private inCodec(mulawB64: string): string {
    if (this.summary.codec === 'PCMU') return mulawB64;
    let alaw = this.converted.get(mulawB64);
    if (alaw === undefined) {
      alaw = Buffer.from(mulawToAlaw(Buffer.from(mulawB64, 'base64'))).toString('base64');
      if (this.converted.size < 10_000) this.converted.set(mulawB64, alaw);
    }
    return alaw;
  }

  /** The caller's next 20 ms: injected speech, then the script, else silence; null = hang up now. */
  private nextPayload(frameTimeMs: number): string | null {
    if (this.injected.length > 0) return this.injected.shift()!;
    while (this.stepIndex < this.steps.length) {
      const step = this.steps[this.stepIndex];
      if (step.kind === 'audio' && this.stepPos < step.frames.length) return this.inCodec(step.frames[this.stepPos++]);
      if (step.kind === 'silence' && this.stepPos++ < step.frames) return this.silenceB64;
      if (step.kind === 'dtmf') for (const digit of step.digits) this.sendDtmf(digit);
      if (step.kind === 'wait') {
        if (this.stepPos === 0) {
          this.stepPos = 1;
          this.waitStartMs = frameTimeMs;
          this.waitPlayedBytes = this.playback.playedBytes;
        }
        const heard = this.playback.playedBytes > this.waitPlayedBytes;
        const silentMs =
          this.playback.isPlaying || this.playback.drainedAtMs === null ? 0 : frameTimeMs - this.playback.drainedAtMs;
        const satisfied = step.untilAgentSilentMs !== undefined && heard && silentMs >= step.untilAgentSilentMs;
        if (!satisfied && frameTimeMs - this.waitStartMs < step.maxMs) return this.silenceB64;
      }
      this.stepIndex++;
      this.stepPos = 0;
    }
    return (this.opts.hangupAfterScript ?? true) ? null : this.silenceB64;
  }

  private sendDtmf(digit: string): void {
    this.ws?.send(
      JSON.stringify({
        event: 'dtmf',
        stream_id: this.summary.streamId,
        occurred_at: new Date().toISOString(),
        sequence_number: String(++this.sequence),
        dtmf: { digit },
      }),
    );
    this.summary.dtmfSent++;
  }

  private onMessage(data: WebSocket.RawData, isBinary: boolean): void {
    if (!this.running) return;
    let message: { event?: unknown; media?: { payload?: unknown }; mark?: { name?: unknown } };
    try {
      message = isBinary ? {} : (JSON.parse(data.toString()) as typeof message);
    } catch {
      message = {};
    }
    const nowMs = this.nowMs;
    if (message.event === 'media' && typeof message.media?.payload === 'string') {
      const audio = Buffer.from(message.media.payload, 'base64');
      this.summary.framesReceived++;
      this.summary.bytesReceived += audio.length;
      this.summary.firstAgentAudioMs ??= Math.round(nowMs);
      this.playback.pushAudio(audio, audio.length, nowMs);
    } else if (message.event === 'mark' && typeof message.mark?.name === 'string') {
      this.summary.marksReceived++;
      this.playback.pushMark(message.mark.name, nowMs);
    } else if (message.event === 'clear') {
      this.summary.clears++;
      this.events.emit('clear', { droppedBytes: this.playback.clear(nowMs), atMs: nowMs });
    } else {
      this.summary.serverProtocolErrors++;
    }
  }

  private echoMark(name: string, onClear: boolean): void {
    if (this.ws?.readyState !== WebSocket.OPEN) return;
    this.ws.send(
      JSON.stringify({
        event: 'mark',
        stream_id: this.summary.streamId,
        sequence_number: String(++this.sequence),
        mark: { name },
      }),
    );
    this.summary.marksEchoed++;
    if (onClear) this.summary.marksEchoedOnClear++;
  }

  private callerHangup(): void {
    if (!this.running || this.hangingUp) return;
    this.hangingUp = true;
    this.summary.closedBy = 'caller';
    this.stopSending();
    const ws = this.ws as WebSocket;
    ws.send(
      JSON.stringify({
        event: 'stop',
        sequence_number: String(++this.sequence),
        stop: { call_control_id: this.callControlId },
        stream_id: this.summary.streamId,
      }),
    );
    ws.close(1000, 'caller hung up');
    this.closeTimer = setTimeout(() => ws.terminate(), CLOSE_TIMEOUT_MS);
  }

  private stopSending(): void {
    if (this.running) {
      this.playback.advance(this.nowMs);
      this.summary.durationMs = Math.round(this.nowMs);
      this.summary.mediaMs = this.summary.framesSent * FRAME_MS;
    }
    this.running = false;
    this.ticker.remove(this.tickFn);
  }

  private onClosed(code: number): void {
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.stopSending();
    this.summary.closeCode = code;
    void this.afterStream().then(() => {
      this.summary.ok = this.summary.streamId !== undefined && this.summary.errors.length === 0;
      return this.finish(this.hangingUp ? 'caller' : 'server', code);
    });
  }

  /** The server ended the stream with the call up: Telnyx runs the <Redirect> (a signed POST) for what's next. */
  private async afterStream(): Promise<void> {
    if (this.hangingUp || !this.summary.streamId || !this.redirectUrl) return;
    try {
      const target = new URL(this.redirectUrl);
      const body = new URLSearchParams({ CallSid: this.callControlId, CallStatus: 'in-progress' }).toString();
      const res = await postSigned(
        this.url(`${target.pathname}${target.search}`),
        body,
        'application/x-www-form-urlencoded',
        this.signed(body),
      );
      if (res.status === 200) this.summary.afterStreamTexml = res.body;
      else this.summary.errors.push(`redirect answered HTTP ${res.status}`);
    } catch (err) {
      this.summary.errors.push(`redirect failed: ${(err as Error).message}`);
    }
  }

  private async statusCallback(status: string): Promise<void> {
    const body = new URLSearchParams({
      CallSid: this.callControlId,
      CallStatus: status,
      CallDuration: String(Math.round(this.summary.durationMs / 1000)),
      CallbackSource: 'call-progress-events',
    }).toString();
    let httpStatus: number | null = null;
    try {
      httpStatus = (
        await postSigned(
          this.url(this.opts.statusPath ?? '/telnyx/status'),
          body,
          'application/x-www-form-urlencoded',
          this.signed(body),
        )
      ).status;
    } catch (err) {
      this.summary.errors.push(`status callback failed: ${(err as Error).message}`);
    }
    this.summary.statusCallbacks.push({ status, httpStatus });
  }

  private fail(error: string): Promise<void> {
    this.summary.errors.push(error);
    this.opts.logger?.warn('simulated telnyx call failed', { error });
    return this.finish('server', null);
  }

  private async finish(closedBy: 'caller' | 'server', code: number | null): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    this.stopSending();
    this.summary.closedBy = closedBy;
    this.summary.closeCode = code;
    this.summary.agentAudioBytes = this.playback.playedBytes;
    this.summary.clearedAudioBytes = this.playback.clearedBytes;
    if (this.summary.streamId && (this.opts.sendStatusCallbacks ?? true)) await this.statusCallback('completed');
    this.events.emit('closed', this.summary);
    this.resolveDone(this.summary);
  }
}

/** Places one simulated Telnyx call; `done` resolves with its summary once it has ended. */
export function placeTelnyxCall(options: TelnyxCallOptions): TelnyxCallHandle {
  return new SimulatedTelnyxCall(options);
}
