/**
 * `npm run bench -- --scrape S`: /metrics read every S s inside the window by a process of its own,
 * at the load generators' priority and on their CPUs, standing in for a Prometheus server on
 * another machine. (Scraped from the bench's own process, at the server's priority, frames sent in
 * the 100 ms after each scrape had about twice the p99 of the rest, for either server tree, and
 * scraping /health instead had no such effect: the bench's reading of each ~25 KB answer preempted
 * the lower-priority simulated callers and AI; docs/benchmarks/bridge.md, "A scrape in slices".)
 * The answers come back as text, parsed after the window.
 */
import { spawn, type ChildProcess } from 'node:child_process';

/** The scraper (plain Node, no loader): scrapes at start + k * every until end (CLOCK_MONOTONIC ms), prints a JSON list. */
const SCRAPER = `
const [url, token, start, every, end] = process.argv.slice(1);
const now = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
(async () => {
  const texts = [];
  for (let at = Number(start) + Number(every); at < Number(end); at += Number(every)) {
    await sleep(at - now());
    const res = await fetch(url, { headers: { authorization: 'Bearer ' + token } });
    if (!res.ok) throw new Error('/metrics answered HTTP ' + res.status);
    texts.push(await res.text());
  }
  process.stdout.write(JSON.stringify(texts));
})().catch((err) => { console.error('scraper:', err.message); process.exit(1); });
`;

export interface Scraper {
  child: ChildProcess;
  /** The answers, in order, once the last scrape is done. */
  texts: Promise<string[]>;
}

/** Starts scraping `url` every `everyMs` from `startMs` until before `endMs` (both on the tags' clock, `now()`). */
export function startScraper(url: string, token: string, startMs: number, everyMs: number, endMs: number): Scraper {
  const child = spawn(process.execPath, ['-e', SCRAPER, url, token, String(startMs), String(everyMs), String(endMs)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const chunks: Buffer[] = [];
  child.stdout!.on('data', (c: Buffer) => chunks.push(c));
  const texts = new Promise<string[]>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0
        ? resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as string[])
        : reject(new Error(`the /metrics scraper exited with ${code}`)),
    );
  });
  return { child, texts };
}
