/**
 * The browser side of a web call: the microphone (through Web Audio, so the echo test can mute it
 * and inject a beep) goes out over an RTCPeerConnection; the agent comes back on an <audio> element
 * and an analyser that measures its level. Signalling is one request: POST /api/web-calls/offer
 * with the offer and its complete ICE candidates, answered with the server's. A `control` data
 * channel carries the hang-up and the server's `ended`.
 */
import { postJson } from './api.js';

const GATHER_TIMEOUT_MS = 3000;
/** RMS (0..1) above which returning audio counts as the echo test's beep. */
const BEEP_THRESHOLD = 0.05;

function rmsOf(buffer) {
  let sum = 0;
  for (let i = 0; i < buffer.length; i++) sum += buffer[i] * buffer[i];
  return Math.sqrt(sum / buffer.length);
}

function waitForGathering(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, GATHER_TIMEOUT_MS);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class WebCall {
  /** @param {{ onState?: (state: string) => void, onEnded?: (why: string) => void }} handlers */
  constructor(handlers = {}) {
    this.handlers = handlers;
    this.callId = undefined;
    this.state = 'idle';
    /** Highest RMS (0..1) of agent audio heard so far, and of the microphone. */
    this.agentPeak = 0;
    this.micPeak = 0;
    this.closed = false;
  }

  setState(state) {
    this.state = state;
    this.handlers.onState?.(state);
  }

  /**
   * Opens the microphone, places the call, resolves once audio flows. `offer(sdp)`, when given,
   * posts the offer elsewhere and resolves with `{ callId, sdp }` (a supervisor's take-over).
   */
  async start({ profile, languageHint, audioElement, offer }) {
    this.setState('microphone');
    this.mic = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true } });
    this.ctx = new AudioContext();
    await this.ctx.resume();
    const micSource = this.ctx.createMediaStreamSource(this.mic);
    this.micGain = this.ctx.createGain();
    this.micAnalyser = this.ctx.createAnalyser();
    this.micAnalyser.fftSize = 512;
    const out = this.ctx.createMediaStreamDestination();
    micSource.connect(this.micGain).connect(out);
    this.micGain.connect(this.micAnalyser);
    this.outStream = out;

    this.setState('connecting');
    const pc = new RTCPeerConnection();
    this.pc = pc;
    for (const track of out.stream.getAudioTracks()) pc.addTrack(track, out.stream);
    this.control = pc.createDataChannel('control');
    this.control.addEventListener('message', (e) => {
      try {
        if (JSON.parse(e.data).type === 'ended') this.finish('agent');
      } catch {
        /* not ours */
      }
    });
    pc.addEventListener('track', (e) => this.playAgent(e.streams[0] ?? new MediaStream([e.track]), audioElement));
    pc.addEventListener('connectionstatechange', () => {
      if (pc.connectionState === 'connected') this.setState('connected');
      if (pc.connectionState === 'failed') this.finish('network');
    });
    await pc.setLocalDescription(await pc.createOffer());
    await waitForGathering(pc);
    const body = { type: 'offer', sdp: pc.localDescription.sdp };
    if (profile) body.profile = profile;
    if (languageHint && languageHint !== 'auto') body.languageHint = languageHint;
    // A take-over sends its offer to the call it takes (POST /api/calls/:id/take-over) instead.
    const answer = offer ? await offer(body.sdp) : await postJson('/api/web-calls/offer', body);
    this.callId = answer.callId;
    await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
    this.meterTimer = setInterval(() => this.measure(), 20);
    return this.callId;
  }

  playAgent(stream, audioElement) {
    // Chrome feeds a remote stream to Web Audio only while a media element plays it too.
    audioElement.srcObject = stream;
    void audioElement.play().catch(() => undefined);
    const source = this.ctx.createMediaStreamSource(stream);
    this.agentAnalyser = this.ctx.createAnalyser();
    this.agentAnalyser.fftSize = 256;
    source.connect(this.agentAnalyser);
    this.agentBuffer = new Float32Array(this.agentAnalyser.fftSize);
  }

  /** Current RMS (0..1) of the agent's audio. */
  agentLevel() {
    if (!this.agentAnalyser) return 0;
    this.agentAnalyser.getFloatTimeDomainData(this.agentBuffer);
    return rmsOf(this.agentBuffer);
  }

  micLevel() {
    if (!this.micAnalyser) return 0;
    const buf = new Float32Array(this.micAnalyser.fftSize);
    this.micAnalyser.getFloatTimeDomainData(buf);
    return rmsOf(buf);
  }

  measure() {
    const agent = this.agentLevel();
    const mic = this.micLevel();
    this.agentPeak = Math.max(this.agentPeak, agent);
    this.micPeak = Math.max(this.micPeak, mic);
    this.handlers.onLevels?.(mic, agent);
  }

  /**
   * Echo test: mutes the microphone, waits for quiet, sends a 150 ms beep and times its return.
   * Resolves with the round trip in ms (the echo engine's fixed delay included).
   */
  async measureRoundTrip() {
    const wasGain = this.micGain.gain.value;
    this.micGain.gain.value = 0;
    try {
      const waitFrom = performance.now();
      let quietSince = waitFrom;
      while (performance.now() - quietSince < 600) {
        if (performance.now() - waitFrom > 8000) throw new Error('the line did not go quiet');
        await sleep(10);
        if (this.agentLevel() > BEEP_THRESHOLD / 2) quietSince = performance.now();
      }
      const beep = this.ctx.createOscillator();
      const gain = this.ctx.createGain();
      beep.frequency.value = 1000;
      gain.gain.value = 0.5;
      beep.connect(gain).connect(this.outStream);
      const sentAt = performance.now();
      beep.start();
      beep.stop(this.ctx.currentTime + 0.15);
      while (performance.now() - sentAt < 5000) {
        await sleep(2);
        if (this.agentLevel() > BEEP_THRESHOLD) return Math.round(performance.now() - sentAt);
      }
      throw new Error('the beep did not come back within 5 s');
    } finally {
      await sleep(400);
      this.micGain.gain.value = wasGain;
    }
  }

  /** Hangs up from the page. */
  hangUp() {
    if (this.control?.readyState === 'open') this.control.send(JSON.stringify({ type: 'hangup' }));
    // Give the hang-up a moment on the data channel before the connection goes.
    setTimeout(() => this.finish('caller'), 200);
  }

  finish(why) {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.meterTimer);
    this.pc?.close();
    for (const track of this.mic?.getTracks() ?? []) track.stop();
    void this.ctx?.close();
    this.setState('ended');
    this.handlers.onEnded?.(why);
  }
}
