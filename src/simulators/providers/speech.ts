/**
 * Fake speech endpoints:
 * - OpenAI-compatible: POST …/audio/speech {"model", "input", "voice", "response_format": "pcm"} →
 *   raw 24 kHz PCM16 (wav/mp3 and others are refused with 400, as this fake only makes PCM).
 * - ElevenLabs-compatible: POST /v1/text-to-speech/{voice}/stream?output_format=ulaw_8000 (key in
 *   `xi-api-key`) → raw mu-law 8 kHz.
 * The audio is the synthetic voice (60 ms per character), streamed in 100 ms pieces.
 */
import type http from 'node:http';
import { synthesizeTone } from '../tts';
import { delay, sendError, type Fault } from './http-util';

export interface SpeechFakeOptions {
  firstByteDelayMs?: number;
  /** Time between 100 ms pieces (default 0: as fast as possible). */
  pieceIntervalMs?: number;
  faults?: Fault[];
}

/** Synthesized sentences, kept (bounded) so a benchmark's fake spends its CPU on the wire, not on sine waves. */
const cache = new Map<string, Buffer>();

function toneFor(text: string, format: 'pcmu' | 'pcm16-24k'): Buffer {
  const key = `${format}|${text}`;
  let audio = cache.get(key);
  if (!audio) {
    audio = synthesizeTone(text, format);
    cache.set(key, audio);
    if (cache.size > 200) cache.delete(cache.keys().next().value as string);
  }
  return audio;
}

export async function handleSpeech(
  text: string,
  format: 'pcmu' | 'pcm16-24k',
  res: http.ServerResponse,
  options: SpeechFakeOptions,
  fault: Fault | undefined,
): Promise<void> {
  if (fault?.hang) return;
  if (fault?.status) return sendError(res, fault.status, 'injected fault');
  if (!text.trim()) return sendError(res, 400, 'input is empty');
  const audio = toneFor(text.slice(0, 4096), format);
  const piece = format === 'pcmu' ? 800 : 4800;
  res.writeHead(200, {
    'content-type': format === 'pcmu' ? 'audio/basic' : 'audio/pcm',
    'transfer-encoding': 'chunked',
  });
  await delay(options.firstByteDelayMs ?? 0);
  for (let i = 0, n = 0; i < audio.length; i += piece, n++) {
    if (res.destroyed) return;
    if (fault?.dropAfter !== undefined && n >= fault.dropAfter) {
      res.destroy();
      return;
    }
    res.write(audio.subarray(i, i + piece));
    if (options.pieceIntervalMs) await delay(options.pieceIntervalMs);
  }
  res.end();
}
