/**
 * `npm run bench -- --instances 2`: Switchboard as a cluster (docs/scaling.md) — N instances on a
 * fresh PostgreSQL database, NATS JetStream and Redis (the machine's services; new prefixes per run),
 * behind HAProxy (round-robin per request, so a call's webhook, stream and callbacks land on different
 * instances). The callers talk to the balancer; the server figures add up the instances.
 */
import { createPostgresDatabase, NATS_TEST_URL, REDIS_TEST_URL, uniqueSuffix } from '../lib/cluster-services';
import { startLoadBalancer, type LoadBalancer } from '../lib/load-balancer';

export interface BenchCluster {
  /** Environment shared by every instance (each adds its INSTANCE_ID). */
  env: Record<string, string>;
  startBalancer(ports: number[]): Promise<LoadBalancer>;
  /** Drops the database (after the instances have stopped). */
  drop(): Promise<void>;
}

export async function prepareBenchCluster(): Promise<BenchCluster> {
  const pg = await createPostgresDatabase('sbbench');
  const prefix = `sbbench${uniqueSuffix()}`;
  return {
    env: {
      DATABASE_URL: pg.url,
      NATS_URL: NATS_TEST_URL,
      NATS_PREFIX: prefix,
      REDIS_URL: REDIS_TEST_URL,
      REDIS_PREFIX: `${prefix}:`,
      STREAM_TOKEN_SECRET: `bench-stream-token-secret-${prefix}`,
      TRUST_PROXY: 'loopback',
    },
    startBalancer: (ports) => startLoadBalancer(ports.map((port, i) => ({ name: `sb${i}`, port }))),
    drop: () => pg.drop(),
  };
}
