/**
 * Markers of recordings waiting for their upload, one small JSON file each in
 * `<RECORDING_STORAGE_PATH>/.pending-uploads/`, written before the first attempt and removed once
 * the object is verified (or the recording deleted). A process that stops (or dies) with uploads
 * still failing leaves its markers; the next start's `resumePending()` picks them up, so a recording
 * is never left only on one instance's disk because S3 was down at hang-up.
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface PendingUpload {
  callId: string;
  key: string;
  /** When the upload was first asked for (ISO). */
  since: string;
}

export class PendingUploads {
  readonly dir: string;

  constructor(recordingsDir: string) {
    this.dir = path.join(recordingsDir, '.pending-uploads');
  }

  private file(key: string): string {
    // Flat names: the key's slashes are encoded, so no marker can name a path outside the folder.
    return path.join(this.dir, `${encodeURIComponent(key)}.json`);
  }

  async add(callId: string, key: string): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const marker: PendingUpload = { callId, key, since: new Date().toISOString() };
    await writeFile(this.file(key), JSON.stringify(marker), { mode: 0o600 });
  }

  async remove(key: string): Promise<void> {
    await rm(this.file(key), { force: true });
  }

  /** Every marker that parses; a damaged one is skipped (and reported through `onBad`). */
  async list(onBad?: (name: string, error: string) => void): Promise<PendingUpload[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const found: PendingUpload[] = [];
    for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
      try {
        const m = JSON.parse(await readFile(path.join(this.dir, name), 'utf8')) as Partial<PendingUpload>;
        if (typeof m.key !== 'string' || typeof m.callId !== 'string') throw new Error('missing key or callId');
        found.push({ callId: m.callId, key: m.key, since: typeof m.since === 'string' ? m.since : '' });
      } catch (err) {
        onBad?.(name, (err as Error).message);
      }
    }
    return found;
  }
}
