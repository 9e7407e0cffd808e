/**
 * The alert rules in force: loaded from ALERT_RULES_FILE at start (a bad file stops the start with
 * the field named), replaced or edited through /api/alert-rules, and written back to that file
 * (atomically, owner-only) when one is configured, so API changes survive a restart.
 */
import { readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { parseRules, type AlertRule } from './alert-rules';

export class AlertRuleStore {
  private rules: readonly AlertRule[] = [];
  private enabled: readonly AlertRule[] = [];
  private saving: Promise<void> = Promise.resolve();

  constructor(
    private readonly file?: string,
    initial: readonly AlertRule[] = [],
  ) {
    this.set(initial);
  }

  /** A store with the file's rules (none when no file is given). Throws naming the bad field. */
  static load(file: string | undefined): AlertRuleStore {
    if (!file) return new AlertRuleStore();
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new Error(`ALERT_RULES_FILE: cannot read ${file} as JSON (${(err as Error).message})`);
    }
    try {
      return new AlertRuleStore(file, parseRules(json));
    } catch (err) {
      throw new Error(`ALERT_RULES_FILE: ${(err as Error).message}`);
    }
  }

  all(): readonly AlertRule[] {
    return this.rules;
  }

  /** The enabled rules (read by the engine on every sweep: no allocation). */
  active(): readonly AlertRule[] {
    return this.enabled;
  }

  get(id: string): AlertRule | undefined {
    return this.rules.find((r) => r.id === id);
  }

  /** Replaces every rule (already validated) and saves them. */
  async replace(rules: readonly AlertRule[]): Promise<void> {
    this.set(rules);
    await this.save();
  }

  private set(rules: readonly AlertRule[]): void {
    this.rules = Object.freeze([...rules]);
    this.enabled = Object.freeze(rules.filter((r) => r.enabled));
  }

  private save(): Promise<void> {
    const file = this.file;
    if (!file) return Promise.resolve();
    const body = `${JSON.stringify({ rules: this.rules }, null, 2)}\n`;
    // One write at a time, in order; the last one wins.
    this.saving = this.saving
      .catch(() => undefined)
      .then(async () => {
        const tmp = `${file}.${process.pid}.tmp`;
        await writeFile(tmp, body, { mode: 0o600 });
        await rename(tmp, file);
      });
    return this.saving;
  }
}
