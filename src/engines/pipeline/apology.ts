/**
 * What the caller hears when a stage fails mid-turn: a short apology, spoken by the local voice
 * (espeak-ng, else a synthetic voice), so a failing speech provider cannot also silence it.
 */
import { PCM16_24K, sameFormat, type AudioFormat } from '../../conversation/audio-format';
import { synthesize } from '../../simulators/tts';

export const APOLOGY_TEXT = "Sorry, I'm having trouble right now. Could you say that again?";

/** The apology in `format` (mu-law 8 kHz or PCM16 24 kHz, the formats the speech providers give). */
export function apologyAudio(format: AudioFormat): Promise<Buffer> {
  return synthesize(APOLOGY_TEXT, { format: sameFormat(format, PCM16_24K) ? 'pcm16-24k' : 'pcmu' });
}
