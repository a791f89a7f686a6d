// Redis with persistence (AOF, appendfsync always), killed with SIGKILL and started again in the
// middle of a run: every task the API accepted (202) completes; nothing is left half-way.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, redisAnswers, startRedisServer } from '../backends/redis/testing/redis-server.js';
import { killServiceGroup, startServiceProcess, type ServiceProcess } from './testing/service-process.js';
import { waitUntil } from './testing/test-service.js';

const TASKS = 200;

test('Redis killed with SIGKILL and restarted mid-run: every accepted task completes', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'tts-redis-restart-'));
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let redis = startRedisServer(port, ['--dir', root, '--appendonly', 'yes', '--appendfsync', 'always']);
  let service: ServiceProcess | undefined;
  t.after(async () => {
    if (service !== undefined) killServiceGroup(service);
    redis.kill('SIGKILL');
    await rm(root, { recursive: true, force: true });
  });
  await waitUntil(() => redisAnswers(url), 'redis-server answers');
  service = await startServiceProcess(
    {
      BACKEND: 'redis',
      REDIS_URL: url,
      DATA_DIR: join(root, 'data'),
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'error',
      LEASE_MS: '2000',
      ENGINE: 'bench-sleep',
      ENGINE_HOSTS: '2',
      BENCH_SLEEP_COST_MS: '20',
    },
    'serve',
  );

  const accepted: string[] = [];
  const refusals: string[] = [];
  /** Submits once; true when accepted. */
  const submit = async (i: number): Promise<boolean> => {
    let response: Response;
    try {
      response = await fetch(`${service!.url}/api/synthesis`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: `第${i}个任务。第二句。`, format: 'wav' }),
      });
    } catch {
      return false; // the connection broke: not accepted, nothing promised
    }
    if (response.status === 202) {
      accepted.push(((await response.json()) as { id: string }).id);
      return true;
    }
    refusals.push(`${response.status} ${await response.text()}`);
    return false;
  };
  /** Submits as a client that retries a 503 would. */
  const submitRetrying = async (i: number): Promise<void> => {
    for (let attempt = 0; attempt < 100 && !(await submit(i)); attempt++) await new Promise((resolve) => setTimeout(resolve, 100));
  };
  for (let i = 0; i < TASKS / 2; i++) await submit(i);
  // Kill Redis while work runs, submit during the outage, then bring it back on its AOF file.
  redis.kill('SIGKILL');
  await new Promise((resolve) => redis.once('exit', resolve));
  for (let i = TASKS / 2; i < TASKS / 2 + 10; i++) await submit(i);
  redis = startRedisServer(port, ['--dir', root, '--appendonly', 'yes', '--appendfsync', 'always']);
  await waitUntil(() => redisAnswers(url), 'redis-server answers again');
  for (let i = TASKS / 2 + 10; i < TASKS; i++) await submitRetrying(i);

  // A submission Redis could not take is refused as unavailable (503, retryable), nothing else.
  for (const refusal of refusals) assert.match(refusal, /^503 .*E_BACKEND_UNAVAILABLE/u);
  assert.ok(accepted.length >= TASKS - 10, `${accepted.length} accepted`);
  const statusOf = async (id: string): Promise<string> => ((await (await fetch(`${service!.url}/api/task/${id}`)).json()) as { status: string }).status;
  await waitUntil(
    async () => {
      for (const id of accepted) if ((await statusOf(id)) !== 'completed') return false;
      return true;
    },
    'every accepted task completed',
    120_000,
  ).catch(async (error: unknown) => {
    const stuck = [];
    for (const id of accepted) stuck.push(await statusOf(id));
    throw new Error(`${String(error)}; statuses: ${JSON.stringify(stuck.filter((s) => s !== 'completed'))}; service log: ${service!.stderr().slice(-3000)}`);
  });
});
