#!/usr/bin/env node
// Generates the Prisma client (src/generated/prisma). Runs on `npm install` and `npm run db:generate`.
//
// `prisma generate` does not use Prisma's native schema engine, but the CLI downloads it before any
// command and that download fails without internet. Pointing PRISMA_SCHEMA_ENGINE_BINARY at an
// existing file skips the download; generation itself is unaffected. Where the variable is already
// set (or the engine is installed), it is left alone.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const env = { ...process.env, PRISMA_HIDE_UPDATE_MESSAGE: '1' };
if (!env.PRISMA_SCHEMA_ENGINE_BINARY) env.PRISMA_SCHEMA_ENGINE_BINARY = __filename;

const prismaCli = require.resolve('prisma/build/index.js', { paths: [root] });
const result = spawnSync(process.execPath, [prismaCli, 'generate'], { cwd: root, env, stdio: 'inherit' });
process.exit(result.status ?? 1);
