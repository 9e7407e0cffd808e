/**
 * Swagger UI (~16 MB resident) and archiver (~17 MB) serve rare requests — the API docs page and a
 * subject access export — so they load on the first such request, not at start: in a fresh process
 * the whole app's module graph (src/app) leaves both unloaded; the first /docs request loads Swagger
 * UI and serves its page and assets; the first export loads archiver and streams a real zip. Run in a
 * child process (tsx's require hook) so the module cache is a fresh one.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';

const TSX_REQUIRE_HOOK = require.resolve('tsx/cjs');
const ROOT = path.resolve(__dirname, '../..');

const CHILD_SCRIPT = `
const loaded = (name) => Object.keys(require.cache).some((k) => k.includes('node_modules/' + name + '/'));
const state = () => ({ swagger: loaded('swagger-ui-express'), archiver: loaded('archiver') });
require('./src/app');
const { createApiDocsRouter } = require('./src/http/api-router');
const { streamNumberExport } = require('./src/privacy/export');
const express = require('express');
const { PassThrough } = require('node:stream');
const out = { afterApp: state() };
(async () => {
  const app = express();
  app.use('/api', createApiDocsRouter({ version: '9.9.9' }));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const base = 'http://127.0.0.1:' + server.address().port;
  const spec = await fetch(base + '/api/openapi.json');
  out.spec = { status: spec.status, version: (await spec.json()).info.version };
  out.afterSpec = state();
  const page = await fetch(base + '/api/docs/');
  const html = await page.text();
  out.page = { status: page.status, titled: html.includes('Switchboard API') };
  const css = await fetch(base + '/api/docs/swagger-ui.css');
  out.css = { status: css.status, bytes: (await css.text()).length };
  out.afterDocs = state();
  server.close();
  const db = { call: { findMany: async () => [{ id: 'c1', from: '+15550001111', recordings: [] }] } };
  const logger = { child: () => logger, info() {}, warn() {}, error() {}, debug() {} };
  const sink = new PassThrough();
  const chunks = [];
  sink.on('data', (b) => chunks.push(b));
  out.export = await streamNumberExport({ db, recordingsDir: '/nonexistent', logger }, '+15550001111', sink);
  const zip = Buffer.concat(chunks);
  out.zip = { magic: zip.subarray(0, 2).toString('latin1'), hasCallsJson: zip.includes('calls.json') };
  out.afterExport = state();
  process.stdout.write(JSON.stringify(out));
})().catch((err) => { console.error(err); process.exit(1); });
`;

describe('Swagger UI and archiver loaded on first use', () => {
  it('are not loaded by the app; the docs page and an export load them and work', async () => {
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ['--require', TSX_REQUIRE_HOOK, '-e', CHILD_SCRIPT],
        { cwd: ROOT, timeout: 90_000 },
        (err, out, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(out)),
      );
    });
    const out = JSON.parse(stdout) as Record<string, unknown>;
    expect(out.afterApp).toEqual({ swagger: false, archiver: false });
    expect(out.spec).toEqual({ status: 200, version: '9.9.9' });
    expect(out.afterSpec).toEqual({ swagger: false, archiver: false });
    expect(out.page).toEqual({ status: 200, titled: true });
    expect((out.css as { status: number; bytes: number }).status).toBe(200);
    expect((out.css as { status: number; bytes: number }).bytes).toBeGreaterThan(10_000);
    expect(out.afterDocs).toEqual({ swagger: true, archiver: false });
    expect(out.export).toEqual({ calls: 1, recordings: 0 });
    expect(out.zip).toEqual({ magic: 'PK', hasCallsJson: true });
    expect(out.afterExport).toEqual({ swagger: true, archiver: true });
  }, 120_000);
});
