/**
 * A whole Switchboard on one machine for tests: the local Realtime server, the real app on port 0
 * (temporary SQLite file and recordings folder, Twilio signatures on), and the Twilio call
 * simulator pointed at it.
 */
import { LocalRealtimeServer } from '../../src/simulators/local-realtime-server';
import { placeCall, type CallHandle, type PlaceCallOptions } from '../../src/simulators/twilio-caller';
import { startTestApp, type TestApp } from './test-app';

export const TEST_AUTH_TOKEN = 'test-twilio-auth-token-0123456789';
export const TEST_PUBLIC_URL = 'https://switchboard.example.test';

export type LocalServerOptions = NonNullable<Parameters<typeof LocalRealtimeServer.start>[0]>;

export interface BridgeHarness {
  ai: LocalRealtimeServer;
  t: TestApp;
  call(options?: Partial<PlaceCallOptions>): CallHandle;
  close(): Promise<void>;
}

export async function startBridgeHarness(
  aiOptions: LocalServerOptions = {},
  env: Record<string, string> = {},
): Promise<BridgeHarness> {
  const ai = await LocalRealtimeServer.start({ ttsEngine: 'auto', ...aiOptions });
  const t = await startTestApp({
    TWILIO_AUTH_TOKEN: TEST_AUTH_TOKEN,
    PUBLIC_URL: TEST_PUBLIC_URL,
    OPENAI_REALTIME_URL: ai.url,
    AI_RECONNECT_BASE_MS: '50',
    AI_RECONNECT_MAX_MS: '400',
    ...env,
  });
  let n = 0;
  return {
    ai,
    t,
    call(options = {}) {
      n++;
      return placeCall({
        baseUrl: t.baseUrl,
        publicUrl: TEST_PUBLIC_URL,
        authToken: TEST_AUTH_TOKEN,
        from: `+1555000${String(1000 + n)}`,
        to: '+15559990000',
        ...options,
      });
    },
    async close() {
      await t.close();
      await ai.close();
    },
  };
}

/** Polls until `fn` returns a truthy value (or throws after timeoutMs). */
export async function eventually<T>(
  fn: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs = 10000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
