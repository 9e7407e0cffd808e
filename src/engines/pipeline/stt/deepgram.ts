/**
 * Deepgram-compatible live transcription over a WebSocket:
 *   {url}?model=..&encoding=mulaw&sample_rate=8000&channels=1&interim_results=true&punctuate=true
 * with `Authorization: Token KEY`; caller audio goes up as binary messages, `Results` messages
 * come back (`channel.alternatives[0].transcript`, `is_final`, `speech_final`, `from_finalize`).
 * At the end of a turn the engine sends `{"type":"Finalize"}`: the server flushes what it holds and
 * marks that result `from_finalize`; the finals since the previous turn make the transcript.
 * `{"type":"CloseStream"}` ends the session.
 */
import WebSocket from 'ws';
import { PCMU_8K } from '../../../conversation/audio-format';
import { StageError, type SttCallbacks, type SttProvider, type SttStream } from '../providers';

export interface DeepgramOptions {
  url: string;
  apiKey: string;
  model: string;
  connectTimeoutMs: number;
  /** BCP-47 tag of the caller's language (`language=`); absent: the model's default. */
  language?: string;
}

interface ResultsMessage {
  type?: string;
  is_final?: boolean;
  speech_final?: boolean;
  from_finalize?: boolean;
  channel?: { alternatives?: { transcript?: string }[] };
  description?: string;
}

export class DeepgramStt implements SttProvider {
  readonly name = 'deepgram';
  readonly inputFormat = PCMU_8K;

  constructor(private readonly options: DeepgramOptions) {}

  async open(callbacks: SttCallbacks): Promise<SttStream> {
    const url = new URL(this.options.url);
    const params = {
      model: this.options.model,
      encoding: 'mulaw',
      sample_rate: '8000',
      channels: '1',
      interim_results: 'true',
      punctuate: 'true',
      ...(this.options.language ? { language: this.options.language } : {}),
    };
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    const ws = new WebSocket(url, {
      headers: this.options.apiKey ? { authorization: `Token ${this.options.apiKey}` } : {},
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
    return new DeepgramStream(ws, this.name, callbacks);
  }
}

class DeepgramStream implements SttStream {
  private finals: string[] = [];
  private waiting: { resolve(text: string): void; reject(err: Error): void }[] = [];
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
      if (this.closing) return;
      this.fail(new StageError('stt', provider, `connection closed (${code})`));
    });
  }

  send(audio: Buffer): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(audio);
  }

  speechStarted(): void {}

  finalize(): Promise<string> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise<string>((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.ws.send(JSON.stringify({ type: 'Finalize' }));
    });
  }

  close(): void {
    if (this.closing) return;
    this.closing = true;
    if (this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ type: 'CloseStream' }));
      this.ws.close(1000);
    } else {
      this.ws.terminate();
    }
    for (const w of this.waiting.splice(0)) w.resolve('');
  }

  private onMessage(text: string): void {
    let msg: ResultsMessage;
    try {
      msg = JSON.parse(text) as ResultsMessage;
    } catch {
      return;
    }
    if (msg.type === 'Error') {
      this.fail(new StageError('stt', this.provider, msg.description ?? 'error message'));
      return;
    }
    if (msg.type !== 'Results') return;
    const transcript = msg.channel?.alternatives?.[0]?.transcript?.trim() ?? '';
    if (!msg.is_final) {
      if (transcript) this.callbacks.onPartial?.([...this.finals, transcript].join(' '));
      return;
    }
    if (transcript) this.finals.push(transcript);
    if (msg.from_finalize && this.waiting.length) {
      const text = this.finals.join(' ');
      this.finals = [];
      this.waiting.shift()?.resolve(text);
    }
  }

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = err;
    for (const w of this.waiting.splice(0)) w.reject(err);
    this.callbacks.onError(err);
  }
}
