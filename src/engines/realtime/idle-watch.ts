/**
 * Stall detection for one Realtime session: while a response is expected (a response.create went
 * out) or streaming (response.created until response.done or an error), a server that sends nothing
 * for idleTimeoutMs is treated as a dropped connection, because the caller would hear only silence.
 * Outside a response the watch's timer is stopped: a quiet server between turns is normal.
 */
import type { RealtimeClientEvent } from './protocol';

export class ResponseIdleWatch {
  private pending = false;
  private active = false;
  /** Date.now() of the last server message (or of the response.create that started the wait). */
  private lastMessageAt = 0;
  private timer?: NodeJS.Timeout;

  /** `onStall` runs on every check that finds the server silent for at least idleMs (undefined or 0: never). */
  constructor(
    private readonly idleMs: number | undefined,
    private readonly onStall: (silentMs: number) => void,
  ) {}

  /** Any message from the server, before it is read. */
  messageReceived(): void {
    this.lastMessageAt = Date.now();
  }

  /** A parsed server event: a response starts or ends. */
  serverEvent(type: string): void {
    switch (type) {
      case 'response.created':
        this.pending = false;
        this.active = true;
        this.arm();
        break;
      case 'response.done':
        this.active = false;
        this.pending = false;
        break;
      case 'error':
        this.pending = false;
        break;
      default:
        break;
    }
  }

  /** A client event sent: a response.create starts the wait for the server. */
  sent(event: RealtimeClientEvent): void {
    if (event.type !== 'response.create') return;
    this.pending = true;
    this.lastMessageAt = Date.now();
    this.arm();
  }

  /** A new socket: no response is in flight on it. */
  reset(): void {
    this.pending = false;
    this.active = false;
    this.lastMessageAt = Date.now();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    const idleMs = this.idleMs;
    if (!idleMs || this.timer) return;
    const tickMs = Math.max(10, Math.floor(idleMs / 4));
    this.timer = setInterval(() => {
      if (!this.pending && !this.active) {
        this.stop();
        return;
      }
      const silentMs = Date.now() - this.lastMessageAt;
      if (silentMs >= idleMs) this.onStall(silentMs);
    }, tickMs);
  }
}
