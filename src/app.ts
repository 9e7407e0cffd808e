/**
 * createApp: builds the whole server from a Config — database, CallManager, event bus, HTTP API,
 * Twilio webhooks and the /streams WebSocket — with no module-level singletons, so tests can run
 * several on port 0. Only this file and main.ts wire dependencies together.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import express from 'express';
import { ConfigError, type Config } from './config';
import { createLogger, type Logger } from './logging/logger';
import { createDb, type Db } from './db/prisma';
import { ReadPool } from './db/read-pool';
import { openCallStore } from './db/call-store';
import { PROJECT_ROOT, sqliteFilePath } from './db/paths';
import { EventBus } from './events/event-bus';
import { CallManager } from './calls/call-manager';
import { deadLetterDirFor } from './db/dead-letter';
import { createHealthRouter, EventLoopWatch } from './http/health';
import {
  apiDocsHeaders,
  apiRateLimit,
  httpServerOptions,
  publicRateLimit,
  securityHeaders,
  trustProxySetting,
  upgradeRateLimiter,
  clientIpOf,
  webhookRateLimit,
  securityHeaderPairs,
  httpsPublicUrl,
  isHttpsRequest,
  HSTS_VALUE,
} from './http/security';
import { createWebhookLane, type LaneMiddleware, type WebhookMount } from './http/webhook-lane';
import { SseClients } from './http/sse';
import { createApiDocsRouter, createApiRouter } from './http/api-router';
import { requireApiToken } from './http/auth';
import { refuseReadOnlyWrites } from './supervision/role-guard';
import { createSupervisionRouter } from './http/supervision-routes';
import { createAlertRulesRouter } from './http/alert-rules-routes';
import { AlertRuleStore } from './supervision/alert-rule-store';
import { AlertEngine } from './supervision/alert-engine';
import { loadSubscriptions, Webhooks } from './supervision/webhooks';
import { createWebhooksRouter } from './http/webhooks-routes';
import { errorHandler, notFoundHandler } from './http/errors';
import { createChannelModules } from './channels';
import { SessionTokens } from './channels/webrtc/session-token';
import { webCallStats, WEBRTC_MODULE_NAME, type WebRtcModule } from './channels/webrtc';
import { appChannelStats, createTextChannels } from './channels/text';
import { engineFactory } from './engines';
import { CallAdmission } from './calls/call-admission';
import { CallBridge, MAX_PENDING_STARTS } from './calls/call-bridge';
import { recoverInterruptedCalls } from './calls/crash-recovery';
import { StreamTokens } from './calls/stream-token';
import type { CallOwnership } from './cluster/ownership';
import { startCluster } from './cluster';
import { clusterHandlers } from './cluster/app-handlers';
import { createClusterRouter } from './http/cluster-routes';
import { createRecordingStorage } from './recordings/storage';
import type { EndReason } from './calls/call-status';
import { createUpgradeGate, newUpgradeCounters, type UpgradeCounters } from './http/upgrades';
import { LocalRealtimeServer } from './simulators/local-realtime-server';
import { localRecognizerAvailable } from './engines/pipeline/stt/pocketsphinx';
import { Metrics } from './observability/metrics';
import { createMetricsRouter } from './http/metrics-route';
import { BUILT_IN_SKILLS } from './agent/skills';
import { SkillRegistry } from './agent/skill-registry';
import { loadAgentSettings } from './agent/profiles';
import type { AgentRuntime } from './agent/tool-calls';
import { OutboundCalls } from './calls/outbound-calls';
import { createOutboundRouter } from './http/outbound-routes';
import { PersonalisationStore } from './campaigns/personalisation';
import { CampaignStore } from './campaigns/store';
import { CampaignDialler } from './campaigns/dialler';
import { Campaigns } from './campaigns/campaigns';
import { createCampaignRouter } from './http/campaign-routes';
import { TwilioRestService } from './channels/twilio/twilio-rest-service';
import { createDashboardRouter } from './http/dashboard-routes';
import { createCallPrivacy } from './privacy';
import { AuditLog, auditReads } from './privacy/audit';
import { CallErasure } from './privacy/erasure';
import { RetentionJob } from './privacy/retention';
import { createPrivacyRouter } from './http/privacy-routes';

export const VERSION: string = (
  JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }
).version;

export interface CreateAppOptions {
  logger?: Logger;
  db?: Db;
  /** Realtime endpoint to use instead of the configured one (tests, benchmarks). */
  realtimeUrl?: string;
  /**
   * The API's read queries run in worker threads (src/db/read-pool.ts) unless this is false (then on
   * the main thread: benchmarks compare the two). Default: one worker.
   */
  readPool?: false | { size?: number };
  /**
   * Which instance owns each live call (src/cluster/ownership.ts); several instances share one (the
   * NATS leases, or one LocalOwnership registry between in-process apps in tests). Default: this
   * process only. Closed by whoever created it.
   */
  ownership?: CallOwnership;
  /**
   * Ends a call on the instance that owns it (a provider's final status landing on another instance):
   * a cluster request to the owner, whose handler calls its `bridge.end(callId, reason)`.
   */
  endCallOnOwner?(owner: string, callId: string, reason: EndReason): Promise<void>;
}

export interface SwitchboardApp {
  config: Config;
  app: express.Express;
  server: http.Server;
  db: Db;
  /** Worker threads running the API's read queries (undefined: they run on the main thread). */
  readPool: ReadPool | undefined;
  bus: EventBus;
  callManager: CallManager;
  bridge: CallBridge;
  /** Agent profiles, skills and the Twilio REST service. */
  agent: AgentRuntime;
  metrics: Metrics;
  logger: Logger;
  recordingsDir: string;
  /** The Realtime endpoint calls are bridged to. */
  realtimeUrl: string;
  /** The in-process local Realtime server, when running without an OpenAI API key. */
  localRealtime: LocalRealtimeServer | undefined;
  counters: { signatureFailures: number; callsRefused: number } & UpgradeCounters;
  /** Starts listening (port 0 picks a free port) and returns the bound port. */
  listen(port?: number, host?: string): Promise<number>;
  /**
   * Stops taking calls, ends active calls (after letting them run up to `graceMs`, default 0),
   * stops taking requests, flushes writes and closes the database. Idempotent.
   */
  close(options?: { graceMs?: number }): Promise<void>;
}

export async function createApp(config: Config, options: CreateAppOptions = {}): Promise<SwitchboardApp> {
  const baseLogger =
    options.logger ??
    createLogger({
      level: config.logLevel,
      json: config.env === 'production',
      pii: config.logPii,
      silent: config.env === 'test' && config.logLevel === 'error' && !process.env.SWITCHBOARD_TEST_LOGS,
    });
  // In a cluster every line says which instance wrote it.
  const logger = config.cluster.natsUrl ? baseLogger.child({ instanceId: config.cluster.instanceId }) : baseLogger;
  // The privacy policy (redaction, recording, retention per profile) is checked before any I/O too.
  const privacy = createCallPrivacy(config, logger, path.resolve(PROJECT_ROOT, config.recordingsDir), (callId) =>
    // Only for recordings of calls a crashed process left open (start-up recovery), after db exists.
    db.callEvent.findMany({ where: { callId, type: 'privacy.redacted' }, select: { data: true } }),
  );
  // Agent profiles and skills are checked before any I/O: a bad AGENT_PROFILES_FILE stops the start with clear errors.
  const agentSettings = loadAgentSettings(config, BUILT_IN_SKILLS);
  // A profile may only name an engine this build registers (src/engines/index.ts).
  const unavailable = [...agentSettings.profiles.values()]
    .filter((p) => !engineFactory(p.engine))
    .map((p) => `AGENT_PROFILES_FILE: profiles.${p.name}.engine: "${p.engine}" is not available in this build`);
  if (unavailable.length > 0) throw new ConfigError(unavailable);
  // Alert rules are checked before any I/O too: a bad ALERT_RULES_FILE names the bad field.
  let alertRules: AlertRuleStore;
  try {
    alertRules = AlertRuleStore.load(config.alertRulesFile || undefined);
    // ... and so is WEBHOOKS_FILE (read again when the webhooks start).
    if (config.webhooksFile) loadSubscriptions(config.webhooksFile);
  } catch (err) {
    throw new ConfigError([(err as Error).message]);
  }
  let twilioRest: TwilioRestService | undefined;
  if (config.twilio.accountSid && config.twilio.authToken) {
    try {
      twilioRest = new TwilioRestService({
        accountSid: config.twilio.accountSid,
        authToken: config.twilio.authToken,
        baseUrl: config.twilio.apiBaseUrl || undefined,
        logger,
      });
    } catch (err) {
      throw new ConfigError([`TWILIO_ACCOUNT_SID: ${(err as Error).message}`]);
    }
  }
  const agent: AgentRuntime = {
    registry: new SkillRegistry(BUILT_IN_SKILLS, agentSettings),
    settings: agentSettings,
    services: { twilio: twilioRest, settings: agentSettings },
  };
  // Connected only if something queries on this thread (writes: the writer thread; reads: the read pool).
  const db = options.db ?? (await createDb(config.databaseUrl, { lazy: true }));
  // Started now (the worker loads while the rest starts), awaited before the API is built.
  const readPoolStarting =
    options.readPool === false || sqliteFilePath(config.databaseUrl) === ':memory:'
      ? Promise.resolve(undefined)
      : ReadPool.start(config.databaseUrl, {
          size: options.readPool?.size,
          // No worker until the first API read, and none after a minute without one (~35 MB each).
          lazy: true,
          onWorkerExit: ({ slot, reason }) => logger.warn('read worker replaced', { slot, reason }),
        }).catch((err: unknown) => {
          logger.warn('read pool did not start: API reads run on the main thread', { error: (err as Error).message });
          return undefined;
        });
  const bus = new EventBus(5000, (err) => logger.error('event listener failed', { error: (err as Error).message }));
  const metrics = new Metrics({ defaultMetrics: true });
  // NATS (membership, leases, failover, the cluster event bus) and Redis (shared limits), when configured.
  const cluster = await startCluster({ config, bus, logger, registry: metrics.registry });
  const recordingsDir = path.resolve(PROJECT_ROOT, config.recordingsDir);
  // Finished recordings: local disk, or uploaded to S3 when the call ends (src/recordings/).
  const recordingStorage = createRecordingStorage(config, recordingsDir, logger, { keepLocalCopy: false });
  // The CallManager's writes run in the database writer thread (src/db/db-writer.ts) unless the
  // caller brought its own Db (tests with special settings) or the database is in memory.
  const callStore = await openCallStore(config.databaseUrl, db, {
    inThread: options.db !== undefined,
    onWorkerExit: (reason) => logger.warn('database writer thread replaced', { reason }),
    onFallback: (err) =>
      logger.warn('database writer did not start: writes run on the main thread', { error: err.message }),
  });
  const callManager = new CallManager({
    repository: callStore.store,
    bus,
    logger,
    onWrite: (ms) => metrics.dbWriteMs.observe(ms),
    deadLetterDir: deadLetterDirFor(config.databaseUrl),
    privacy: privacy.hook,
    onRecordingStored: (rec) => void recordingStorage.finalize(rec.callId, rec.path),
  });
  privacy.hook.attachTimeline((callId, type, data, offsetMs) => callManager.addEvent(callId, type, data, offsetMs));
  metrics.trackWriteQueue(callManager);
  bus.subscribe((event) => {
    if (event.type === 'call.ended') metrics.callsEnded.inc({ reason: event.data.call.endReason ?? 'unknown' });
  });
  const audit = new AuditLog(callStore.store, logger.child({ component: 'audit' }));
  // Per-profile retention: at start, then hourly (only when some profile limits it).
  const retention = new RetentionJob({
    db,
    policy: privacy.policy,
    recordingsDir,
    recordings: recordingStorage,
    logger: logger.child({ component: 'retention' }),
    isActive: (id) => callManager.getActive(id) !== undefined,
  });
  retention.start();
  mkdirSync(recordingsDir, { recursive: true });
  const startedAt = Date.now();
  const counters = { signatureFailures: 0, callsRefused: 0, ...newUpgradeCounters() };

  let localRealtime: LocalRealtimeServer | undefined;
  let realtimeUrl = options.realtimeUrl ?? config.openai.realtimeUrl;
  try {
    if (!options.realtimeUrl && config.openai.useLocalServer) {
      // The caller's words come from the local recognizer when it is installed (PIPELINE_LOCAL_STT_WORDS: a vocabulary).
      const recognizer = localRecognizerAvailable();
      if (!recognizer) {
        logger.warn(
          'pocketsphinx is not installed: the local AI describes the caller audio instead of transcribing it (apt-get install pocketsphinx pocketsphinx-en-us)',
        );
      }
      localRealtime = await LocalRealtimeServer.start({
        port: config.openai.localServerPort,
        logger: logger.child({ component: 'local-realtime' }),
        responseDelayMs: config.openai.localThinkMs,
        recognizer: recognizer ? { words: [...config.pipeline.localSttWords] } : undefined,
      });
      realtimeUrl = localRealtime.url;
      logger.info('no OPENAI_API_KEY set: calls are answered by the local Realtime server', {
        url: realtimeUrl,
        thinkMs: config.openai.localThinkMs,
        recognizer,
      });
    }
    // In a cluster, open calls may be other instances' live ones: the failover closes a lost instance's.
    if (!cluster.clustered) await recoverInterruptedCalls(callManager, recordingsDir, logger);
    await recordingStorage.resumePending();
  } catch (err) {
    // A failed start leaves nothing running: the read worker, the database, the event-loop monitor.
    await (await readPoolStarting)?.close();
    await callStore.close();
    await localRealtime?.close();
    await recordingStorage.close();
    await cluster.close();
    metrics.stop();
    if (!options.db) await db.$disconnect();
    throw err;
  }
  // Per-call single-use tokens that a stream's start must carry (issued in the webhook's TwiML).
  const streamTokens = new StreamTokens(
    config.twilio.streamTokenSecret,
    config.twilio.streamTokenTtlMs,
    cluster.redis?.usedTokens(),
  );
  // Outbound calls' personalisations (contact fields, fixed messages) until their conversation starts.
  const personalisations = new PersonalisationStore();
  const bridge = new CallBridge({
    personalise: (callId, profile) => personalisations.apply(callId, profile),
    config,
    callManager,
    logger,
    recordingsDir,
    endpoints: { realtime: realtimeUrl },
    // The local AI's calls cost nothing (its token counts are kept, priced at 0).
    freeEngines: localRealtime ? ['realtime'] : [],
    engineFactory,
    metrics,
    agent,
    streamTokens,
    privacy: privacy.hook,
    // The instance holding a call's stream owns it: a stream may start on another instance than its webhook.
    ownership: options.ownership ?? cluster.ownership,
    endOnOwner: options.endCallOnOwner ?? cluster.endCallOnOwner?.bind(cluster),
  });
  // What this instance does for the others: close a lost instance's calls, run actions routed here.
  let boundPort: number | undefined;
  cluster.setHandlers(clusterHandlers({ callManager, bridge, recordingsDir, logger, port: () => boundPort }));
  // Alert rules evaluated live on every call of this instance, off the audio path (src/supervision/).
  const alerts = new AlertEngine({
    bus,
    rules: alertRules,
    calls: () => bridge.all(),
    call: (callId) => bridge.get(callId),
    addEvent: (callId, type, data, offsetMs) => callManager.addEvent(callId, type, data, offsetMs),
    logger,
    registry: metrics.registry,
  });
  // Outgoing webhooks: the bus listener only queues; deliveries run apart from every call.
  const webhooks = new Webhooks({ bus, logger, registry: metrics.registry, file: config.webhooksFile || undefined });
  const admission = new CallAdmission({
    config,
    callManager,
    bridge,
    logger,
    agentSettings,
    counters,
    // The cluster-wide cap (Redis), renewed for the calls this instance runs.
    ...(cluster.redis && config.cluster.maxConcurrentCalls > 0
      ? {
          cap: cluster.redis.callCap({
            limit: config.cluster.maxConcurrentCalls,
            ttlMs: config.cluster.leaseTtlMs,
            live: () => bridge.all().map((c) => c.callId),
          }),
        }
      : {}),
  });
  // Every caller channel: its webhooks under /<name>, its WebSocket paths (src/channels/index.ts).
  // Session tokens minted by POST /api/web-calls: one instance for web calls and app sockets.
  const sessionTokens = new SessionTokens(config.http.urlSigningSecret);
  const channelServices = {
    config,
    logger,
    callManager,
    bridge,
    admission,
    streamTokens,
    agentSettings,
    counters,
    sessionTokens,
    // Campaign calls answered by a machine (created below, called only once calls run).
    answeredByMachine: (callId: string) => campaigns.answeredByMachine(callId),
  };
  const channels = createChannelModules(channelServices);
  // SMS in (/twilio/sms) and out (/api/messages); the chat runs over the app WebSocket channel.
  const text = createTextChannels(channelServices, twilioRest);
  const outbound = new OutboundCalls({
    config,
    callManager,
    settings: agentSettings,
    twilio: twilioRest,
    logger,
    personalisations,
  });
  // Campaigns (src/campaigns/): the dialler starts once the server listens (answer webhooks need it).
  const campaignStore = new CampaignStore(db);
  const dialler = new CampaignDialler({
    store: campaignStore,
    outbound,
    bus,
    logger: logger.child({ component: 'campaigns' }),
    hasWork: () => callStore.store.hasCampaignWork(),
  });
  const campaigns = new Campaigns(campaignStore, dialler, agentSettings);
  // set_disposition: the call's metadata, and its campaign contact when it has one.
  agent.services.dispositions = {
    async set(callId, disposition, note) {
      await callManager.mergeMetadata(callId, { disposition, ...(note ? { dispositionNote: note } : {}) });
      await dialler.setDisposition(callId, disposition);
    },
  };
  metrics.trackBridge(bridge, counters);
  metrics.trackAppChannels(() => appChannelStats(channels, text));
  metrics.trackWebCalls(() => webCallStats(channels));

  const app = express();
  app.disable('x-powered-by');
  // One spelling per route: /streams, /Streams and /streams/ are not the same path.
  app.set('case sensitive routing', true);
  app.set('strict routing', true);
  // Behind a reverse proxy, TRUST_PROXY says which X-Forwarded-For hops to believe (default: none).
  app.set('trust proxy', trustProxySetting(config.http.trustProxy));
  // Security headers (strict same-origin CSP, no inline scripts) on every response.
  app.use(securityHeaders({ publicUrl: config.publicUrl }));
  // Per-IP limit of everything that has no limiter of its own (/health, dashboard, docs, 404s).
  // With REDIS_URL each limiter counts in Redis, one budget across the instances (src/cluster/redis/).
  const store = (name: string) => cluster.redis?.rateLimitStore(name);
  app.use(publicRateLimit(config.http.publicRateLimitPerMin, 60_000, store('public')));
  // Each channel's webhooks: one rate limiter per channel, for its lane routes and its express ones.
  const webhookMounts: WebhookMount[] = [];
  for (const channel of channels) {
    if (!channel.router && !channel.webhooks) continue;
    const limit = webhookRateLimit(config.http.webhookRateLimitPerMin, 60_000, store(`webhook-${channel.name}`));
    // Other paths and spellings under /<name> reach express: the same limiter counts them, then 404.
    app.use(`/${channel.name}`, limit, ...(channel.router ? [channel.router] : []));
    if (channel.webhooks) {
      webhookMounts.push({ mount: `/${channel.name}`, routes: channel.webhooks, limiter: limit as LaneMiddleware });
    }
  }
  // The calls' hot webhooks are answered on node's request, in front of express (src/http/webhook-lane.ts).
  const hsts: ReadonlyArray<readonly [string, string]> = [['Strict-Transport-Security', HSTS_VALUE]];
  const lane = createWebhookLane({
    mounts: webhookMounts,
    headers: [...securityHeaderPairs(), ...(httpsPublicUrl(config.publicUrl) ? hsts : [])],
    requestHeaders: httpsPublicUrl(config.publicUrl) ? undefined : (req) => (isHttpsRequest(req, app) ? hsts : []),
    clientIp: (req) => clientIpOf(req, app),
    logger,
  });
  // Header/request/keep-alive timeouts against slow clients (they do not cut SSE or WebSockets).
  const server = http.createServer(httpServerOptions(config.http), (req, res) => {
    if (!lane(req, res)) app(req, res);
  });
  // Every WebSocket upgrade, whatever its path, is authenticated (or refused) before the socket opens.
  const upgrades = createUpgradeGate({
    config,
    logger,
    counters,
    // Every call's stream, the sockets waiting for their start (the bridge keeps those few), and a margin.
    maxSockets: config.maxConcurrentCalls + MAX_PENDING_STARTS + 16,
    isDraining: () => bridge.isDraining,
    // Upgrades per client IP (their own budget of WEBHOOK_RATE_LIMIT_PER_MIN; Twilio opens one per call).
    allowClient: cluster.redis
      ? cluster.redis.upgradeLimiter({ limit: config.http.webhookRateLimitPerMin })
      : upgradeRateLimiter({ limit: config.http.webhookRateLimitPerMin }),
    clientIp: (req) => clientIpOf(req, app),
    channels,
  });
  server.on('upgrade', (req, socket, head) => upgrades.handle(req, socket, head));

  const eventLoop = new EventLoopWatch();
  const readPool = await readPoolStarting;
  app.use(
    createHealthRouter({
      db,
      callManager,
      version: VERSION,
      startedAt,
      recordingsDir,
      eventLoop,
      isDraining: () => bridge.isDraining,
      cacheMs: config.http.healthCacheMs,
    }),
  );
  const sseClients = new SseClients(config.http.sseMaxClients, config.http.sseMaxClientsPerToken);
  app.use(
    createMetricsRouter({
      metrics,
      apiTokens: config.apiTokens,
      rateLimit: apiRateLimit({
        limit: config.api.rateLimitPerMin,
        windowMs: 60_000,
        apiTokens: config.apiTokens,
        store: store('metrics'),
      }),
      sseClients: () => sseClients.count,
    }),
  );
  app.use(
    '/twilio',
    webhookRateLimit(config.http.webhookRateLimitPerMin, 60_000, store('webhook-sms')),
    text.smsWebhook,
  );
  // Channel routes under /api that authenticate themselves (a web call's session token), rate-limited as the API.
  for (const channel of channels) {
    if (channel.api) {
      const limit = apiRateLimit({
        limit: config.api.rateLimitPerMin,
        windowMs: 60_000,
        apiTokens: config.apiTokens,
        store: store(`api-${channel.name}`),
      });
      app.use(`/api${channel.api.path}`, limit, channel.api.router);
    }
  }
  app.use('/api/docs', apiDocsHeaders({ publicUrl: config.publicUrl }));
  app.use('/api', createApiDocsRouter({ version: VERSION }));
  app.use(
    '/api',
    apiRateLimit({
      limit: config.api.rateLimitPerMin,
      windowMs: 60_000,
      apiTokens: config.apiTokens,
      store: store('api'),
    }),
    // Header tokens; ?access_token= on the SSE stream only; signed URLs on a call's recording only.
    requireApiToken(config.apiTokens, { sseQueryToken: true, urlSigningSecret: config.http.urlSigningSecret }),
    // Token roles: a read-only token reads and does nothing else (src/supervision/roles.ts).
    refuseReadOnlyWrites(config.apiTokenEntries),
    // The cluster's live calls; a supervisor's action on a call another instance holds is routed there.
    createClusterRouter({ ownership: cluster.ownership, actions: cluster.actions, bridge, logger }),
    createSupervisionRouter({
      bridge,
      bus,
      tokens: config.apiTokenEntries,
      // A softphone take-over uses the same ICE servers as web calls and counts in WEBRTC_MAX_CALLS.
      peer: { iceServers: config.webrtc.iceServers.length ? [{ urls: [...config.webrtc.iceServers] }] : [] },
      webCalls: channels.find((m): m is WebRtcModule => m.name === WEBRTC_MODULE_NAME && 'webCalls' in m)?.webCalls,
    }),
    createAlertRulesRouter({ store: alertRules, tokens: config.apiTokenEntries }),
    createWebhooksRouter({ webhooks, tokens: config.apiTokenEntries, requireHttps: config.env === 'production' }),
    // Every read of call data is audited; erasure, export, legal hold and the audit itself (admin).
    auditReads(audit, config.apiTokenEntries),
    createPrivacyRouter({
      db,
      tokens: config.apiTokenEntries,
      audit,
      erasure: new CallErasure({
        db,
        recordingsDir,
        recordings: recordingStorage,
        logger,
        isActive: (id) => callManager.getActive(id) !== undefined,
      }),
      exports: { db, recordingsDir, logger, recordingKey: privacy.recordingKey },
      logger,
    }),
    createOutboundRouter({ outbound, apiTokens: config.apiTokens }),
    createCampaignRouter({ campaigns, tokens: config.apiTokenEntries }),
    text.messages,
    createApiRouter(
      { config, db, reads: readPool, bus, callManager, logger, recordingsDir, recordingStorage },
      { sseClients },
    ),
  );
  // The supervisor dashboard (static page at /, assets under /assets).
  app.use(createDashboardRouter({ authRequired: config.apiTokens.length > 0 }));
  app.use(notFoundHandler);
  app.use(errorHandler(logger));

  let closing: Promise<void> | undefined;
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  return {
    config,
    app,
    server,
    db,
    readPool,
    bus,
    callManager,
    bridge,
    agent,
    metrics,
    logger,
    recordingsDir,
    realtimeUrl,
    localRealtime,
    counters,
    async listen(port = config.port, host = config.host) {
      const bound = await new Promise<number>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          boundPort = (server.address() as AddressInfo).port;
          resolve(boundPort);
        });
      });
      if (!closing) await dialler.start();
      return bound;
    },
    close(options = {}) {
      closing ??= (async () => {
        // Stop taking calls, end the live ones cleanly (recordings finalized, analytics stored).
        await dialler.stop();
        alerts.close();
        webhooks.close();
        text.conversations.closeAll();
        const cut = await bridge.drain(options.graceMs ?? 0, 'server-shutdown');
        if (options.graceMs) logger.info('calls drained', { closedAfterGrace: cut });
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          // Long-lived connections (SSE, keep-alive) would hold close() open.
          for (const socket of sockets) socket.destroy();
          if (!server.listening) resolve();
        });
        for (const client of upgrades.wss.clients) client.terminate();
        upgrades.wss.close();
        await callManager.close();
        // The last recordings are registered by now: their uploads get a while to finish.
        await recordingStorage.close({ graceMs: 10_000 });
        // Leases released, the drained calls' last events published.
        await cluster.close();
        await retention.stop();
        await audit.close();
        await callStore.close();
        await localRealtime?.close();
        metrics.stop();
        eventLoop.stop();
        await readPool?.close();
        await db.$disconnect();
      })();
      return closing;
    },
  };
}
