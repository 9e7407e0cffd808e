/**
 * Entry point: load the configuration, apply pending migrations, start the server, and drain on
 * SIGTERM/SIGINT. The only file that exits the process.
 */
import 'dotenv/config';
import { ConfigError, loadConfig, type Config } from './config';
import { applyPendingMigrations } from './db/migrations';
import { createApp } from './app';

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
  const applied = await applyPendingMigrations(config.databaseUrl);
  const sb = await createApp(config);
  if (applied.length) sb.logger.info('database migrations applied', { migrations: applied });
  const port = await sb.listen();
  sb.logger.info('switchboard listening', { port, publicUrl: config.publicUrl, env: config.env });

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    sb.logger.info('shutting down', { signal });
    sb.close().then(
      () => process.exit(0),
      (err: unknown) => {
        sb.logger.error('shutdown failed', { error: (err as Error).message });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  console.error('switchboard failed to start:', err);
  process.exit(1);
});
