/**
 * Recordings on the local disk (RECORDING_STORAGE_PATH): the default storage of one instance, and the
 * local half of the S3 storage (a recording is read from here while this instance still has it).
 *
 * Every path is resolved through realpath and must lie inside the recordings folder: a row pointing
 * elsewhere (`../x`, an absolute path, a symlink out) finds nothing.
 */
import { open, realpath, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from '../logging/logger';
import { removeInside } from '../privacy/erasure';
import type { FinalizeResult, RecordingObject, RecordingStorage } from './types';

/** The real path of `relative` under `dir`, or undefined when it does not exist or lies outside. */
export async function resolveInside(dir: string, relative: string): Promise<string | undefined> {
  if (!relative || relative.includes('\0')) return undefined;
  try {
    const root = await realpath(dir);
    const real = await realpath(path.resolve(root, relative));
    const prefix = root.endsWith(path.sep) ? root : root + path.sep;
    return real.startsWith(prefix) ? real : undefined;
  } catch {
    return undefined;
  }
}

/** A regular file opened for reading; undefined when it vanished between resolving and opening. */
async function openFile(file: string): Promise<RecordingObject | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const stat = await handle.stat().catch(async (err: unknown) => {
    await handle.close();
    throw err;
  });
  if (!stat.isFile()) {
    await handle.close();
    return undefined;
  }
  let owned = false;
  return {
    where: 'local',
    size: stat.size,
    mtimeMs: Math.floor(stat.mtimeMs),
    stream(start: number, end: number): Promise<Readable> {
      owned = true; // the stream closes the handle when done or destroyed
      return Promise.resolve(handle.createReadStream({ start, end, autoClose: true }));
    },
    async readBytes(start: number, end: number): Promise<Buffer> {
      const buf = Buffer.alloc(end - start + 1);
      const { bytesRead } = await handle.read(buf, 0, buf.length, start);
      return buf.subarray(0, bytesRead);
    },
    async close(): Promise<void> {
      if (!owned) await handle.close();
    },
  };
}

/** Opens `key` under `dir` when this instance has it (inside the folder, a regular file). */
export async function openLocalRecording(dir: string, key: string): Promise<RecordingObject | undefined> {
  const file = await resolveInside(dir, key);
  return file ? openFile(file) : undefined;
}

export class LocalRecordingStorage implements RecordingStorage {
  readonly kind = 'local' as const;

  constructor(
    private readonly dir: string,
    private readonly log: Logger,
  ) {}

  finalize(callId: string, key: string): Promise<FinalizeResult> {
    this.log.debug('recording kept on the local disk', { callId, key });
    return Promise.resolve({ status: 'local' });
  }

  open(key: string): Promise<RecordingObject | undefined> {
    return openLocalRecording(this.dir, key);
  }

  delete(key: string): Promise<boolean> {
    return removeInside(this.dir, key);
  }

  resumePending(): Promise<number> {
    return Promise.resolve(0);
  }

  readonly pendingUploads = 0;

  close(): Promise<void> {
    return Promise.resolve();
  }
}
