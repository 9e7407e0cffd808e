/**
 * Seeds call records through the app's own CallManager (as the bridge would write them), so tests
 * read back exactly what production code stored.
 */
import type { SwitchboardApp } from '../../src/app';
import type { CallStatus } from '../../src/calls/call-status';
import type { NewAnalytics } from '../../src/db/call-repository';

export interface SeedCallInput {
  from?: string;
  to?: string;
  agent?: string;
  /** The caller channel (default twilio). */
  provider?: string;
  /** Final statuses end the call; other statuses leave it active. */
  status?: CallStatus;
  startedAt: Date;
  durationMs?: number;
  transcripts?: { speaker: 'caller' | 'agent'; text: string; startMs: number }[];
  analytics?: Partial<Omit<NewAnalytics, 'callId'>>;
}

const FINAL = new Set(['completed', 'busy', 'failed', 'no-answer', 'canceled']);

export async function seedCall(sb: SwitchboardApp, input: SeedCallInput): Promise<string> {
  const cm = sb.callManager;
  const call = await cm.createCall({
    from: input.from ?? '+15550000001',
    to: input.to ?? '+15559990000',
    agent: input.agent ?? 'default',
    ...(input.provider ? { provider: input.provider } : {}),
    startedAt: input.startedAt,
    metadata: { language: 'en', region: 'us' },
  });
  for (const t of input.transcripts ?? []) cm.addTranscript(call.id, t);
  const status = input.status ?? 'completed';
  if (FINAL.has(status)) {
    await cm.endCall(call.id, {
      reason: status === 'completed' ? 'caller-hangup' : status,
      status,
      endedAt: new Date(input.startedAt.getTime() + (input.durationMs ?? 60_000)),
    });
  } else {
    await cm.updateCall(call.id, { status });
    await cm.flush();
  }
  if (input.analytics) await cm.saveAnalytics({ callId: call.id, ...input.analytics });
  return call.id;
}
