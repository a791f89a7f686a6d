import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteBackend } from './sqlite-backend.js';
import { SCHEMA_VERSION } from './schema.js';
import { SCHEMA_1, SCHEMA_2, SCHEMA_3, SCHEMA_4 } from './testing/old-schemas.js';
import type { WorkUnit } from '../backend.js';
import { runBackendContract } from '../testing/backend-contract.js';
import { runAccessContract } from '../testing/access-contract.js';
import { runWebhookContract } from '../testing/webhook-contract.js';
import { TtsError } from '../../errors.js';

runBackendContract('sqlite', async (clock) => new SqliteBackend({ path: ':memory:', now: clock.now }));
runAccessContract('sqlite', async () => new SqliteBackend({ path: ':memory:' }));
runWebhookContract('sqlite', async () => new SqliteBackend({ path: ':memory:' }));

test('sqlite: a database of schema 4 is migrated: its tasks read as before, new ones keep their parts', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sqlite-migrate-4-'));
  const path = join(dir, 'tasks.db');
  const old = new Database(path);
  old.exec(SCHEMA_4);
  old.pragma('user_version = 4');
  old.close();
  const backend = new SqliteBackend({ path });
  await backend.createTask({ text: '一。', format: 'wav', priority: 0, pronunciations: [], parts: [{ text: '一。' }] });
  const prepare = await backend.claim('w', ['prepare'], 60_000);
  assert.ok(prepare?.kind === 'prepare');
  assert.equal(prepare.task.segmentParts, undefined);
  await backend.completePrepare(prepare, { segments: ['一。'], segmentParts: [0] });
  const segment = await backend.claim('w', ['segment'], 60_000);
  assert.deepEqual(segment?.task.segmentParts, [0]);
  await backend.close();
  const reopened = new Database(path, { readonly: true });
  assert.equal(reopened.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  reopened.close();
  await rm(dir, { recursive: true, force: true });
});

test('sqlite: a database of schema 3 is migrated: its keys have no default webhook, new ones may; a webhook claim of a dead process is released', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sqlite-migrate-3-'));
  const path = join(dir, 'tasks.db');
  const old = new Database(path);
  old.exec(SCHEMA_3);
  old.pragma('user_version = 3');
  old.prepare("INSERT INTO api_keys (id, name, role, hash, quotas, created_at) VALUES ('oldkey000001', 'old', 'user', ?, '{}', 1)").run('a'.repeat(64));
  old.close();

  const backend = new SqliteBackend({ path });
  assert.equal((await backend.keys.get('oldkey000001'))?.webhookUrl, undefined);
  await backend.keys.create({ id: 'newkey000001', name: 'new', role: 'user', hash: 'b'.repeat(64), quotas: {}, createdAt: 2, webhookUrl: 'https://hooks.example.com/' });
  assert.equal((await backend.keys.get('newkey000001'))?.webhookUrl, 'https://hooks.example.com/');
  const { task } = await backend.createTask({ text: '一。', format: 'wav', priority: 0, pronunciations: [], webhook: { url: 'https://hooks.example.com/', events: 'final' } });
  await backend.cancelTask(task.id);
  const due = (await backend.webhooks.listForTask(task.id))[0]!.eventAt;
  assert.equal((await backend.webhooks.claimDue(due, due + 3_600_000, 10)).length, 1); // held when the process "dies"
  await backend.close();

  const second = new SqliteBackend({ path });
  assert.equal(second.releaseWebhookClaims(), 1);
  assert.equal((await second.webhooks.claimDue(Date.now(), Date.now() + 60_000, 10)).length, 1, 'due again at once, not when the dead claim would have ended');
  await second.close();
  const reopened = new Database(path, { readonly: true });
  assert.equal(reopened.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  reopened.close();
  await rm(dir, { recursive: true, force: true });
});

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

test('sqlite: a database of schema 2 is migrated: its tasks and voices have no owner, are listed, and new ones do', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sqlite-migrate-2-'));
  const path = join(dir, 'tasks.db');
  const old = new Database(path);
  old.exec(SCHEMA_2);
  old.pragma('user_version = 2');
  old
    .prepare("INSERT INTO tasks (id, seq, status, priority, request, created_at, updated_at) VALUES ('t1', 1, 'queued', 0, ?, 1, 1)")
    .run(JSON.stringify({ text: '旧的。', format: 'wav', priority: 0, pronunciations: [] }));
  old
    .prepare("INSERT INTO voices (id, name, prompt_text, audio_path, sha256, sample_rate, duration_ms, original_path, created_at) VALUES ('v1', 'old', '', '/a.wav', 'x', 24000, 3000, '/a.orig', 1)")
    .run();
  old.close();

  const backend = new SqliteBackend({ path });
  assert.equal((await backend.getTask('t1'))?.owner, undefined);
  assert.deepEqual(
    (await backend.listTasks({ owner: '', limit: 10 })).tasks.map((t) => t.id),
    ['t1'],
  );
  assert.deepEqual(
    (await backend.listVoices('')).map((v) => v.id),
    ['v1'],
  );
  const { task } = await backend.createTask({ text: '新的。', format: 'wav', priority: 0, pronunciations: [] }, { owner: 'k1' });
  assert.equal((await backend.claim('w', ['prepare'], 60_000))?.task.id, 't1');
  assert.equal((await backend.claim('w', ['prepare'], 60_000))?.task.id, task.id);
  await backend.close();
  const reopened = new Database(path, { readonly: true });
  assert.equal(reopened.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  reopened.close();
  await rm(dir, { recursive: true, force: true });
});

test('sqlite: a database of schema 1 is migrated: its tasks keep working and can be routed', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sqlite-migrate-'));
  const path = join(dir, 'tasks.db');
  const old = new Database(path);
  old.exec(SCHEMA_1);
  old.pragma('user_version = 1');
  old
    .prepare("INSERT INTO tasks (id, seq, status, priority, request, created_at, updated_at) VALUES ('t1', 1, 'queued', 0, ?, 1, 1)")
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

test('sqlite: after the start-up release, claims still recover expired leases', async () => {
  let time = 1_700_000_000_000;
  const backend = new SqliteBackend({ path: ':memory:', now: () => time, recoveryIntervalMs: 0 });
  assert.equal(backend.releaseAllLeases(), 0);
  const { task } = await backend.createTask({ text: '一。', format: 'wav', priority: 0, pronunciations: [] });
  assert.equal((await backend.claim('dead-worker', ['prepare'], 10_000))?.task.id, task.id);
  time += 15_000;
  assert.equal((await backend.claim('w2', ['prepare'], 10_000))?.task.id, task.id, 'the expired prepare lease was recovered');
  await backend.close();
});

test('sqlite: expired leases are recovered while the backend runs, without any claim', async () => {
  const backend = new SqliteBackend({ path: ':memory:', recoveryIntervalMs: 20 });
  backend.releaseAllLeases();
  const { task } = await backend.createTask({ text: '一。', format: 'wav', priority: 0, pronunciations: [] });
  await backend.claim('dead-worker', ['prepare'], 50);
  assert.equal((await backend.getTask(task.id))?.status, 'preparing');
  const deadline = Date.now() + 10_000;
  while ((await backend.getTask(task.id))?.status !== 'queued') {
    assert.ok(Date.now() < deadline, 'the task went back to the queue');
    await new Promise((r) => setTimeout(r, 20));
  }
  await backend.close();
});

test('sqlite: a write that finds no room is E_STORAGE_FULL, and the backend works again once there is room', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sqlite-full-'));
  const backend = new SqliteBackend({ path: join(dir, 'tasks.db') });
  // The database may not grow past its current size: the same error SQLite gives on a full disk.
  const db = (backend as unknown as { connection: { db: Database.Database } }).connection.db;
  const pages = db.pragma('page_count', { simple: true }) as number;
  db.pragma(`max_page_count = ${pages}`);
  const big = { text: '满'.repeat(20_000), format: 'wav' as const, priority: 0, pronunciations: [] };
  const refused = await Promise.allSettled([backend.createTask(big), backend.createTask(big)]);
  for (const outcome of refused) {
    assert.equal(outcome.status, 'rejected');
    assert.ok(outcome.reason instanceof TtsError, String(outcome.reason));
    assert.equal(outcome.reason.code, 'E_STORAGE_FULL');
    assert.equal(outcome.reason.retryable, true);
  }
  db.pragma(`max_page_count = ${pages * 1000}`);
  const { task } = await backend.createTask(big);
  assert.equal((await backend.getTask(task.id))?.status, 'queued');
  await backend.close();
  await rm(dir, { recursive: true, force: true });
});

for (const [kind, damage] of [
  ['random bytes', async (path: string) => writeFile(path, randomBytes(64 * 1024))],
  [
    'a database cut short',
    async (path: string) => {
      const backend = new SqliteBackend({ path });
      for (let i = 0; i < 300; i++) await backend.createTask({ text: `第${i}句。`.repeat(50), format: 'wav', priority: 0, pronunciations: [] });
      await backend.close();
      const { size } = await stat(path);
      await truncate(path, Math.floor(size / 2));
    },
  ],
] as const) {
  test(`sqlite: a tasks.db of ${kind} is E_DATABASE_CORRUPT, with what to do`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sqlite-corrupt-'));
    const path = join(dir, 'tasks.db');
    await damage(path);
    assert.throws(
      () => new SqliteBackend({ path }),
      (error: unknown) => {
        assert.ok(error instanceof TtsError, String(error));
        assert.equal(error.code, 'E_DATABASE_CORRUPT');
        assert.match(error.message, /move it away|restore it from a backup/iu);
        return true;
      },
    );
    await rm(dir, { recursive: true, force: true });
  });
}
