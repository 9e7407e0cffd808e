import { splitHeardText } from '../../src/conversation/transcript-split';

describe('splitHeardText', () => {
  const text = 'Your order ships tomorrow and arrives on Friday afternoon.';

  it('keeps everything when all audio was heard', () => {
    expect(splitHeardText(text, 3000, 3000)).toEqual({ heard: text, unheard: '' });
  });

  it('marks everything unheard when nothing played', () => {
    expect(splitHeardText(text, 0, 3000)).toEqual({ heard: '', unheard: text });
  });

  it('splits proportionally at a word boundary', () => {
    const { heard, unheard } = splitHeardText(text, 1500, 3000);
    expect(`${heard} ${unheard}`).toBe(text);
    expect(heard).toBe('Your order ships tomorrow and');
    expect(unheard).toBe('arrives on Friday afternoon.');
  });

  it('never splits inside a word', () => {
    for (let ms = 1; ms < 3000; ms += 37) {
      const { heard, unheard } = splitHeardText(text, ms, 3000);
      const words = text.split(' ');
      expect(heard === '' || words.slice(0, heard.split(' ').length).join(' ') === heard).toBe(true);
      expect([heard, unheard].filter(Boolean).join(' ')).toBe(text);
    }
  });
});
