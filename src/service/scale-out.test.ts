// The scaled-out form as an operator runs it: one `api` and three `worker` processes on one
// Redis (the development Redis, under a prefix of this run's own) and a shared blob folder.
// A worker killed with SIGKILL mid-run loses nothing; an API killed is replaced by another.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisBackend } from '../backends/redis/redis-backend.js';
import { TEST_REDIS_URL, dropPrefix, testPrefix } from '../backends/redis/testing/redis-test-prefix.js';
import { killServiceGroup, startServiceProcess, type ServiceProcess } from './testing/service-process.js';
import { waitUntil } from './testing/test-service.js';

const TASKS = 300;

test('api + 3 workers on Redis: a worker killed mid-run and then the API killed; every task completes once, and another API serves it', async (t) => {
  const prefix = testPrefix();
  const root = await mkdtemp(join(tmpdir(), 'tts-scale-out-'));
  const processes: ServiceProcess[] = [];
  t.after(async () => {
    for (const p of processes) killServiceGroup(p);
    await dropPrefix(prefix);
    await rm(root, { recursive: true, force: true });
  });
  const common = { BACKEND: 'redis', REDIS_URL: TEST_REDIS_URL, REDIS_PREFIX: prefix, BLOB_DIR: join(root, 'blobs'), HOST: '127.0.0.1', LOG_LEVEL: 'warn', LEASE_MS: '2000' };
  const start = async (role: string, name: string, env: Record<string, string> = {}): Promise<ServiceProcess> => {
    const p = await startServiceProcess({ ...common, DATA_DIR: join(root, name), ...env }, role);
    processes.push(p);
    return p;
  };
  const api = await start('api', 'api', { PORT: '0' });
  const workers = [];
  for (let i = 0; i < 3; i++) workers.push(await start('worker', `worker-${i}`, { METRICS_PORT: '0', ENGINE: 'bench-sleep', ENGINE_HOSTS: '1', BENCH_SLEEP_COST_MS: '15' }));
  // The API routes by the engines the workers report.
  await waitUntil(async () => ((await (await fetch(`${api.url}/api/engines`)).json()) as { engines?: Array<{ hosts_up: number }> }).engines?.[0]?.hosts_up === 3, 'three workers reported');

  const ids: string[] = [];
  for (let i = 0; i < TASKS; i++) {
    const response = await fetch(`${api.url}/api/synthesis`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: `第${i}个任务。它有两句话。`, format: 'wav' }),
    });
    assert.equal(response.status, 202);
    ids.push(((await response.json()) as { id: string }).id);
  }
  const backend = await RedisBackend.open({ url: TEST_REDIS_URL, prefix, repairIntervalMs: 0 });
  t.after(() => backend.close());
  await waitUntil(async () => (await backend.countByStatus()).completed >= TASKS / 4, 'a quarter of the tasks done', 120_000);
  killServiceGroup(workers[0]!);
  await workers[0]!.exited;

  await waitUntil(async () => (await backend.countByStatus()).completed === TASKS, 'every task completed', 180_000);
  for (const id of ids) {
    const events = await backend.listEvents(id, 0);
    const task = (await backend.getTask(id))!;
    // A segment done before the kill is never done again: one progress event per segment,
    // and the task never went back to synthesizing.
    assert.equal(events.filter((e) => e.type === 'progress').length, task.segmentsTotal, `task ${id}: ${JSON.stringify(events.map((e) => e.status))}`);
    assert.equal(events.filter((e) => e.type === 'status' && e.status === 'synthesizing').length, 1);
  }

  killServiceGroup(api);
  await api.exited;
  const second = await start('api', 'api-2', { PORT: '0' });
  for (const id of ids) {
    const status = (await (await fetch(`${second.url}/api/task/${id}`)).json()) as { status: string };
    assert.equal(status.status, 'completed');
    const audio = await fetch(`${second.url}/api/task/${id}/audio`);
    assert.equal(audio.status, 200);
    const bytes = Buffer.from(await audio.arrayBuffer());
    assert.equal(bytes.subarray(0, 4).toString('latin1'), 'RIFF', `task ${id} gives a wav file`);
    assert.ok(bytes.length > 1_000);
  }
});
