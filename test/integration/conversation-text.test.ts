/**
 * The conversation core without audio: a text-only channel (`format: undefined`, as chat and SMS
 * channels are) with the Realtime engine in text mode. The person's messages are stored as caller
 * turns and answered; the agent's replies come back through channel.sendText('agent') and are stored
 * as agent turns; no audio seam, no recording; the call ends exactly once when the channel ends.
 */
import { EventEmitter } from 'node:events';
import type { CallerChannel, CallerChannelEvents, ChannelStart } from '../../src/conversation/channel';
import { StreamTokens, STREAM_TOKEN_PARAMETER } from '../../src/calls/stream-token';
import { startBridgeHarness, eventually, type BridgeHarness } from '../../scripts/lib/bridge-harness';

const SECRET = 'text-mode-test-secret-0123456789abcdef';

class TextChannel extends EventEmitter<CallerChannelEvents> implements CallerChannel {
  readonly provider = 'chat';
  readonly format = undefined;
  readonly sent: { text: string; role: string }[] = [];
  readonly ended: string[] = [];
  sendAudio(): void {
    throw new Error('a text channel gets no audio');
  }
  clear(): void {}
  sendText(text: string, role: 'agent' | 'caller'): void {
    this.sent.push({ text, role });
  }
  end(reason: string): void {
    this.ended.push(reason);
  }
}

describe('a text-only conversation', () => {
  let h: BridgeHarness;

  beforeAll(async () => {
    h = await startBridgeHarness(
      { ttsEngine: 'tone', replies: ['We open at nine.', 'You are welcome.'] },
      { STREAM_TOKEN_SECRET: SECRET, AGENT_GREETS_FIRST: 'false' },
    );
  });
  afterAll(() => h.close());

  it('answers messages with text, stores both sides, records nothing, ends once', async () => {
    const { sb } = h.t;
    const call = await sb.callManager.createCall({
      from: 'chat-user',
      to: null,
      direction: 'inbound',
      status: 'in-progress',
    });
    await sb.bridge.prepare(call, 'text');
    const channel = new TextChannel();
    const start: ChannelStart = {
      provider: 'chat',
      streamId: 'chat-1',
      parameters: {
        callId: call.id,
        [STREAM_TOKEN_PARAMETER]: new StreamTokens(SECRET, sb.config.twilio.streamTokenTtlMs).issue(call.id),
      },
      format: undefined,
    };
    expect(await sb.bridge.attach(channel, start)).toBeUndefined();
    // The engine was asked for text replies.
    await eventually(() => h.ai.sessions.length === 1 && h.ai.sessions[0].sessionUpdates.length > 0);
    expect(h.ai.sessions[0].sessionUpdates[0]).toMatchObject({ output_modalities: ['text'] });

    channel.emit('text', 'When do you open?');
    await eventually(() => channel.sent.length === 1);
    channel.emit('text', '  ');
    channel.emit('text', 'Thanks!');
    await eventually(() => channel.sent.length === 2);
    expect(channel.sent).toEqual([
      { text: 'We open at nine.', role: 'agent' },
      { text: 'You are welcome.', role: 'agent' },
    ]);

    channel.emit('end', 'caller-hangup');
    channel.emit('end', 'channel-closed');
    const stored = await eventually(async () => {
      const c = await sb.db.call.findUnique({
        where: { id: call.id },
        include: { transcripts: { orderBy: { createdAt: 'asc' } }, recordings: true, analytics: true },
      });
      return c?.analytics && c.endedAt ? c : null;
    });
    expect(stored).toMatchObject({ status: 'completed', endReason: 'caller-hangup' });
    expect(stored.transcripts.map((t) => [t.speaker, t.text])).toEqual([
      ['caller', 'When do you open?'],
      ['agent', 'We open at nine.'],
      ['caller', 'Thanks!'],
      ['agent', 'You are welcome.'],
    ]);
    expect(stored.transcripts.every((t) => !t.interrupted)).toBe(true);
    expect(stored.recordings).toEqual([]);
    // Our side never ended the channel: the person did.
    expect(channel.ended).toEqual([]);
    // The row reads as ended (from a read thread) once the writer has committed it; the bridge lets
    // the conversation go when the main thread has the writer's answer, a moment later.
    await eventually(() => sb.bridge.get(call.id) === undefined);
  });
});
