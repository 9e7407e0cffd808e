/**
 * The orchestrator protocol's `voice_url`: each spoken reply is kept in memory as a WAV (PCM16 16 kHz
 * mono) for a limited time, at an unguessable URL (the id is the capability: an <audio> element can
 * fetch it without a token). Bounded in count and bytes; the oldest go first.
 */
import { randomBytes } from 'node:crypto';
import { Router } from 'express';
import { wavHeader } from '../../audio/wav-header';
import { ApiError } from '../../http/errors';

export const REPLY_TTL_MS = 5 * 60_000;
export const MAX_REPLY_BYTES_TOTAL = 64 * 1024 * 1024;
const ID_PATTERN = /^[A-Za-z0-9_-]{32}$/;

export class ReplyAudioStore {
  private readonly replies = new Map<string, { wav: Buffer; expiresAt: number }>();
  private totalBytes = 0;

  constructor(
    private readonly ttlMs = REPLY_TTL_MS,
    private readonly maxBytes = MAX_REPLY_BYTES_TOTAL,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.replies.size;
  }

  /** Stores PCM16 audio as a WAV; returns its id. */
  put(pcm: Buffer, sampleRateHz: number): string {
    this.sweep();
    const header = wavHeader({ sampleRateHz, channels: 1, bitsPerSample: 16, dataBytes: pcm.length });
    const wav = Buffer.concat([header, pcm]);
    while (this.replies.size && this.totalBytes + wav.length > this.maxBytes)
      this.drop(this.replies.keys().next().value!);
    const id = randomBytes(24).toString('base64url');
    this.replies.set(id, { wav, expiresAt: this.now() + this.ttlMs });
    this.totalBytes += wav.length;
    return id;
  }

  get(id: string): Buffer | undefined {
    const entry = this.replies.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.drop(id);
      return undefined;
    }
    return entry.wav;
  }

  private drop(id: string): void {
    const entry = this.replies.get(id);
    if (!entry) return;
    this.replies.delete(id);
    this.totalBytes -= entry.wav.length;
  }

  private sweep(): void {
    const t = this.now();
    for (const [id, entry] of this.replies) if (entry.expiresAt <= t) this.drop(id);
  }
}

/** GET /replies/<id>.wav (mounted under the channel's /app-ws). */
export function createReplyAudioRouter(store: ReplyAudioStore): Router {
  const router = Router({ caseSensitive: true, strict: true });
  router.get('/replies/:file', (req, res) => {
    const file = req.params.file;
    const id = file.endsWith('.wav') ? file.slice(0, -4) : '';
    const wav = ID_PATTERN.test(id) ? store.get(id) : undefined;
    if (!wav) throw new ApiError('not_found', 'no such reply (replies are kept for 5 minutes)');
    res.setHeader('Cache-Control', 'private, max-age=300');
    res.type('audio/wav').send(wav);
  });
  return router;
}
