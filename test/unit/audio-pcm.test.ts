import { encodeMulaw, MULAW_SILENCE } from '../../src/audio/g711';
import {
  FRAME_BYTES,
  FRAME_MS,
  SAMPLE_RATE_HZ,
  durationMsOfMulaw,
  mulawBytesForMs,
  rmsMulaw,
} from '../../src/audio/pcm';
import { sineInt16 } from '../../src/audio/tone';

describe('PCM helpers', () => {
  it('describes the Twilio frame format', () => {
    expect(SAMPLE_RATE_HZ).toBe(8000);
    expect(FRAME_MS).toBe(20);
    expect(FRAME_BYTES).toBe(160);
  });

  it('measures mu-law RMS: 0 for silence, amplitude/sqrt(2) for a sine', () => {
    expect(rmsMulaw(new Uint8Array(160).fill(MULAW_SILENCE))).toBe(0);
    expect(rmsMulaw(new Uint8Array(0))).toBe(0);
    const tone = encodeMulaw(sineInt16(1000, 8000, 20, 0.5));
    expect(rmsMulaw(tone)).toBeCloseTo(0.5 / Math.SQRT2, 2);
    const loud = encodeMulaw(sineInt16(400, 8000, 20, 0.9));
    expect(rmsMulaw(loud)).toBeGreaterThan(rmsMulaw(tone));
    expect(rmsMulaw(new Uint8Array(160).fill(0x80))).toBeLessThanOrEqual(1);
  });

  it('converts between mu-law byte counts and milliseconds', () => {
    expect(durationMsOfMulaw(160)).toBe(20);
    expect(durationMsOfMulaw(new Uint8Array(8000))).toBe(1000);
    expect(durationMsOfMulaw(0)).toBe(0);
    expect(mulawBytesForMs(20)).toBe(160);
    expect(mulawBytesForMs(1500)).toBe(12000);
  });
});
