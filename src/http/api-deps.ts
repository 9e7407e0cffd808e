import type { Config } from '../config';
import type { CallManager } from '../calls/call-manager';
import type { Db } from '../db/prisma';
import type { EventBus } from '../events/event-bus';
import type { Logger } from '../logging/logger';

/** What the HTTP API needs; app.ts builds it. */
export interface ApiDeps {
  config: Config;
  db: Db;
  bus: EventBus;
  callManager: CallManager;
  logger: Logger;
  /** Absolute path of the recordings folder. */
  recordingsDir: string;
}
