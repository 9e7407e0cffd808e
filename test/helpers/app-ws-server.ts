/**
 * Test harness of the app WebSocket channel: the real upgrade gate and the channel module on a real
 * HTTP server (port 0), with a scripted conversation standing in for the call core: it answers a
 * chat line with text, and a caller turn (speech, then 300 ms of silence) with its transcript, 500 ms
 * of agent audio (a tone, in five 100 ms chunks with markers) and the agent's words.
 */
import type { ApiTokenEntry } from '../../src/supervision/roles';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventEmitter } from 'node:events';
import express from 'express';
import WebSocket from 'ws';
import { createUpgradeGate, newUpgradeCounters } from '../../src/http/upgrades';
import { errorHandler, notFoundHandler } from '../../src/http/errors';
import { createLogger } from '../../src/logging/logger';
import type { Config } from '../../src/config';
import { ApiError } from '../../src/http/errors';
import type { CallerChannel, ChannelStart } from '../../src/conversation/channel';
import { createAppWsModule, type AppWsModule } from '../../src/channels/app-ws';
import type { SessionTokenVerifier } from '../../src/channels/app-ws/auth';
import type { ConversationRequest } from '../../src/channels/app-ws/types';
import type { SocketTiming } from '../../src/channels/app-ws/socket-session';

export interface ScriptedConversation {
  callId: string;
  channel: CallerChannel;
  start: ChannelStart;
  request: ConversationRequest;
  callerFrames: number;
  callerTexts: string[];
  played: { marker: string; atMs: number }[];
  sentAudio: { marker: string; atMs: number; bytes: number }[];
  ended?: string;
}

export interface AppWsServer {
  url: string;
  wsUrl: string;
  module: AppWsModule;
  conversations: ScriptedConversation[];
  changes: EventEmitter;
  /** The next conversation starts are refused as busy. */
  busy: boolean;
  close(): Promise<void>;
}

function rms(frame: Buffer): number {
  let sum = 0;
  for (let i = 0; i + 1 < frame.length; i += 2) sum += frame.readInt16LE(i) ** 2;
  return Math.sqrt(sum / (frame.length / 2));
}

export function tone16k(ms: number, amplitude = 8000, hz = 440): Buffer {
  const samples = (16000 * ms) / 1000;
  const out = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++)
    out.writeInt16LE(Math.round(amplitude * Math.sin((2 * Math.PI * hz * i) / 16000)), i * 2);
  return out;
}

function script(conv: ScriptedConversation, changes: EventEmitter, agentAudioMs = 500): void {
  const { channel } = conv;
  const t0 = performance.now();
  let voicedMs = 0;
  let silentMs = 0;
  let turns = 0;
  channel.on('text', (text) => {
    conv.callerTexts.push(text);
    setTimeout(() => channel.sendText?.(`You wrote: ${text}`, 'agent'), 20);
    changes.emit('change');
  });
  channel.on('audio', (frame) => {
    conv.callerFrames++;
    if (rms(frame.bytes) > 500) {
      voicedMs += 20;
      silentMs = 0;
      return;
    }
    silentMs += 20;
    if (voicedMs >= 100 && silentMs >= 300) {
      const spoke = voicedMs;
      voicedMs = 0;
      const turn = ++turns;
      channel.sendText?.(`(caller spoke for ${(spoke / 1000).toFixed(1)} s)`, 'caller');
      const chunk = tone16k(100, 6000, 300);
      for (let i = 0; i < agentAudioMs / 100; i++) {
        const marker = `${turn}.${i}`;
        conv.sentAudio.push({ marker, atMs: performance.now() - t0, bytes: chunk.length });
        channel.sendAudio(chunk, marker);
      }
      channel.sendText?.('Thanks, I heard you.', 'agent');
      changes.emit('change');
    }
  });
  channel.on('played', (marker) => {
    conv.played.push({ marker, atMs: performance.now() - t0 });
    changes.emit('change');
  });
  channel.on('end', (cause) => {
    conv.ended = cause;
    changes.emit('change');
  });
}

export async function startAppWsServer(
  opts: {
    apiTokens?: string[];
    /** Roles of the API tokens (a read-only token may not open a conversation). */
    apiTokenEntries?: ApiTokenEntry[];
    maxConnections?: number;
    sessions?: SessionTokenVerifier;
    greeting?: boolean;
    /** Length of each scripted agent answer (default 500 ms). */
    agentAudioMs?: number;
    timing?: SocketTiming;
  } = {},
): Promise<AppWsServer> {
  const logger = createLogger({ level: 'error', json: false, silent: true });
  const conversations: ScriptedConversation[] = [];
  const changes = new EventEmitter();
  changes.setMaxListeners(0);
  const state = { busy: false };
  const app = express();
  app.set('case sensitive routing', true);
  app.set('strict routing', true);
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  const module = createAppWsModule({
    config: { apiTokens: opts.apiTokens ?? [], publicUrl: url, apiTokenEntries: opts.apiTokenEntries ?? [] },
    logger,
    sessionTokens: opts.sessions,
    maxConnections: opts.maxConnections,
    timing: opts.timing,
    start: async (channel, start, request) => {
      if (state.busy) throw new ApiError('unavailable', 'all lines are busy');
      const conv: ScriptedConversation = {
        callId: `call-${conversations.length + 1}`,
        channel,
        start,
        request,
        callerFrames: 0,
        callerTexts: [],
        played: [],
        sentAudio: [],
      };
      conversations.push(conv);
      script(conv, changes, opts.agentAudioMs);
      if (opts.greeting) {
        // Like the call core: a greeting generated while the channel connected plays during attach.
        channel.sendAudio(tone16k(100, 6000, 300), 'greeting.0');
        channel.sendText?.('Welcome!', 'agent');
      }
      changes.emit('change');
      return { callId: conv.callId };
    },
  });
  app.use(`/${module.name}`, module.router!);
  app.use(notFoundHandler);
  app.use(errorHandler(logger));
  const gate = createUpgradeGate({
    config: {} as Config,
    logger,
    counters: newUpgradeCounters(),
    maxSockets: 1000,
    isDraining: () => false,
    channels: [module],
  });
  server.on('upgrade', (req, socket, head) => gate.handle(req, socket, head));
  return {
    url,
    wsUrl: `ws://127.0.0.1:${port}`,
    module,
    conversations,
    changes,
    get busy() {
      return state.busy;
    },
    set busy(v: boolean) {
      state.busy = v;
    },
    async close() {
      for (const ws of gate.wss.clients) ws.terminate();
      await new Promise<void>((resolve) => gate.wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A WebSocket client that keeps every JSON message it receives. */
export class TestClient {
  readonly messages: Record<string, unknown>[] = [];
  private readonly events = new EventEmitter();
  closed?: { code: number; reason: string };

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.messages.push(JSON.parse(data.toString()) as Record<string, unknown>);
      this.events.emit('change');
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.events.emit('change');
    });
  }

  static open(url: string, headers: Record<string, string> = {}): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers });
      const client = new TestClient(ws);
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () =>
          reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, body })),
        );
      });
      ws.once('error', reject);
    });
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  ofType(type: string): Record<string, unknown>[] {
    return this.messages.filter((m) => m.type === type);
  }

  waitFor<T>(check: () => T | undefined | false, timeoutMs = 8000): Promise<T> {
    return new Promise((resolve, reject) => {
      const test = (): boolean => {
        const v = check();
        if (!v) return false;
        cleanup();
        resolve(v);
        return true;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out; messages: ${JSON.stringify(this.messages.slice(-5)).slice(0, 800)}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.events.off('change', test);
      };
      if (!test()) this.events.on('change', test);
    });
  }

  waitForType(type: string, count = 1, timeoutMs?: number): Promise<Record<string, unknown>[]> {
    return this.waitFor(() => {
      const found = this.ofType(type);
      return found.length >= count ? found : undefined;
    }, timeoutMs);
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}

/** Waits for a condition on the server side, re-checked on every scripted-conversation change. */
export function waitForServer<T>(
  server: AppWsServer,
  check: () => T | undefined | false,
  timeoutMs = 8000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const test = (): boolean => {
      const v = check();
      if (!v) return false;
      cleanup();
      resolve(v);
      return true;
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error('timed out waiting for the server'));
    }, timeoutMs);
    const poll = setInterval(test, 50);
    const cleanup = () => {
      clearTimeout(timer);
      clearInterval(poll);
      server.changes.off('change', test);
    };
    if (!test()) server.changes.on('change', test);
  });
}
