/**
 * Creates and applies Prisma migrations without Prisma's native schema engine, for SQLite and
 * PostgreSQL.
 *
 * The `prisma` CLI downloads a native schema engine before `migrate` commands, which fails on a
 * machine without internet. The same engine ships on npm compiled to WebAssembly
 * (@prisma/schema-engine-wasm); we drive it through the database's driver adapter (better-sqlite3
 * or pg). Migrations are the ordinary `<name>/migration.sql` folders recorded in
 * `_prisma_migrations` - prisma/migrations for SQLite, prisma/postgresql/migrations for PostgreSQL
 * (against the schema scripts/prisma-generate.js derives) - so the regular `prisma migrate deploy`
 * works on the same folders where the internet is reachable.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import {
  bindMigrationAwareSqlAdapterFactory,
  type SqlMigrationAwareDriverAdapterFactory,
} from '@prisma/driver-adapter-utils';
import type * as EngineGlue from '@prisma/schema-engine-wasm/schema_engine_bg';
import type { MigrationList, SchemaEngine, SchemaFilter } from '@prisma/schema-engine-wasm/schema_engine_bg';
import { dialectOfUrl, type Dialect } from './dialect';
import { createPostgresDatabase, dropPostgresDatabase } from './pg-admin';
import { PROJECT_ROOT, prepareSqliteFile, sqliteFilePath } from './paths';

export { PROJECT_ROOT, prepareSqliteFile, sqliteFilePath } from './paths';

export const SCHEMA_PATH = path.join(PROJECT_ROOT, 'prisma', 'schema.prisma');
export const MIGRATIONS_DIR = path.join(PROJECT_ROOT, 'prisma', 'migrations');
/** The PostgreSQL schema (derived from SCHEMA_PATH by scripts/prisma-generate.js) and its migrations. */
export const PG_SCHEMA_PATH = path.join(PROJECT_ROOT, 'prisma', 'postgresql', 'schema.prisma');
export const PG_MIGRATIONS_DIR = path.join(PROJECT_ROOT, 'prisma', 'postgresql', 'migrations');

/** Tables created by hand-written migration SQL that the Prisma schema does not model (SQLite's FTS5 index). */
export const EXTERNAL_TABLES: string[] = [
  'transcript_fts',
  'transcript_fts_data',
  'transcript_fts_idx',
  'transcript_fts_docsize',
  'transcript_fts_config',
  'transcript_fts_content',
];

/** What differs between the two databases' migrations. */
interface Flavour {
  dialect: Dialect;
  schemaPath: string;
  migrationsDir: string;
  lockProvider: string;
  filters: SchemaFilter;
}

const FLAVOURS: Record<Dialect, Flavour> = {
  sqlite: {
    dialect: 'sqlite',
    schemaPath: SCHEMA_PATH,
    migrationsDir: MIGRATIONS_DIR,
    lockProvider: 'sqlite',
    filters: { externalTables: EXTERNAL_TABLES, externalEnums: [] },
  },
  postgres: {
    dialect: 'postgres',
    schemaPath: PG_SCHEMA_PATH,
    migrationsDir: PG_MIGRATIONS_DIR,
    lockProvider: 'postgresql',
    filters: { externalTables: [], externalEnums: [] },
  },
};

/** The migrations folder of a database URL's dialect. */
export function migrationsDirFor(databaseUrl: string): string {
  return FLAVOURS[dialectOfUrl(databaseUrl)].migrationsDir;
}

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

interface Engine {
  engine: SchemaEngine;
  flavour: Flavour;
  /** Runs an engine call, turning the engine's "External error id#N" into the driver's own error. */
  run<T>(fn: (engine: SchemaEngine) => Promise<T>): Promise<T>;
  /** Frees the engine and closes every database connection it opened (it keeps them otherwise). */
  dispose(): Promise<void>;
}

type Disposable = { dispose(): Promise<void> };

/** PostgreSQL's one-byte `"char"` type (pg_catalog columns such as relkind, contype). */
const PG_CHAR_OID = 18;
const PG_TEXT_OID = 25;

/**
 * A pg pool for the schema engine: the engine's schema describer reads pg_catalog columns of the
 * one-byte `"char"` type, which @prisma/adapter-pg has no column type for ("Column type 'char'
 * could not be deserialized"). Their values arrive as one-character strings, so reporting them as
 * text is exact.
 */
class CatalogPool extends pg.Pool {
  override query(...args: unknown[]): never {
    const result = (super.query as (...a: unknown[]) => unknown)(...args);
    if (!(result instanceof Promise)) return result as never;
    return result.then((r: pg.QueryResult) => {
      for (const f of r?.fields ?? []) if (f.dataTypeID === PG_CHAR_OID) f.dataTypeID = PG_TEXT_OID;
      return r;
    }) as never;
  }
}

interface PgScriptRunner {
  executeScript(script: string): Promise<void>;
  underlyingDriver(): pg.Pool;
  onError(err: unknown): never;
}

/**
 * @prisma/adapter-pg runs a migration script by splitting it at every `;`, which breaks a function
 * body ($$ … ; … $$) in a hand-written migration. PostgreSQL runs a whole multi-statement script in
 * one simple-protocol query, as one implicit transaction (what the native engine does too), so the
 * script is sent whole.
 */
function wholeScripts(adapter: PgScriptRunner): void {
  adapter.executeScript = async (script: string): Promise<void> => {
    try {
      await adapter.underlyingDriver().query(script);
    } catch (err) {
      adapter.onError(err);
    }
  };
}

/** The driver adapter the engine connects through: better-sqlite3 for a file, pg for postgres://. */
function engineAdapter(databaseUrl: string): SqlMigrationAwareDriverAdapterFactory {
  if (dialectOfUrl(databaseUrl) === 'postgres')
    return new PrismaPg(new CatalogPool({ connectionString: databaseUrl, max: 2 }), { disposeExternalPool: true });
  const file = sqliteFilePath(databaseUrl);
  prepareSqliteFile(file);
  return new PrismaBetterSqlite3({ url: file });
}

async function openEngine(databaseUrl: string): Promise<Engine> {
  const glue = await loadEngineGlue();
  const flavour = FLAVOURS[dialectOfUrl(databaseUrl)];
  // Track the connections the engine opens so they can be closed: a connection left open keeps
  // the file locked for the server that starts right after the migrations (or a pool open).
  const inner = engineAdapter(databaseUrl);
  const opened: Disposable[] = [];
  const track = async <T extends Disposable>(connection: Promise<T>): Promise<T> => {
    const c = await connection;
    opened.push(c);
    if (flavour.dialect === 'postgres') wholeScripts(c as unknown as PgScriptRunner);
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
  const schema = readFileSync(flavour.schemaPath, 'utf8');
  const engine = await glue.SchemaEngine.new(
    { datamodels: [[flavour.schemaPath, schema]] },
    () => undefined,
    adapter,
  ).catch((err: unknown) => {
    throw explain(err);
  });
  return {
    engine,
    flavour,
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

function readMigrationsList(flavour: Flavour): MigrationList {
  const dir = flavour.migrationsDir;
  const lockPath = path.join(dir, 'migration_lock.toml');
  const dirs = existsSync(dir)
    ? readdirSync(dir, { withFileTypes: true })
        .filter((d) => d.isDirectory() && existsSync(path.join(dir, d.name, 'migration.sql')))
        .map((d) => d.name)
        .sort()
    : [];
  return {
    baseDir: dir,
    lockfile: {
      path: 'migration_lock.toml',
      content: existsSync(lockPath) ? readFileSync(lockPath, 'utf8') : null,
    },
    shadowDbInitScript: '',
    migrationDirectories: dirs.map((name) => ({
      path: name,
      migrationFile: {
        path: 'migration.sql',
        content: { tag: 'ok', value: readFileSync(path.join(dir, name, 'migration.sql'), 'utf8') },
      },
    })),
  } as MigrationList;
}

/** Applies every migration not yet applied (what `prisma migrate deploy` does), SQLite or PostgreSQL by the URL. */
export async function applyPendingMigrations(databaseUrl: string): Promise<string[]> {
  const { run, dispose, flavour } = await openEngine(databaseUrl);
  try {
    const out = await run((e) =>
      e.applyMigrations({ migrationsList: readMigrationsList(flavour), filters: flavour.filters }),
    );
    return out.appliedMigrationNames;
  } finally {
    await dispose();
  }
}

export interface CreateMigrationOptions {
  /** Which migrations folder (default sqlite). */
  dialect?: Dialect;
  /**
   * PostgreSQL: a server URL on which a scratch database may be created and dropped (default:
   * DATABASE_URL when it is a postgres:// URL).
   */
  postgresUrl?: string;
}

/**
 * Writes a new migration folder with the SQL that takes the existing migrations to the current
 * schema (what `prisma migrate dev --create-only` does). Returns its folder, or null when the
 * schema has no changes.
 */
export async function createMigration(name: string, options: CreateMigrationOptions = {}): Promise<string | null> {
  // The engine's shadow-database path cannot run multi-statement scripts through the driver
  // adapter, so the existing migrations are applied to a scratch database and diffed from there.
  const scratch = await scratchDatabase(options);
  const { run, dispose, flavour } = await openEngine(scratch.url);
  try {
    const list = readMigrationsList(flavour);
    const schema = readFileSync(flavour.schemaPath, 'utf8');
    if (list.migrationDirectories.length > 0)
      await run((e) => e.applyMigrations({ migrationsList: list, filters: flavour.filters }));
    const files = [{ path: flavour.schemaPath, content: schema }];
    const result = await run((e) =>
      e.diff({
        from: { tag: 'schemaDatasource', files, configDir: PROJECT_ROOT },
        to: { tag: 'schemaDatamodel', files },
        script: true,
        exitCode: null,
        filters: flavour.filters,
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
    const dir = path.join(flavour.migrationsDir, `${stamp}_${slug}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'migration.sql'), sql);
    const lockPath = path.join(flavour.migrationsDir, 'migration_lock.toml');
    if (!existsSync(lockPath)) {
      writeFileSync(
        lockPath,
        `# Please do not edit this file manually\n# It should be added in your version-control system (e.g., Git)\nprovider = "${flavour.lockProvider}"\n`,
      );
    }
    return dir;
  } finally {
    await dispose();
    await scratch.drop();
  }
}

/** An empty database to diff from: a temporary SQLite file, or a temporary PostgreSQL database. */
async function scratchDatabase(options: CreateMigrationOptions): Promise<{ url: string; drop(): Promise<void> }> {
  if ((options.dialect ?? 'sqlite') === 'sqlite') {
    const dir = mkdtempSync(path.join(tmpdir(), 'switchboard-migrate-'));
    return {
      url: `file:${path.join(dir, 'scratch.db')}`,
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const server = options.postgresUrl ?? process.env.DATABASE_URL ?? '';
  if (dialectOfUrl(server) !== 'postgres')
    throw new Error('creating a PostgreSQL migration needs a postgres:// server URL (--postgres-url or DATABASE_URL)');
  const url = await createPostgresDatabase(server, `sb_migrate_${Date.now().toString(36)}`);
  return { url, drop: () => dropPostgresDatabase(url) };
}
