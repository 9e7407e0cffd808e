/**
 * Data protection (issue 18): redaction of transcripts and recordings, the per-profile privacy
 * policy. Wiring for src/app.ts.
 */
import { ConfigError, type Config } from '../config';
import type { Logger } from '../logging/logger';
import { CallPrivacy } from './call-privacy';
import { loadPrivacyPolicy, PrivacyPolicyError, type PrivacyPolicy } from './policy';

export { CallPrivacy, type CallPrivacyHook } from './call-privacy';
export type { PrivacyPolicy, ProfilePrivacy } from './policy';

/** Loads PRIVACY_POLICY_FILE (a bad file is a ConfigError naming every problem) and builds the hook. */
export function createCallPrivacy(
  config: Config,
  logger: Logger,
  recordingsDir: string,
): { policy: PrivacyPolicy; hook: CallPrivacy } {
  let policy: PrivacyPolicy;
  try {
    policy = loadPrivacyPolicy(config.privacy.policyFile, config.privacy.recordingEnabled);
  } catch (err) {
    if (err instanceof PrivacyPolicyError) throw new ConfigError(err.problems);
    throw err;
  }
  return { policy, hook: new CallPrivacy({ policy, recordingsDir, logger: logger.child({ component: 'privacy' }) }) };
}
