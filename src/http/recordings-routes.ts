/**
 * GET /api/calls/:id/recording: the call's latest WAV, streamed from disk with HTTP Range support
 * (a browser <audio> element can seek), ETag / Last-Modified, and `?download=true` for an
 * attachment. The file is resolved through realpath and must lie inside the recordings folder:
 * a row pointing elsewhere (`../x`, an absolute path, a symlink out) is a 404.
 *
 * GET /api/calls/:id/recording-url: a signed URL of that recording for players that cannot send an
 * Authorization header (the dashboard's <audio>): valid a few minutes, for that call only (see
 * UrlSigner in auth.ts; the token check in front of /api accepts it on the recording route).
 */
import { open, realpath, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Router } from 'express';
import { apiReads, type ApiDeps } from './api-deps';
import { ApiError } from './errors';
import { UrlSigner } from './auth';
import { booleanParam, idParam, type Query } from './validation';
import { openSealedRange, parseRecordingKey, readSealedHeader, SEALED_EXT } from '../privacy/sealed-file';

export type ByteRange = { start: number; end: number };

/**
 * Reads a Range header for a file of `size` bytes. Only single byte ranges are served; a header
 * that is not one (multiple ranges, another unit, garbage, last < first) is ignored and the whole
 * file is sent, as RFC 9110 allows. Returns 'unsatisfiable' for a range outside the file.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Number(m[2]);
  if (!Number.isSafeInteger(start) || !Number.isFinite(end)) return undefined;
  if (m[2] !== '' && end < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end: Math.min(end, size - 1) };
}

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

const etagMatches = (header: string | undefined, etag: string): boolean =>
  header !== undefined && header.split(',').some((t) => t.trim() === etag || t.trim() === '*');

export function createRecordingsRouter(deps: ApiDeps): Router {
  const router = Router();
  const { recordingsDir, logger } = deps;
  const reads = apiReads(deps);
  const signer = new UrlSigner(deps.config.http.urlSigningSecret);
  // Recordings sealed at rest (src/privacy/sealed-file.ts) are served by decrypting the chunks a range covers.
  const sealKey = parseRecordingKey(deps.config.privacy.recordingKey);

  router.get('/calls/:id/recording-url', async (req, res) => {
    const id = idParam(req.params.id);
    const recording = await reads.run('latestRecording', id);
    if (!recording) throw ApiError.notFound((await reads.run('callExists', id)) ? 'recording' : 'call');
    const { url, expires } = signer.signRecording(id);
    res.setHeader('Cache-Control', 'no-store');
    res.json({ url, expiresAt: new Date(expires * 1000).toISOString(), expiresInSec: signer.ttlSec });
  });

  router.get('/calls/:id/recording', async (req, res) => {
    const id = idParam(req.params.id);
    const download = booleanParam(req.query as Query, 'download');
    const recording = await reads.run('latestRecording', id);
    if (!recording) throw ApiError.notFound((await reads.run('callExists', id)) ? 'recording' : 'call');
    const file = await resolveInside(recordingsDir, recording.path);
    if (!file) {
      logger.warn('recording file missing or outside the recordings folder', { callId: id, recordingId: recording.id });
      throw ApiError.notFound('recording file');
    }

    let handle: FileHandle | undefined = await open(file, 'r');
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) throw ApiError.notFound('recording file');
      const sealed = file.endsWith(SEALED_EXT) ? await readSealedHeader(handle) : undefined;
      if (sealed && !sealKey) throw new ApiError('unavailable', 'the recording is encrypted and no key is configured');
      const size = sealed ? sealed.plainSize : stat.size;
      const etag = `"${size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}"`;
      const lastModified = stat.mtime.toUTCString();
      res.setHeader('Accept-Ranges', 'bytes');
      res.setHeader('Content-Type', 'audio/wav');
      res.setHeader('ETag', etag);
      res.setHeader('Last-Modified', lastModified);
      res.setHeader('Cache-Control', 'private, no-cache');
      res.setHeader('Content-Disposition', `${download ? 'attachment' : 'inline'}; filename="call-${id}.wav"`);

      if (etagMatches(req.headers['if-none-match'], etag)) {
        res.status(304).end();
        return;
      }
      // If-Range: a range of an older version of the file is no use; send the whole current file.
      const ifRange = req.headers['if-range'];
      const rangeAllowed = ifRange === undefined || ifRange === etag || ifRange === lastModified;
      const range = rangeAllowed ? parseRange(req.headers.range, size) : undefined;
      if (range === 'unsatisfiable') {
        res.setHeader('Content-Range', `bytes */${size}`);
        res.removeHeader('Content-Type');
        res.removeHeader('Content-Disposition');
        throw new ApiError('range_not_satisfiable', `range not satisfiable for a file of ${size} bytes`);
      }
      const { start, end } = range ?? { start: 0, end: size - 1 };
      if (range) {
        res.status(206);
        res.setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
      } else res.status(200);
      res.setHeader('Content-Length', String(size === 0 ? 0 : end - start + 1));
      if (req.method === 'HEAD' || size === 0) {
        res.end();
        return;
      }
      const stream = sealed
        ? openSealedRange(handle, sealed, sealKey!, start, end)
        : handle.createReadStream({ start, end, autoClose: true });
      handle = undefined; // the stream owns it now and closes it when done or destroyed
      try {
        await pipeline(stream, res);
      } catch (err) {
        // A listener that seeks or closes the tab aborts the response: normal, not an error.
        if ((err as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE')
          logger.warn('recording stream failed', { callId: id, error: (err as Error).message });
      }
    } finally {
      await handle?.close();
    }
  });

  return router;
}
