/**
 * WEBHOOKS_FILE: outgoing webhook subscriptions (with their signing secrets) survive a restart —
 * written owner-only on every change, read back at start, and a damaged file stops the start with
 * a message that names the problem and never the secret.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EventBus } from '../../src/events/event-bus';
import { createLogger } from '../../src/logging/logger';
import { loadSubscriptions, Webhooks } from '../../src/supervision/webhooks';

const logger = createLogger({ level: 'error', json: false, silent: true });

describe('webhook subscriptions kept in WEBHOOKS_FILE', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'sb-webhooks-'));
    file = path.join(dir, 'webhooks.json');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('restores every subscription, secret included, after a restart; removals stick', async () => {
    const first = new Webhooks({ bus: new EventBus(), logger, file });
    const a = first.add('https://crm.example.com/hooks', ['call.ended']);
    const b = first.add('https://alerts.example.com/in', ['alert.fired', 'call.started']);
    await first.saved();
    expect(statSync(file).mode & 0o777).toBe(0o600);
    first.close();
    // close() stops deliveries but keeps the file as it is.
    expect(loadSubscriptions(file).map((s) => s.id)).toEqual([a.id, b.id]);

    const second = new Webhooks({ bus: new EventBus(), logger, file });
    expect(second.list()).toEqual([a, b]);
    expect(second.remove(a.id)).toBe(true);
    await second.saved();
    second.close();
    const third = new Webhooks({ bus: new EventBus(), logger, file });
    expect(third.list()).toEqual([b]);
    third.close();
  });

  it('keeps nothing on disk without a file', async () => {
    const hooks = new Webhooks({ bus: new EventBus(), logger });
    hooks.add('https://crm.example.com/hooks', ['call.ended']);
    await hooks.saved();
    hooks.close();
    expect(() => statSync(file)).toThrow();
  });

  it('refuses a damaged file with a message naming the problem, never the secret', () => {
    writeFileSync(file, '{"subscriptions": [');
    expect(() => loadSubscriptions(file)).toThrow(/not JSON/);
    const secret = 'whsec_do-not-print-me-0123456789';
    writeFileSync(
      file,
      JSON.stringify({
        subscriptions: [{ id: 'wh_1', url: 'ftp://x', events: ['call.ended'], secret, createdAt: 'now' }],
      }),
    );
    let message = '';
    try {
      loadSubscriptions(file);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/subscription 0 is malformed/);
    expect(message).not.toContain(secret);
    writeFileSync(file, JSON.stringify({ hooks: [] }));
    expect(() => new Webhooks({ bus: new EventBus(), logger, file })).toThrow(/expected \{"subscriptions"/);
    expect(readFileSync(file, 'utf8')).toContain('hooks');
  });
});
