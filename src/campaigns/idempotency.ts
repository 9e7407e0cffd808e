/**
 * Idempotency keys for requests that dial: the first request with a key runs; a retry with the same
 * key and the same body gets the first one's result (while it runs, it waits for it) and never dials
 * again; the same key with another body is a conflict. A failed attempt frees its key, so a client
 * may retry it. Keys live 24 hours, at most MAX_KEYS at once (the oldest are forgotten first).
 */
import { createHash } from 'node:crypto';

export const IDEMPOTENCY_KEY = /^[A-Za-z0-9_.:-]{8,128}$/;
const MAX_KEYS = 50_000;
const TTL_MS = 24 * 60 * 60 * 1000;

export class IdempotencyConflict extends Error {
  constructor() {
    super('this Idempotency-Key was already used with a different request');
    this.name = 'IdempotencyConflict';
  }
}

interface Entry<T> {
  fingerprint: string;
  result: Promise<T>;
  at: number;
}

export class IdempotencyKeys<T> {
  private readonly entries = new Map<string, Entry<T>>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Runs `run` once per key; `replayed` says whether the result is an earlier request's. */
  async once(key: string, body: unknown, run: () => Promise<T>): Promise<{ value: T; replayed: boolean }> {
    this.prune();
    const fingerprint = createHash('sha256').update(JSON.stringify(body)).digest('hex');
    const existing = this.entries.get(key);
    if (existing) {
      if (existing.fingerprint !== fingerprint) throw new IdempotencyConflict();
      return { value: await existing.result, replayed: true };
    }
    if (this.entries.size >= MAX_KEYS) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    const result = run();
    this.entries.set(key, { fingerprint, result, at: this.now() });
    try {
      return { value: await result, replayed: false };
    } catch (err) {
      if (this.entries.get(key)?.result === result) this.entries.delete(key);
      throw err;
    }
  }

  get size(): number {
    return this.entries.size;
  }

  private prune(): void {
    const limit = this.now() - TTL_MS;
    for (const [key, entry] of this.entries) {
      if (entry.at >= limit) break;
      this.entries.delete(key);
    }
  }
}
