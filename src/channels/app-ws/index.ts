/**
 * The app WebSocket channel module: the voice-gateway protocol at `/voice-gateway` and the
 * orchestrator protocol at `/ws` (both exact paths; any other spelling is refused by the upgrade
 * gate with 404), authenticated in the upgrade (./auth.ts) and capped in number; the orchestrator's
 * spoken replies served at `/app-ws/replies/<id>.wav`. Protocols: docs/app-websocket-protocols.md.
 */
import type { IncomingMessage } from 'node:http';
import type { Config } from '../../config';
import type { Logger } from '../../logging/logger';
import type { ChannelModule, ChannelServices } from '../index';
import { createConversationStarter } from './conversation-starter';
import { authenticateUpgrade, type AppWsAuth, type SessionTokenVerifier } from './auth';
import { OrchestratorSession } from './orchestrator';
import { createReplyAudioRouter, ReplyAudioStore } from './reply-audio';
import type { AppWsCounters, ConversationStarter } from './types';
import type { SocketTiming } from './socket-session';
import { VoiceGatewaySession } from './voice-gateway';

export const APP_WS_MODULE_NAME = 'app-ws';
export const ORCHESTRATOR_PATH = '/ws';
export const VOICE_GATEWAY_PATH = '/voice-gateway';
/** Open app sockets allowed at once (both protocols together). */
export const DEFAULT_MAX_APP_CONNECTIONS = 100;

export interface AppWsDeps {
  config: Pick<Config, 'apiTokens' | 'publicUrl'> & Partial<Pick<Config, 'apiTokenEntries'>>;
  logger: Logger;
  start: ConversationStarter;
  /** The web-call channel's session tokens (one shared instance); without it only API tokens are accepted. */
  sessionTokens?: SessionTokenVerifier;
  maxConnections?: number;
  /** Idle timeout and heartbeat of each socket (defaults: 120 s, 30 s). */
  timing?: SocketTiming;
}

export interface AppWsModule extends ChannelModule {
  readonly counters: AppWsCounters;
  readonly replies: ReplyAudioStore;
}

export function createAppWsModule(deps: AppWsDeps): AppWsModule {
  const logger = deps.logger.child({ channel: APP_WS_MODULE_NAME });
  const maxConnections = deps.maxConnections ?? DEFAULT_MAX_APP_CONNECTIONS;
  const replies = new ReplyAudioStore();
  const replyBaseUrl = `${deps.config.publicUrl.replace(/\/+$/, '')}/${APP_WS_MODULE_NAME}/replies`;
  const counters: AppWsCounters = {
    connections: 0,
    accepted: 0,
    refused: {},
    protocolErrors: {},
    conversations: 0,
    droppedAudioChunks: 0,
  };
  /** Each accepted upgrade's authentication, from checkUpgrade to onSocket. */
  const authOf = new WeakMap<IncomingMessage, Extract<AppWsAuth, { ok: true }>>();

  const refuse = (reason: string, status: number, message: string) => {
    counters.refused[reason] = (counters.refused[reason] ?? 0) + 1;
    logger.warn('app websocket refused', { reason });
    return { status, message };
  };

  return {
    name: APP_WS_MODULE_NAME,
    router: createReplyAudioRouter(replies),
    upgradePaths: [ORCHESTRATOR_PATH, VOICE_GATEWAY_PATH],
    counters,
    replies,
    checkUpgrade(req, _path, pathAndQuery) {
      // Capacity first: a full server spends no session token.
      if (counters.connections >= maxConnections) return refuse('capacity', 503, 'too many app connections');
      const auth = authenticateUpgrade(
        req,
        pathAndQuery,
        deps.config.apiTokens,
        deps.sessionTokens,
        deps.config.apiTokenEntries ?? [],
      );
      if (!auth.ok) return refuse(auth.reason, auth.status, auth.message);
      authOf.set(req, auth);
      return undefined;
    },
    onSocket(ws, req, path) {
      const auth = authOf.get(req);
      if (!auth) {
        ws.close(1008, 'not authenticated');
        return;
      }
      counters.connections++;
      counters.accepted++;
      ws.once('close', () => counters.connections--);
      const common = {
        start: deps.start,
        profile: auth.profile,
        languageHint: auth.languageHint,
        auth: auth.kind,
        timing: deps.timing,
      };
      if (path === ORCHESTRATOR_PATH) {
        new OrchestratorSession(ws, logger, counters, { ...common, replies, replyBaseUrl });
      } else {
        new VoiceGatewaySession(ws, logger, counters, common);
      }
    },
  };
}

/** The registry's factory: the app WebSocket channel on the calls layer (src/channels/index.ts). */
export function createAppWsChannelModule(
  services: ChannelServices & { sessionTokens?: SessionTokenVerifier },
): AppWsModule {
  return createAppWsModule({
    config: services.config,
    logger: services.logger,
    start: createConversationStarter(services),
    sessionTokens: services.sessionTokens,
  });
}
