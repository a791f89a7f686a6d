/**
 * Start later over HTTP (both backends: TEST_BACKEND=redis): a task with `not_before` stays
 * queued, showing its time and place in the queue, and is prepared only once due (judged by the
 * times of its events, not by how long anything took); canceled while it waits, it never runs;
 * after a kill -9 of the service while it waits, it still waits and runs when due.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_REDIS_URL, dropPrefix, testPrefix } from '../backends/redis/testing/redis-test-prefix.js';
import { jsonPost, startTestService, waitForTask, waitUntil } from '../service/testing/test-service.js';
import { killServiceGroup, startServiceProcess } from '../service/testing/service-process.js';

const HOLD_MS = 2_000;

/** The task's events (SSE, replayed from the start; the stream ends at a final state). */
async function eventsOf(url: string, id: string): Promise<Array<{ status: string; at: string }>> {
  const text = await (await fetch(`${url}/api/task/${id}/events`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('data: '))
    .map((line) => JSON.parse(line.slice('data: '.length)) as { status: string; at: string })
    .filter((event) => typeof event.status === 'string');
}

/** The time of the task's first event that is not `queued`: when it was first claimed to be prepared. */
function firstStartedAt(events: Array<{ status: string; at: string }>): number {
  const started = events.find((event) => event.status !== 'queued');
  assert.ok(started !== undefined, 'the task left the queue');
  return Date.parse(started.at);
}

test('a task with not_before waits queued, showing its time and place, then runs; another is not held up by it', async () => {
  const service = await startTestService({ BENCH_SLEEP_COST_MS: '5' });
  try {
    const notBefore = new Date(Date.now() + HOLD_MS).toISOString();
    const held = await service.request('/api/synthesis', jsonPost({ text: '稍后开始。', not_before: notBefore }));
    assert.equal(held.status, 202);
    const shown = await service.request(`/api/task/${held.body.id}`);
    assert.equal(shown.body.status, 'queued');
    assert.equal(shown.body.not_before, notBefore);
    assert.deepEqual(shown.body.queue, { position: 0, starts_at: notBefore });

    // Submitted after it, due now: runs to the end while the held one waits.
    const now = await service.request('/api/synthesis', jsonPost({ text: '马上开始。' }));
    const done = await waitForTask(service, now.body.id);
    assert.equal(done.status, 'completed');
    assert.equal(done.not_before, null);
    assert.equal('queue' in done, false, 'a task no longer queued has no place in the queue');

    const completed = await waitForTask(service, held.body.id);
    assert.equal(completed.status, 'completed');
    const events = await eventsOf(service.url, held.body.id);
    assert.ok(firstStartedAt(events) >= Date.parse(notBefore), `prepared at ${events.find((e) => e.status !== 'queued')?.at}, not before ${notBefore}`);
    assert.ok(firstStartedAt(await eventsOf(service.url, now.body.id)) < firstStartedAt(events), 'the task due at once went first');

    const list = await service.request('/api/tasks?limit=5');
    const listed = list.body.tasks.find((task: { id: string }) => task.id === held.body.id);
    assert.equal(listed.not_before, notBefore);
    assert.equal('queue' in listed, false, 'lists do not show queue places');
  } finally {
    await service.stop();
  }
});

test('a task canceled while it waits for not_before is never prepared', async () => {
  const service = await startTestService({ BENCH_SLEEP_COST_MS: '5' });
  try {
    const notBefore = Date.now() + HOLD_MS;
    const held = await service.request('/api/synthesis', jsonPost({ text: '取消我。', not_before: new Date(notBefore).toISOString() }));
    const canceled = await service.request(`/api/task/${held.body.id}`, { method: 'DELETE' });
    assert.equal(canceled.body.status, 'canceled');
    // A task submitted after its time, completed: the worker has looked at the queue since then.
    await waitUntil(() => Date.now() > notBefore, 'the canceled task to come due', HOLD_MS * 3);
    const after = await service.request('/api/synthesis', jsonPost({ text: '之后的任务。' }));
    assert.equal((await waitForTask(service, after.body.id)).status, 'completed');
    const events = await eventsOf(service.url, held.body.id);
    assert.deepEqual(
      events.map((event) => event.status),
      ['queued', 'canceled'],
    );
  } finally {
    await service.stop();
  }
});

test('kill -9 while a task waits for not_before: after the restart it still waits, and runs once due', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'not-before-crash-'));
  const backendEnv: Record<string, string> = process.env.TEST_BACKEND === 'redis' ? { BACKEND: 'redis', REDIS_URL: TEST_REDIS_URL, REDIS_PREFIX: testPrefix() } : {};
  const env = { HOST: '127.0.0.1', PORT: '0', DATA_DIR: dataDir, ENGINE: 'bench-sleep', ENGINE_HOSTS: '1', BENCH_SLEEP_COST_MS: '5', LOG_LEVEL: 'warn', ...backendEnv };
  let running = await startServiceProcess(env);
  try {
    // Long enough to outlast the restart: the test checks that the task was still waiting after it.
    const notBefore = new Date(Date.now() + 4 * HOLD_MS).toISOString();
    const answer: any = await (await fetch(`${running.url}/api/synthesis`, jsonPost({ text: '重启以后再开始。', not_before: notBefore }))).json();
    assert.equal(answer.status, 'queued');
    killServiceGroup(running);
    await running.exited;

    running = await startServiceProcess(env);
    const url = running.url;
    const restarted: any = await (await fetch(`${url}/api/task/${answer.id}`)).json();
    if (Date.now() < Date.parse(notBefore)) {
      assert.equal(restarted.status, 'queued');
      assert.equal(restarted.queue.starts_at, notBefore);
    }
    let task: any;
    await waitUntil(
      async () => {
        task = await (await fetch(`${url}/api/task/${answer.id}`)).json();
        return ['completed', 'failed', 'canceled'].includes(task.status);
      },
      'the held task to end',
      60_000,
    );
    assert.equal(task.status, 'completed');
    assert.ok(firstStartedAt(await eventsOf(url, answer.id)) >= Date.parse(notBefore));
  } finally {
    killServiceGroup(running);
    await running.exited;
    if (backendEnv.REDIS_PREFIX !== undefined) await dropPrefix(backendEnv.REDIS_PREFIX, TEST_REDIS_URL);
    await rm(dataDir, { recursive: true, force: true });
  }
});
