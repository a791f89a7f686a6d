import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonPost, startTestService, waitForTask, waitUntil, type TestService } from '../service/testing/test-service.js';
import { recordEvents, segmentsWhileWaiting } from '../service/testing/event-log.js';

// One host, 40 ms per segment; bench-sleep takes up to 200 characters a segment, so each of
// these 150-character sentences is one segment.
const sentence = (i: number): string => `第${i}段：${'这是一段用来测试公平调度的长文本内容'.repeat(8)}。`;
const longText = (segments: number): string => Array.from({ length: segments }, (_, i) => sentence(i)).join('');

async function withService(env: Record<string, string>, body: (service: TestService) => Promise<void>): Promise<void> {
  const service = await startTestService(env);
  try {
    await body(service);
  } finally {
    await service.stop();
  }
}

const submit = async (service: TestService, body: Record<string, unknown>): Promise<string> => (await service.request('/api/synthesis', jsonPost(body))).body.id as string;

// Each case runs against a host that takes one segment at a time, and against a batched one
// (four at once, each as slow as alone, as a batched model on a GPU): the pool fills the batch
// from the queue in the scheduler's order, so fairness and priority hold the same.
for (const maxBatch of [1, 4]) {
  const batch = { BENCH_SLEEP_MAX_BATCH: String(maxBatch) };
  const named = (name: string): string => (maxBatch === 1 ? name : `${name} (host batches ${maxBatch})`);

  test(named('a one-sentence task submitted while a 100-segment task runs finishes within a few segment-times'), () =>
    withService({ BENCH_SLEEP_COST_MS: '40', ...batch }, async (service) => {
      const long = await submit(service, { text: longText(100) });
      await waitForTask(service, long, (t) => t.progress.segments_done >= 5);
      const log = recordEvents(service.backend);
      const short = await submit(service, { text: '短句。' });
      await waitForTask(service, short, (t) => t.status === 'completed');
      log.stop();
      const longWhenShortDone = (await service.request(`/api/task/${long}`)).body;
      assert.equal(longWhenShortDone.progress.segments_total, 100);
      const overtaken = segmentsWhileWaiting(log, short, (taskId) => taskId === long);
      // A few segment-times: a batched host finishes maxBatch segments in each.
      assert.ok(overtaken <= 4 * maxBatch, `the long task ran ${overtaken} segments while the short one's segment waited and ran`);
      assert.notEqual(longWhenShortDone.status, 'completed');
    }),
  );

  test(named('a higher priority goes first'), () =>
    withService({ BENCH_SLEEP_COST_MS: '40', ...batch }, async (service) => {
      const long = await submit(service, { text: longText(20) });
      await waitForTask(service, long, (t) => t.progress.segments_done >= 1);
      const log = recordEvents(service.backend);
      const low = await submit(service, { text: longText(3), priority: 0 });
      const high = await submit(service, { text: longText(3), priority: 5 });
      assert.equal((await waitForTask(service, high)).status, 'completed');
      assert.equal((await waitForTask(service, low)).status, 'completed');
      log.stop();
      // By the engine's work, not by finished_at: encoding runs beside the engine and takes
      // longer on a loaded machine than the segments that separate the two.
      const lastSegmentDone = (taskId: string): number => log.events.filter((e) => e.taskId === taskId && e.type === 'progress').reduce((last, e) => Math.max(last, e.id), -1);
      assert.ok(lastSegmentDone(high) >= 0 && lastSegmentDone(high) < lastSegmentDone(low), 'the high-priority task, submitted second, had its segments made first');
    }),
  );

  test(named('a long task runs on several engine hosts at once'), () =>
    withService({ BENCH_SLEEP_COST_MS: '100', ENGINE_HOSTS: '2', ...batch }, async (service) => {
      let mostBusy = 0;
      const watch = setInterval(() => (mostBusy = Math.max(mostBusy, service.engines!.pools()[0]!.pool.busy)), 10);
      const id = await submit(service, { text: longText(8 * maxBatch) });
      await waitForTask(service, id);
      clearInterval(watch);
      assert.equal(mostBusy, 2);
    }),
  );

  test(named('a segment whose host dies is retried and the task completes'), () =>
    withService({ BENCH_SLEEP_COST_MS: '300', ...batch }, async (service) => {
      const id = await submit(service, { text: longText(4) });
      const { pool } = service.engines!.pools()[0]!;
      // Killed while it holds segments: they are lost and retried.
      await waitUntil(() => pool.busy === 1, 'the host to work on a segment');
      process.kill(pool.pids[0]!, 'SIGKILL');
      const task = await waitForTask(service, id);
      assert.equal(task.status, 'completed', JSON.stringify(task.error));
      // Each segment the host held (up to its batch) was lost once and tried again.
      assert.ok(task.attempts >= 2 && task.attempts <= 1 + maxBatch, `attempts: ${task.attempts}`);
    }),
  );
}
