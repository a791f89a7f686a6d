/**
 * The audit log's part of the backend contract (backend-contract.ts runs it for every backend):
 * entries come back newest first, filtered, a page at a time, and are pruned by age.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditAction, AuditEntry, AuditLog } from '../backend.js';
import { TtsError } from '../../errors.js';

/** Runs `body` with the audit log of a fresh backend, closed afterwards. */
export type WithAuditLog = (body: (audit: AuditLog) => Promise<void>) => Promise<void>;

/** Entry times: a fixed past day, one second apart, whatever the backend's clock. */
const T0 = 1_700_000_000_000;
const at = (n: number): number => T0 + n * 1_000;

function entry(n: number, fields: Partial<Omit<AuditEntry, 'id' | 'at'>> = {}): Omit<AuditEntry, 'id'> {
  return { at: at(n), action: 'task.create', keyId: 'k1', address: '127.0.0.1', subject: `task-${n}`, ...fields };
}

/** Every page of a query, following the cursor; fails if it does not end within `maxPages`. */
async function allPages(audit: AuditLog, query: Omit<Parameters<AuditLog['list']>[0], 'cursor'>, maxPages = 100): Promise<Array<{ entries: AuditEntry[]; nextCursor?: string }>> {
  const pages = [];
  let cursor: string | undefined;
  do {
    const page = await audit.list({ ...query, cursor });
    pages.push(page);
    assert.ok(page.entries.length <= query.limit, 'a page holds at most `limit` entries');
    assert.ok(pages.length <= maxPages, `the listing ends within ${maxPages} pages`);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return pages;
}

const subjects = (entries: AuditEntry[]): string[] => entries.map((e) => e.subject);

export function runAuditContract(name: string, withAuditLog: WithAuditLog): void {
  test(`${name}: audit entries are listed newest first, as appended, detail and anonymous keys included`, () =>
    withAuditLog(async (audit) => {
      assert.deepEqual(await audit.list({ limit: 10 }), { entries: [] });
      await audit.append(entry(0, { action: 'voice.create', subject: 'v1', detail: { name: 'teacher', consent: true, seconds: 4.5 } }));
      await audit.append(entry(1, { action: 'voice.use', keyId: null, address: '::1', subject: 'v1' }));
      await audit.append(entry(2, { action: 'task.download', subject: 't1' }));
      const { entries, nextCursor } = await audit.list({ limit: 10 });
      assert.equal(nextCursor, undefined);
      assert.deepEqual(
        entries.map(({ id: _id, ...rest }) => rest),
        [
          { at: at(2), action: 'task.download', keyId: 'k1', address: '127.0.0.1', subject: 't1' },
          { at: at(1), action: 'voice.use', keyId: null, address: '::1', subject: 'v1' },
          { at: at(0), action: 'voice.create', keyId: 'k1', address: '127.0.0.1', subject: 'v1', detail: { name: 'teacher', consent: true, seconds: 4.5 } },
        ],
      );
      assert.ok(
        entries.every((e) => typeof e.id === 'string' && e.id !== ''),
        'ids are strings',
      );
      assert.equal(new Set(entries.map((e) => e.id)).size, 3, 'ids are distinct');
    }));

  test(`${name}: audit filters (key, action, subject, since, until) apply alone and together`, () =>
    withAuditLog(async (audit) => {
      const actions: AuditAction[] = ['task.create', 'task.download', 'voice.use'];
      // Entry n: key k(n % 2), action actions[n % 3], subject s(n % 4), time at(n).
      for (let n = 0; n < 24; n++) await audit.append(entry(n, { keyId: `k${n % 2}`, action: actions[n % 3]!, subject: `s${n % 4}` }));
      const expect = async (query: Omit<Parameters<AuditLog['list']>[0], 'limit'>, keep: (n: number) => boolean, what: string): Promise<void> => {
        const wanted = Array.from({ length: 24 }, (_, n) => 23 - n).filter(keep);
        const { entries, nextCursor } = await audit.list({ ...query, limit: 100 });
        assert.equal(nextCursor, undefined, what);
        assert.deepEqual(
          entries.map((e) => e.at),
          wanted.map(at),
          what,
        );
      };
      await expect({ keyId: 'k1' }, (n) => n % 2 === 1, 'by key');
      await expect({ keyId: 'nobody' }, () => false, 'by an unknown key');
      await expect({ action: 'task.download' }, (n) => n % 3 === 1, 'by action');
      await expect({ action: 'key.revoke' }, () => false, 'by an action never taken');
      await expect({ subject: 's2' }, (n) => n % 4 === 2, 'by subject');
      await expect({ since: at(20) }, (n) => n >= 20, 'since is inclusive');
      await expect({ until: at(3) }, (n) => n < 3, 'until is exclusive');
      await expect({ since: at(5), until: at(15) }, (n) => n >= 5 && n < 15, 'a time window');
      await expect({ keyId: 'k0', action: 'voice.use' }, (n) => n % 2 === 0 && n % 3 === 2, 'key and action');
      await expect({ keyId: 'k1', subject: 's3', since: at(4), until: at(20) }, (n) => n % 2 === 1 && n % 4 === 3 && n >= 4 && n < 20, 'key, subject and a time window');
      await expect({ keyId: 'k0', action: 'task.create', subject: 's0', since: at(1), until: at(23) }, (n) => n % 2 === 0 && n % 3 === 0 && n % 4 === 0 && n >= 1 && n < 23, 'every filter');
    }));

  test(`${name}: audit paging through 250 entries, 100 at a time, gives each once, in order`, () =>
    withAuditLog(async (audit) => {
      for (let n = 0; n < 250; n++) await audit.append(entry(n));
      const pages = await allPages(audit, { limit: 100 });
      assert.deepEqual(
        pages.map((p) => p.entries.length),
        [100, 100, 50],
      );
      const all = pages.flatMap((p) => p.entries);
      assert.deepEqual(
        subjects(all),
        Array.from({ length: 250 }, (_, n) => `task-${249 - n}`),
      );
      assert.equal(new Set(all.map((e) => e.id)).size, 250);
    }));

  test(`${name}: a filtered audit listing across thousands of entries that do not match ends, each match once`, () =>
    withAuditLog(async (audit) => {
      // More entries that do not match than a bounded reader reads in one call (Redis: 5,000).
      const matching = new Set([0, 3_000, 6_001]);
      for (let n = 0; n <= 6_001; n++) await audit.append(entry(n, matching.has(n) ? { keyId: 'rare' } : {}));
      const pages = await allPages(audit, { keyId: 'rare', limit: 2 }, 20);
      assert.deepEqual(subjects(pages.flatMap((p) => p.entries)), ['task-6001', 'task-3000', 'task-0']);
      const windowed = await allPages(audit, { keyId: 'rare', since: at(1), limit: 1 }, 20);
      assert.deepEqual(subjects(windowed.flatMap((p) => p.entries)), ['task-6001', 'task-3000']);
    }));

  test(`${name}: pruning the audit log removes only entries older than the time given`, () =>
    withAuditLog(async (audit) => {
      for (let n = 0; n < 10; n++) await audit.append(entry(n));
      assert.equal(await audit.prune(at(0)), 0, 'nothing is older than the first');
      assert.equal(await audit.prune(at(6)), 6);
      assert.deepEqual(subjects((await audit.list({ limit: 100 })).entries), ['task-9', 'task-8', 'task-7', 'task-6']);
      assert.equal(await audit.prune(at(6)), 0, 'only once');
      // The log goes on after a prune: a new entry is listed first.
      await audit.append(entry(10));
      assert.deepEqual(subjects((await audit.list({ limit: 2 })).entries), ['task-10', 'task-9']);
    }));

  test(`${name}: a malformed audit cursor is E_INVALID_ARGUMENT`, () =>
    withAuditLog(async (audit) => {
      await audit.append(entry(0));
      for (const cursor of ['', 'abc', '-1', '1.5', "1' OR 1=1", '9'.repeat(40)]) {
        await assert.rejects(audit.list({ limit: 10, cursor }), (error: unknown) => error instanceof TtsError && error.code === 'E_INVALID_ARGUMENT', JSON.stringify(cursor));
      }
    }));
}
