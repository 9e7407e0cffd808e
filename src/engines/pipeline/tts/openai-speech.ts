/**
 * OpenAI-compatible speech: POST {url} {"model", "input", "voice", "response_format": "pcm"}
 * streams raw 24 kHz 16-bit little-endian mono PCM as it is generated (the API has no G.711 out;
 * the core converts once, at the seam). Chunks are handed on whole samples only.
 */
import { PCM16_24K } from '../../../conversation/audio-format';
import { StageError, type TtsProvider } from '../providers';

export interface OpenAiSpeechOptions {
  url: string;
  apiKey: string;
  model: string;
  voice: string;
}

export class OpenAiSpeechTts implements TtsProvider {
  readonly name = 'openai-speech';
  readonly outputFormat = PCM16_24K;

  constructor(private readonly options: OpenAiSpeechOptions) {}

  async synthesize(text: string, signal: AbortSignal, onAudio: (chunk: Buffer) => void): Promise<void> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey}`;
    const res = await fetch(this.options.url, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        model: this.options.model,
        input: text,
        voice: this.options.voice,
        response_format: 'pcm',
      }),
      signal,
    });
    if (!res.ok || !res.body) {
      await res.body?.cancel().catch(() => undefined);
      throw new StageError('tts', this.name, `HTTP ${res.status}`);
    }
    let odd: Buffer | undefined;
    for await (const piece of res.body as unknown as AsyncIterable<Uint8Array>) {
      let chunk = Buffer.from(piece);
      if (odd) {
        chunk = Buffer.concat([odd, chunk]);
        odd = undefined;
      }
      if (chunk.length % 2) {
        odd = chunk.subarray(chunk.length - 1);
        chunk = chunk.subarray(0, chunk.length - 1);
      }
      if (chunk.length) onAudio(chunk);
    }
  }
}
