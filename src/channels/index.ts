/**
 * The registry of caller channels. A channel module brings what a channel needs from the server:
 * HTTP routes (webhooks), mounted at `/<name>` (express, or the webhook lane for the hot ones), and the WebSocket paths it accepts, each upgrade
 * checked by the module itself before the socket opens (src/http/upgrades.ts consults this list:
 * an upgrade of any other path is refused with 404). What a socket does once open (a media stream
 * that `start`s and attaches to a prepared call) is the module's, through the CallBridge.
 *
 * Adding a channel: one folder src/channels/<name>/ exporting a ChannelModuleFactory, plus one line
 * in CHANNEL_MODULES below.
 */
import type { IncomingMessage } from 'node:http';
import type { Router } from 'express';
import type { WebSocket } from 'ws';
import type { Config } from '../config';
import type { Logger } from '../logging/logger';
import type { CallManager } from '../calls/call-manager';
import type { CallBridge } from '../calls/call-bridge';
import type { CallAdmission } from '../calls/call-admission';
import type { StreamTokens } from '../calls/stream-token';
import type { AgentSettings } from '../agent/profiles';
import { createTwilioChannelModule } from './twilio';
import { createAppWsChannelModule } from './app-ws';
import { createTelnyxChannelModule } from './telnyx';
import { createWebRtcChannelModule } from './webrtc';
import type { SessionTokens } from './webrtc/session-token';
import type { WebhookRoutes } from '../http/webhook-lane';

/** What every channel module may use (built once by createApp). */
export interface ChannelServices {
  config: Config;
  logger: Logger;
  callManager: CallManager;
  /** The registry of live conversations: prepare a call, attach a channel to it, end it. */
  bridge: CallBridge;
  /** Inbound/outbound admission: capacity, draining, profile by dialled number, status updates. */
  admission: CallAdmission;
  /** Issues the single-use token a channel's start must carry back (checked by bridge.attach). */
  streamTokens: StreamTokens;
  agentSettings: AgentSettings | undefined;
  /** Server-wide counters (webhook signature failures, refused calls). */
  counters: { signatureFailures: number; callsRefused: number };
  /** Short-lived session tokens minted by POST /api/web-calls (one instance: web calls and app sockets). */
  sessionTokens?: SessionTokens;
  /**
   * An outbound call placed with machine detection was answered by a machine (Twilio's AnsweredBy):
   * what to leave (`message`, spoken then hang up) or `{}` to hang up; null bridges it as usual.
   */
  answeredByMachine?(callId: string, answeredBy: string): Promise<{ message?: string } | null>;
}

/** Why a module refuses an upgrade of its path (answered before any 101; counted as `signature`). */
export interface UpgradeDenial {
  status: number;
  message: string;
}

export interface ChannelModule {
  /** The channel's name ('twilio', 'telnyx', ...): its routes are mounted at `/<name>`. */
  readonly name: string;
  /** Webhooks and other HTTP routes (rate-limited as webhooks). */
  readonly router?: Router;
  /**
   * Form webhooks answered in the webhook lane, on node's request in front of express (the calls'
   * hot webhooks: src/http/webhook-lane.ts), under `/<name>`, with the same limiter as `router`.
   */
  readonly webhooks?: WebhookRoutes;
  /**
   * Routes under `/api<path>` that authenticate themselves (mounted in front of the API's token
   * check, behind the API's rate limit): e.g. a web call placed with a session token.
   */
  readonly api?: { path: string; router: Router };
  /** Exact WebSocket paths (case-sensitive, no trailing slash; the query string is not part of it). */
  readonly upgradePaths: readonly string[];
  /**
   * Authenticates an upgrade of one of `upgradePaths` before the socket opens; `pathAndQuery` is
   * the request URL as received. Undefined: accepted.
   */
  checkUpgrade?(req: IncomingMessage, path: string, pathAndQuery: string): UpgradeDenial | undefined;
  /** A socket accepted on one of its paths. */
  onSocket(ws: WebSocket, req: IncomingMessage, path: string): void;
}

export type ChannelModuleFactory = (services: ChannelServices) => ChannelModule;

/** Every channel the server offers. One line a channel. */
export const CHANNEL_MODULES: readonly ChannelModuleFactory[] = [
  createTwilioChannelModule,
  createTelnyxChannelModule,
  createAppWsChannelModule,
  createWebRtcChannelModule,
];

/** Builds the modules and checks that no two claim the same name or WebSocket path. */
export function createChannelModules(
  services: ChannelServices,
  factories: readonly ChannelModuleFactory[] = CHANNEL_MODULES,
): ChannelModule[] {
  const modules = factories.map((factory) => factory(services));
  const names = new Set<string>();
  const paths = new Set<string>();
  for (const m of modules) {
    if (!/^[a-z][a-z0-9-]{0,31}$/.test(m.name) || names.has(m.name)) {
      throw new Error(`channel module name "${m.name}" is invalid or taken`);
    }
    names.add(m.name);
    for (const p of m.upgradePaths) {
      if (!p.startsWith('/') || p.endsWith('/') || paths.has(p)) {
        throw new Error(`channel ${m.name}: WebSocket path "${p}" is invalid or taken`);
      }
      paths.add(p);
    }
  }
  return modules;
}
