/**
 * Creates and applies Prisma migrations without Prisma's native schema engine.
 *
 * The `prisma` CLI downloads a native schema engine before `migrate` commands, which fails on a
 * machine without internet. The same engine ships on npm compiled to WebAssembly
 * (@prisma/schema-engine-wasm); we drive it through the SQLite driver adapter. Migrations are the
 * ordinary `prisma/migrations/<name>/migration.sql` folders recorded in `_prisma_migrations`, so the
 * regular `prisma migrate deploy` works on the same folder where the internet is reachable.
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import {
  bindMigrationAwareSqlAdapterFactory,
  type SqlMigrationAwareDriverAdapterFactory,
} from '@prisma/driver-adapter-utils';
import type * as EngineGlue from '@prisma/schema-engine-wasm/schema_engine_bg';
import type { MigrationList, SchemaEngine, SchemaFilter } from '@prisma/schema-engine-wasm/schema_engine_bg';

export const PROJECT_ROOT = path.resolve(
  __dirname,
  '..',
  '..',
  ...(__dirname.includes(`${path.sep}dist${path.sep}`) ? ['..'] : []),
);
export const SCHEMA_PATH = path.join(PROJECT_ROOT, 'prisma', 'schema.prisma');
export const MIGRATIONS_DIR = path.join(PROJECT_ROOT, 'prisma', 'migrations');

/** Tables created by hand-written migration SQL that the Prisma schema does not model. */
export const EXTERNAL_TABLES: string[] = [
  'transcript_fts',
  'transcript_fts_data',
  'transcript_fts_idx',
  'transcript_fts_docsize',
  'transcript_fts_config',
  'transcript_fts_content',
];

const FILTERS: SchemaFilter = { externalTables: EXTERNAL_TABLES, externalEnums: [] };

// The WebAssembly global is not in the ES2023 lib typings; only these calls are needed.
type WasmExports = Record<string, unknown>;
declare const WebAssembly: {
  instantiate(bytes: Uint8Array, imports: Record<string, unknown>): Promise<{ instance: { exports: WasmExports } }>;
};

type WasmGlue = typeof EngineGlue & {
  __wbg_set_wasm(exports: WasmExports): void;
};

let gluePromise: Promise<WasmGlue> | undefined;

/**
 * Node 20 cannot import .wasm as a module: instantiate the engine's WebAssembly by hand. The glue is
 * an ES module, loaded with require() (Node >= 20.19 loads ES modules synchronously).
 */
function loadEngineGlue(): Promise<WasmGlue> {
  gluePromise ??= (async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const glue = require('@prisma/schema-engine-wasm/schema_engine_bg') as WasmGlue;
    const gluePath = require.resolve('@prisma/schema-engine-wasm/schema_engine_bg');
    const wasmPath = path.join(path.dirname(gluePath), 'schema_engine_bg.wasm');
    const { instance } = await WebAssembly.instantiate(readFileSync(wasmPath), {
      './schema_engine_bg.js': glue,
    });
    glue.__wbg_set_wasm(instance.exports);
    (instance.exports.__wbindgen_start as () => void)();
    return glue;
  })();
  return gluePromise;
}

/** Turns `file:./data/x.db` (relative to the project root, as Prisma does) into a path. */
export function sqliteFilePath(databaseUrl: string): string {
  const raw = databaseUrl.replace(/^file:/, '').split('?')[0];
  if (raw === ':memory:') return raw;
  return path.isAbsolute(raw) ? raw : path.resolve(PROJECT_ROOT, raw);
}

/**
 * Creates the database's folder (0700) and an empty database file (0600) before SQLite opens it, so
 * the file, and the -wal/-shm files SQLite gives the same permissions, are the owner's only: they
 * hold phone numbers and transcripts. An existing file keeps the permissions its operator chose.
 */
export function prepareSqliteFile(file: string): void {
  if (file === ':memory:') return;
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  if (!existsSync(file)) closeSync(openSync(file, 'a', 0o600));
}

interface Engine {
  engine: SchemaEngine;
  /** Runs an engine call, turning the engine's "External error id#N" into the driver's own error. */
  run<T>(fn: (engine: SchemaEngine) => Promise<T>): Promise<T>;
  /** Frees the engine and closes every database connection it opened (it keeps them otherwise). */
  dispose(): Promise<void>;
}

type Disposable = { dispose(): Promise<void> };

async function openEngine(databaseUrl: string): Promise<Engine> {
  const glue = await loadEngineGlue();
  const file = sqliteFilePath(databaseUrl);
  prepareSqliteFile(file);
  // Track the connections the engine opens so they can be closed: a connection left open keeps
  // the file locked for the server that starts right after the migrations.
  const inner = new PrismaBetterSqlite3({ url: file });
  const opened: Disposable[] = [];
  const track = async <T extends Disposable>(connection: Promise<T>): Promise<T> => {
    const c = await connection;
    opened.push(c);
    return c;
  };
  const tracking: SqlMigrationAwareDriverAdapterFactory = {
    provider: inner.provider,
    adapterName: inner.adapterName,
    connect: () => track(inner.connect()),
    connectToShadowDb: () => track(inner.connectToShadowDb()),
  };
  const adapter = bindMigrationAwareSqlAdapterFactory(tracking);
  const explain = (err: unknown): unknown => {
    const id = /External error id#(\d+)/.exec(String((err as Error)?.message ?? err))?.[1];
    const original = id === undefined ? undefined : adapter.errorRegistry.consumeError(Number(id));
    return original?.error ?? err;
  };
  const schema = readFileSync(SCHEMA_PATH, 'utf8');
  const engine = await glue.SchemaEngine.new({ datamodels: [[SCHEMA_PATH, schema]] }, () => undefined, adapter).catch(
    (err: unknown) => {
      throw explain(err);
    },
  );
  return {
    engine,
    run: (fn) =>
      fn(engine).catch((err: unknown) => {
        throw explain(err);
      }),
    async dispose() {
      engine.free();
      for (const connection of opened.splice(0)) await connection.dispose().catch(() => undefined);
    },
  };
}

function readMigrationsList(): MigrationList {
  const lockPath = path.join(MIGRATIONS_DIR, 'migration_lock.toml');
  const dirs = existsSync(MIGRATIONS_DIR)
    ? readdirSync(MIGRATIONS_DIR, { withFileTypes: true })
        .filter((d) => d.isDirectory() && existsSync(path.join(MIGRATIONS_DIR, d.name, 'migration.sql')))
        .map((d) => d.name)
        .sort()
    : [];
  return {
    baseDir: MIGRATIONS_DIR,
    lockfile: {
      path: 'migration_lock.toml',
      content: existsSync(lockPath) ? readFileSync(lockPath, 'utf8') : null,
    },
    shadowDbInitScript: '',
    migrationDirectories: dirs.map((name) => ({
      path: name,
      migrationFile: {
        path: 'migration.sql',
        content: { tag: 'ok', value: readFileSync(path.join(MIGRATIONS_DIR, name, 'migration.sql'), 'utf8') },
      },
    })),
  } as MigrationList;
}

/** Applies every migration not yet applied (what `prisma migrate deploy` does). */
export async function applyPendingMigrations(databaseUrl: string): Promise<string[]> {
  const { run, dispose } = await openEngine(databaseUrl);
  try {
    const out = await run((e) => e.applyMigrations({ migrationsList: readMigrationsList(), filters: FILTERS }));
    return out.appliedMigrationNames;
  } finally {
    await dispose();
  }
}

/**
 * Writes a new migration folder with the SQL that takes the existing migrations to the current
 * schema (what `prisma migrate dev --create-only` does). Returns its folder, or null when the
 * schema has no changes.
 */
export async function createMigration(name: string): Promise<string | null> {
  // The engine's shadow-database path cannot run multi-statement scripts through the driver
  // adapter, so the existing migrations are applied to a scratch database and diffed from there.
  const scratch = path.join(mkdtempSync(path.join(tmpdir(), 'switchboard-migrate-')), 'scratch.db');
  const { run, dispose } = await openEngine(`file:${scratch}`);
  try {
    const list = readMigrationsList();
    const schema = readFileSync(SCHEMA_PATH, 'utf8');
    if (list.migrationDirectories.length > 0)
      await run((e) => e.applyMigrations({ migrationsList: list, filters: FILTERS }));
    const files = [{ path: SCHEMA_PATH, content: schema }];
    const result = await run((e) =>
      e.diff({
        from: { tag: 'schemaDatasource', files, configDir: PROJECT_ROOT },
        to: { tag: 'schemaDatamodel', files },
        script: true,
        exitCode: null,
        filters: FILTERS,
      } as Parameters<SchemaEngine['diff']>[0]),
    );
    const sql = (result as unknown as { stdout: string }).stdout;
    if (!sql.trim() || /^-- This is an empty migration\.?\s*$/.test(sql.trim())) return null;
    const stamp = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
    const slug =
      name
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, '_')
        .replace(/^_|_$/g, '') || 'migration';
    const dir = path.join(MIGRATIONS_DIR, `${stamp}_${slug}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'migration.sql'), sql);
    const lockPath = path.join(MIGRATIONS_DIR, 'migration_lock.toml');
    if (!existsSync(lockPath)) {
      writeFileSync(
        lockPath,
        '# Please do not edit this file manually\n# It should be added in your version-control system (e.g., Git)\nprovider = "sqlite"\n',
      );
    }
    return dir;
  } finally {
    await dispose();
    rmSync(path.dirname(scratch), { recursive: true, force: true });
  }
}
