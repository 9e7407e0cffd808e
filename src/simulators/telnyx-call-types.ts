/**
 * The Telnyx caller simulator's options, summary and its webhook client (POSTs signed the way Telnyx
 * signs webhooks). See telnyx-caller.ts.
 */
import type { EventEmitter } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import type { KeyObject } from 'node:crypto';
import type { Logger } from '../logging/logger';
import type { TtsEngine } from './tts';
import type { CallScriptStep, SharedTicker } from './twilio-caller';

const HTTP_TIMEOUT_MS = 10_000;

export interface TelnyxCallOptions {
  baseUrl: string;
  /** Signs the webhooks (the key pair whose public half is the server's TELNYX_PUBLIC_KEY); unsigned when absent. */
  privateKey?: KeyObject;
  /** Overrides the signature header (attack tests); `timestampS` overrides the signed timestamp. */
  signatureOverride?: string;
  timestampS?: number;
  from?: string;
  to?: string;
  callControlId?: string;
  webhookPath?: string;
  statusPath?: string;
  script?: CallScriptStep[];
  hangupAfterMs?: number;
  hangupAfterScript?: boolean;
  sendStatusCallbacks?: boolean;
  ttsEngine?: TtsEngine;
  logger?: Logger;
  ticker?: SharedTicker;
  /** Replaces the start frame's custom_parameters (attack tests: a stream without a valid token). */
  parametersOverride?: Record<string, string>;
}

export interface TelnyxCallSummary {
  callControlId: string;
  streamId: string | undefined;
  ok: boolean;
  errors: string[];
  webhookStatus: number | null;
  texml: string | undefined;
  streamUrl: string | undefined;
  codec: 'PCMU' | 'PCMA';
  parameters: Record<string, string>;
  handshakeStatus: number | null;
  /** From stream start to the end of the call, on the wall clock. */
  durationMs: number;
  /**
   * The stream's length on its media clock (the next frame's timestamp when sending stopped): what a
   * recording of the call lasts; below durationMs when the simulator fell behind the wall clock.
   */
  mediaMs: number;
  framesSent: number;
  framesReceived: number;
  bytesReceived: number;
  /** Agent audio played to the caller, in bytes of 8 kHz G.711 (cut at clears). */
  agentAudioBytes: number;
  clearedAudioBytes: number;
  marksReceived: number;
  marksEchoed: number;
  marksEchoedOnClear: number;
  clears: number;
  dtmfSent: number;
  firstAgentAudioMs: number | null;
  closedBy: 'caller' | 'server';
  closeCode: number | null;
  serverProtocolErrors: number;
  /** TeXML fetched from the <Redirect> after <Connect> once the server ended the stream. */
  afterStreamTexml: string | undefined;
  statusCallbacks: { status: string; httpStatus: number | null }[];
}

export interface TelnyxCallHandle {
  readonly callControlId: string;
  readonly done: Promise<TelnyxCallSummary>;
  readonly events: EventEmitter<{ clear: [info: { droppedBytes: number; atMs: number }]; closed: [TelnyxCallSummary] }>;
  /** Agent audio played so far, in the stream's codec. */
  readonly receivedAudio: Buffer;
  readonly nowMs: number;
  hangup(): Promise<TelnyxCallSummary>;
  /** The caller says this now (raw 8 kHz mu-law, converted to the stream's codec). */
  inject(audio: Buffer): void;
}

/** POSTs a body signed as Telnyx signs webhooks; one connection per request. */
export function postSigned(
  url: string,
  body: string,
  contentType: string,
  signatureHeaders: Record<string, string>,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const req = (target.protocol === 'https:' ? https : http).request(
      target,
      {
        method: 'POST',
        agent: false,
        timeout: HTTP_TIMEOUT_MS,
        headers: {
          'content-type': contentType,
          'content-length': Buffer.byteLength(body),
          connection: 'close',
          'user-agent': 'telnyx-webhooks (switchboard simulator)',
          ...signatureHeaders,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${target.pathname}`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** A summary before anything happened. */
export function emptySummary(callControlId: string): TelnyxCallSummary {
  return {
    callControlId,
    streamId: undefined,
    ok: false,
    errors: [],
    webhookStatus: null,
    texml: undefined,
    streamUrl: undefined,
    codec: 'PCMU',
    parameters: {},
    handshakeStatus: null,
    durationMs: 0,
    mediaMs: 0,
    framesSent: 0,
    framesReceived: 0,
    bytesReceived: 0,
    agentAudioBytes: 0,
    clearedAudioBytes: 0,
    marksReceived: 0,
    marksEchoed: 0,
    marksEchoedOnClear: 0,
    clears: 0,
    dtmfSent: 0,
    firstAgentAudioMs: null,
    closedBy: 'server',
    closeCode: null,
    serverProtocolErrors: 0,
    afterStreamTexml: undefined,
    statusCallbacks: [],
  };
}
