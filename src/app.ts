/**
 * createApp: builds the whole server from a Config — database, CallManager, event bus, HTTP API,
 * Twilio webhooks and the /streams WebSocket — with no module-level singletons, so tests can run
 * several on port 0. Only this file and main.ts wire dependencies together.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import express from 'express';
import type { Config } from './config';
import { createLogger, type Logger } from './logging/logger';
import { createDb, type Db } from './db/prisma';
import { CallRepository } from './db/call-repository';
import { PROJECT_ROOT } from './db/migrations';
import { EventBus } from './events/event-bus';
import { CallManager } from './calls/call-manager';
import { createHealthRouter } from './http/health';
import { createApiRouter } from './http/api-router';
import { requireApiToken } from './http/auth';
import { errorHandler, notFoundHandler } from './http/errors';

export const VERSION: string = (
  JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }
).version;

export interface CreateAppOptions {
  logger?: Logger;
  db?: Db;
}

export interface SwitchboardApp {
  config: Config;
  app: express.Express;
  server: http.Server;
  db: Db;
  bus: EventBus;
  callManager: CallManager;
  logger: Logger;
  recordingsDir: string;
  /** Starts listening (port 0 picks a free port) and returns the bound port. */
  listen(port?: number, host?: string): Promise<number>;
  /** Stops taking requests, ends active calls, flushes writes and closes the database. Idempotent. */
  close(): Promise<void>;
}

export async function createApp(config: Config, options: CreateAppOptions = {}): Promise<SwitchboardApp> {
  const logger =
    options.logger ??
    createLogger({
      level: config.logLevel,
      json: config.env === 'production',
      silent: config.env === 'test' && config.logLevel === 'error' && !process.env.SWITCHBOARD_TEST_LOGS,
    });
  const db = options.db ?? (await createDb(config.databaseUrl));
  const bus = new EventBus(5000, (err) => logger.error('event listener failed', { error: (err as Error).message }));
  const callManager = new CallManager({ repository: new CallRepository(db), bus, logger });
  const recordingsDir = path.resolve(PROJECT_ROOT, config.recordingsDir);
  mkdirSync(recordingsDir, { recursive: true });
  const startedAt = Date.now();

  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  const server = http.createServer(app);

  app.use(createHealthRouter({ db, callManager, version: VERSION, startedAt }));
  app.use(
    '/api',
    requireApiToken(config.apiTokens),
    createApiRouter({ config, db, bus, callManager, logger, recordingsDir }),
  );
  app.use(notFoundHandler);
  app.use(errorHandler(logger));

  let closing: Promise<void> | undefined;
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  return {
    config,
    app,
    server,
    db,
    bus,
    callManager,
    logger,
    recordingsDir,
    listen(port = config.port, host = config.host) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve((server.address() as AddressInfo).port);
        });
      });
    },
    close() {
      closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          // Long-lived connections (SSE, keep-alive) would hold close() open.
          for (const socket of sockets) socket.destroy();
          if (!server.listening) resolve();
        });
        await callManager.close();
        await db.$disconnect();
      })();
      return closing;
    },
  };
}
