/**
 * OpenAI Realtime transcription session: `{url}` (…/v1/realtime?intent=transcription) with
 * `Authorization: Bearer KEY`, then `session.update` {session: {type: "transcription", audio: {input:
 * {format: audio/pcmu, transcription: {model}, turn_detection: null}}}}. Turn detection is ours (the
 * engine's VAD): audio of an utterance (with 300 ms before its start) is appended with
 * `input_audio_buffer.append`, and `input_audio_buffer.commit` at its end brings
 * `conversation.item.input_audio_transcription.delta` / `.completed` (or `.failed`) for that item.
 */
import WebSocket from 'ws';
import { PCMU_8K } from '../../../conversation/audio-format';
import { StageError, type SttCallbacks, type SttProvider, type SttStream } from '../providers';

const PREFIX_BYTES = 2400; // 300 ms of mu-law

export interface OpenAiTranscriptionOptions {
  url: string;
  apiKey: string;
  model: string;
  connectTimeoutMs: number;
  /** ISO-639-1 code of the caller's language; absent: the model detects it. */
  language?: string;
}

interface ServerEvent {
  type?: string;
  item_id?: string;
  delta?: string;
  transcript?: string;
  error?: { message?: string; code?: string };
}

export class OpenAiTranscriptionStt implements SttProvider {
  readonly name = 'openai-transcription';
  readonly inputFormat = PCMU_8K;

  constructor(private readonly options: OpenAiTranscriptionOptions) {}

  async open(callbacks: SttCallbacks): Promise<SttStream> {
    const ws = new WebSocket(this.options.url, {
      headers: { authorization: `Bearer ${this.options.apiKey}` },
      handshakeTimeout: this.options.connectTimeoutMs,
      maxPayload: 1 << 20,
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', (err) => reject(new StageError('stt', this.name, `connect failed: ${err.message}`)));
      ws.once('unexpected-response', (_req, res) => {
        reject(new StageError('stt', this.name, `connect refused: HTTP ${res.statusCode ?? 0}`));
        res.resume();
      });
    });
    ws.send(
      JSON.stringify({
        type: 'session.update',
        session: {
          type: 'transcription',
          audio: {
            input: {
              format: { type: 'audio/pcmu' },
              transcription: {
                model: this.options.model,
                ...(this.options.language ? { language: this.options.language } : {}),
              },
              turn_detection: null,
            },
          },
        },
      }),
    );
    return new OpenAiTranscriptionStream(ws, this.name, callbacks);
  }
}

class OpenAiTranscriptionStream implements SttStream {
  private readonly prefix = Buffer.alloc(PREFIX_BYTES, 0xff);
  private prefixFill = 0;
  private speaking = false;
  private appended = 0;
  /** Utterances committed and not yet transcribed, in order. */
  private readonly pending: { itemId?: string; resolve(text: string): void; reject(err: Error): void }[] = [];
  private readonly partial = new Map<string, string>();
  private failed: Error | undefined;
  private closing = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly provider: string,
    private readonly callbacks: SttCallbacks,
  ) {
    ws.on('message', (data, isBinary) => {
      if (!isBinary) this.onMessage(data.toString());
    });
    ws.on('error', () => undefined);
    ws.on('close', (code) => {
      if (!this.closing) this.fail(new StageError('stt', provider, `connection closed (${code})`));
    });
  }

  send(audio: Buffer): void {
    if (this.speaking) {
      this.append(audio);
      return;
    }
    // Keep the last 300 ms, so the start of the word the VAD caught late is sent too.
    if (audio.length >= PREFIX_BYTES) {
      audio.copy(this.prefix, 0, audio.length - PREFIX_BYTES);
      this.prefixFill = PREFIX_BYTES;
      return;
    }
    const keep = Math.min(this.prefixFill, PREFIX_BYTES - audio.length);
    this.prefix.copy(this.prefix, 0, this.prefixFill - keep, this.prefixFill);
    audio.copy(this.prefix, keep);
    this.prefixFill = keep + audio.length;
  }

  speechStarted(): void {
    this.speaking = true;
    if (this.prefixFill) this.append(this.prefix.subarray(0, this.prefixFill));
    this.prefixFill = 0;
  }

  finalize(): Promise<string> {
    this.speaking = false;
    if (this.failed) return Promise.reject(this.failed);
    if (this.appended === 0) return Promise.resolve('');
    this.appended = 0;
    return new Promise<string>((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.ws.send(JSON.stringify({ type: 'input_audio_buffer.commit' }));
    });
  }

  close(): void {
    if (this.closing) return;
    this.closing = true;
    this.ws.close(1000);
    for (const p of this.pending.splice(0)) p.resolve('');
  }

  private append(audio: Buffer): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.appended += audio.length;
    this.ws.send(JSON.stringify({ type: 'input_audio_buffer.append', audio: audio.toString('base64') }));
  }

  private onMessage(text: string): void {
    let ev: ServerEvent;
    try {
      ev = JSON.parse(text) as ServerEvent;
    } catch {
      return;
    }
    switch (ev.type) {
      case 'input_audio_buffer.committed': {
        const waiting = this.pending.find((p) => p.itemId === undefined);
        if (waiting && ev.item_id) waiting.itemId = ev.item_id;
        break;
      }
      case 'conversation.item.input_audio_transcription.delta': {
        if (!ev.item_id) break;
        const sofar = (this.partial.get(ev.item_id) ?? '') + (ev.delta ?? '');
        this.partial.set(ev.item_id, sofar);
        this.callbacks.onPartial?.(sofar);
        break;
      }
      case 'conversation.item.input_audio_transcription.completed':
        this.settle(ev.item_id, (p) => p.resolve((ev.transcript ?? '').trim()));
        break;
      case 'conversation.item.input_audio_transcription.failed':
        this.settle(ev.item_id, (p) =>
          p.reject(new StageError('stt', this.provider, ev.error?.message ?? 'transcription failed')),
        );
        break;
      case 'error':
        // A commit of an empty buffer: nothing was said.
        if (ev.error?.code === 'input_audio_buffer_commit_empty') this.settle(undefined, (p) => p.resolve(''));
        break;
      default:
        break;
    }
  }

  private settle(itemId: string | undefined, fn: (p: (typeof this.pending)[number]) => void): void {
    const index = itemId ? this.pending.findIndex((p) => p.itemId === itemId) : 0;
    if (index < 0 || !this.pending[index]) return;
    if (itemId) this.partial.delete(itemId);
    fn(this.pending.splice(index, 1)[0]);
  }

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = err;
    for (const p of this.pending.splice(0)) p.reject(err);
    this.callbacks.onError(err);
  }
}
