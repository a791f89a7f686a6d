import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteBackend } from './sqlite-backend.js';
import { runBackendContract } from '../testing/backend-contract.js';

runBackendContract('sqlite', async (clock) => new SqliteBackend({ path: ':memory:', now: clock.now }));

test('sqlite: tasks and finished segments survive reopening the file; leases are released at start-up', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sqlite-backend-'));
  const path = join(dir, 'tasks.db');
  const first = new SqliteBackend({ path });
  const { task } = await first.createTask({ text: '一。二。', format: 'wav', priority: 0, pronunciations: [] });
  const prepare = await first.claim('w', ['prepare'], 60_000);
  assert.ok(prepare?.kind === 'prepare');
  await first.completePrepare(prepare, { segments: ['一。', '二。'] });
  const done = await first.claim('w', ['segment'], 60_000);
  assert.ok(done?.kind === 'segment');
  await first.completeSegment(done, { audioPath: '/0.wav', durationMs: 1 });
  await first.claim('w', ['segment'], 60_000); // held when the process "dies"
  await first.close();

  const second = new SqliteBackend({ path });
  assert.equal(second.releaseAllLeases(), 1);
  const resumed = await second.claim('w2', ['segment'], 60_000);
  assert.ok(resumed?.kind === 'segment');
  assert.equal(resumed.segment.index, 1, 'the finished segment is not redone');
  assert.equal((await second.getTask(task.id))?.segmentsDone, 1);
  await second.close();
  await rm(dir, { recursive: true, force: true });
});
