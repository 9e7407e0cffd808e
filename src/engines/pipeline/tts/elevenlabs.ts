/**
 * ElevenLabs-compatible streaming speech: POST {base}/v1/text-to-speech/{voice_id}/stream
 * ?output_format=ulaw_8000 with `xi-api-key` and {"text", "model_id"}; the body streams raw
 * G.711 mu-law at 8 kHz, which telephony channels take untouched.
 */
import { PCMU_8K } from '../../../conversation/audio-format';
import { StageError, type TtsProvider } from '../providers';

export interface ElevenLabsOptions {
  url: string;
  apiKey: string;
  voiceId: string;
  model: string;
}

export class ElevenLabsTts implements TtsProvider {
  readonly name = 'elevenlabs';
  readonly outputFormat = PCMU_8K;

  constructor(private readonly options: ElevenLabsOptions) {}

  async synthesize(text: string, signal: AbortSignal, onAudio: (chunk: Buffer) => void): Promise<void> {
    const url = `${this.options.url}/v1/text-to-speech/${encodeURIComponent(this.options.voiceId)}/stream?output_format=ulaw_8000`;
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'xi-api-key': this.options.apiKey, accept: 'audio/basic' },
      body: JSON.stringify({ text, model_id: this.options.model }),
      signal,
    });
    if (!res.ok || !res.body) {
      await res.body?.cancel().catch(() => undefined);
      throw new StageError('tts', this.name, `HTTP ${res.status}`);
    }
    for await (const piece of res.body as unknown as AsyncIterable<Uint8Array>) {
      if (piece.length) onAudio(Buffer.from(piece));
    }
  }
}
