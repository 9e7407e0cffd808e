import { EndedCalls } from '../../src/calls/ended-calls';

describe('EndedCalls', () => {
  it('keeps an ended call for its status callback, and only its id and final status', () => {
    const ended = new EndedCalls();
    ended.remember('CA1', { id: 'c1', status: 'completed' });
    expect(ended.get('CA1')).toEqual({ id: 'c1', status: 'completed' });
    expect(ended.get('CA2')).toBeUndefined();
  });

  it('forgets an entry after its time to live', () => {
    let now = 1_000;
    const ended = new EndedCalls(60_000, 100, () => now);
    ended.remember('CA1', { id: 'c1', status: 'completed' });
    now += 60_000;
    expect(ended.get('CA1')).toEqual({ id: 'c1', status: 'completed' });
    now += 1;
    expect(ended.get('CA1')).toBeUndefined();
    expect(ended.size).toBe(0);
  });

  it('holds at most `max` entries, dropping the oldest, and old ones as new ones come', () => {
    let now = 0;
    const ended = new EndedCalls(1_000, 3, () => now);
    for (let i = 1; i <= 5; i++) ended.remember(`CA${i}`, { id: `c${i}`, status: 'completed' });
    expect(ended.size).toBe(3);
    expect(['CA1', 'CA2', 'CA3', 'CA4', 'CA5'].map((sid) => ended.get(sid)?.id)).toEqual([
      undefined,
      undefined,
      'c3',
      'c4',
      'c5',
    ]);
    now = 1_500;
    ended.remember('CA6', { id: 'c6', status: 'failed' });
    expect(ended.size).toBe(1);
    // Remembered again: the newest, not evicted before older ones.
    ended.remember('CA7', { id: 'c7', status: 'completed' });
    ended.remember('CA6', { id: 'c6', status: 'failed' });
    ended.remember('CA8', { id: 'c8', status: 'completed' });
    ended.remember('CA9', { id: 'c9', status: 'completed' });
    expect(ended.get('CA6')?.id).toBe('c6');
    expect(ended.get('CA7')).toBeUndefined();
  });
});
