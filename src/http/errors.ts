/**
 * API errors: routes throw an ApiError with a stable code; one middleware maps it to the HTTP status
 * and `{ "error": { "code", "message" } }`. Unknown errors are a 500 with the stack logged (never
 * sent), and the process lives on.
 */
import type { ServerResponse } from 'node:http';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from '../logging/logger';

export const ERROR_STATUS = {
  bad_request: 400,
  invalid_parameter: 400,
  invalid_body: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  range_not_satisfiable: 416,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class ApiError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }

  static invalid(field: string, message: string): ApiError {
    return new ApiError('invalid_parameter', `${field}: ${message}`, field);
  }

  static notFound(what: string): ApiError {
    return new ApiError('not_found', `${what} not found`);
  }
}

/** The JSON error answer, on node's response (express's is one): also used where express is not (the webhook lane). */
export function sendError(res: ServerResponse, error: ApiError): void {
  const body = JSON.stringify({
    error: { code: error.code, message: error.message, ...(error.field ? { field: error.field } : {}) },
  });
  res.statusCode = error.status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}

export const notFoundHandler: RequestHandler = (req, res) => {
  sendError(res, new ApiError('not_found', `no route for ${req.method} ${req.path}`));
};

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    if (err instanceof ApiError) {
      sendError(res, err);
      return;
    }
    // body-parser and friends set `status`/`type` on their errors.
    const e = err as { status?: number; type?: string; message?: string; stack?: string };
    if (e.type === 'entity.too.large') {
      sendError(res, new ApiError('payload_too_large', 'request body is too large'));
      return;
    }
    if (e.type === 'entity.parse.failed') {
      sendError(res, new ApiError('invalid_body', 'request body is not valid JSON'));
      return;
    }
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
      res.status(e.status).json({ error: { code: 'bad_request', message: 'bad request' } });
      return;
    }
    logger.error('unhandled error in request', {
      method: req.method,
      path: req.path,
      error: e.message,
      stack: e.stack,
    });
    sendError(res, new ApiError('internal', 'internal server error'));
  };
}
