import { PCM16_16K, PCMU_8K } from '../../src/conversation/audio-format';
import { EnergyVad, frameRms, thresholdToRms } from '../../src/engines/pipeline/vad';
import { SentenceSplitter } from '../../src/engines/pipeline/sentences';
import { grammarFor } from '../../src/engines/pipeline/stt/pocketsphinx';
import { synthesizeTone } from '../../src/simulators/tts';

describe('sentence splitter', () => {
  it('cuts a token stream at sentence ends, as soon as the end arrives', () => {
    const s = new SentenceSplitter();
    const out: string[] = [];
    for (const token of ['Hello', ' there', '. How', ' are you', '? I', ' am', ' fine', '!'])
      out.push(...s.push(token));
    expect(out).toEqual(['Hello there.', 'How are you?']);
    expect(s.flush()).toBe('I am fine!');
  });

  it('does not cut at decimals, abbreviations or a very short piece', () => {
    const s = new SentenceSplitter();
    expect(s.push('It costs 3.50 dollars, Dr. Smith said. Ok. Then we go on. ')).toEqual([
      'It costs 3.50 dollars, Dr. Smith said.',
      'Ok. Then we go on.',
    ]);
  });

  it('cuts a very long sentence at a comma or a space', () => {
    const s = new SentenceSplitter(8, 40);
    const out = s.push('one two three four five, six seven eight nine ten eleven twelve thirteen');
    expect(out[0]).toBe('one two three four five,');
    expect(out.every((p) => p.length <= 40)).toBe(true);
  });
});

describe('energy VAD', () => {
  it('maps the threshold to a level like server_vad (0.5 → -35 dBFS)', () => {
    expect(20 * Math.log10(thresholdToRms(0.5))).toBeCloseTo(-35, 5);
  });

  it('finds speech in mu-law and PCM16 and ends it after the silence time', () => {
    for (const format of [PCMU_8K, PCM16_16K]) {
      const vad = new EnergyVad(format, { threshold: 0.5, silenceMs: 200 });
      const voice = format === PCMU_8K ? synthesizeTone('aaaa', 'pcmu').subarray(0, 160) : Buffer.alloc(640);
      if (format !== PCMU_8K)
        for (let i = 0; i < 320; i++) voice.writeInt16LE(Math.round(8000 * Math.sin(i / 3)), i * 2);
      const silence = Buffer.alloc(voice.length, format === PCMU_8K ? 0xff : 0);
      expect(frameRms(silence, format)).toBe(0);
      const events = [];
      for (let i = 0; i < 5; i++) events.push(vad.push(voice, 20));
      for (let i = 0; i < 12; i++) events.push(vad.push(silence, 20));
      expect(events.filter(Boolean)).toEqual(['start', 'stop']);
      expect(events.indexOf('start')).toBe(2); // 60 ms of speech
      expect(events.indexOf('stop')).toBe(5 + 9); // 200 ms of silence
    }
  });
});

describe('local recognizer grammar', () => {
  it('accepts only plain words (nothing of the input reaches the grammar syntax)', () => {
    expect(grammarFor(['Hello', 'balance;', '<evil>', 'hello', "don't"])).toBe(
      "#JSGF V1.0;\ngrammar words;\npublic <utterance> = ( hello | balance | evil | don't )+ ;\n",
    );
  });
});
