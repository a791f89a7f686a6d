import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteBackend } from './sqlite-backend.js';
import { SCHEMA, SCHEMA_VERSION } from './schema.js';
import type { WorkUnit } from '../backend.js';
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

test('sqlite: a database of schema 1 is migrated: its tasks keep working and can be routed', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sqlite-migrate-'));
  const path = join(dir, 'tasks.db');
  // Schema 1 is today's schema without the engine column and with the old segment index.
  const old = new Database(path);
  old.exec(SCHEMA.replace('  engine TEXT,\n', '').replace(/CREATE INDEX IF NOT EXISTS tasks_segment_queue_by_engine ON tasks \(status, engine, /u, 'CREATE INDEX IF NOT EXISTS tasks_segment_queue ON tasks (status, '));
  old.pragma('user_version = 1');
  old.prepare("INSERT INTO tasks (id, seq, status, priority, request, created_at, updated_at) VALUES ('t1', 1, 'queued', 0, ?, 1, 1)")
    .run(JSON.stringify({ text: '旧的。', format: 'wav', priority: 0, pronunciations: [] }));
  old.close();

  const backend = new SqliteBackend({ path });
  const prepare = await backend.claim('w', ['prepare'], 60_000);
  assert.equal(prepare?.task.id, 't1');
  await backend.completePrepare(prepare as WorkUnit & { kind: 'prepare' }, { segments: ['旧的。'], engine: 'espeak' });
  assert.equal((await backend.claim('w', ['segment'], 60_000, { engine: 'espeak' }))?.task.id, 't1');
  await backend.close();
  const reopened = new Database(path, { readonly: true });
  assert.equal(reopened.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  assert.deepEqual(reopened.prepare("SELECT name FROM sqlite_master WHERE name LIKE 'tasks_segment_queue%'").all(), [{ name: 'tasks_segment_queue_by_engine' }]);
  reopened.close();
  await rm(dir, { recursive: true, force: true });
});
