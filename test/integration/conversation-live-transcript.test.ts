/**
 * A voice channel that shows live transcripts (as an app's WebSocket does) gets each caller
 * transcript and each agent turn as heard through channel.sendText, beside the audio; a channel
 * without sendText is simply not asked. The fake channel here acknowledges every marker at once.
 */
import { EventEmitter } from 'node:events';
import type { CallerChannel, CallerChannelEvents, ChannelStart } from '../../src/conversation/channel';
import { PCMU_8K } from '../../src/conversation/audio-format';
import { StreamTokens, STREAM_TOKEN_PARAMETER } from '../../src/calls/stream-token';
import { encodeMulaw } from '../../src/audio/g711';
import { startBridgeHarness, eventually, type BridgeHarness } from '../../scripts/lib/bridge-harness';

const SECRET = 'live-transcript-test-secret-0123456789';

class LiveChannel extends EventEmitter<CallerChannelEvents> implements CallerChannel {
  readonly provider = 'app';
  readonly format = PCMU_8K;
  readonly lines: { text: string; role: string }[] = [];
  agentBytes = 0;
  sendAudio(chunk: Buffer, marker: string): void {
    this.agentBytes += chunk.length;
    setImmediate(() => this.emit('played', marker));
  }
  clear(): void {}
  sendText(text: string, role: 'agent' | 'caller'): void {
    this.lines.push({ text, role });
  }
  end(): void {}
}

function frames(ms: number, amplitude: number): Buffer[] {
  const out: Buffer[] = [];
  for (let f = 0; f < ms / 20; f++) {
    const pcm = new Int16Array(160);
    for (let i = 0; i < 160; i++) pcm[i] = Math.round(amplitude * Math.sin((2 * Math.PI * 400 * (f * 160 + i)) / 8000));
    out.push(Buffer.from(encodeMulaw(pcm)));
  }
  return out;
}

describe('live transcripts on a voice channel', () => {
  let h: BridgeHarness;

  beforeAll(async () => {
    h = await startBridgeHarness(
      { ttsEngine: 'tone', replies: ['Hello there.', 'Sure, one moment.'], callerTranscripts: ['I need help'] },
      { STREAM_TOKEN_SECRET: SECRET },
    );
  });
  afterAll(() => h.close());

  it('sends the caller and agent lines as they are stored', async () => {
    const { sb } = h.t;
    const call = await sb.callManager.createCall({
      from: 'app-user',
      to: null,
      direction: 'inbound',
      status: 'in-progress',
    });
    await sb.bridge.prepare(call);
    const channel = new LiveChannel();
    const start: ChannelStart = {
      provider: 'app',
      streamId: 'app-1',
      parameters: {
        callId: call.id,
        [STREAM_TOKEN_PARAMETER]: new StreamTokens(SECRET, sb.config.twilio.streamTokenTtlMs).issue(call.id),
      },
      format: PCMU_8K,
    };
    expect(await sb.bridge.attach(channel, start)).toBeUndefined();
    await eventually(() => channel.lines.length === 1);
    let t = 0;
    const send = async (list: Buffer[]): Promise<void> => {
      for (const bytes of list) {
        channel.emit('audio', { bytes, timestampMs: t, receivedAt: performance.now() });
        t += 20;
        await new Promise((r) => setTimeout(r, 2));
      }
    };
    await send([...frames(200, 0), ...frames(1000, 9000), ...frames(1000, 0)]);
    await eventually(() => channel.lines.length === 3, 10000);
    expect(channel.lines).toEqual([
      { text: 'Hello there.', role: 'agent' },
      { text: 'I need help', role: 'caller' },
      { text: 'Sure, one moment.', role: 'agent' },
    ]);
    expect(channel.agentBytes).toBeGreaterThan(8000);
    channel.emit('end', 'caller-hangup');
    await eventually(async () => (await sb.db.call.findUnique({ where: { id: call.id } }))?.endedAt);
  });
});
