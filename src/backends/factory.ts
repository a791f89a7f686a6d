/**
 * Opens the backend the configuration names. The only place that knows which backends exist:
 * the rest of the service sees a TaskBackend. Each backend's start-up recovery happens here,
 * as part of opening it.
 */

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ServiceConfig } from '../config/config.js';
import type { Logger } from '../service/logger.js';
import { lockDataDir } from '../service/data-dir-lock.js';
import type { AuditLog, KeyStore, TaskBackend, WebhookStore } from './backend.js';
import { RedisBackend } from './redis/redis-backend.js';
import { SqliteBackend } from './sqlite/sqlite-backend.js';

export interface OpenedBackend {
  backend: TaskBackend;
  /**
   * True when this process is the backend's only user (the embedded SQLite file): work routed
   * to an engine it does not run can be rerouted, since no other process will ever run it.
   */
  exclusive: boolean;
  /** Closes the backend and lets go of what it held (the data folder's lock). */
  close(): Promise<void>;
}

export async function openBackend(config: ServiceConfig, logger: Logger): Promise<OpenedBackend> {
  if (config.backend === 'redis') {
    const backend = await RedisBackend.open({ url: config.redis.url, prefix: config.redis.prefix, leaseMs: config.leaseMs });
    return { backend, exclusive: false, close: () => backend.close() };
  }
  await mkdir(config.dataDir, { recursive: true });
  const lock = lockDataDir(config.dataDir);
  let backend: SqliteBackend;
  try {
    backend = new SqliteBackend({ path: join(config.dataDir, 'tasks.db'), synchronous: config.sqliteSynchronous });
  } catch (error) {
    lock.release();
    throw error;
  }
  // This process owns DATA_DIR (locked above): any lease in the file belongs to a process that died.
  const released = backend.releaseAllLeases();
  if (released > 0) logger.info({ released }, 'work held by a previous run was put back in the queue');
  const webhooks = backend.releaseWebhookClaims();
  if (webhooks > 0) logger.info({ webhooks }, 'webhook deliveries a previous run was sending are due again');
  return {
    backend,
    exclusive: true,
    async close() {
      await backend.close();
      lock.release();
    },
  };
}

/**
 * The key store, audit log and webhook store (its master secret) of the configured backend, for the `keys` command: usable while
 * the service runs (SQLite in WAL mode takes a second process; DATA_DIR's lock is the running
 * service's and is not taken), and without it.
 */
export async function openAccessStores(config: ServiceConfig): Promise<{ keys: KeyStore; audit: AuditLog; webhooks: WebhookStore; close(): Promise<void> }> {
  if (config.backend === 'redis') {
    const backend = await RedisBackend.open({ url: config.redis.url, prefix: config.redis.prefix, repairIntervalMs: 0 });
    return { keys: backend.keys, audit: backend.audit, webhooks: backend.webhooks, close: () => backend.close() };
  }
  await mkdir(config.dataDir, { recursive: true });
  const backend = new SqliteBackend({ path: join(config.dataDir, 'tasks.db'), synchronous: config.sqliteSynchronous, recoveryIntervalMs: 0 });
  return { keys: backend.keys, audit: backend.audit, webhooks: backend.webhooks, close: () => backend.close() };
}
