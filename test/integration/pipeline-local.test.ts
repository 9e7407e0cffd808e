/**
 * The local recognizer (pocketsphinx, no account): a known spoken WAV gives back its words, and a
 * whole offline turn (local recognizer → local model → espeak-ng) transcribes the caller.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PCM16_16K, PCMU_8K } from '../../src/conversation/audio-format';
import type { ResponseSummary } from '../../src/conversation/engine';
import { grammarFor, recognize } from '../../src/engines/pipeline/stt/pocketsphinx';
import { writeFile } from 'node:fs/promises';
import { buildEngine, feed, named, until } from '../helpers/pipeline';

const SENTENCE = 'please check my account balance';
const WORDS = 'please,check,my,account,balance,hello,i,need,help,with,billing,yes,no,thank,you';

let dir: string;
let wav: string;

function requireTool(name: string): void {
  try {
    execFileSync('which', [name], { stdio: 'ignore' });
  } catch {
    throw new Error(
      `${name} is not installed (apt-get install pocketsphinx pocketsphinx-en-us espeak-ng sox; .ci/run does it)`,
    );
  }
}

beforeAll(() => {
  for (const tool of ['pocketsphinx_continuous', 'espeak-ng', 'sox']) requireTool(tool);
  dir = mkdtempSync(join(tmpdir(), 'pipeline-local-'));
  // The known spoken WAV: espeak-ng's voice, 16 kHz mono 16-bit.
  const raw = join(dir, 'espeak.wav');
  wav = join(dir, 'speech.wav');
  execFileSync('espeak-ng', ['-w', raw, SENTENCE]);
  execFileSync('sox', [raw, '-r', '16000', '-c', '1', '-b', '16', '-e', 'signed', wav]);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The PCM samples of a 16-bit WAV (its data chunk). */
function pcmOf(file: string): Buffer {
  const bytes = readFileSync(file);
  const data = bytes.indexOf('data', 12);
  return bytes.subarray(data + 8, data + 8 + bytes.readUInt32LE(data + 4));
}

describe('local recognizer', () => {
  it('finds the words of a known spoken WAV (grammar of the expected vocabulary)', async () => {
    const grammar = join(dir, 'words.gram');
    await writeFile(grammar, grammarFor(WORDS.split(',')));
    const text = await recognize(pcmOf(wav), grammar);
    const heard = text.split(' ');
    for (const word of ['please', 'check', 'account']) expect(heard).toContain(word);
  });

  it('answers a whole offline turn: local recognizer → local model → espeak-ng, transcript with the spoken words', async () => {
    const { engine, rec } = buildEngine({
      PIPELINE_STT: 'local',
      PIPELINE_LLM: 'local',
      PIPELINE_TTS: 'espeak',
      PIPELINE_LOCAL_STT_WORDS: WORDS,
    });
    expect(engine.inputFormat).toEqual(PCM16_16K);
    expect(engine.outputFormat).toEqual(PCMU_8K);
    await engine.start();
    await feed(engine, pcmOf(wav), PCM16_16K, 600);
    await until(() => named(rec, 'response-done').length === 1, 20_000, 'answer');
    const transcript = named(rec, 'caller-transcript')[0][1] as string;
    expect(transcript).toMatch(/please/);
    expect(transcript).toMatch(/account/);
    const answer = named(rec, 'response-done')[0][0] as ResponseSummary;
    expect(answer.items[0].transcript).toBe(`You said: ${transcript}. How else can I help?`);
    expect(rec.audioBytes.get(answer.items[0].itemId)!).toBeGreaterThan(8000);
    engine.close();
  });
});
