/**
 * A whole call with `engine: echo`: the caller hears their own audio back, byte for byte, after
 * ECHO_DELAY_MS (for microphone checks and round-trip measurement).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBridgeHarness, type BridgeHarness } from '../../scripts/lib/bridge-harness';
import { synthesizeTone } from '../../src/simulators/tts';

describe('a call through the echo engine', () => {
  let h: BridgeHarness;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'echo-call-'));
    const profiles = join(dir, 'profiles.json');
    writeFileSync(profiles, JSON.stringify({ profiles: { mic_check: { engine: 'echo', numbers: ['+15559990000'] } } }));
    h = await startBridgeHarness({ ttsEngine: 'tone' }, { AGENT_PROFILES_FILE: profiles, ECHO_DELAY_MS: '300' });
  });

  afterAll(async () => {
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('plays the caller audio back unchanged', async () => {
    const spoken = synthesizeTone('testing one two three', 'pcmu');
    const handle = h.call({ script: [{ audio: spoken }, { silenceMs: 1200 }] });
    const summary = await handle.done;
    expect(summary.ok).toBe(true);
    const heard = handle.receivedAudio;
    // The echo carries every frame the caller sent (the speech, then silence), the speech unchanged.
    const probe = spoken.subarray(800, 2400);
    expect(heard.indexOf(probe)).toBeGreaterThanOrEqual(0);
    expect(summary.agentAudioMs).toBeGreaterThan(spoken.length / 8 - 100);
    // The first echo comes the configured delay after the first frame (plus the trip through the bridge).
    expect(summary.firstAgentAudioMs).toBeGreaterThanOrEqual(300);
    expect(summary.firstAgentAudioMs!).toBeLessThan(300 + 1500); // generous: a loaded machine
  });
});
