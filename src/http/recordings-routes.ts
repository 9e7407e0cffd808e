/**
 * GET /api/calls/:id/recording: the call's latest WAV with HTTP Range support (a browser <audio>
 * element can seek), ETag / Last-Modified, and `?download=true` for an attachment. The bytes come
 * from the recording storage (src/recordings): the local file when this instance has it (resolved
 * through realpath, it must lie inside the recordings folder: a row pointing elsewhere is a 404),
 * else the S3 object, read with a GetObject of exactly the range asked for and piped through, never
 * held whole in memory. Sealed recordings are decrypted chunk by chunk either way.
 *
 * GET /api/calls/:id/recording-url: a signed URL of that recording for players that cannot send an
 * Authorization header (the dashboard's <audio>): valid a few minutes, for that call only (see
 * UrlSigner in auth.ts; the token check in front of /api accepts it on the recording route).
 */
import { pipeline } from 'node:stream/promises';
import { Router } from 'express';
import { apiReads, type ApiDeps } from './api-deps';
import { ApiError } from './errors';
import { UrlSigner } from './auth';
import { booleanParam, idParam, type Query } from './validation';
import { parseRecordingKey } from '../privacy/sealed-file';
import {
  createRecordingStorage,
  RecordingStorageUnavailableError,
  type RecordingObject,
  type RecordingStorage,
} from '../recordings/storage';
import { plainView, RecordingKeyMissingError } from '../recordings/plain-view';

// Kept here too for src/privacy/export.ts.
export { resolveInside } from '../recordings/local-storage';

/** The API's deps, plus the app's recording storage (without it: one built from config, for reads). */
export type RecordingsRouterDeps = ApiDeps & { recordingStorage?: RecordingStorage };

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

const etagMatches = (header: string | undefined, etag: string): boolean =>
  header !== undefined && header.split(',').some((t) => t.trim() === etag || t.trim() === '*');

export function createRecordingsRouter(deps: RecordingsRouterDeps): Router {
  const router = Router();
  const { recordingsDir, logger } = deps;
  const reads = apiReads(deps);
  const signer = new UrlSigner(deps.config.http.urlSigningSecret);
  // Recordings sealed at rest (src/privacy/sealed-file.ts) are served by decrypting the chunks a range covers.
  const sealKey = parseRecordingKey(deps.config.privacy.recordingKey);
  const storage = deps.recordingStorage ?? createRecordingStorage(deps.config, recordingsDir, logger);

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
    let obj: RecordingObject | undefined;
    try {
      obj = await storage.open(recording.path);
    } catch (err) {
      if (!(err instanceof RecordingStorageUnavailableError)) throw err;
      logger.warn('recording storage unavailable', { callId: id, error: err.message });
      throw new ApiError('unavailable', 'the recording storage is temporarily unavailable; retry the request');
    }
    if (!obj) {
      logger.warn('recording file missing or outside the recordings folder', { callId: id, recordingId: recording.id });
      throw ApiError.notFound('recording file');
    }

    let owned = false; // once a stream has the object, it closes it
    try {
      let view;
      try {
        view = await plainView(obj, recording.path, sealKey);
      } catch (err) {
        if (err instanceof RecordingKeyMissingError) throw new ApiError('unavailable', err.message);
        throw err;
      }
      const size = view.size;
      const etag = `"${size.toString(16)}-${obj.mtimeMs.toString(16)}"`;
      const lastModified = new Date(obj.mtimeMs).toUTCString();
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
      let stream;
      try {
        stream = await view.stream(start, end);
      } catch (err) {
        if (!(err instanceof RecordingStorageUnavailableError)) throw err;
        logger.warn('recording storage unavailable', { callId: id, error: err.message });
        throw new ApiError('unavailable', 'the recording storage is temporarily unavailable; retry the request');
      }
      owned = true;
      try {
        await pipeline(stream, res);
      } catch (err) {
        // A listener that seeks or closes the tab aborts the response: normal, not an error.
        if ((err as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE')
          logger.warn('recording stream failed', { callId: id, from: obj.where, error: (err as Error).message });
      }
    } finally {
      if (!owned) await obj.close();
    }
  });

  return router;
}
