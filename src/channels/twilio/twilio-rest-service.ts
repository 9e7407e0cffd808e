/**
 * TwilioRestService: the one place Switchboard calls Twilio's REST API (place a call, send an SMS,
 * update a live call), through the official `twilio` client. Protocol adapters never call Twilio;
 * skills and the outbound-call use case get this service injected.
 *
 * `baseUrl` points the client at another host (a regional proxy, or the local fake Twilio API of the
 * tests): the client's documented `edge`/`region` options only rewrite `api.<edge>.<region>.twilio.com`,
 * so the Api domain's `baseUrl` is replaced instead (twilio/lib/base/Domain.ts builds every request
 * URL from it).
 *
 * Memory: the REST client (`twilio/lib/rest/Twilio`, ~170 modules: every Twilio API domain, axios,
 * jsonwebtoken) is loaded on the first request, not at start: a server that never places a call or
 * sends an SMS never holds it (~14 MB resident, see docs/benchmarks/bridge.md). The first request pays
 * the module load once (tens of ms on the main thread).
 */
import type TwilioClient from 'twilio/lib/rest/Twilio';
import type { Logger } from '../../logging/logger';

export interface TwilioRestOptions {
  accountSid: string;
  authToken: string;
  /** Default https://api.twilio.com. */
  baseUrl?: string;
  /** Per-request timeout (default 10 s). */
  timeoutMs?: number;
  logger: Logger;
}

export interface CreateCallInput {
  to: string;
  from: string;
  /** Voice webhook Twilio requests when the callee answers. */
  url: string;
  statusCallback?: string;
  statusCallbackEvent?: Array<'initiated' | 'ringing' | 'answered' | 'completed'>;
  /** Seconds to ring before giving up (Twilio's default 60). */
  ringTimeoutSec?: number;
  /** Answering machine detection: the answer webhook then carries AnsweredBy (after the greeting's end with DetectMessageEnd). */
  machineDetection?: 'Enable' | 'DetectMessageEnd';
}

export interface TwilioResource {
  sid: string;
  status: string;
}

/** A Twilio API failure: HTTP status, Twilio's error code and message (never the credentials). */
export class TwilioRestError extends Error {
  constructor(
    message: string,
    readonly httpStatus: number | null,
    readonly twilioCode: number | null,
  ) {
    super(message);
    this.name = 'TwilioRestError';
  }
}

/** Whether this process has loaded Twilio's REST client (tests, diagnostics). */
export function twilioRestClientLoaded(): boolean {
  return Object.keys(require.cache).some((file) => /[\\/]twilio[\\/]lib[\\/]rest[\\/]Twilio\.js$/.test(file));
}

export class TwilioRestService {
  private clientInstance: TwilioClient | undefined;
  private readonly log: Logger;

  constructor(private readonly opts: TwilioRestOptions) {
    if (!/^AC[0-9a-fA-F]{32}$/.test(opts.accountSid)) {
      throw new TypeError('TwilioRestService: accountSid must look like AC followed by 32 hex digits');
    }
    if (!opts.authToken) throw new TypeError('TwilioRestService: authToken is required');
    this.log = opts.logger.child({ component: 'twilio-rest' });
  }

  /** The REST client, created (and its module loaded) on first use; same options as before. */
  private get client(): TwilioClient {
    if (!this.clientInstance) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use (memory), see the header
      const Twilio = require('twilio/lib/rest/Twilio') as typeof TwilioClient;
      const client = new Twilio(this.opts.accountSid, this.opts.authToken, {
        timeout: this.opts.timeoutMs ?? 10_000,
        autoRetry: true,
      });
      if (this.opts.baseUrl) client.api.baseUrl = this.opts.baseUrl.replace(/\/+$/, '');
      this.clientInstance = client;
    }
    return this.clientInstance;
  }

  get accountSid(): string {
    return this.opts.accountSid;
  }

  /** Places an outbound call; Twilio requests `url` for TwiML when it is answered. */
  async createCall(input: CreateCallInput): Promise<TwilioResource> {
    const call = await this.run('create call', () =>
      this.client.calls.create({
        to: input.to,
        from: input.from,
        url: input.url,
        method: 'POST',
        ...(input.statusCallback
          ? {
              statusCallback: input.statusCallback,
              statusCallbackMethod: 'POST',
              statusCallbackEvent: input.statusCallbackEvent ?? ['initiated', 'ringing', 'answered', 'completed'],
            }
          : {}),
        ...(input.ringTimeoutSec ? { timeout: input.ringTimeoutSec } : {}),
        ...(input.machineDetection ? { machineDetection: input.machineDetection } : {}),
      }),
    );
    this.log.info('outbound call placed', { callSid: call.sid, status: call.status });
    return { sid: call.sid, status: call.status };
  }

  async sendSms(input: { to: string; from: string; body: string }): Promise<TwilioResource> {
    const message = await this.run('send sms', () => this.client.messages.create(input));
    this.log.info('sms sent', { messageSid: message.sid, status: message.status });
    return { sid: message.sid, status: message.status };
  }

  /** Redirects a live call to new TwiML (e.g. a transfer <Dial>), or ends it (status completed). */
  async updateCall(callSid: string, update: { twiml: string } | { status: 'completed' }): Promise<TwilioResource> {
    const call = await this.run('update call', () => this.client.calls(callSid).update(update));
    return { sid: call.sid, status: call.status };
  }

  private async run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const e = err as { status?: number; code?: number | string; message?: string };
      const httpStatus = typeof e.status === 'number' ? e.status : null;
      const twilioCode = typeof e.code === 'number' ? e.code : null;
      // Twilio's error text names phone numbers and message bodies: logged under a PII field
      // (masked unless LOG_PII=true).
      this.log.warn('Twilio API request failed', { what, httpStatus, twilioCode, twilioError: e.message });
      throw new TwilioRestError(`Twilio ${what} failed: ${e.message ?? 'unknown error'}`, httpStatus, twilioCode);
    }
  }
}
