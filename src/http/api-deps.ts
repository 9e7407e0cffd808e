import type { Config } from '../config';
import type { CallManager } from '../calls/call-manager';
import type { Db } from '../db/prisma';
import { inlineReads, ReadPoolUnavailableError, ReadQueryError, type DbReads } from '../db/read-pool';
import type { EventBus } from '../events/event-bus';
import type { RecordingStorage } from '../recordings/storage';
import type { Logger } from '../logging/logger';
import { ApiError, ERROR_STATUS, type ErrorCode } from './errors';

/** What the HTTP API needs; app.ts builds it. */
export interface ApiDeps {
  config: Config;
  /** The main connection: the API's one write (a call's notes) goes through it. */
  db: Db;
  /**
   * Where the API's read queries run: the read pool (worker threads, off the main thread) in the
   * app; without it, on `db` in this thread.
   */
  reads?: DbReads;
  bus: EventBus;
  callManager: CallManager;
  logger: Logger;
  /** Absolute path of the recordings folder. */
  recordingsDir: string;
  /** Where finished recordings are read from (src/recordings/); default: built from the configuration. */
  recordingStorage?: RecordingStorage;
}

/**
 * The API's reads with errors made API errors: a dead or stuck read worker is a 503 `unavailable`
 * (the client may retry), an ApiError thrown inside a worker keeps its code.
 */
export function apiReads(deps: ApiDeps): DbReads {
  const reads = deps.reads ?? inlineReads(deps.db);
  return {
    run: (name, ...args) =>
      reads.run(name, ...args).catch((err: unknown) => {
        if (err instanceof ReadPoolUnavailableError) {
          deps.logger.warn('read query failed: read pool unavailable', { query: name, error: err.message });
          throw new ApiError('unavailable', 'the database is temporarily unavailable; retry the request');
        }
        if (err instanceof ReadQueryError && err.name === 'ApiError' && err.code && err.code in ERROR_STATUS)
          throw new ApiError(err.code as ErrorCode, err.message, err.field);
        throw err;
      }),
  };
}
