/**
 * The cascaded engine's link to its transcriber: opens the provider's stream, hands it the caller's
 * audio, asks for each utterance's final transcript (within the stage time), and when the
 * connection fails, reports it once and makes a new one in the background (backoff 200 ms .. 3.2 s,
 * 5 attempts) while agent audio goes on. Turns that end while it is down fail fast; when every
 * attempt failed, the engine gives up (the core ends the call with its fallback).
 */
import type { Logger } from '../../logging/logger';
import { StageError, withTimeout, type SttProvider, type SttStream } from './providers';

const MAX_ATTEMPTS = 5;

export class SttConnection {
  private stream: SttStream | undefined;
  private lost: StageError | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly provider: SttProvider,
    private readonly timeoutMs: number,
    private readonly log: { logger: Logger; callId: string },
    private readonly onLost: (error: StageError) => void,
    /** Every attempt to reconnect failed: the call cannot hear the caller any more. */
    private readonly onGaveUp: (reason: string, attempts: number) => void = () => undefined,
  ) {}

  async open(): Promise<void> {
    const holder: { stream?: SttStream } = {};
    holder.stream = await withTimeout(
      this.provider.open({ onPartial: () => undefined, onError: (err) => this.fail(holder.stream, err) }),
      this.timeoutMs,
      'stt',
      this.provider.name,
    );
    if (this.closed) {
      holder.stream.close();
      return;
    }
    this.stream = holder.stream;
    this.lost = undefined;
  }

  get ready(): boolean {
    return this.stream !== undefined;
  }

  send(audio: Buffer): void {
    if (!this.lost) this.stream?.send(audio);
  }

  speechStarted(): void {
    if (!this.lost) this.stream?.speechStarted();
  }

  /** The final transcript of the utterance that just ended. */
  finalize(): Promise<string> {
    if (this.lost) return Promise.reject(this.lost);
    if (!this.stream) return Promise.resolve('');
    return withTimeout(this.stream.finalize(), this.timeoutMs, 'stt', this.provider.name);
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.stream?.close();
  }

  private fail(stream: SttStream | undefined, err: Error): void {
    if (this.closed || (stream && stream !== this.stream) || this.lost) return;
    this.lost = err instanceof StageError ? err : new StageError('stt', this.provider.name, err.message);
    this.onLost(this.lost);
    this.stream?.close();
    this.reconnect(1);
  }

  private reconnect(attempt: number): void {
    if (this.closed) return;
    if (attempt > MAX_ATTEMPTS) {
      this.onGaveUp(
        `transcriber (${this.provider.name}) unreachable: ${this.lost?.message ?? 'unknown'}`,
        MAX_ATTEMPTS,
      );
      return;
    }
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.open().then(
          () => this.log.logger.info('pipeline transcriber reconnected', { callId: this.log.callId, attempt }),
          () => this.reconnect(attempt + 1),
        );
      },
      Math.min(3200, 100 * 2 ** attempt),
    );
  }
}
