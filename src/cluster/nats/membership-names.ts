/**
 * Names the cluster's membership code uses on NATS, in one place so every instance agrees on them:
 * the key-value buckets (`<PREFIX>_instances` for heartbeats and takeover markers, `<PREFIX>_calls` for
 * call leases), their keys, and the subject each instance answers routed call actions on
 * (`<prefix>.instances.<id>.actions`).
 *
 * Instance ids (INSTANCE_ID, default host-pid-random; a host name may hold dots) and call ids are not
 * always valid key or subject tokens, so they go through `keyToken`: unchanged when they are
 * (`[A-Za-z0-9_-]`), otherwise the safe characters plus a short hash of the original, so two ids never
 * share a token. The values stored under the keys always carry the real ids.
 */
import { createHash } from 'node:crypto';

const SAFE_TOKEN = /^[A-Za-z0-9_-]{1,128}$/;

/** A key/subject token for an id: the id itself when it is safe, else a sanitised form plus a hash. */
export function keyToken(id: string): string {
  if (id.length === 0) throw new Error('an empty id cannot name a cluster key');
  if (SAFE_TOKEN.test(id)) return id;
  const hash = createHash('sha256').update(id).digest('hex').slice(0, 10);
  return `${id.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 100)}-${hash}`;
}

/** A bucket name part for NATS_PREFIX: bucket names allow only `[A-Za-z0-9_-]`. */
function bucketPrefix(prefix: string): string {
  if (!prefix) throw new Error('NATS_PREFIX must not be empty');
  return prefix.replace(/[^A-Za-z0-9_-]/g, '_');
}

export interface ClusterNames {
  /** Heartbeats (`instance.<token>`) and takeover markers (`takeover.<token>`); bucket TTL = lease TTL. */
  instancesBucket: string;
  /** Call leases (`<callToken>` → {callId, instanceId, claimedAt}). */
  callsBucket: string;
  heartbeatKey(instanceId: string): string;
  takeoverKey(instanceId: string): string;
  leaseKey(callId: string): string;
  /** The request/reply subject an instance answers routed call actions on. */
  actionsSubject(instanceId: string): string;
}

export function clusterNames(prefix: string): ClusterNames {
  const bucket = bucketPrefix(prefix);
  const subjectPrefix = prefix.replace(/[\s*>]/g, '_');
  return {
    instancesBucket: `${bucket}_instances`,
    callsBucket: `${bucket}_calls`,
    heartbeatKey: (id) => `instance.${keyToken(id)}`,
    takeoverKey: (id) => `takeover.${keyToken(id)}`,
    leaseKey: (callId) => keyToken(callId),
    actionsSubject: (id) => `${subjectPrefix}.instances.${keyToken(id)}.actions`,
  };
}
