/**
 * A burst of engine host deaths (12 SIGKILLs, as the OOM killer would do) in a running service:
 * /readyz says which engine has no host up, tasks submitted meanwhile wait for it instead of
 * failing, and once the hosts are back the service is ready again and every task completes.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonPost, startTestService, waitForTask, type TestService } from './testing/test-service.js';
import { killHostsAsTheyAppear } from '../engines/testing/host-killer.js';

// Each host loads for 300 ms: the killer finds most of them while they load (a failed start).
const service = await startTestService({ ENGINE: 'bench-sleep', ENGINE_HOSTS: '1', BENCH_SLEEP_LOAD_MS: '300' }, { engineRestartBackoff: { initialMs: 50, maxMs: 400 } });
test.after(() => service.stop());

type Answer = Awaited<ReturnType<TestService['request']>>;

async function pollUntil(path: string, wanted: (answer: Answer) => boolean, what: string, timeoutMs = 60_000): Promise<Answer> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await service.request(path);
    if (wanted(answer)) return answer;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; last answer ${answer.status} ${JSON.stringify(answer.body)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('12 host kills in a row: /readyz says 503 while no host is up and 200 after; tasks wait for the engine and complete', async () => {
  const pool = service.engines!.pool('bench-sleep')!;
  assert.equal((await service.request('/readyz')).status, 200);
  const killer = killHostsAsTheyAppear(() => pool.pids);
  let during: Answer;
  try {
    // The killer keeps every host from coming up until it stops, so these checks run while the engine is down.
    const notReady = await pollUntil('/readyz', (a) => a.status === 503, '/readyz to say 503');
    assert.equal(notReady.body.error.code, 'E_NOT_READY');
    assert.match(notReady.body.error.message, /No host of engine "bench-sleep" is up/u);
    const engines = await service.request('/api/engines');
    assert.equal(engines.status, 200);
    assert.deepEqual(
      engines.body.engines.map((e: { engine: string; hosts: number; hosts_up: number }) => [e.engine, e.hosts, e.hosts_up]),
      [['bench-sleep', 1, 0]],
    );
    during = await service.request('/api/synthesis', jsonPost({ text: '引擎重启时提交的任务。它等引擎回来。' }));
    assert.equal(during.status, 202, JSON.stringify(during.body));
    const whileDown = await service.request(`/api/task/${during.body.id}`);
    assert.notEqual(whileDown.body.status, 'failed', JSON.stringify(whileDown.body));
    const deadline = Date.now() + 60_000;
    while (killer.killed() < 12) {
      assert.ok(Date.now() < deadline, `only ${killer.killed()} hosts killed`);
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    killer.stop();
  }

  await pollUntil('/readyz', (a) => a.status === 200, '/readyz to say 200 again');
  const after = await service.request('/api/synthesis', jsonPost({ text: '引擎回来以后提交的任务。' }));
  assert.equal(after.status, 202, JSON.stringify(after.body));
  for (const id of [during.body.id, after.body.id]) {
    const task = await waitForTask(service, id);
    assert.deepEqual([task.status, task.engine], ['completed', 'bench-sleep'], JSON.stringify(task));
  }
  const engines = await service.request('/api/engines');
  assert.equal(engines.body.engines[0].hosts_up, 1);
});
