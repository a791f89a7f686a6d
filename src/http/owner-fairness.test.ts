/**
 * Fairness between keys (issue 11): with one key holding 200 queued segments (a hundred
 * one-segment tasks and one task of a hundred segments), another key's single task finishes
 * within a few segment-times: owners take turns before tasks do.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonPost, startTestService, waitForTask } from '../service/testing/test-service.js';

// bench-sleep takes up to 200 characters a segment: each of these sentences is one segment.
const sentence = (i: number): string => `第${i}段：${'这是一段用来测试公平调度的长文本内容'.repeat(8)}。`;

test("one key's 200 queued segments do not starve another key's single task", async () => {
  const service = await startTestService({ BENCH_SLEEP_COST_MS: '40' });
  try {
    // The first key is made anonymously (loopback, no key yet).
    const admin = (await service.request('/api/keys', jsonPost({ name: 'admin', role: 'admin' }))).body.key as string;
    const makeKey = async (name: string): Promise<string> =>
      (await service.request('/api/keys', jsonPost({ name, quotas: { requests_per_second: 0 } }, { authorization: `Bearer ${admin}` }))).body.key as string;
    const busy = await makeKey('busy');
    const quiet = await makeKey('quiet');
    const submit = async (by: string, text: string): Promise<string> => {
      const answer = await service.request('/api/synthesis', jsonPost({ text }, { authorization: `Bearer ${by}` }));
      assert.equal(answer.status, 202, JSON.stringify(answer.body));
      return answer.body.id as string;
    };
    const long = await submit(busy, Array.from({ length: 100 }, (_, i) => sentence(i)).join(''));
    const busyTasks = [long];
    for (let i = 0; i < 100; i++) busyTasks.push(await submit(busy, sentence(i)));
    const doneOfBusy = async (): Promise<number> => {
      const tasks = await Promise.all(busyTasks.map(async (id) => (await service.request(`/api/task/${id}`, { headers: { authorization: `Bearer ${busy}` } })).body));
      return tasks.reduce((sum, task) => sum + task.progress.segments_done, 0);
    };
    // The busy key's work is under way (the engine is busy) when the quiet key submits.
    await waitForTask(service, long, (t) => t.progress.segments_done >= 3, 60_000).catch(() => undefined);
    const before = await doneOfBusy();
    const mine = await submit(quiet, '只有一句。');
    const done = await (async () => {
      for (;;) {
        const task = (await service.request(`/api/task/${mine}`, { headers: { authorization: `Bearer ${quiet}` } })).body;
        if (task.status === 'completed') return task;
        assert.ok(!['failed', 'canceled'].includes(task.status), task.status);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const overtaken = (await doneOfBusy()) - before;
    assert.equal(done.status, 'completed');
    // One host: the quiet key waits for the segment running when it came, then takes its turn
    // (in Redis mode a few segments may already be handed to the host's queue). Far from 200.
    assert.ok(overtaken <= 6, `the busy key ran ${overtaken} segments before the quiet key's single task finished`);
    assert.ok(before + overtaken < 200, 'the busy key still had work queued');
  } finally {
    await service.stop();
  }
});
