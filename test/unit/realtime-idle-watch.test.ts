/**
 * The Realtime client's stall detection (src/engines/realtime/idle-watch.ts): a server silent for
 * idleMs during a response is reported; between responses it is not, and no timer runs. The
 * client's own test (realtime-client.test.ts, "goes silent during a response") drives it over a
 * real socket; here each rule on jest's fake clock.
 */
import { ResponseIdleWatch } from '../../src/engines/realtime/idle-watch';

describe('ResponseIdleWatch', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  function watch(idleMs: number | undefined): { w: ResponseIdleWatch; stalls: number[] } {
    const stalls: number[] = [];
    const w = new ResponseIdleWatch(idleMs, (silentMs) => stalls.push(silentMs));
    return { w, stalls };
  }

  it('reports a server silent for idleMs after a response.create, and not before', () => {
    const { w, stalls } = watch(400);
    w.sent({ type: 'response.create' });
    jest.advanceTimersByTime(300);
    expect(stalls).toEqual([]);
    jest.advanceTimersByTime(100);
    expect(stalls).toHaveLength(1);
    expect(stalls[0]).toBeGreaterThanOrEqual(400);
    w.stop();
  });

  it('counts silence from the last server message while a response streams', () => {
    const { w, stalls } = watch(400);
    w.sent({ type: 'response.create' });
    w.messageReceived();
    w.serverEvent('response.created');
    for (let i = 0; i < 10; i++) {
      jest.advanceTimersByTime(200);
      w.messageReceived();
    }
    expect(stalls).toEqual([]);
    jest.advanceTimersByTime(400);
    expect(stalls).toHaveLength(1);
    w.stop();
  });

  it('stops watching when the response ends, fails or the socket is new', () => {
    for (const end of [
      (w: ResponseIdleWatch) => w.serverEvent('response.done'),
      (w: ResponseIdleWatch) => w.serverEvent('error'),
      (w: ResponseIdleWatch) => w.reset(),
    ]) {
      const { w, stalls } = watch(400);
      w.sent({ type: 'response.create' });
      end(w);
      jest.advanceTimersByTime(2000);
      expect(stalls).toEqual([]);
      // The timer itself is gone too (a quiet server between turns costs nothing).
      expect(jest.getTimerCount()).toBe(0);
    }
  });

  it('ignores other client events, and never watches without an idle timeout', () => {
    const some = watch(400);
    some.w.sent({ type: 'input_audio_buffer.clear' });
    jest.advanceTimersByTime(2000);
    expect(some.stalls).toEqual([]);
    const none = watch(undefined);
    none.w.sent({ type: 'response.create' });
    jest.advanceTimersByTime(10_000);
    expect(none.stalls).toEqual([]);
    expect(jest.getTimerCount()).toBe(0);
  });
});
