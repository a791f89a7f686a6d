/**
 * The whole service in one process: backend, blob store, engine pools, worker and HTTP API,
 * wired from a ServiceConfig. `startService` starts serving HTTP at once (so /healthz answers
 * while engines load) and starts the worker when the engines are ready; `close` shuts down in
 * order: stop accepting, let work finish or hand it back, stop engines, close the database.
 */

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { SqliteBackend } from '../backends/sqlite/sqlite-backend.js';
import type { ServiceConfig } from '../config/config.js';
import { EnginePool, type PoolEvent, type RestartBackoff } from '../engines/engine-pool.js';
import { EngineSet } from '../engines/engine-set.js';
import { hostSpec } from '../engines/registry.js';
import { createApp } from '../http/app.js';
import { createBlobStore } from '../storage/factory.js';
import { Worker, workerSettings } from '../worker/worker.js';
import { lockDataDir } from './data-dir-lock.js';
import type { Logger } from './logger.js';
import { TaskService } from './task-service.js';
import { VoiceService } from './voice-service.js';

export interface StartServiceOptions {
  logger: Logger;
  /** Extra environment for the engine hosts (e.g. bench-sleep's cost). */
  engineEnv?: NodeJS.ProcessEnv;
  /** Sees every engine pool event (segment timings, host restarts): for metrics and benchmarks. */
  onPoolEvent?: (event: PoolEvent & { engine: string }) => void;
  /** How the pools space out restarts of hosts that keep dying (tests shorten it). */
  engineRestartBackoff?: Partial<RestartBackoff>;
}

export interface RunningService {
  app: FastifyInstance;
  url: string;
  backend: SqliteBackend;
  engines: EngineSet;
  /** Resolves when the engines are ready (or rejects if none can start). */
  enginesReady: Promise<void>;
  close(): Promise<void>;
}

export async function startService(config: ServiceConfig, options: StartServiceOptions): Promise<RunningService> {
  const { logger } = options;
  await mkdir(config.dataDir, { recursive: true });
  const lock = lockDataDir(config.dataDir);
  const backend = new SqliteBackend({ path: join(config.dataDir, 'tasks.db'), synchronous: config.sqliteSynchronous });
  // This process owns DATA_DIR (locked above): any lease in the file belongs to a process that died.
  const released = backend.releaseAllLeases();
  if (released > 0) logger.info({ released }, 'work held by a previous run was put back in the queue');
  const blobs = createBlobStore(config);

  const engines = new EngineSet(
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
          options.onPoolEvent?.({ ...event, engine: name });
        },
      }),
    })),
  );
  const limits = { maxTextChars: config.maxTextChars, audioUrlAllowPrivate: config.audioUrlAllowPrivate };
  const tasks = new TaskService({ backend, blobs, limits, engines: () => engines.configured() });
  // Stored voices are normalised for the preferred engine that clones (others get a copy at their rate when used).
  const voices = new VoiceService(backend, blobs, () => engines.configured().find((c) => c.cloning) ?? engines.configured()[0]);
  const worker = new Worker({ backend, engines, blobs, logger, ...workerSettings(config) });

  let ready = false;
  let closing = false;
  const app = await createApp({
    tasks,
    voices,
    blobs,
    logger,
    engines: () => engines.pools().map(({ pool }) => ({ capabilities: pool.capabilities!, hosts: pool.size, hostsUp: pool.hostsUp, busy: pool.busy })),
    isReady: () => ready && !closing,
    limits: { maxUploadBytes: config.maxUploadBytes, maxTextChars: config.maxTextChars },
  });
  await app.listen({ host: config.host, port: config.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;

  const enginesReady = engines.start().then(
    async (failed) => {
      for (const { name, reason } of failed) logger.error({ engine: name, err: reason }, 'this engine could not start; tasks are routed to the others');
      if (closing) return;
      const rerouted = await backend.rerouteTasks(engines.pools().map((e) => e.engine));
      if (rerouted > 0) logger.warn({ rerouted }, 'tasks routed to an engine that is not running were queued again');
      worker.start();
      ready = true;
      logger.info({ engines: engines.configured().map((c) => c.engine) }, 'engines ready; working');
    },
    (error: unknown) => {
      logger.error({ err: error }, 'the engines could not start; the API accepts tasks but nothing will run');
      throw error;
    },
  );
  enginesReady.catch(() => undefined);

  // Retention: results past their time are deleted; the task keeps its record, marked expired.
  const sweepEvery = Math.max(1_000, Math.min(60_000, Math.floor(config.resultTtlMs / 2)));
  const retention = setInterval(() => {
    void backend.expireResults(Date.now()).then(
      async (expired) => {
        for (const task of expired) if (task.result !== undefined) await blobs.remove(task.result.path);
        if (expired.length > 0) logger.info({ count: expired.length }, 'expired results deleted');
      },
      (error: unknown) => logger.error({ err: error }, 'retention sweep failed'),
    );
  }, sweepEvery);
  retention.unref();

  return {
    app,
    url,
    backend,
    engines,
    enginesReady,
    async close() {
      if (closing) return;
      closing = true;
      clearInterval(retention);
      await app.close();
      // Stop claiming first; closing the pool then lets segments on a host finish and turns
      // away the one waiting for a host (its lease lapses and it runs after the restart).
      const workerStopped = worker.stop();
      await engines.close();
      await workerStopped;
      await backend.close();
      lock.release();
    },
  };
}
