/** Totals over the local Realtime server's sessions (benchmarks read frame counts from these). */
import { BYTES_PER_MS } from './client-input';
import type { LocalRealtimeStats, SessionInfo } from './types';

export function emptyStats(): LocalRealtimeStats {
  return {
    sessions: 0,
    openSessions: 0,
    appends: 0,
    audioMsIn: 0,
    responses: 0,
    cancelledResponses: 0,
    speechStarted: 0,
    audioBytesOut: 0,
    audioBytesOutAfterSpeechStarted: 0,
  };
}

export function addSessionTotals(totals: LocalRealtimeStats, info: SessionInfo): void {
  totals.appends += info.appends;
  totals.audioMsIn += info.audioMsIn;
  totals.speechStarted += info.speechTurns.length;
  const bytesPerMs = BYTES_PER_MS[info.outputFormat];
  for (const response of info.responses) {
    totals.responses++;
    if (response.status === 'cancelled') totals.cancelledResponses++;
    totals.audioBytesOut += Math.round(response.audioMsSent * bytesPerMs);
    if (response.audioMsSentAtSpeechStarted !== undefined) {
      totals.audioBytesOutAfterSpeechStarted += Math.round(
        (response.audioMsSent - response.audioMsSentAtSpeechStarted) * bytesPerMs,
      );
    }
  }
}
