/**
 * Data protection (issue 18): redaction of transcripts and recordings, the per-profile privacy
 * policy. Wiring for src/app.ts.
 */
import { ConfigError, type Config } from '../config';
import type { Logger } from '../logging/logger';
import { CallPrivacy, spansFromEvents } from './call-privacy';
import { loadPrivacyPolicy, PrivacyPolicyError, type PrivacyPolicy } from './policy';
import { parseRecordingKey } from './sealed-file';

export { CallPrivacy, type CallPrivacyHook } from './call-privacy';
export type { PrivacyPolicy, ProfilePrivacy } from './policy';

/** Loads PRIVACY_POLICY_FILE (a bad file is a ConfigError naming every problem) and builds the hook. */
export function createCallPrivacy(
  config: Config,
  logger: Logger,
  recordingsDir: string,
  /** A call's `privacy.redacted` timeline events (crash recovery re-silences from them). */
  redactedEvents?: (callId: string) => Promise<Array<{ data: unknown }>>,
): { policy: PrivacyPolicy; hook: CallPrivacy; recordingKey: Buffer | undefined } {
  let policy: PrivacyPolicy;
  const recordingKey = config.privacy.recordingKey ? parseRecordingKey(config.privacy.recordingKey) : undefined;
  if (config.privacy.recordingKey && !recordingKey)
    throw new ConfigError(['RECORDING_ENCRYPTION_KEY: must be 64 hex characters or the base64 of 32 bytes']);
  try {
    policy = loadPrivacyPolicy(config.privacy.policyFile, config.privacy.recordingEnabled);
  } catch (err) {
    if (err instanceof PrivacyPolicyError) throw new ConfigError(err.problems);
    throw err;
  }
  const hook = new CallPrivacy({
    policy,
    recordingsDir,
    recordingKey,
    logger: logger.child({ component: 'privacy' }),
    storedSpans: redactedEvents ? async (callId) => spansFromEvents(await redactedEvents(callId)) : undefined,
  });
  return { policy, hook, recordingKey };
}
