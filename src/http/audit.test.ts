// GET /api/audit over real HTTP, on SQLite or (TEST_BACKEND=redis) Redis: entries appended through
// the backend come back newest first, filtered, a page at a time; a bad query value is a 400
// with a stable code, never a 5xx. Each test reads only its own keys or subjects.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEntry } from '../backends/backend.js';
import { testPrefix } from '../backends/redis/testing/redis-test-prefix.js';
import { startTestService, waitUntil } from '../service/testing/test-service.js';

const service = await startTestService();
test.after(() => service.stop());

const T0 = Date.now() - 3_600_000;
const iso = (ms: number): string => new Date(ms).toISOString();

async function append(count: number, make: (n: number) => Partial<Omit<AuditEntry, 'id'>>): Promise<void> {
  for (let n = 0; n < count; n++) {
    await service.backend.audit.append({ at: T0 + n * 1_000, action: 'task.create', keyId: 'k', address: '203.0.113.7', subject: `s${n}`, ...make(n) });
  }
}

async function audit(query: Record<string, string | number>): Promise<{ status: number; body: any }> {
  return await service.request(`/api/audit?${new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]))}`);
}

test('GET /api/audit lists entries newest first, with ISO times, anonymous keys and detail', async () => {
  await append(3, (n) => ({ keyId: n === 1 ? null : 'shape', subject: `shape-${n}`, detail: n === 2 ? { voice: 'v1', chars: 12, cloned: true } : undefined }));
  const { status, body } = await audit({ subject: 'shape-2' });
  assert.equal(status, 200);
  assert.deepEqual(body.entries, [
    { id: body.entries[0].id, at: iso(T0 + 2_000), action: 'task.create', key_id: 'shape', address: '203.0.113.7', subject: 'shape-2', detail: { voice: 'v1', chars: 12, cloned: true } },
  ]);
  assert.equal(body.next_cursor, null);
  const anonymous = await audit({ subject: 'shape-1' });
  assert.equal(anonymous.body.entries[0].key_id, null);
  assert.equal(anonymous.body.entries[0].detail, null);
  const byKey = await audit({ key_id: 'shape' });
  assert.deepEqual(
    byKey.body.entries.map((e: { subject: string }) => e.subject),
    ['shape-2', 'shape-0'],
  );
});

test('GET /api/audit filters by key, action, subject and time, alone and together', async () => {
  await append(12, (n) => ({ keyId: `filter-${n % 2}`, action: n % 3 === 0 ? 'voice.use' : 'task.download', subject: `filter-s${n % 4}` }));
  const indexesOf = async (query: Record<string, string>): Promise<number[]> => {
    const { status, body } = await audit(query);
    assert.equal(status, 200, JSON.stringify(body));
    return body.entries.map((e: { at: string }) => (Date.parse(e.at) - T0) / 1_000);
  };
  assert.deepEqual(await indexesOf({ key_id: 'filter-1' }), [11, 9, 7, 5, 3, 1]);
  assert.deepEqual(await indexesOf({ key_id: 'filter-0', action: 'voice.use' }), [6, 0]);
  assert.deepEqual(await indexesOf({ subject: 'filter-s3' }), [11, 7, 3]);
  assert.deepEqual(await indexesOf({ key_id: 'filter-1', since: iso(T0 + 3_000), until: iso(T0 + 9_000) }), [7, 5, 3]);
  assert.deepEqual(await indexesOf({ key_id: 'filter-0', action: 'task.download', subject: 'filter-s2', since: iso(T0), until: iso(T0 + 11_000) }), [10, 2]);
  // Any time zone: 08:00 at +08:00 is midnight UTC.
  const at5 = new Date(T0 + 5_000);
  const shifted = `${iso(at5.getTime() + 8 * 3_600_000).slice(0, -1)}+08:00`;
  assert.deepEqual(await indexesOf({ key_id: 'filter-1', until: shifted }), [3, 1]);
});

test('GET /api/audit pages through 250 entries with limit and cursor, each once, in order', async () => {
  await append(250, (n) => ({ keyId: 'paging', subject: `paging-${n}` }));
  const seen: string[] = [];
  const sizes: number[] = [];
  let cursor: string | null = null;
  do {
    const { status, body }: { status: number; body: any } = await audit(cursor === null ? { key_id: 'paging' } : { key_id: 'paging', cursor });
    assert.equal(status, 200, JSON.stringify(body));
    sizes.push(body.entries.length);
    seen.push(...body.entries.map((e: { subject: string }) => e.subject));
    cursor = body.next_cursor;
  } while (cursor !== null && sizes.length < 10);
  assert.deepEqual(sizes, [100, 100, 50], 'the default limit is 100');
  assert.deepEqual(
    seen,
    Array.from({ length: 250 }, (_, n) => `paging-${249 - n}`),
  );
  const small = await audit({ key_id: 'paging', limit: 7 });
  assert.equal(small.body.entries.length, 7);
  assert.equal(typeof small.body.next_cursor, 'string');
  const next = await audit({ key_id: 'paging', limit: 7, cursor: small.body.next_cursor });
  assert.equal(next.body.entries[0].subject, 'paging-242');
});

test('GET /api/audit refuses bad query values with 400 E_INVALID_ARGUMENT, never a 5xx', async () => {
  const refusals: Array<Record<string, string>> = [
    { limit: '0' },
    { limit: '501' },
    { limit: 'ten' },
    { limit: '1e400' },
    { action: 'task.explode' },
    { since: 'yesterday' },
    { since: '2025-01-31' },
    { since: '2025-01-31T12:00:00' },
    { until: '2025-02-30T00:00:00Z' },
    { until: '2016-12-31T23:59:60Z' },
    { cursor: 'abc' },
    { cursor: '1 OR 1=1' },
    { cursor: 'x'.repeat(65) },
    { key_id: '' },
    { subject: 'x'.repeat(201) },
    { keyid: 'k' },
  ];
  for (const query of refusals) {
    const { status, body } = await audit(query);
    assert.equal(status, 400, `${JSON.stringify(query)}: ${JSON.stringify(body)}`);
    assert.equal(body.error.code, 'E_INVALID_ARGUMENT', JSON.stringify(query));
    assert.match(body.error.message, /Expected|Unknown field/u, JSON.stringify(query));
  }
  const repeated = await service.request('/api/audit?limit=1&limit=2');
  assert.ok(repeated.status < 500, JSON.stringify(repeated.body));
});

test('entries older than AUDIT_RETENTION_DAYS are pruned when the service starts', async () => {
  // Two runs of one service on the same data (SQLite: DATA_DIR; Redis: REDIS_PREFIX).
  const dataDir = await mkdtemp(join(tmpdir(), 'audit-retention-'));
  const env = { AUDIT_RETENTION_DAYS: '1', DATA_DIR: dataDir, REDIS_PREFIX: testPrefix() };
  const first = await startTestService(env);
  const day = 86_400_000;
  await first.backend.audit.append({ at: Date.now() - 2 * day, action: 'voice.delete', keyId: 'k', address: '::1', subject: 'old' });
  await first.backend.audit.append({ at: Date.now() - day / 2, action: 'voice.delete', keyId: 'k', address: '::1', subject: 'recent' });
  await first.close();
  const second = await startTestService(env);
  try {
    const subjects = async (): Promise<string[]> => (await second.request('/api/audit')).body.entries.map((e: { subject: string }) => e.subject);
    await waitUntil(async () => (await subjects()).length === 1, 'the prune at start');
    assert.deepEqual(await subjects(), ['recent']);
  } finally {
    await second.stop();
    for (const dir of [dataDir, first.dataDir]) await rm(dir, { recursive: true, force: true });
  }
});
