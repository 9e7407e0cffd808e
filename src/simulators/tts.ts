/**
 * Speech synthesis for the simulators: real speech with espeak-ng + sox when installed, otherwise a
 * voiced synthetic waveform (harmonics under a syllable-rate envelope). Output is raw audio with no
 * header: G.711 mu-law 8 kHz ('pcmu') or PCM16 little-endian 24 kHz ('pcm16-24k').
 *
 * Results are cached per engine + format + text (bounded), so a test or a load run that repeats
 * the same phrases starts each process once. Child processes get the text on stdin, through the
 * launcher (src/runtime/launcher.ts).
 */
import { mulaw } from 'alawmulaw';
import { launcher } from '../runtime/launcher';

export type TtsFormat = 'pcmu' | 'pcm16-24k';
export type TtsEngine = 'espeak' | 'tone' | 'auto';

export interface SynthesizeOptions {
  format: TtsFormat;
  /** Default 'auto': espeak-ng + sox when both are installed, else 'tone'. */
  engine?: TtsEngine;
  /** espeak-ng voice. Default 'en-us'. */
  voice?: string;
  /** espeak-ng words per minute. Default 165. */
  wordsPerMinute?: number;
}

export const TTS_SAMPLE_RATE_HZ: Readonly<Record<TtsFormat, number>> = { pcmu: 8000, 'pcm16-24k': 24000 };
export const TTS_BYTES_PER_MS: Readonly<Record<TtsFormat, number>> = { pcmu: 8, 'pcm16-24k': 48 };
/** Length of 'tone' speech per character of text. */
export const TONE_MS_PER_CHAR = 60;

const CACHE_LIMIT = 256;
const MAX_TEXT_LENGTH = 4000;
const PROCESS_TIMEOUT_MS = 20_000;
const cache = new Map<string, Promise<Buffer>>();
let espeakAvailable: Promise<boolean> | undefined;

/** Duration in ms of raw audio in the given format. */
export function audioDurationMs(audio: Buffer | Uint8Array, format: TtsFormat): number {
  return audio.length / TTS_BYTES_PER_MS[format];
}

/** True when espeak-ng and sox both run on this machine (checked once). */
export function isEspeakAvailable(): Promise<boolean> {
  espeakAvailable ??= Promise.all([canRun('espeak-ng', ['--version']), canRun('sox', ['--version'])]).then(
    ([a, b]) => a && b,
  );
  return espeakAvailable;
}

/** Which engine 'auto' resolves to here. */
export async function resolveTtsEngine(engine: TtsEngine = 'auto'): Promise<'espeak' | 'tone'> {
  if (engine !== 'auto') return engine;
  return (await isEspeakAvailable()) ? 'espeak' : 'tone';
}

/**
 * Speaks `text` as raw audio. Rejects on empty text or when the 'espeak' engine is requested but
 * fails; 'auto' falls back to 'tone' when espeak-ng/sox are missing or fail.
 */
export async function synthesize(text: string, options: SynthesizeOptions): Promise<Buffer> {
  const clean = text.replace(/\s+/g, ' ').trim().slice(0, MAX_TEXT_LENGTH);
  if (!clean) throw new Error('synthesize: text is empty');
  if (options.format !== 'pcmu' && options.format !== 'pcm16-24k') {
    throw new Error(`synthesize: unknown format ${String(options.format)}`);
  }
  const requested = options.engine ?? 'auto';
  const engine = await resolveTtsEngine(requested);
  const voice = options.voice ?? 'en-us';
  const wpm = options.wordsPerMinute ?? 165;
  const key = `${engine}|${options.format}|${voice}|${wpm}|${clean}`;
  const hit = cache.get(key);
  if (hit) {
    cache.delete(key); // refresh LRU position
    cache.set(key, hit);
    return hit;
  }
  let job: Promise<Buffer>;
  if (engine === 'tone') {
    job = Promise.resolve(synthesizeTone(clean, options.format));
  } else {
    job = synthesizeEspeak(clean, options.format, voice, wpm);
    if (requested === 'auto') job = job.catch(() => synthesizeTone(clean, options.format));
  }
  cache.set(key, job);
  job.catch(() => cache.delete(key));
  while (cache.size > CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
  return job;
}

/**
 * espeak-ng --stdout | sox -t wav - <raw target> -, through the launcher (src/runtime/launcher.ts:
 * no fork of this process on its event loop). The text goes on stdin; the voice, rate and sox's
 * arguments as positional parameters (no shell parsing of anything variable).
 */
async function synthesizeEspeak(text: string, format: TtsFormat, voice: string, wpm: number): Promise<Buffer> {
  const soxTarget =
    format === 'pcmu'
      ? ['-r', '8000', '-c', '1', '-e', 'mu-law', '-b', '8', '-t', 'raw', '-']
      : ['-r', '24000', '-c', '1', '-e', 'signed', '-b', '16', '-L', '-t', 'raw', '-'];
  const script = 'v=$1; s=$2; shift 2; espeak-ng --stdout -v "$v" -s "$s" | sox -q -V1 -t wav - "$@"';
  const result = await launcher().run(['sh', '-c', script, 'sh', voice, String(wpm), ...soxTarget], {
    input: text,
    timeoutMs: PROCESS_TIMEOUT_MS,
  });
  if (result.status === 137) throw new Error('synthesize: espeak-ng/sox timed out');
  if (result.status !== 0)
    throw new Error(`synthesize: espeak-ng/sox exited with ${result.status}: ${result.stderr.trim()}`);
  if (result.stdout.length === 0) throw new Error('synthesize: sox produced no audio');
  return result.stdout;
}

/**
 * A voiced synthetic "speech" waveform: a 110–140 Hz glottal-like tone with 1/k harmonics, a
 * syllable-rate (~4 Hz) amplitude envelope, and a short pause at each space. ~60 ms per character.
 */
export function synthesizeTone(text: string, format: TtsFormat): Buffer {
  const rate = TTS_SAMPLE_RATE_HZ[format];
  const samplesPerChar = Math.round((rate * TONE_MS_PER_CHAR) / 1000);
  const total = Math.max(1, text.length) * samplesPerChar;
  const pcm = new Int16Array(total);
  const harmonics = 8;
  let phase = 0;
  for (let i = 0; i < total; i++) {
    const charIndex = Math.floor(i / samplesPerChar);
    const ch = text.charCodeAt(charIndex);
    const t = i / rate;
    // word gaps: spaces and punctuation are near-silent
    const voiced = !(ch === 32 || ch === 44 || ch === 46 || ch === 63 || ch === 33);
    const f0 = 110 + 30 * Math.sin(2 * Math.PI * 0.7 * t) + (ch % 7) * 2;
    phase += (2 * Math.PI * f0) / rate;
    if (phase > 2 * Math.PI * 1000) phase -= 2 * Math.PI * 1000;
    let v = 0;
    for (let k = 1; k <= harmonics; k++) v += Math.sin(k * phase) / k;
    const syllable = 0.35 + 0.65 * Math.abs(Math.sin(Math.PI * 4 * t));
    // 5 ms fades at character edges avoid clicks between voiced and silent characters
    const pos = (i % samplesPerChar) / rate;
    const edge = Math.min(1, pos / 0.005, (TONE_MS_PER_CHAR / 1000 - pos) / 0.005);
    const amp = voiced ? 6000 * syllable * edge : 0;
    pcm[i] = Math.max(-32768, Math.min(32767, Math.round(v * amp)));
  }
  if (format === 'pcmu') return Buffer.from(mulaw.encode(pcm));
  const out = Buffer.alloc(total * 2);
  for (let i = 0; i < total; i++) out.writeInt16LE(pcm[i], i * 2);
  return out;
}

function canRun(command: string, args: string[]): Promise<boolean> {
  return launcher()
    .run([command, ...args], { timeoutMs: 10_000 })
    .then(
      (result) => result.status === 0,
      () => false,
    );
}
