/** What callers hand the CallManager (src/calls/call-manager.ts) to create, transcribe and end a call. */
import type { NewMetadata } from '../db/call-repository';
import type { CallStatus, EndReason } from './call-status';

export interface CreateCallInput {
  callSid?: string | null;
  accountSid?: string | null;
  streamSid?: string | null;
  from?: string | null;
  to?: string | null;
  direction?: string;
  /** The caller channel ('twilio', 'telnyx', 'webrtc', 'app-ws', 'chat', 'sms'); default 'twilio'. */
  provider?: string;
  agent?: string;
  status?: CallStatus;
  startedAt?: Date;
  metadata?: Omit<NewMetadata, 'callId'>;
}

export interface TranscriptInput {
  speaker: 'caller' | 'agent';
  text: string;
  startMs: number;
  endMs?: number | null;
  confidence?: number | null;
  interrupted?: boolean;
  unheardText?: string | null;
  itemId?: string | null;
}

export interface EndCallInput {
  reason: EndReason | string;
  status?: CallStatus;
  endedAt?: Date;
}
