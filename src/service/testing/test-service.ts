/** Starts the real service on a free loopback port with its own data folder, for tests. */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_REDIS_URL, dropPrefix, testPrefix } from '../../backends/redis/testing/redis-test-prefix.js';
import { loadConfig } from '../../config/config.js';
import { createLogger } from '../logger.js';
import { startService, type RunningService, type StartServiceOptions } from '../service.js';

export interface TestService extends RunningService {
  dataDir: string;
  /** Sends a request to the service and parses a JSON answer. */
  request(path: string, init?: RequestInit): Promise<{ status: number; headers: Headers; body: any }>;
  stop(): Promise<void>;
}

/**
 * The backend tests run the service on: SQLite, or with TEST_BACKEND=redis the development
 * Redis under a prefix of the service's own (npm test runs the HTTP tests on both).
 */
function testBackendEnv(): Record<string, string> {
  if (process.env.TEST_BACKEND !== 'redis') return {};
  return { BACKEND: 'redis', REDIS_URL: TEST_REDIS_URL, REDIS_PREFIX: testPrefix() };
}

export async function startTestService(env: Record<string, string> = {}, options: Partial<StartServiceOptions> = {}): Promise<TestService> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tts-service-test-'));
  const config = loadConfig({ HOST: '127.0.0.1', PORT: '0', DATA_DIR: dataDir, ENGINE: 'bench-sleep', ENGINE_HOSTS: '1', LEASE_MS: '5000', ...testBackendEnv(), ...env });
  // Engine hosts of a real deployment inherit BENCH_SLEEP_* and GLMTTS_* from the environment; here they come from `env`.
  const engineEnv = Object.fromEntries(Object.entries(env).filter(([key]) => key.startsWith('BENCH_SLEEP_') || key.startsWith('GLMTTS_')));
  const service = await startService(config, { logger: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'), engineEnv, ...options });
  await service.enginesReady;
  return {
    ...service,
    dataDir,
    async request(path, init) {
      const response = await fetch(`${service.url}${path}`, init);
      const text = await response.text();
      let body: unknown = text;
      if ((response.headers.get('content-type') ?? '').includes('json')) body = text === '' ? undefined : JSON.parse(text);
      return { status: response.status, headers: response.headers, body };
    },
    async stop() {
      await service.close();
      if (config.backend === 'redis') await dropPrefix(config.redis.prefix, config.redis.url);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** POSTs JSON to /api/synthesis. */
export function jsonPost(body: unknown, headers: Record<string, string> = {}): RequestInit {
  return { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

/** Polls a task until `done(task)` or the deadline. */
export async function waitForTask(
  service: TestService,
  id: string,
  done: (task: any) => boolean = (t) => ['completed', 'failed', 'canceled'].includes(t.status),
  timeoutMs = 60_000,
  /** Headers of every poll (an API key). */
  headers: Record<string, string> = {},
): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await service.request(`/api/task/${id}`, { headers });
    if (done(body)) return body;
    if (Date.now() > deadline) throw new Error(`task ${id} still ${body.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Polls `condition` until it holds; fails the test with `what` after `timeoutMs`. Tests wait for states, never for a fixed time. */
export async function waitUntil(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The consent that comes with a recording to clone (VOICE_CONSENT=required, the default), as form fields. */
export const CONSENT_FIELDS = { consent: 'true', speaker_name: 'Test Speaker' } as const;

/** Adds the consent fields to a form that uploads a recording. */
export function withConsent(form: FormData): FormData {
  for (const [key, value] of Object.entries(CONSENT_FIELDS)) form.set(key, value);
  return form;
}
