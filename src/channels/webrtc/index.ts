/**
 * The WebRTC channel module: the browser softphone's web calls. Its routes live under the API
 * (`/api/web-calls`, mounted in front of the API's token check because a website's page
 * authenticates with a session token instead) and it takes no WebSocket: signalling is one HTTP
 * exchange (offer in, answer with complete candidates out), media and the control data channel run
 * over the peer connection. Calls start like every client-initiated conversation: capacity and
 * draining checks, a call record (provider `webrtc`, the language hint in its metadata), the
 * profile's engine, the channel attached through the bridge's start check.
 */
import type { ChannelModule, ChannelServices } from '../index';
import type { WebCallStats } from '../../observability/metrics';
import { createConversationStarter } from '../app-ws/conversation-starter';
import { createWebCallsRouter, WEB_CALL_REFUSALS, type WebCallsRouter } from './routes';
import { SessionTokens } from './session-token';

export const WEBRTC_MODULE_NAME = 'webrtc';
/** Where the module's routes are mounted under /api. */
export const WEB_CALLS_API_PATH = '/web-calls';

export interface WebRtcModule extends ChannelModule {
  readonly webCalls: WebCallsRouter;
}

export function createWebRtcChannelModule(services: ChannelServices & { sessionTokens?: SessionTokens }): WebRtcModule {
  const { config, agentSettings, bridge } = services;
  const logger = services.logger.child({ channel: WEBRTC_MODULE_NAME });
  const start = createConversationStarter({ ...services, logger });
  const webCalls = createWebCallsRouter({
    apiTokens: config.apiTokens,
    apiTokenEntries: config.apiTokenEntries,
    sessions: services.sessionTokens ?? new SessionTokens(config.http.urlSigningSecret),
    hasProfile: (name) => (agentSettings ? agentSettings.profiles.has(name) : name === 'default'),
    listProfiles: () =>
      agentSettings
        ? [...agentSettings.profiles.values()].map((p) => ({
            name: p.name,
            engine: p.engine,
            default: p.name === agentSettings.defaultProfile,
            ...(p.engine === 'echo' ? { echoDelayMs: config.pipeline.echoDelayMs } : {}),
          }))
        : [{ name: 'default', engine: 'realtime', default: true }],
    startCall: (channel, channelStart, info) =>
      start(channel, channelStart, { mode: 'voice', profile: info.profile, languageHint: info.languageHint }),
    logger,
    maxCalls: config.webrtc.maxCalls,
    draining: () => bridge.isDraining,
    peer: { iceServers: config.webrtc.iceServers.length ? [{ urls: [...config.webrtc.iceServers] }] : [] },
  });
  return {
    name: WEBRTC_MODULE_NAME,
    upgradePaths: [],
    api: { path: WEB_CALLS_API_PATH, router: webCalls },
    webCalls,
    onSocket(ws) {
      ws.close(1008, 'no WebSocket on this channel');
    },
  };
}

/** Live web calls and refusals by reason, for /metrics (Metrics.trackWebCalls); zeros without the module. */
export function webCallStats(modules: readonly ChannelModule[]): WebCallStats {
  const module = modules.find((m): m is WebRtcModule => m.name === WEBRTC_MODULE_NAME && 'webCalls' in m);
  const refusals: Record<string, number> = {};
  for (const reason of WEB_CALL_REFUSALS) refusals[reason] = module?.webCalls.refusals[reason] ?? 0;
  return { active: module?.webCalls.active.size ?? 0, refusals };
}
