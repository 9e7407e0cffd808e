/**
 * jest's node environment plus a leak check: after a test file's teardown, every socket, server and
 * child process it opened must be gone (within LEAK_GRACE_MS). One left open keeps the jest worker
 * alive after its last file, and jest then force-exits it ("A worker process has failed to exit
 * gracefully"), which hides which file leaked; this names the file and the handle instead.
 * Unreferenced handles (keep-alive sockets of the fetch pool, unref'd timers) do not count.
 */
import type { EnvironmentContext, JestEnvironmentConfig } from '@jest/environment';
import { TestEnvironment } from 'jest-environment-node';

const LEAK_GRACE_MS = 2000;

interface HandleLike {
  constructor?: { name?: string };
  _handle?: { hasRef?: () => boolean } | null;
  hasRef?: () => boolean;
  localPort?: number;
  remotePort?: number;
  remoteAddress?: string;
  address?: () => unknown;
  spawnargs?: string[];
  pid?: number;
}

const processWithHandles = process as unknown as { _getActiveHandles(): HandleLike[]; channel?: unknown };

function isReferenced(h: HandleLike): boolean {
  const handle = h._handle ?? h;
  if (handle && typeof handle.hasRef === 'function') return handle.hasRef();
  return h._handle !== null;
}

/** The handles that keep this process alive and belong to no one but the tests. */
export function liveHandles(): HandleLike[] {
  const own = new Set<unknown>([process.stdin, process.stdout, process.stderr, processWithHandles.channel]);
  return processWithHandles._getActiveHandles().filter((h) => !own.has(h) && isReferenced(h));
}

function describeHandle(h: HandleLike): string {
  const kind = h.constructor?.name ?? 'handle';
  if (h.spawnargs) return `${kind} pid ${h.pid}: ${h.spawnargs.slice(0, 4).join(' ')}`;
  if (h.remotePort !== undefined) return `${kind} ${h.localPort} -> ${h.remoteAddress}:${h.remotePort}`;
  if (typeof h.address === 'function') {
    try {
      return `${kind} listening on ${JSON.stringify(h.address())}`;
    } catch {
      return kind;
    }
  }
  return kind;
}

/** Referenced timers of this process (unref'd ones are not listed by getActiveResourcesInfo). */
const refTimers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

export default class LeakCheckEnvironment extends TestEnvironment {
  private readonly testPath: string;
  private before = new Set<HandleLike>();
  private timersBefore = 0;

  constructor(config: JestEnvironmentConfig, context: EnvironmentContext) {
    super(config, context);
    this.testPath = context.testPath;
  }

  override async setup(): Promise<void> {
    await super.setup();
    // Handles alive before this file (earlier files in the same worker answer for their own).
    this.before = new Set(liveHandles());
    this.timersBefore = refTimers();
  }

  override async teardown(): Promise<void> {
    await super.teardown();
    const deadline = Date.now() + LEAK_GRACE_MS;
    let leaked = liveHandles().filter((h) => !this.before.has(h));
    while (leaked.length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50).unref());
      leaked = leaked.filter((h) => isReferenced(h) && liveHandles().includes(h));
    }
    if (leaked.length > 0) {
      throw new Error(
        `${this.testPath} left ${leaked.length} handle(s) open ${LEAK_GRACE_MS} ms after its tests ` +
          `(close them in afterAll; read every fetch body): ${leaked.map(describeHandle).join('; ')}`,
      );
    }
    // A referenced timer still pending also keeps the worker alive after its last file (jest then
    // force-exits it). Not failed on (a timer may be about to fire), but named, with its file.
    let timers = refTimers() - this.timersBefore;
    while (timers > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50).unref());
      timers = refTimers() - this.timersBefore;
    }
    if (timers > 0) {
      process.stderr.write(
        `leak-check: ${this.testPath} left ${timers} referenced timer(s) pending ${LEAK_GRACE_MS} ms after its tests\n`,
      );
    }
  }
}
