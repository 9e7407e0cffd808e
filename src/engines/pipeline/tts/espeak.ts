/**
 * Local speech with espeak-ng (+ sox to 8 kHz mu-law), no account and no network; a synthetic
 * voice when they are not installed. Whole sentences, handed on in 100 ms pieces.
 */
import { PCMU_8K } from '../../../conversation/audio-format';
import { synthesize } from '../../../simulators/tts';
import { StageError, type TtsProvider } from '../providers';

const PIECE_BYTES = 800;

export class EspeakTts implements TtsProvider {
  readonly name = 'espeak';
  readonly outputFormat = PCMU_8K;

  async synthesize(text: string, signal: AbortSignal, onAudio: (chunk: Buffer) => void): Promise<void> {
    let audio: Buffer;
    try {
      audio = await synthesize(text, { format: 'pcmu', engine: 'auto' });
    } catch (err) {
      throw new StageError('tts', this.name, (err as Error).message);
    }
    for (let i = 0; i < audio.length && !signal.aborted; i += PIECE_BYTES) {
      onAudio(audio.subarray(i, Math.min(audio.length, i + PIECE_BYTES)));
    }
  }
}
