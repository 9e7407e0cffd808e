/**
 * The caller-channel contract: what every CallerChannel must do for the conversation core
 * (src/conversation/channel.ts). A channel's test file calls `describeChannelContract` with a
 * factory that opens one started channel over real sockets and a `peer` that plays the caller's
 * side (the provider). Twilio runs it; every new channel runs it too.
 */
import type { CallerChannel, ChannelEndCause, ChannelStart } from '../../src/conversation/channel';
import { bytesPerMs } from '../../src/conversation/audio-format';

export interface ChannelPeer {
  /** The caller sends one frame of audio (channel format) captured at call time `timestampMs`. */
  sendAudio(bytes: Buffer, timestampMs: number): void;
  sendDtmf(digit: string): void;
  /** The caller hangs up (the provider's stop / bye). */
  hangUp(): void;
  /** The connection drops without a hang-up. */
  drop(): void;
  /** Agent audio the caller's side received, in order. */
  readonly audio: Buffer[];
  /** How many times the caller's side was told to clear its queue. */
  readonly clears: number;
  /** Whether the caller's side saw the channel closed from our side. */
  readonly closedByServer: boolean;
  /** Plays everything received so far (acknowledging its markers); a channel that plays in real time may ignore it. */
  playAll(): void;
}

export interface ChannelUnderTest {
  channel: CallerChannel;
  start: ChannelStart;
  peer: ChannelPeer;
  /** What our side asked for when it ended the channel (hang-up, transfer), if the channel keeps it. */
  endingAction?(): unknown;
  close(): Promise<void>;
}

async function until(predicate: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export function describeChannelContract(name: string, open: () => Promise<ChannelUnderTest>): void {
  describe(`a caller channel (${name}) must`, () => {
    let t: ChannelUnderTest;
    beforeEach(async () => {
      t = await open();
    });
    afterEach(() => t.close());

    it('declare who it is and its audio format at start, the same as the channel', () => {
      expect(t.start.provider).toBe(t.channel.provider);
      expect(t.start.format).toEqual(t.channel.format);
      expect(typeof t.start.streamId).toBe('string');
      expect(t.start.parameters).toEqual(expect.any(Object));
    });

    it('emit caller audio in whole frames of its format, with call-time timestamps, in order', async () => {
      const format = t.channel.format!;
      const frame = Buffer.alloc(bytesPerMs(format) * 20, 0x11);
      const got: { bytes: Buffer; timestampMs: number; base64?: string }[] = [];
      t.channel.on('audio', (f) => got.push(f));
      for (let i = 0; i < 5; i++) t.peer.sendAudio(frame, i * 20);
      await until(() => got.length === 5, 'five frames');
      expect(got.map((f) => f.timestampMs)).toEqual([0, 20, 40, 60, 80]);
      for (const f of got) {
        expect(f.bytes.equals(frame)).toBe(true);
        if (f.base64 !== undefined) expect(Buffer.from(f.base64, 'base64').equals(f.bytes)).toBe(true);
      }
    });

    it('deliver agent audio to the caller and acknowledge each marker once it was played, in order', async () => {
      const format = t.channel.format!;
      const played: string[] = [];
      t.channel.on('played', (m) => played.push(m));
      const chunks = [0x21, 0x22, 0x23].map((b) => Buffer.alloc(bytesPerMs(format) * 100, b));
      chunks.forEach((c, i) => t.channel.sendAudio(c, `0.${i + 1}`));
      await until(() => Buffer.concat(t.peer.audio).length >= 3 * chunks[0].length, 'agent audio at the caller');
      expect(Buffer.concat(t.peer.audio).equals(Buffer.concat(chunks))).toBe(true);
      t.peer.playAll();
      await until(() => played.length === 3, 'three acknowledgements');
      expect(played).toEqual(['0.1', '0.2', '0.3']);
    });

    it('clear the audio queued at the caller on request', async () => {
      const format = t.channel.format!;
      t.channel.sendAudio(Buffer.alloc(bytesPerMs(format) * 100, 0x31), '0.1');
      t.channel.clear();
      await until(() => t.peer.clears === 1, 'a clear at the caller');
    });

    it('emit the caller keypad digits', async () => {
      const digits: string[] = [];
      t.channel.on('dtmf', (d) => digits.push(d));
      t.peer.sendDtmf('7');
      t.peer.sendDtmf('#');
      await until(() => digits.length === 2, 'two digits');
      expect(digits).toEqual(['7', '#']);
    });

    it("emit end once, as 'caller-hangup', when the caller hangs up", async () => {
      const ends: ChannelEndCause[] = [];
      t.channel.on('end', (cause) => ends.push(cause));
      t.peer.hangUp();
      await until(() => ends.length > 0, 'end');
      await new Promise((r) => setTimeout(r, 100));
      expect(ends).toEqual(['caller-hangup']);
    });

    it("emit end once, as 'channel-closed', when the connection drops", async () => {
      const ends: ChannelEndCause[] = [];
      t.channel.on('end', (cause) => ends.push(cause));
      t.peer.drop();
      await until(() => ends.length > 0, 'end');
      await new Promise((r) => setTimeout(r, 100));
      expect(ends).toEqual(['channel-closed']);
    });

    it('close from our side on end(), keeping a transfer for the provider to act on', async () => {
      const target = { number: '+15550001111' };
      t.channel.end('transferred', { kind: 'transfer', target });
      await until(() => t.peer.closedByServer, 'the channel closed by the server');
      if (t.endingAction) expect(t.endingAction()).toEqual({ kind: 'transfer', target });
    });

    it('survive a send after the caller is gone (no throw)', async () => {
      t.peer.drop();
      await new Promise((r) => setTimeout(r, 50));
      const format = t.channel.format!;
      expect(() => t.channel.sendAudio(Buffer.alloc(bytesPerMs(format) * 20), '9.9')).not.toThrow();
      expect(() => t.channel.clear()).not.toThrow();
      expect(() => t.channel.end('late')).not.toThrow();
    });
  });
}
