/**
 * The environment of the server under test in the benchmarks (`npm run bench`, scripts/bench/call-cpu.ts):
 * production logs, signatures checked against a fixed token and public URL, a temporary SQLite file
 * and recordings folder, the local AI, no rate limit in the way of the load.
 */
import path from 'node:path';

export const BENCH_AUTH_TOKEN = '0123456789abcdef0123456789abcdef';
export const BENCH_API_TOKEN = 'bench-api-token-0123456789abcdef';
/** Never resolved: the simulated callers connect to the real port and sign with this URL. */
export const BENCH_PUBLIC_URL = 'https://switchboard-bench.invalid';

export interface BenchServerEnvOptions {
  port: number;
  /** Folder for the database and the recordings. */
  tmp: string;
  aiUrl: string;
  /** Default 'bench-local' (the local AI takes any key). */
  openaiKey?: string;
  maxConcurrentCalls: number;
  greeting: boolean;
}

export function benchServerEnv(o: BenchServerEnvOptions): Record<string, string> {
  return {
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    HOST: '127.0.0.1',
    PORT: String(o.port),
    PUBLIC_URL: BENCH_PUBLIC_URL,
    TWILIO_AUTH_TOKEN: BENCH_AUTH_TOKEN,
    DATABASE_URL: `file:${path.join(o.tmp, 'bench.db')}`,
    RECORDING_STORAGE_PATH: path.join(o.tmp, 'recordings'),
    OPENAI_REALTIME_URL: o.aiUrl,
    OPENAI_API_KEY: o.openaiKey ?? 'bench-local',
    MAX_CONCURRENT_CALLS: String(o.maxConcurrentCalls),
    AGENT_GREETS_FIRST: o.greeting ? 'true' : 'false',
    WEBHOOK_RATE_LIMIT_PER_MIN: '1000000',
    API_TOKENS: BENCH_API_TOKEN,
  };
}
