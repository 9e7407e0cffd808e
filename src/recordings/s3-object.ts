/**
 * Reading recordings back from S3-compatible object storage (AWS SDK v3): HeadObject for the size
 * and validators, then one GetObject per response with the exact byte range asked for, whose body is
 * piped through (never held whole in memory). The GetObject carries the HEAD's ETag as If-Match, so
 * a range is never cut from a different version of the object.
 *
 * Also the client settings shared with the uploader: request checksums only WHEN_REQUIRED, because
 * the SDK's default (since 3.729) sends stream bodies as `aws-chunked` with a CRC trailer, which
 * several S3-compatible servers store verbatim (checked with s3rver: an object 80 bytes longer, the
 * framing inside it). Uploads are verified by size instead (s3-storage.ts).
 */
import {
  GetObjectCommand,
  HeadObjectCommand,
  S3Client,
  S3ServiceException,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { RecordingStorageUnavailableError, type RecordingObject } from './types';

/** S3 metadata key (x-amz-meta-mtime-ms) of the recording file's mtime: one ETag on every instance. */
export const MTIME_META = 'mtime-ms';

export interface S3ClientOptions {
  endpoint?: string;
  region: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  forcePathStyle: boolean;
  /** Attempts of one request inside the SDK (its own retry). */
  maxAttempts: number;
  connectionTimeoutMs: number;
  /** Socket idle timeout of a request. */
  requestTimeoutMs: number;
}

/** The SDK's own messages, at debug level (its default logs a failed streamed upload on the console). */
type SdkLog = (message: string) => void;

function sdkLogger(log: SdkLog | undefined): S3ClientConfig['logger'] {
  const debug = (...args: unknown[]) => log?.(args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' '));
  return { trace: () => undefined, debug: () => undefined, info: () => undefined, warn: debug, error: debug };
}

export function createS3Client(o: S3ClientOptions, log?: SdkLog): S3Client {
  const config: S3ClientConfig = {
    logger: sdkLogger(log),
    region: o.region,
    endpoint: o.endpoint,
    forcePathStyle: o.forcePathStyle,
    maxAttempts: o.maxAttempts,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { connectionTimeout: o.connectionTimeoutMs, requestTimeout: o.requestTimeoutMs },
  };
  if (o.credentials) config.credentials = o.credentials;
  return new S3Client(config);
}

/** True for "no such object" (HEAD answers a bare 404 NotFound, GET a NoSuchKey). */
export function isNotFound(err: unknown): boolean {
  if (!(err instanceof S3ServiceException)) return false;
  return err.name === 'NotFound' || err.name === 'NoSuchKey' || err.$metadata.httpStatusCode === 404;
}

function unavailable(err: unknown): Error {
  if (err instanceof RecordingStorageUnavailableError) return err;
  return new RecordingStorageUnavailableError(`object storage unavailable: ${(err as Error).message}`);
}

/** The object under `objectKey`, opened for reading; undefined when it does not exist. */
export async function openS3Object(
  client: S3Client,
  bucket: string,
  objectKey: string,
): Promise<RecordingObject | undefined> {
  let head;
  try {
    head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: objectKey }));
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw unavailable(err);
  }
  const size = head.ContentLength ?? 0;
  const metaMtime = Number(head.Metadata?.[MTIME_META]);
  const mtimeMs = Number.isFinite(metaMtime) && metaMtime > 0 ? metaMtime : (head.LastModified?.getTime() ?? 0);
  const etag = head.ETag;

  const get = async (start: number, end: number): Promise<Readable> => {
    try {
      const res = await client.send(
        new GetObjectCommand({ Bucket: bucket, Key: objectKey, Range: `bytes=${start}-${end}`, IfMatch: etag }),
      );
      if (!(res.Body instanceof Readable)) throw new Error('GetObject returned no stream body');
      return res.Body;
    } catch (err) {
      throw unavailable(err);
    }
  };

  return {
    where: 's3',
    size,
    mtimeMs,
    stream: get,
    async readBytes(start: number, end: number): Promise<Buffer> {
      const chunks: Buffer[] = [];
      for await (const c of await get(start, end)) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    },
    close: () => Promise.resolve(),
  };
}
