#!/usr/bin/env node
// Generates the Prisma clients. Runs on `npm install` and `npm run db:generate`.
//
// prisma/schema.prisma is the one source of truth (SQLite). A Prisma schema names one provider, so
// the PostgreSQL schema, prisma/postgresql/schema.prisma, is derived from it here: only the
// provider, the client's output folder (src/generated/prisma-pg) and the PostgreSQL-only search
// column of Transcript differ. Then both clients are generated (src/generated/prisma and
// src/generated/prisma-pg). `--check` only tells whether the derived schema is up to date (exit 1
// if not) and generates nothing.
//
// `prisma generate` does not use Prisma's native schema engine, but the CLI downloads it before any
// command and that download fails without internet. Pointing PRISMA_SCHEMA_ENGINE_BINARY at an
// existing file skips the download; generation itself is unaffected. Where the variable is already
// set (or the engine is installed), it is left alone.
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync, mkdirSync, readFileSync, writeFileSync } = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const SQLITE_SCHEMA = path.join(root, 'prisma', 'schema.prisma');
const PG_SCHEMA = path.join(root, 'prisma', 'postgresql', 'schema.prisma');

/**
 * The PostgreSQL-only column of Transcript: the words of `text` as a tsvector, kept by a trigger
 * (prisma/postgresql/migrations/*_transcript_search) and searched through a GIN index. Declared in
 * the schema so that a migration diff keeps it; Unsupported fields are not part of the client API.
 */
const PG_TRANSCRIPT_FIELDS = [
  '  /// PostgreSQL only: the words of `text` for full-text search (trigger-maintained, GIN-indexed).',
  '  searchVector Unsupported("tsvector")?',
  '',
  '  @@index([searchVector], type: Gin)',
];

/** The PostgreSQL schema derived from the SQLite one (exported for the tests). */
function derivePostgresSchema(sqliteSchema) {
  let out = sqliteSchema;
  const replace = (from, to, what) => {
    if (!from.test(out))
      throw new Error(`prisma/schema.prisma: cannot derive the PostgreSQL schema (${what} not found)`);
    out = out.replace(from, to);
  };
  replace(/provider\s*=\s*"sqlite"/, 'provider = "postgresql"', 'provider = "sqlite"');
  replace(/output(\s*)=\s*"\.\.\/src\/generated\/prisma"/, 'output$1= "../../src/generated/prisma-pg"', 'the output');
  replace(
    /(model Transcript \{[\s\S]*?)(\n\s*@@index\(\[callId, startMs\]\))/,
    `$1$2\n${PG_TRANSCRIPT_FIELDS.join('\n')}`,
    'the Transcript model',
  );
  const header = [
    '// GENERATED from prisma/schema.prisma by scripts/prisma-generate.js: do not edit (edit that file and',
    '// run `npm run db:generate`). The PostgreSQL variant of the schema: provider, client output and',
    "// Transcript's search column differ; migrations: prisma/postgresql/migrations.",
    '',
  ].join('\n');
  return header + out.replace(/^(\/\/[^\n]*\n)+\n?/, '');
}

function writePostgresSchema() {
  const text = derivePostgresSchema(readFileSync(SQLITE_SCHEMA, 'utf8'));
  const current = existsSync(PG_SCHEMA) ? readFileSync(PG_SCHEMA, 'utf8') : null;
  if (current !== text) {
    mkdirSync(path.dirname(PG_SCHEMA), { recursive: true });
    writeFileSync(PG_SCHEMA, text);
  }
  return current === text;
}

function generate(schema) {
  const env = { ...process.env, PRISMA_HIDE_UPDATE_MESSAGE: '1' };
  if (!env.PRISMA_SCHEMA_ENGINE_BINARY) env.PRISMA_SCHEMA_ENGINE_BINARY = __filename;
  const prismaCli = require.resolve('prisma/build/index.js', { paths: [root] });
  const result = spawnSync(process.execPath, [prismaCli, 'generate', '--schema', schema], {
    cwd: root,
    env,
    stdio: 'inherit',
  });
  return result.status ?? 1;
}

if (require.main === module) {
  if (process.argv.includes('--check')) {
    const text = derivePostgresSchema(readFileSync(SQLITE_SCHEMA, 'utf8'));
    const same = existsSync(PG_SCHEMA) && readFileSync(PG_SCHEMA, 'utf8') === text;
    if (!same) console.error('prisma/postgresql/schema.prisma is out of date: run `npm run db:generate`');
    process.exit(same ? 0 : 1);
  }
  writePostgresSchema();
  let status = generate(SQLITE_SCHEMA);
  if (status === 0) status = generate(PG_SCHEMA);
  process.exit(status);
}

module.exports = { derivePostgresSchema, PG_SCHEMA, SQLITE_SCHEMA };
