/**
 * A Node WebRTC peer standing in for the browser in integration tests: it sends a tone (or
 * silence) from an RTCAudioSource at real-time pace, opens the `control` data channel, gathers its
 * candidates, posts the offer and applies the answer; what it hears is measured per 10 ms frame.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import {
  loadWrtc,
  type MediaStreamTrack,
  type RtcDataChannel,
  type RtcPeerConnection,
  type RtcAudioSink,
} from '../../src/channels/webrtc/wrtc';

export interface HeardFrame {
  at: number;
  rms: number;
}

export function rmsOf(samples: Int16Array, channels = 1): number {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < samples.length; i += channels) {
    sum += samples[i] * samples[i];
    n++;
  }
  return n ? Math.sqrt(sum / n) : 0;
}

interface NativePeer {
  pc: RtcPeerConnection;
  control: RtcDataChannel;
  track: MediaStreamTrack;
  remoteTrack?: MediaStreamTrack;
  sink?: RtcAudioSink;
}

export class TestPeer {
  readonly heard: HeardFrame[] = [];
  /** The native objects, dropped at close so that nothing keeps them from being collected. */
  private native: NativePeer | undefined;
  /** Tone amplitude sent (0 = silence). */
  amplitude = 8000;
  toneHz = 1000;
  private readonly timer: NodeJS.Timeout;
  private phase = 0;

  constructor() {
    const wrtc = loadWrtc();
    const pc = new wrtc.RTCPeerConnection({ iceServers: [] });
    const source = new wrtc.nonstandard.RTCAudioSource();
    const track = source.createTrack();
    pc.addTrack(track);
    const native: NativePeer = { pc, track, control: pc.createDataChannel('control') };
    this.native = native;
    pc.ontrack = (event) => {
      if (native.sink) return;
      native.remoteTrack = event.track;
      native.sink = new wrtc.nonstandard.RTCAudioSink(event.track);
      native.sink.ondata = (data) =>
        this.heard.push({ at: performance.now(), rms: rmsOf(data.samples, data.channelCount ?? 1) });
    };
    const samples = new Int16Array(480);
    const started = performance.now();
    let sent = 0;
    this.timer = setInterval(() => {
      const due = Math.floor((performance.now() - started) / 10) + 1;
      for (; sent < due; sent++) {
        for (let i = 0; i < 480; i++) {
          samples[i] = Math.round(this.amplitude * Math.sin(this.phase));
          this.phase += (2 * Math.PI * this.toneHz) / 48000;
        }
        source.onData({ samples, sampleRate: 48000, bitsPerSample: 16, channelCount: 1, numberOfFrames: 480 });
      }
    }, 10);
  }

  get pc(): RtcPeerConnection {
    if (!this.native) throw new Error('test peer closed');
    return this.native.pc;
  }

  get control(): RtcDataChannel {
    if (!this.native) throw new Error('test peer closed');
    return this.native.control;
  }

  /** An offer with complete candidates. */
  async offer(): Promise<string> {
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    if (this.pc.iceGatheringState !== 'complete') {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 3000);
        this.pc.onicegatheringstatechange = () => {
          if (this.pc.iceGatheringState === 'complete') {
            clearTimeout(t);
            resolve();
          }
        };
      });
    }
    return this.pc.localDescription!.sdp!;
  }

  async answer(sdp: string): Promise<void> {
    await this.pc.setRemoteDescription({ type: 'answer', sdp });
  }

  /** Mean RMS heard between two times (performance.now()). */
  energyBetween(from: number, to: number): number {
    const frames = this.heard.filter((f) => f.at >= from && f.at < to);
    return frames.length ? frames.reduce((s, f) => s + f.rms, 0) / frames.length : 0;
  }

  close(): void {
    clearInterval(this.timer);
    const native = this.native;
    if (!native) return;
    this.native = undefined;
    if (native.sink) {
      native.sink.ondata = null;
      native.sink.stop();
    }
    native.track.stop();
    native.remoteTrack?.stop();
    native.pc.ontrack = null;
    native.pc.close();
  }
}

/** Resolves when `check` holds (polled), rejects after `timeoutMs`. */
export async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Collects the garbage of closed peer connections before the test process exits. libwebrtc's
 * native objects that are still alive when Node tears its environment down crash the process
 * (a known fault of node-webrtc, WonderInventions/node-webrtc#7); collected earlier, they are freed
 * cleanly. The server itself always leaves through process.exit (src/main.ts), which skips that
 * teardown.
 */
export async function collectWrtcGarbage(): Promise<void> {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  // Closed peer connections finish closing on libwebrtc's threads first.
  await new Promise((r) => setTimeout(r, 300));
  for (let i = 0; i < 10; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 100));
  }
}
