import {
  bcp47Language,
  instructionsWithLanguage,
  parseLanguageHint,
  transcriptionLanguage,
} from '../../src/agent/language';

describe('language hints', () => {
  it('accepts auto and ISO 639 codes with an optional region, nothing else', () => {
    for (const ok of ['auto', 'en', 'pt-BR', 'ar', 'fil', 'zh-Hant']) expect(parseLanguageHint(ok)).toBe(ok);
    for (const bad of ['', 'EN', 'english', 'e', 'en_US', 'en-', '"><x>', 'a'.repeat(17), 42, undefined, null]) {
      expect(parseLanguageHint(bad)).toBeUndefined();
    }
  });

  it('maps to ISO-639-1 for transcription and keeps the tag for BCP-47 providers; auto means none', () => {
    expect(transcriptionLanguage('pt-BR')).toBe('pt');
    expect(transcriptionLanguage('ru')).toBe('ru');
    expect(transcriptionLanguage('fil')).toBeUndefined();
    expect(transcriptionLanguage('auto')).toBeUndefined();
    expect(transcriptionLanguage(undefined)).toBeUndefined();
    expect(transcriptionLanguage('bad!')).toBeUndefined();
    expect(bcp47Language('pt-BR')).toBe('pt-BR');
    expect(bcp47Language('auto')).toBeUndefined();
  });

  it('appends one line naming the language to the instructions', () => {
    expect(instructionsWithLanguage('Be brief.', 'ar')).toBe('Be brief.\n\nThe caller speaks Arabic; answer in it.');
    expect(instructionsWithLanguage('Be brief.', 'auto')).toBe('Be brief.');
    expect(instructionsWithLanguage('Be brief.', null)).toBe('Be brief.');
    expect(instructionsWithLanguage('Be brief.', 'qqq')).toBe('Be brief.\n\nThe caller speaks qqq; answer in it.');
  });
});
