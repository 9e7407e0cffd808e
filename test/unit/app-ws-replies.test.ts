import { ReplyAudioStore } from '../../src/channels/app-ws/reply-audio';
import { classifyIntent } from '../../src/channels/app-ws/intent';
import { parseWavHeader } from '../../src/audio/wav-header';

describe('orchestrator reply audio store', () => {
  test('keeps a reply as a 16 kHz mono WAV until its time is up', () => {
    let now = 1_000_000;
    const store = new ReplyAudioStore(5 * 60_000, 1024 * 1024, () => now);
    const id = store.put(Buffer.alloc(3200, 1), 16000);
    expect(id).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(parseWavHeader(store.get(id)!)).toMatchObject({ sampleRateHz: 16000, channels: 1, dataBytes: 3200 });
    now += 5 * 60_000 - 1;
    expect(store.get(id)).toBeDefined();
    now += 1;
    expect(store.get(id)).toBeUndefined();
    expect(store.size).toBe(0);
  });

  test('is bounded in bytes: the oldest replies go first', () => {
    const store = new ReplyAudioStore(60_000, 10_000);
    const ids = [1, 2, 3, 4].map(() => store.put(Buffer.alloc(3000), 16000));
    expect(store.get(ids[0])).toBeUndefined();
    expect(store.get(ids[3])).toBeDefined();
    expect(store.size).toBe(3);
  });
});

describe('orchestrator intent labels', () => {
  test.each([
    ['Where is my package?', 'order_status'],
    ['I want a refund for this charge', 'billing'],
    ['Let me talk to a real person', 'human_agent'],
    ['Hello there', 'greeting'],
    ['Okay, goodbye', 'goodbye'],
    ['How does this work', 'question'],
    ['The sky is blue', 'statement'],
    ['', 'none'],
  ])('%s → %s', (text, intent) => {
    expect(classifyIntent(text)).toBe(intent);
  });
});
