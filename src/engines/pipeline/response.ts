/**
 * One agent response of the cascaded engine: the model's text is cut into sentences, each sentence
 * goes to speech at once (requests run side by side), and the audio leaves in sentence order. A
 * cancel (barge-in, a new turn) aborts the model and every speech request in flight. What the
 * caller heard is computed from the audio each sentence contributed: `heardText(ms)`.
 */
import { durationMs } from '../../conversation/audio-format';
import type { TurnLatency } from '../../conversation/engine';
import {
  StageError,
  type LlmProvider,
  type LlmRequest,
  type LlmResult,
  type LlmToolCall,
  type TtsProvider,
} from './providers';
import { SentenceSplitter } from './sentences';

export interface ResponseOutput {
  onStarted(): void;
  onText(delta: string): void;
  onAudio(chunk: Buffer, receivedAt: number): void;
  onLatency(latency: TurnLatency): void;
}

export interface ResponseTiming {
  callerItemId: string | undefined;
  /** performance.now() at the caller's end of speech, and at the final transcript. */
  speechEndAt?: number;
  transcriptAt?: number;
}

export interface ResponseOutcome {
  status: 'completed' | 'cancelled' | 'failed';
  /** Everything the response said (full sentences, in order). */
  text: string;
  toolCalls: LlmToolCall[];
  result: LlmResult;
  error?: StageError;
}

interface Sentence {
  text: string;
  chunks: Buffer[];
  done: boolean;
  /** Audio of this sentence handed on so far (ms). */
  emittedMs: number;
  startedMs: number;
  audioBytes: number;
}

/** Sentences whose speech may be arriving at once. */
const MAX_SPEECH_IN_FLIGHT = 3;

export class PipelineResponse {
  private readonly abort = new AbortController();
  private readonly sentences: Sentence[] = [];
  private playing = 0;
  /** Sentences handed to speech so far. */
  private synthesized = 0;
  private emittedMs = 0;
  private started = false;
  private firstToken: number | undefined;
  private firstSpeechByte: number | undefined;
  private latencySent = false;
  private pumpWaiter: (() => void) | undefined;
  private stageFailure: StageError | undefined;
  private stopped = false;
  /** What the caller heard, set by a truncate that came before the response ended. */
  heardOverride: string | undefined;

  constructor(
    readonly responseId: string,
    readonly itemId: string,
    private readonly llm: LlmProvider,
    private readonly tts: TtsProvider,
    private readonly stageTimeoutMs: number,
    private readonly output: ResponseOutput,
    private readonly timing: ResponseTiming,
  ) {}

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  /** Cancelled from outside (barge-in, a superseding turn), not failed. */
  get cancelled(): boolean {
    return this.stopped;
  }

  private get halted(): boolean {
    return this.abort.signal.aborted;
  }

  /** Whether any audio of this response has left the engine. */
  get hasAudio(): boolean {
    return this.emittedMs > 0;
  }

  cancel(): void {
    this.stopped = true;
    if (!this.abort.signal.aborted) this.abort.abort();
    this.pumpWaiter?.();
  }

  async run(request: Omit<LlmRequest, 'signal'>): Promise<ResponseOutcome> {
    const splitter = new SentenceSplitter();
    const toolCalls: LlmToolCall[] = [];
    let result: LlmResult = {};
    // The model must start answering (a token or a tool call) within the stage time; a long answer may stream longer.
    const llmTimer = this.stageTimer('llm', this.llm.name);
    try {
      const answer = this.llm.respond(
        { ...request, signal: this.abort.signal },
        {
          onText: (delta) => {
            if (this.halted) return;
            llmTimer.clear();
            this.firstToken ??= performance.now();
            for (const s of splitter.push(delta)) this.speak(s);
          },
          onToolCall: (call) => {
            llmTimer.clear();
            toolCalls.push(call);
          },
        },
      );
      result = await this.untilHalted(answer);
      llmTimer.clear();
      const rest = splitter.flush();
      if (rest && !this.halted) this.speak(rest);
      await this.drain();
    } catch (err) {
      llmTimer.clear();
      this.cancelInFlight();
      if (this.cancelled) return this.outcome('cancelled', toolCalls, result);
      const error =
        this.stageFailure ??
        (err instanceof StageError ? err : new StageError('llm', this.llm.name, (err as Error).message));
      return { ...this.outcome('failed', toolCalls, result), error };
    }
    if (this.cancelled) return this.outcome('cancelled', toolCalls, result);
    if (this.stageFailure) return { ...this.outcome('failed', toolCalls, result), error: this.stageFailure };
    this.sendLatency();
    return this.outcome('completed', toolCalls, result);
  }

  /** Fails the response (stage timeout) unless cleared within the stage time. */
  private stageTimer(stage: StageError['stage'], provider: string): { clear(): void } {
    const timer = setTimeout(() => {
      if (this.halted) return;
      this.stageFailure ??= new StageError(stage, provider, `no answer within ${this.stageTimeoutMs} ms`);
      this.cancelInFlight();
      this.pumpWaiter?.();
    }, this.stageTimeoutMs);
    return { clear: () => clearTimeout(timer) };
  }

  /** `work`, or a rejection as soon as the response is halted (a provider that ignores its signal cannot hold the turn). */
  private untilHalted<T>(work: Promise<T>): Promise<T> {
    if (this.halted) return Promise.reject(new Error('halted'));
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => reject(new Error('halted'));
      this.abort.signal.addEventListener('abort', onAbort, { once: true });
      work.then(resolve, reject).finally(() => this.abort.signal.removeEventListener('abort', onAbort));
    });
  }

  /** The text of the first `heardMs` of this response's audio (whole words, in proportion within a sentence). */
  heardText(heardMs: number): string {
    const parts: string[] = [];
    for (const s of this.sentences) {
      if (s.emittedMs === 0 || heardMs <= s.startedMs) break;
      const playedMs = heardMs - s.startedMs;
      if (playedMs >= s.emittedMs && s.done) {
        parts.push(s.text);
        continue;
      }
      const words = s.text.split(/\s+/);
      // A sentence still arriving: its length is estimated from the speaking rate of the finished ones.
      const totalMs = s.done ? s.emittedMs : Math.max(s.emittedMs, s.text.length * this.msPerChar());
      const fraction = Math.min(1, playedMs / Math.max(1, totalMs));
      const count = Math.floor(words.length * fraction);
      if (count > 0) parts.push(words.slice(0, count).join(' '));
      break;
    }
    return parts.join(' ');
  }

  /** Speaking rate of this response's finished sentences (a typical 65 ms per character before any). */
  private msPerChar(): number {
    let ms = 0;
    let chars = 0;
    for (const s of this.sentences) {
      if (s.done && s.emittedMs > 0) {
        ms += s.emittedMs;
        chars += s.text.length;
      }
    }
    return chars > 0 ? ms / chars : 65;
  }

  private outcome(status: ResponseOutcome['status'], toolCalls: LlmToolCall[], result: LlmResult): ResponseOutcome {
    const text = this.sentences.map((s) => s.text).join(' ');
    return { status, text, toolCalls, result };
  }

  /** Starts speech for one sentence now; its audio waits for the sentences before it. */
  private speak(text: string): void {
    this.sentences.push({ text, chunks: [], done: false, emittedMs: 0, startedMs: 0, audioBytes: 0 });
    this.synthesizeAhead();
  }

  /**
   * Starts speech for the next sentences, at most MAX_SPEECH_IN_FLIGHT at a time: a new sentence
   * goes to speech at once unless that many are still arriving (a model that never stops cannot
   * open a speech request per sentence without bound).
   */
  private synthesizeAhead(): void {
    while (this.synthesized < this.sentences.length && !this.halted) {
      let inFlight = 0;
      for (let i = this.playing; i < this.synthesized; i++) if (!this.sentences[i].done) inFlight++;
      if (inFlight >= MAX_SPEECH_IN_FLIGHT) return;
      this.synthesize(this.sentences[this.synthesized++]);
    }
  }

  private synthesize(sentence: Sentence): void {
    // Speech must start within the stage time; the rest of the sentence may stream at its own pace.
    const timer = this.stageTimer('tts', this.tts.name);
    const job = this.tts.synthesize(sentence.text, this.abort.signal, (chunk) => {
      if (this.halted || chunk.length === 0) return;
      timer.clear();
      this.firstSpeechByte ??= performance.now();
      sentence.chunks.push(chunk);
      sentence.audioBytes += chunk.length;
      this.pump();
    });
    this.untilHalted(job)
      .then(() => {
        // Text that comes back as no audio at all would leave the caller in silence.
        if (sentence.audioBytes === 0) throw new StageError('tts', this.tts.name, 'no audio for a sentence');
      })
      .catch((err: Error) => {
        if (this.halted) return;
        this.stageFailure ??= err instanceof StageError ? err : new StageError('tts', this.tts.name, err.message);
        this.cancelInFlight();
      })
      .finally(() => {
        timer.clear();
        sentence.done = true;
        this.pump();
        this.synthesizeAhead();
      });
  }

  /** Hands on the audio that is next in order. */
  private pump(): void {
    while (this.playing < this.sentences.length && !this.halted) {
      const s = this.sentences[this.playing];
      if (s.chunks.length && s.emittedMs === 0) {
        s.startedMs = this.emittedMs;
        if (!this.started) {
          this.started = true;
          this.output.onStarted();
        }
        this.output.onText(this.playing === 0 ? s.text : ` ${s.text}`);
      }
      for (const chunk of s.chunks) {
        const ms = durationMs(this.tts.outputFormat, chunk.length);
        s.emittedMs += ms;
        this.emittedMs += ms;
        this.output.onAudio(chunk, performance.now());
        this.sendLatency();
        if (this.halted) break;
      }
      s.chunks.length = 0;
      if (!s.done) break;
      this.playing++;
    }
    if (this.playing >= this.sentences.length || this.halted) this.pumpWaiter?.();
  }

  private drain(): Promise<void> {
    if (this.playing >= this.sentences.length || this.halted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.pumpWaiter = () => {
        if (this.playing >= this.sentences.length || this.halted) {
          this.pumpWaiter = undefined;
          resolve();
        }
      };
    });
  }

  private cancelInFlight(): void {
    if (!this.abort.signal.aborted) this.abort.abort();
  }

  private sendLatency(): void {
    if (this.latencySent || this.timing.speechEndAt === undefined) return;
    if (this.emittedMs === 0 && this.firstToken === undefined) return;
    this.latencySent = true;
    const from = this.timing.speechEndAt;
    const since = (t: number | undefined): number | undefined =>
      t === undefined ? undefined : Math.round((t - from) * 10) / 10;
    this.output.onLatency({
      callerItemId: this.timing.callerItemId,
      itemId: this.itemId,
      responseId: this.responseId,
      transcriptMs: since(this.timing.transcriptAt),
      firstTokenMs: since(this.firstToken),
      firstSpeechByteMs: since(this.firstSpeechByte),
      firstAudioMs: this.emittedMs > 0 ? since(performance.now()) : undefined,
    });
  }
}
