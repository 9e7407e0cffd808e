/**
 * The agent-engine contract: what every AgentEngine must do for the conversation core
 * (src/conversation/engine.ts). An engine's test file calls `describeEngineContract` with a factory
 * that builds one engine against a local fake of its provider(s) and says what caller speech and
 * silence sound like in its input format. Realtime runs it; every new engine runs it too.
 */
import type { AgentEngine, AgentEngineEvents, ConversationTurn, EngineHost } from '../../src/conversation/engine';
import { checkFormat } from '../../src/conversation/audio-seam';
import { bytesPerMs } from '../../src/conversation/audio-format';

export interface EngineUnderTest {
  engine: AgentEngine;
  /** Caller speech its fake provider hears as speech, in the engine's input format. */
  speech(ms: number): Buffer;
  silence(ms: number): Buffer;
  close(): Promise<void>;
}

export interface EngineOptions {
  host: EngineHost;
  greetsFirst: boolean;
}

type Seen = { [K in keyof AgentEngineEvents]?: AgentEngineEvents[K][] };

function record(engine: AgentEngine): { seen: Seen; order: string[] } {
  const seen: Seen = {};
  const order: string[] = [];
  const names: (keyof AgentEngineEvents)[] = [
    'agent-audio',
    'agent-audio-done',
    'agent-text-delta',
    'agent-transcript',
    'response-started',
    'response-done',
    'speech-started',
    'speech-stopped',
    'caller-transcript',
    'error',
    'failed',
  ];
  for (const name of names) {
    engine.on(name, (...args: unknown[]) => {
      ((seen[name] ??= []) as unknown[][]).push(args);
      order.push(name);
    });
  }
  return { seen, order };
}

async function until(predicate: () => boolean, what: string, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Sends audio as 20 ms frames with call times, `paceMs` apart (0: as fast as the loop allows). */
async function sendAudio(engine: AgentEngine, audio: Buffer, fromMs: number, paceMs = 2): Promise<number> {
  const frame = bytesPerMs(engine.inputFormat) * 20;
  let callMs = fromMs;
  for (let o = 0; o < audio.length; o += frame) {
    callMs += 20;
    engine.appendAudio(audio.subarray(o, o + frame), undefined, callMs);
    if (paceMs) await new Promise((r) => setTimeout(r, paceMs));
  }
  return callMs;
}

export function describeEngineContract(name: string, open: (opts: EngineOptions) => Promise<EngineUnderTest>): void {
  describe(`an agent engine (${name}) must`, () => {
    let t: EngineUnderTest | undefined;
    const turns: ConversationTurn[] = [];
    const host: EngineHost = { turns: () => turns, nothingSaidYet: () => turns.length === 0 };
    afterEach(async () => {
      t?.engine.close();
      await t?.close();
      t = undefined;
    });

    it('declare input and output formats the audio seam supports', async () => {
      t = await open({ host, greetsFirst: false });
      expect(() => checkFormat(t!.engine.inputFormat)).not.toThrow();
      expect(() => checkFormat(t!.engine.outputFormat)).not.toThrow();
      expect(typeof t.engine.kind).toBe('string');
    });

    it('greet first when the profile says so: a response with audio in its output format and its transcript', async () => {
      t = await open({ host, greetsFirst: true });
      const { seen, order } = record(t.engine);
      await t.engine.start();
      await until(() => (seen['response-done']?.length ?? 0) >= 1, 'the greeting to end');
      const audio = (seen['agent-audio'] ?? []).map(([, , bytes]) => bytes);
      const total = audio.reduce((n, b) => n + b.length, 0);
      expect(total).toBeGreaterThan(bytesPerMs(t.engine.outputFormat) * 200);
      if (t.engine.outputFormat.encoding === 'pcm16') expect(total % 2).toBe(0);
      const [itemId] = seen['agent-audio']![0];
      expect(seen['agent-transcript']!.some(([id, , text]) => id === itemId && text.trim().length > 0)).toBe(true);
      expect(order.indexOf('response-started')).toBeLessThan(order.indexOf('agent-audio'));
      expect(order.lastIndexOf('agent-audio')).toBeLessThan(order.indexOf('agent-audio-done'));
      expect(seen['response-done']![0][0].status).toBe('completed');
      expect(seen.error ?? []).toEqual([]);
    });

    it('hear the caller: speech started and stopped in call time, the caller transcript, then an answer', async () => {
      t = await open({ host, greetsFirst: false });
      const { seen } = record(t.engine);
      await t.engine.start();
      let callMs = await sendAudio(t.engine, t.silence(300), 0);
      const speechFrom = callMs;
      callMs = await sendAudio(t.engine, t.speech(1200), callMs);
      const speechTo = callMs;
      await sendAudio(t.engine, t.silence(1200), callMs);
      await until(() => (seen['response-done']?.length ?? 0) >= 1, 'an answer');
      const [, startMs] = seen['speech-started']![0];
      const [, stopMs] = seen['speech-stopped']![0];
      // Call time, not the provider's clock: within the speech sent, give or take the detector's padding.
      expect(startMs).toBeGreaterThanOrEqual(speechFrom - 400);
      expect(startMs).toBeLessThanOrEqual(speechFrom + 400);
      expect(stopMs).toBeGreaterThan(startMs);
      expect(stopMs).toBeLessThanOrEqual(speechTo + 1200);
      expect(seen['caller-transcript']!.length).toBeGreaterThanOrEqual(1);
      expect((seen['agent-audio'] ?? []).length).toBeGreaterThan(0);
    });

    it('answer a text message when asked to respond', async () => {
      t = await open({ host, greetsFirst: false });
      const { seen } = record(t.engine);
      await t.engine.start();
      t.engine.sendText('What are your opening hours?', { respond: true });
      await until(() => (seen['response-done']?.length ?? 0) >= 1, 'an answer to the text');
      expect((seen['agent-transcript'] ?? []).some(([, , text]) => text.trim().length > 0)).toBe(true);
    });

    it('end a response it was asked to cancel, and take a truncate of what was heard without an error', async () => {
      t = await open({ host, greetsFirst: true });
      const { seen } = record(t.engine);
      await t.engine.start();
      await until(() => (seen['agent-audio']?.length ?? 0) >= 1, 'greeting audio');
      const [itemId] = seen['agent-audio']![0];
      t.engine.cancel();
      t.engine.truncate(itemId, 20);
      await until(() => (seen['response-done']?.length ?? 0) >= 1, 'the cancelled response to end');
      expect(['cancelled', 'completed']).toContain(seen['response-done']![0][0].status);
      const audioAtEnd = seen['agent-audio']!.length;
      await new Promise((r) => setTimeout(r, 300));
      expect(seen['agent-audio']!.length).toBe(audioAtEnd);
      expect(seen.error ?? []).toEqual([]);
    });

    it('emit nothing after close, and take a second close', async () => {
      t = await open({ host, greetsFirst: true });
      const { order } = record(t.engine);
      await t.engine.start();
      t.engine.close();
      const after = order.length;
      t.engine.appendAudio(t.speech(20), undefined, 20);
      t.engine.sendText('anyone there?', { respond: true });
      await new Promise((r) => setTimeout(r, 500));
      expect(order.length).toBe(after);
      expect(() => t!.engine.close()).not.toThrow();
    });
  });
}
