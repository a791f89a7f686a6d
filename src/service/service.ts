/**
 * The service, wired from a ServiceConfig, in one of three roles:
 * - `serve`: HTTP API, worker and engines in one process tree (the default, either backend);
 * - `api`: HTTP only (BACKEND=redis); it routes tasks by the engines workers report;
 * - `worker`: engines and worker only (BACKEND=redis), with a small listener for /healthz,
 *   /readyz and /metrics instead of the API.
 * HTTP starts at once (so /healthz answers while engines load); the worker starts when the
 * engines are ready. `close` shuts down in order: stop accepting, let work finish or hand it
 * back, stop engines, close the backend.
 */

import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import type { EngineReport } from '../backends/backend.js';
import { openBackend } from '../backends/factory.js';
import type { TaskBackend } from '../backends/backend.js';
import type { ServiceConfig } from '../config/config.js';
import { EnginePool, type PoolEvent, type RestartBackoff } from '../engines/engine-pool.js';
import { EngineSet } from '../engines/engine-set.js';
import { hostSpec } from '../engines/registry.js';
import { TtsError } from '../errors.js';
import { createApp } from '../http/app.js';
import { createMetricsApp } from '../metrics/listener.js';
import { ServiceMetrics } from '../metrics/metrics.js';
import { createBlobStore } from '../storage/factory.js';
import { Worker, workerSettings } from '../worker/worker.js';
import type { Logger } from './logger.js';
import { Redis } from 'ioredis';
import { checkExposure, wireApi, type ApiWiring } from './api-wiring.js';
import { postWebhook } from '../net/post-webhook.js';
import { WebhookDispatcher } from '../webhooks/dispatcher.js';

export const SERVICE_ROLES = ['serve', 'api', 'worker'] as const;
export type ServiceRole = (typeof SERVICE_ROLES)[number];

export interface StartServiceOptions {
  logger: Logger;
  /** Which parts run here (default `serve`: all of them). */
  role?: ServiceRole;
  /** Extra environment for the engine hosts (e.g. bench-sleep's cost). */
  engineEnv?: NodeJS.ProcessEnv;
  /** Sees every engine pool event (segment timings, host restarts): for metrics and benchmarks. */
  onPoolEvent?: (event: PoolEvent & { engine: string }) => void;
  /** How the pools space out restarts of hosts that keep dying (tests shorten it). */
  engineRestartBackoff?: Partial<RestartBackoff>;
  /** The built web page served at / (default dist/web; tests give a folder of their own). */
  webRoot?: string;
}

export interface RunningService {
  /** The HTTP API, or the worker's health listener. */
  app: FastifyInstance;
  url: string;
  backend: TaskBackend;
  /** The engines this process runs (none in the `api` role). */
  engines: EngineSet | undefined;
  /** Resolves when the engines are ready (at once without engines; rejects if none can start). */
  enginesReady: Promise<void>;
  close(): Promise<void>;
}

/** How often a process with engines reports them, and how long a report lasts. */
const ENGINE_REPORT_EVERY_MS = 2_000;
const ENGINE_REPORT_TTL_MS = 10_000;
/** How often audit log entries and ended webhook deliveries past AUDIT_RETENTION_DAYS are pruned (and once at start). */
const AUDIT_PRUNE_EVERY_MS = 3_600_000;

export async function startService(config: ServiceConfig, options: StartServiceOptions): Promise<RunningService> {
  const { logger } = options;
  const role = options.role ?? 'serve';
  if (role !== 'serve' && config.backend !== 'redis') {
    throw new TtsError('E_INVALID_ARGUMENT', `"tts-queue ${role}" shares its work with other processes through Redis: set BACKEND=redis (and REDIS_URL), or run "tts-queue serve".`);
  }
  const opened = await openBackend(config, logger);
  // The safe default: an API open to other machines without any key does not start (nothing listens yet).
  if (role !== 'worker')
    await checkExposure(config, opened.backend, logger).catch(async (error: unknown) => {
      await opened.close();
      throw error;
    });
  const { backend } = opened;
  const blobs = createBlobStore(config);
  const processId = `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
  const metrics = new ServiceMetrics({
    backend,
    engines: () => engines?.pools().map(({ engine, pool }) => ({ engine, hosts: pool.size, hostsUp: pool.hostsUp, busy: pool.busy })) ?? [],
    defaultLabels: { role },
    onBackendError: (error) => logger.warn({ err: error }, 'metrics could not read the queue from the backend'),
  });

  const engines =
    role === 'api'
      ? undefined
      : new EngineSet(
          config.engines.map(({ name, hosts }) => ({
            name,
            pool: new EnginePool({
              spec: hostSpec(name, options.engineEnv),
              size: hosts,
              restartBackoff: options.engineRestartBackoff,
              host: { onLog: (line) => logger.debug(line) },
              onEvent: (event) => {
                if (event.type === 'host:lost') logger.warn({ engine: name, slot: event.slot, pid: event.pid }, 'engine host lost; restarting it');
                if (event.type === 'host:start-failed') logger.error({ engine: name, slot: event.slot, err: event.reason }, 'engine host failed to start');
                metrics.poolEvent({ ...event, engine: name });
                options.onPoolEvent?.({ ...event, engine: name });
              },
            }),
          })),
        );
  const localReports = (): EngineReport[] => engines?.pools().map(({ pool }) => ({ capabilities: pool.capabilities!, hosts: pool.size, hostsUp: pool.hostsUp, busy: pool.busy })) ?? [];

  // Without engines of its own, the API routes by what the workers report (kept fresh in the background).
  let reported: EngineReport[] = [];
  const refreshReports = async (): Promise<void> => {
    reported = await backend.engineReports();
  };
  const engineReports = (): EngineReport[] => (engines === undefined ? reported : localReports());
  if (engines === undefined) await refreshReports();

  // Encoding as segments finish needs every segment made here, in a file that stays put: a
  // backend this process owns alone, and local files (an S3 store's cache may fetch one again).
  const earlyAssembly = opened.exclusive && config.blobStore === 'local';
  const worker = engines === undefined ? undefined : new Worker({ backend, engines, blobs, logger, metrics, ...workerSettings(config), earlyAssembly });
  let ready = false;
  let closing = false;
  const isReady = (): boolean => ready && !closing;

  let app: FastifyInstance;
  let api: ApiWiring | undefined;
  let webhooks: WebhookDispatcher | undefined;
  let rateLimitRedis: Redis | undefined;
  if (role === 'worker') {
    app = createMetricsApp({ metrics, isReady: () => workerReadiness({ isReady, backend, engines: localReports }), metricsToken: config.metricsToken });
  } else {
    if (config.backend === 'redis') {
      // Rate limits count in Redis, so that they hold across API nodes.
      rateLimitRedis = new Redis(config.redis.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
      rateLimitRedis.on('error', () => undefined);
    }
    api = await wireApi(config, { backend, blobs, logger, engines: () => engineReports().map((report) => report.capabilities), rateLimitRedis });
    app = await createApp({
      ...api.deps,
      blobs,
      logger,
      engines: engineReports,
      // An API node's readiness does not hang on workers: they may be scaled to zero while tasks queue.
      enginesGateReadiness: engines !== undefined,
      isReady,
      limits: { maxUploadBytes: config.maxUploadBytes, maxTextChars: config.maxTextChars, maxDocumentBytes: config.maxDocumentBytes },
      metrics,
      audit: backend.audit,
      webRoot: options.webRoot,
      webhookSecrets: api.deps.webhookSecrets,
    });
    // API processes send the webhook outbox (every one of them may: deliveries are claimed).
    const { allowPrivate, timeoutMs, retryDelaysMs } = config.webhooks;
    webhooks = new WebhookDispatcher({
      store: backend.webhooks,
      tasks: backend,
      secrets: api.deps.webhookSecrets,
      send: (url, body, headers, signal) => postWebhook(url, body, headers, { timeoutMs, allowPrivate, signal }),
      retryDelaysMs,
      timeoutMs,
      logger,
      metrics,
    });
  }
  const port = role === 'worker' ? config.metricsPort : config.port;
  await app.listen({ host: config.host, port });
  const address = app.server.address();
  const boundPort = typeof address === 'object' && address !== null ? address.port : port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${boundPort}`;

  const timers: NodeJS.Timeout[] = [];
  const every = (ms: number, body: () => Promise<unknown>, what: string): void => {
    const timer = setInterval(() => void body().catch((error: unknown) => logger.warn({ err: error }, `${what} failed`)), ms);
    timer.unref();
    timers.push(timer);
  };

  webhooks?.start();

  let enginesReady: Promise<void>;
  if (engines === undefined) {
    ready = true;
    enginesReady = Promise.resolve();
    every(ENGINE_REPORT_EVERY_MS, refreshReports, 'reading the engines workers report');
  } else {
    enginesReady = engines.start().then(
      async (failed) => {
        for (const { name, reason } of failed) logger.error({ engine: name, err: reason }, 'this engine could not start; tasks are routed to the others');
        if (closing) return;
        // Only a backend this process owns alone may give up on engines it does not run: with
        // Redis, another worker may run them.
        if (opened.exclusive) {
          const rerouted = await backend.rerouteTasks(engines.pools().map((e) => e.engine));
          if (rerouted > 0) logger.warn({ rerouted }, 'tasks routed to an engine that is not running were queued again');
        }
        const report = () => backend.reportEngines(processId, localReports(), ENGINE_REPORT_TTL_MS);
        await report();
        every(ENGINE_REPORT_EVERY_MS, report, 'reporting the engines');
        worker!.start();
        ready = true;
        logger.info({ engines: engines.configured().map((c) => c.engine) }, 'engines ready; working');
      },
      (error: unknown) => {
        logger.error({ err: error }, role === 'worker' ? 'the engines could not start' : 'the engines could not start; the API accepts tasks but nothing will run');
        throw error;
      },
    );
    enginesReady.catch(() => undefined);
  }

  if (role !== 'worker') {
    // Retention: results past their time are deleted; the task keeps its record, marked expired.
    const sweepEvery = Math.max(1_000, Math.min(60_000, Math.floor(config.resultTtlMs / 2)));
    every(
      sweepEvery,
      async () => {
        const expired = await backend.expireResults(Date.now());
        for (const task of expired) {
          if (task.result !== undefined) await blobs.remove(task.result.path);
          if (task.result?.timelinePath !== undefined) await blobs.remove(task.result.timelinePath);
        }
        if (expired.length > 0) logger.info({ count: expired.length }, 'expired results deleted');
      },
      'retention sweep',
    );
    // The audit log keeps AUDIT_RETENTION_DAYS (0: forever): older entries are pruned at start, then hourly.
    if (config.auditRetentionMs > 0) {
      const pruneAudit = async (): Promise<void> => {
        const pruned = await backend.audit.prune(Date.now() - config.auditRetentionMs);
        if (pruned > 0) logger.info({ count: pruned }, 'audit log entries past their retention pruned');
        // Webhook deliveries are kept as long as the audit log, counted from when they ended.
        const deliveries = await backend.webhooks.prune(Date.now() - config.auditRetentionMs);
        if (deliveries > 0) logger.info({ count: deliveries }, 'webhook deliveries past their retention pruned');
      };
      void pruneAudit().catch((error: unknown) => logger.warn({ err: error }, 'audit log prune failed'));
      every(AUDIT_PRUNE_EVERY_MS, pruneAudit, 'audit log prune');
    }
  }

  return {
    app,
    url,
    backend,
    engines,
    enginesReady,
    async close() {
      if (closing) return;
      closing = true;
      for (const timer of timers) clearInterval(timer);
      await app.close();
      await webhooks?.stop();
      await api?.close();
      rateLimitRedis?.disconnect();
      // Stop claiming first; closing the pool then lets segments on a host finish and turns
      // away the one waiting for a host (its lease lapses and it runs after the restart).
      const workerStopped = worker?.stop(config.shutdownGraceMs);
      await engines?.close();
      await workerStopped;
      // Other nodes stop counting this process's hosts at once, not when its report lapses.
      if (engines !== undefined) await backend.reportEngines(processId, [], 1).catch(() => undefined);
      await opened.close();
    },
  };
}

/** A worker can take work when its engines have started, each has a host up, and the backend answers. */
async function workerReadiness(deps: { isReady: () => boolean; backend: TaskBackend; engines: () => EngineReport[] }): Promise<boolean> {
  if (!deps.isReady()) return false;
  const down = deps
    .engines()
    .filter((engine) => engine.hostsUp === 0)
    .map((engine) => engine.capabilities.engine);
  if (down.length > 0) throw new TtsError('E_NOT_READY', `No host of engine ${down.join(', ')} is up; it is being restarted.`);
  await deps.backend.countByStatus();
  return true;
}
