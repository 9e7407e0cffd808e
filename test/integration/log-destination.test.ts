/**
 * The log goes to stdout without ever blocking the event loop (src/logging/destination.ts): a
 * reader that stops reading holds no call up, lines past the queue's limit are dropped, counted and
 * reported, and what is queued when the process exits is still written. Real child processes and
 * real pipes (test/helpers/log-writer.ts).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, constants, createReadStream, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BATCH_MS, FLUSH_TIMEOUT_MS, MAX_QUEUED_BYTES } from '../../src/logging/destination';

const ROOT = path.resolve(__dirname, '..', '..');

interface Report {
  sent: number;
  maxLateMs: number;
  dropped: number;
  metric: number;
  batches: number;
}

/** The writer, its stdout a socket pair to this process (Node's 'pipe') or the file descriptor given. */
function writer(
  env: Record<string, string>,
  stdin: 'ignore' | 'pipe' = 'ignore',
  stdout: 'pipe' | number = 'pipe',
): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/helpers/log-writer.ts')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: [stdin, stdout, 'pipe'],
  });
}

const parse = (text: string): Record<string, unknown>[] =>
  text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** The child's report (its first stderr line), or a rejection after timeoutMs. */
function report(child: ChildProcess, timeoutMs = 20_000): Promise<Report> {
  return new Promise((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`no report within ${timeoutMs} ms: ${err}`)), timeoutMs);
    child.stderr!.on('data', (chunk: Buffer) => {
      err += chunk.toString();
      const line = err.split('\n').find((l) => l.startsWith('{'));
      if (line && err.includes('\n')) {
        clearTimeout(timer);
        resolve(JSON.parse(line) as Report);
      }
    });
  });
}

/** Everything the child writes to stdout until it exits, as parsed JSON lines, and its exit code. */
async function readAll(child: ChildProcess): Promise<{ lines: Record<string, unknown>[]; code: number | null }> {
  const chunks: Buffer[] = [];
  child.stdout!.on('data', (c: Buffer) => chunks.push(c));
  child.stdout!.resume();
  const [code] = (await once(child, 'exit')) as [number | null];
  if (!child.stdout!.readableEnded) await once(child.stdout!, 'end');
  return { lines: parse(Buffer.concat(chunks).toString('utf8')), code };
}

const numbered = (lines: Record<string, unknown>[]): number[] =>
  lines.filter((l) => l.message === 'line').map((l) => l.n as number);

describe('log destination', () => {
  it('keeps the event loop running while nobody reads stdout, and writes every line once someone does', async () => {
    const child = writer({ LINES: '5000', END: 'flush' });
    // Nobody reads: the pipe (64 KB) and the stream's buffer fill after a few hundred lines.
    child.stdout!.pause();
    const got = await report(child);
    expect(got.sent).toBe(5000);
    expect(got.dropped).toBe(0);
    expect(got.metric).toBe(0);
    // A synchronous stdout would have stopped here for good (no report at all).
    expect(got.maxLateMs).toBeLessThan(250);
    const { lines, code } = await readAll(child);
    expect(code).toBe(0);
    expect(numbered(lines)).toEqual(Array.from({ length: 5000 }, (_, i) => i));
  }, 60_000);

  it('drops the lines past its limit while the reader is stopped, counts them and says so once it reads again', async () => {
    const child = writer({ LINES: '60000', END: 'wait' }, 'pipe');
    child.stdout!.pause();
    const got = await report(child);
    expect(got.sent).toBe(60000);
    // ~200 bytes a line: 12 MB against the 8 MB the destination holds.
    expect(got.dropped).toBeGreaterThan(10_000);
    expect(got.dropped).toBeLessThan(60000 - MAX_QUEUED_BYTES / 250);
    expect(got.metric).toBe(got.dropped);
    expect(got.maxLateMs).toBeLessThan(250);
    const all = readAll(child);
    child.stdin!.end();
    const { lines, code } = await all;
    expect(code).toBe(0);
    const n = numbered(lines);
    // Every line kept is written, in order; the ones dropped are the newest, while the queue was full.
    expect(n).toHaveLength(60000 - got.dropped);
    expect(n.every((v, i) => i === 0 || v > n[i - 1])).toBe(true);
    const warning = lines.find((l) => l.level === 'warn');
    expect(warning).toMatchObject({
      message: 'log lines dropped: the reader of stdout fell behind',
      droppedLines: got.dropped,
    });
  }, 60_000);

  it('exits without waiting for a reader that has stopped', async () => {
    const child = writer({ LINES: '5000', END: 'flush' });
    const exited = once(child, 'exit') as Promise<[number | null]>;
    child.stdout!.pause();
    await report(child);
    const reportedAt = performance.now();
    // flushLogs() gives up after FLUSH_TIMEOUT_MS and the exit skips a stalled stdout (a blocking
    // write there would wait for this test to read, for ever).
    const [code] = await exited;
    expect(code).toBe(0);
    expect(performance.now() - reportedAt).toBeLessThan(FLUSH_TIMEOUT_MS + 3000);
    child.stdout!.destroy();
  }, 60_000);

  it('writes the lines still queued when the process exits', async () => {
    const child = writer({ LINES: '3000', END: 'exit' });
    const [got, { lines, code }] = await Promise.all([report(child), readAll(child)]);
    expect(got.sent).toBe(3000);
    expect(code).toBe(0);
    expect(numbered(lines)).toEqual(Array.from({ length: 3000 }, (_, i) => i));
  }, 60_000);

  it("keeps the lines in order on the way out while libuv's thread pool is busy", async () => {
    // The pool busy with other work (a server's DNS lookups, file reads, compression) held the
    // sonic-boom version's first batch there while the exit wrote the later ones; the pool wrote
    // the first one after them (lines 77-1540, then 0-76, then the rest, five runs out of five).
    const child = writer({ LINES: '3000', END: 'exit', BUSY_POOL: '1' });
    const [got, { lines, code }] = await Promise.all([report(child), readAll(child)]);
    expect(got.sent).toBe(3000);
    expect(code).toBe(0);
    expect(numbered(lines)).toEqual(Array.from({ length: 3000 }, (_, i) => i));
  }, 60_000);

  describe('other kinds of stdout', () => {
    let dir: string;
    beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), 'log-destination-'))));
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it("a real pipe (a container runtime's log driver): nobody reading holds nothing up, and every line arrives in order", async () => {
      const fifo = path.join(dir, 'stdout');
      execFileSync('mkfifo', [fifo]);
      // Opened read-write, a FIFO does not wait for a reader; nobody reads it until the report.
      const fd = openSync(fifo, constants.O_RDWR);
      const child = writer({ LINES: '5000', END: 'flush' }, 'ignore', fd);
      closeSync(fd);
      const exited = once(child, 'exit') as Promise<[number | null]>;
      const got = await report(child);
      expect(got.sent).toBe(5000);
      expect(got.dropped).toBe(0);
      // A blocking pipe would have stopped the writer at ~64 KB: no report at all.
      expect(got.maxLateMs).toBeLessThan(250);
      const chunks: Buffer[] = [];
      const reader = createReadStream(fifo);
      reader.on('data', (c) => chunks.push(c as Buffer));
      const [[code]] = await Promise.all([exited, once(reader, 'close')]);
      expect(code).toBe(0);
      expect(numbered(parse(Buffer.concat(chunks).toString('utf8')))).toEqual(
        Array.from({ length: 5000 }, (_, i) => i),
      );
    }, 60_000);

    it('a file: the lines still queued at the exit are written, in order', async () => {
      const file = path.join(dir, 'log.jsonl');
      const fd = openSync(file, 'w');
      const child = writer({ LINES: '3000', END: 'exit', BUSY_POOL: '1' }, 'ignore', fd);
      closeSync(fd);
      const [[code], got] = await Promise.all([once(child, 'exit') as Promise<[number | null]>, report(child)]);
      expect(code).toBe(0);
      expect(got.sent).toBe(3000);
      expect(numbered(parse(readFileSync(file, 'utf8')))).toEqual(Array.from({ length: 3000 }, (_, i) => i));
    }, 60_000);

    it('a reader that has gone (EPIPE): the process carries on and exits normally', async () => {
      const child = writer({ LINES: '5000', END: 'flush' });
      const exited = once(child, 'exit') as Promise<[number | null]>;
      child.stdout!.destroy();
      const got = await report(child);
      expect(got.sent).toBe(5000);
      expect(got.maxLateMs).toBeLessThan(250);
      const [code] = await exited;
      expect(code).toBe(0);
    }, 60_000);
  });

  it('writes the lines of a quiet server in batches, not one write each', async () => {
    // One line every 2 ms for ~0.8 s: one write each would be 400.
    const child = writer({ LINES: '400', END: 'flush', SPACED_MS: '2' });
    const [got, { lines, code }] = await Promise.all([report(child), readAll(child)]);
    expect(code).toBe(0);
    expect(numbered(lines)).toEqual(Array.from({ length: 400 }, (_, i) => i));
    // A batch every BATCH_MS at most (and at least one line each): far fewer than the lines.
    expect(got.batches).toBeGreaterThan(1);
    expect(got.batches).toBeLessThanOrEqual(Math.ceil((400 * 2 * 1.5) / BATCH_MS) + 10);
  }, 60_000);
});
