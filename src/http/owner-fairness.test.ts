/**
 * Fairness between keys (issue 11): with one key holding 200 queued segments (a hundred
 * one-segment tasks and one task of a hundred segments), another key's single task finishes
 * within a few segment-times: owners take turns before tasks do.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonPost, startTestService, waitForTask } from '../service/testing/test-service.js';
import { recordEvents, segmentsWhileWaiting } from '../service/testing/event-log.js';

// bench-sleep takes up to 200 characters a segment: each of these sentences is one segment.
const sentence = (i: number): string => `第${i}段：${'这是一段用来测试公平调度的长文本内容'.repeat(8)}。`;

test("one key's 200 queued segments do not starve another key's single task", async (t) => {
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
    // The order in which segments finished, from the backend's own events (exact, whatever the polling costs).
    const log = recordEvents(service.backend);
    // The busy key's work is under way (the engine is busy) when the quiet key submits.
    await waitForTask(service, long, (t) => t.progress.segments_done >= 3, 60_000, { authorization: `Bearer ${busy}` });
    const mine = await submit(quiet, '只有一句。');
    const done = await waitForTask(service, mine, (t) => ['completed', 'failed', 'canceled'].includes(t.status), 60_000, { authorization: `Bearer ${quiet}` });
    log.stop();
    assert.equal(done.status, 'completed');
    const busySet = new Set(busyTasks);
    const overtaken = segmentsWhileWaiting(log, mine, (taskId) => busySet.has(taskId));
    // One host: the quiet key waits for the segment running when it came, then takes its turn
    // (in Redis mode a few segments may already be handed to the host's queue). Far from 200.
    t.diagnostic(`the busy key ran ${overtaken} segments while the quiet key's segment waited and ran`);
    assert.ok(overtaken <= 6, `the busy key ran ${overtaken} segments while the quiet key's segment waited and ran`);
    const busyDone = log.events.filter((e) => busySet.has(e.taskId) && e.type === 'progress').length;
    assert.ok(busyDone < 150, `the busy key still had work queued (${busyDone} segments done)`);
  } finally {
    await service.stop();
  }
});
