/**
 * Start-up recovery: calls a crashed process left open are closed as `interrupted`, and their
 * recordings (whose WAV headers were patched every few seconds while the call ran) are repaired and
 * registered so the audio up to the crash plays.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { repairWavFile } from '../audio/wav-header';
import type { Call } from '../generated/prisma/client';
import type { Logger } from '../logging/logger';
import type { CallManager } from './call-manager';
import { recordingRelativePath } from './recording-path';

export async function recoverInterruptedCalls(
  callManager: CallManager,
  recordingsDir: string,
  logger: Logger,
): Promise<number> {
  const closed = await callManager.closeInterruptedCalls();
  for (const call of closed) await repairRecordingOf(callManager, call, recordingsDir, logger);
  return closed.length;
}

/**
 * The recording of a call that was cut off (a crash of this process, or of another instance whose
 * calls this one closes: src/cluster/failover.ts): its WAV header patched to the audio on disk, the
 * file registered, and the call's duration taken from it. Nothing when the file is not here (another
 * instance's disk that is not shared).
 */
export async function repairRecordingOf(
  callManager: CallManager,
  call: Call,
  recordingsDir: string,
  logger: Logger,
): Promise<void> {
  if (!call.answeredAt) return;
  const rel = recordingRelativePath(call.id, call.answeredAt);
  const file = path.join(recordingsDir, rel);
  try {
    const result = await repairWavFile(file);
    const { size } = await stat(file);
    await callManager.addRecording({
      callId: call.id,
      path: rel,
      container: 'wav',
      codec: 'pcm_s16le',
      sampleRateHz: 8000,
      channels: 2,
      durationMs: Math.round(result.durationMs),
      sizeBytes: size,
    });
    await callManager.setRecoveredDuration(call.id, result.durationMs);
    logger.info('recording of an interrupted call repaired', {
      callId: call.id,
      repaired: result.repaired,
      durationMs: Math.round(result.durationMs),
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      logger.warn('could not repair the recording of an interrupted call', {
        callId: call.id,
        error: (err as Error).message,
      });
    }
  }
}
