import path from 'node:path';

/** Where a call's recording lives, relative to RECORDING_STORAGE_PATH: `<YYYY-MM-DD>/<callId>.wav` (UTC day it was answered). */
export function recordingRelativePath(callId: string, answeredAt: Date): string {
  return path.join(answeredAt.toISOString().slice(0, 10), `${callId}.wav`);
}
