/**
 * Listen in to a live call from the board: GET /api/calls/:id/listen streams 8 kHz 16-bit PCM
 * (little-endian, mono) with the bearer token (fetch, not <audio>: the token stays out of URLs); each
 * chunk is scheduled gap-free on an AudioContext ~100 ms ahead. The card shows the level heard
 * (data-listen-peak / data-listen-rms; data-listen-first-loud-at: when speech was first heard).
 */
import { openStream } from './api.js';

const RATE = 8000;
const LEAD_S = 0.1;

export class CallListener {
  constructor(callId, side, onLevel) {
    this.callId = callId;
    this.side = side;
    this.onLevel = onLevel;
    this.abort = new AbortController();
    this.ctx = undefined;
    this.nextAt = 0;
    this.carry = undefined;
  }

  async start() {
    this.ctx = new AudioContext();
    const res = await openStream(
      `/api/calls/${encodeURIComponent(this.callId)}/listen?side=${encodeURIComponent(this.side)}`,
      this.abort.signal,
    );
    const reader = res.body.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        this.play(value);
      }
    } catch (err) {
      if (err.name !== 'AbortError') throw err;
    }
  }

  play(bytes) {
    let data = bytes;
    if (this.carry !== undefined) {
      data = new Uint8Array(bytes.length + 1);
      data[0] = this.carry;
      data.set(bytes, 1);
      this.carry = undefined;
    }
    if (data.length % 2 === 1) {
      this.carry = data[data.length - 1];
      data = data.subarray(0, data.length - 1);
    }
    const n = data.length / 2;
    if (n === 0) return;
    const view = new DataView(data.buffer, data.byteOffset, data.length);
    const buffer = this.ctx.createBuffer(1, n, RATE);
    const out = buffer.getChannelData(0);
    let sumSq = 0;
    let peak = 0;
    for (let i = 0; i < n; i++) {
      const s = view.getInt16(i * 2, true);
      out[i] = s / 32768;
      sumSq += s * s;
      if (Math.abs(s) > peak) peak = Math.abs(s);
    }
    this.onLevel(Math.sqrt(sumSq / n), peak);
    const source = this.ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(this.ctx.destination);
    const now = this.ctx.currentTime;
    if (this.nextAt < now) this.nextAt = now + LEAD_S;
    source.start(this.nextAt);
    this.nextAt += n / RATE;
  }

  stop() {
    this.abort.abort();
    void this.ctx?.close();
  }
}
