/**
 * The attack script (npm run attack, issue 10) against the real server in its own process, started
 * as the README says for production (signatures on, API tokens, https PUBLIC_URL; the local AI is
 * allowed explicitly): nothing it tries may be ALLOWED, and every check must run. Rate limits and
 * the header and request timeouts are set low so that the floods meet their 429 and the slow
 * clients their close within the script's bounds.
 */
import { writeFileSync } from 'node:fs';
import { formatTable, runAttack, type AttackReport } from '../../scripts/attack';
import { startServerProcess, type ServerProcess } from '../../scripts/lib/server-process';
import { createTempDatabase, type TempDir } from '../../scripts/lib/test-db';

const AUTH_TOKEN = '0123456789abcdef0123456789abcdef';
const API_TOKEN = 'attack-script-test-api-token-01';
const READ_ONLY_TOKEN = 'attack-script-test-viewer-token-01';
const PUBLIC_URL = 'https://switchboard.attack.test';

describe('npm run attack against a production-configured server', () => {
  let tmp: TempDir;
  let server: ServerProcess;
  let report: AttackReport;

  beforeAll(async () => {
    tmp = createTempDatabase();
    server = await startServerProcess(
      {
        NODE_ENV: 'production',
        LOG_LEVEL: 'error',
        DATABASE_URL: tmp.databaseUrl,
        RECORDING_STORAGE_PATH: tmp.recordingsDir,
        API_TOKENS: `${API_TOKEN},read-only:viewer:${READ_ONLY_TOKEN}`,
        TWILIO_AUTH_TOKEN: AUTH_TOKEN,
        PUBLIC_URL,
        ALLOW_LOCAL_AI_IN_PRODUCTION: 'true',
        PUBLIC_RATE_LIMIT_PER_MIN: '100',
        WEBHOOK_RATE_LIMIT_PER_MIN: '250',
        API_RATE_LIMIT_PER_MIN: '200',
        HTTP_HEADERS_TIMEOUT_MS: '1500',
        HTTP_REQUEST_TIMEOUT_MS: '3000',
      },
      // A loaded machine can take longer than the default 30 s to start the server under tsx.
      90_000,
    );
    report = await runAttack({
      url: server.baseUrl,
      publicUrl: PUBLIC_URL,
      authToken: AUTH_TOKEN,
      apiToken: API_TOKEN,
      readOnlyToken: READ_ONLY_TOKEN,
      slowWaitMs: 8000,
    });
  }, 180_000);

  afterAll(async () => {
    await server?.stop();
    tmp?.cleanup();
  });

  it('finds nothing ALLOWED and every check runs', () => {
    const table = formatTable(report.rows);
    if (process.env.ATTACK_TABLE_FILE) writeFileSync(process.env.ATTACK_TABLE_FILE, table);
    expect({ allowed: report.allowed, errors: report.errors, table }).toEqual({ allowed: [], errors: [], table });
    // Every finding of the issue has a row; nothing was skipped for want of a flag.
    expect(new Set(report.rows.map((r) => r.item))).toEqual(
      new Set(['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']),
    );
    expect(report.rows.filter((r) => r.verdict === 'SKIPPED' || r.verdict === 'NOT REACHED')).toEqual([]);
  });

  it('meets each flood with a 429, cuts the slowloris, and refuses every replayed start', () => {
    const floods = report.rows.filter((r) => r.item === '8');
    expect(floods.length).toBeGreaterThanOrEqual(6);
    for (const row of floods) expect([row.attempt, row.verdict]).toEqual([row.attempt, 'REFUSED']);
    const replays = report.rows.filter((r) => r.item === '2' && r.attempt.startsWith("replay of A's start"));
    expect(replays.map((r) => r.got)).toEqual(replays.map(() => expect.stringContaining('"stream not authorised"')));
    expect(replays.length).toBeGreaterThanOrEqual(2);
    // A captured webhook replayed makes no second call, and none at all once the call has ended.
    const webhookReplays = report.rows.filter((r) => r.attempt.startsWith("replay of A's captured signed webhook"));
    expect(webhookReplays.map((r) => r.verdict)).toEqual(['REFUSED', 'REFUSED']);
    // HSTS goes with an https PUBLIC_URL.
    expect(report.rows.find((r) => r.attempt.startsWith('HSTS'))?.got).toMatch(/^present/);
  });

  it('refuses the supervision routes and the later surfaces to missing, forged and read-only tokens', () => {
    const rows = report.rows.filter((r) => r.item === '10');
    const refused = (prefix: string) => rows.filter((r) => r.attempt.startsWith(prefix) && r.verdict === 'REFUSED');
    for (const route of ['/listen', '/whisper', '/take-over', '/api/alert-rules', '/api/webhooks']) {
      expect([route, rows.filter((r) => r.attempt.includes(route) && r.verdict === 'REFUSED').length >= 3]).toEqual([
        route,
        true,
      ]);
      expect(rows.some((r) => r.attempt.includes(route) && r.attempt.endsWith('with a read-only token'))).toBe(true);
      expect(rows.some((r) => r.attempt.includes(route) && r.attempt.endsWith('with a forged token'))).toBe(true);
    }
    expect(refused('upgrade /ws').length).toBeGreaterThanOrEqual(3);
    expect(refused('upgrade /voice-gateway').length).toBeGreaterThanOrEqual(3);
    expect(refused('unsigned POST /twilio/sms').length).toBeGreaterThanOrEqual(2);
    expect(refused('unsigned POST /telnyx/').length).toBeGreaterThanOrEqual(5);
    expect(refused('1 MB').length).toBeGreaterThanOrEqual(6);
    // The role guard is what refused: a full token on an unknown call gets 404.
    expect(rows.find((r) => r.attempt.startsWith('POST whisper on an unknown call'))?.verdict).toBe('OK');
    const floods = report.rows.filter((r) => r.item === '8' && /whisper|sms|telnyx|\/ws/.test(r.attempt));
    expect(floods.map((r) => r.verdict)).toEqual(['REFUSED', 'REFUSED', 'REFUSED', 'REFUSED']);
  });

  it('refuses a target that is not on this machine before sending anything', async () => {
    await expect(runAttack({ url: 'http://93.184.216.34:3000' })).rejects.toThrow(
      /refusing to attack 93\.184\.216\.34/,
    );
    await expect(runAttack({ url: 'http://example.com' })).rejects.toThrow(/refusing to attack example\.com/);
    await expect(runAttack({ url: 'https://127.0.0.1:3000' })).rejects.toThrow(/http:\/\//);
  });
});
