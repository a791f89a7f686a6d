/**
 * The part of the backend contract about access (issue 11): owners of tasks and voices, lists
 * and idempotency keys scoped by owner, the unfinished-task and voice quotas, fairness between
 * owners, API keys and daily usage. Run by each backend's test file beside runBackendContract.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ApiKeyRecord, TaskBackend, TaskRequest, VoiceRecord, WorkUnit } from '../backend.js';
import { TtsError } from '../../errors.js';

export type AccessBackendFactory = () => Promise<TaskBackend>;

const request = (text = '你好。'): TaskRequest => ({ text, format: 'wav', priority: 0, pronunciations: [] });
const LEASE = 60_000;
const rejectsWith = (code: string) => (error: unknown) => error instanceof TtsError && error.code === code;

async function withBackend(factory: AccessBackendFactory, body: (backend: TaskBackend) => Promise<void>): Promise<void> {
  const backend = await factory();
  try {
    await body(backend);
  } finally {
    await backend.close();
  }
}

async function claim(backend: TaskBackend, kind: WorkUnit['kind']): Promise<WorkUnit> {
  const unit = await backend.claim('worker-1', [kind], LEASE);
  assert.ok(unit !== undefined, `expected a ${kind} unit`);
  return unit;
}

const voice = (id: string, owner?: string): VoiceRecord => ({
  id,
  name: `voice ${id.slice(0, 4)}`,
  promptText: '',
  audioPath: `/v/${id}.wav`,
  sha256: 'x',
  sampleRate: 24_000,
  durationMs: 3_000,
  originalPath: `/v/${id}.orig`,
  createdAt: Date.now(),
  ...(owner === undefined ? {} : { owner, consent: { speakerName: 'Ada Example', at: 1 } }),
});

const key = (id: string, name: string, role: ApiKeyRecord['role'] = 'user'): ApiKeyRecord => ({ id, name, role, hash: 'a'.repeat(64), quotas: {}, createdAt: Date.now() });

export function runAccessContract(name: string, factory: AccessBackendFactory): void {
  test(`${name}: tasks carry their owner; lists by owner show only that owner's, by status too`, () =>
    withBackend(factory, async (backend) => {
      const a = await backend.createTask(request(), { owner: 'keyA' });
      const b = await backend.createTask(request(), { owner: 'keyB' });
      const anonymous = await backend.createTask(request());
      assert.equal(a.task.owner, 'keyA');
      assert.equal((await backend.getTask(a.task.id))?.owner, 'keyA');
      assert.equal((await backend.getTask(anonymous.task.id))?.owner, undefined);
      assert.deepEqual(
        (await backend.listTasks({ owner: 'keyA', limit: 10 })).tasks.map((t) => t.id),
        [a.task.id],
      );
      assert.deepEqual(
        (await backend.listTasks({ owner: 'keyB', status: 'queued', limit: 10 })).tasks.map((t) => t.id),
        [b.task.id],
      );
      assert.equal((await backend.listTasks({ limit: 10 })).tasks.length, 3);
      await backend.cancelTask(b.task.id);
      assert.deepEqual((await backend.listTasks({ owner: 'keyB', status: 'queued', limit: 10 })).tasks, []);
      assert.deepEqual(
        (await backend.listTasks({ owner: 'keyB', status: 'canceled', limit: 10 })).tasks.map((t) => t.id),
        [b.task.id],
      );
    }));

  test(`${name}: idempotency keys are scoped by owner`, () =>
    withBackend(factory, async (backend) => {
      const a = await backend.createTask(request(), { owner: 'keyA', idempotencyKey: 'same', requestHash: 'h' });
      const b = await backend.createTask(request('别的。'), { owner: 'keyB', idempotencyKey: 'same', requestHash: 'other' });
      assert.equal(b.created, true);
      assert.notEqual(a.task.id, b.task.id);
      const again = await backend.createTask(request(), { owner: 'keyA', idempotencyKey: 'same', requestHash: 'h' });
      assert.equal(again.created, false);
      assert.equal(again.task.id, a.task.id);
      const anonymous = await backend.createTask(request(), { idempotencyKey: 'same', requestHash: 'x' });
      assert.equal(anonymous.created, true);
    }));

  test(`${name}: an owner at its unfinished-task limit is refused until one of its tasks ends; others are not`, () =>
    withBackend(factory, async (backend) => {
      const first = await backend.createTask(request(), { owner: 'keyA', maxOpenTasks: 2 });
      await backend.createTask(request(), { owner: 'keyA', maxOpenTasks: 2 });
      await assert.rejects(backend.createTask(request(), { owner: 'keyA', maxOpenTasks: 2 }), rejectsWith('E_QUOTA_TASKS'));
      await backend.createTask(request(), { owner: 'keyB', maxOpenTasks: 2 });
      await backend.cancelTask(first.task.id);
      await backend.createTask(request(), { owner: 'keyA', maxOpenTasks: 2 });
      // A repeated request is answered with its task even at the limit.
      const first2 = await backend.createTask(request(), { owner: 'keyB', maxOpenTasks: 2, idempotencyKey: 'r', requestHash: 'h' });
      const repeated = await backend.createTask(request(), { owner: 'keyB', maxOpenTasks: 2, idempotencyKey: 'r', requestHash: 'h' });
      assert.equal(repeated.created, false);
      assert.equal(repeated.task.id, first2.task.id);
    }));

  test(`${name}: owners take turns at preparing: one owner's backlog does not hold back another's first task`, () =>
    withBackend(factory, async (backend) => {
      const mine = [];
      for (let i = 0; i < 5; i++) mine.push((await backend.createTask(request(), { owner: 'busy' })).task.id);
      const theirs = (await backend.createTask(request(), { owner: 'quiet' })).task.id;
      const order = [];
      for (let i = 0; i < 3; i++) order.push((await claim(backend, 'prepare')).task.id);
      assert.deepEqual(order, [mine[0], theirs, mine[1]]);
    }));

  test(`${name}: owners take turns at segments: another owner's task is served within the next two claims`, () =>
    withBackend(factory, async (backend) => {
      const prepared: string[] = [];
      for (const owner of ['busy', 'busy', 'quiet']) {
        const { task } = await backend.createTask(request('一。二。三。'), { owner });
        const unit = await claim(backend, 'prepare');
        assert.equal(unit.task.id, task.id);
        await backend.completePrepare(unit as WorkUnit & { kind: 'prepare' }, { segments: ['一。', '二。', '三。'] });
        prepared.push(task.id);
      }
      const owners = [];
      for (let i = 0; i < 2; i++) owners.push((await claim(backend, 'segment')).task.owner);
      assert.ok(owners.includes('quiet'), `the quiet owner's task waited: ${owners.join(', ')}`);
    }));

  test(`${name}: voices carry owner and consent; lists by owner; the voice limit holds per owner`, () =>
    withBackend(factory, async (backend) => {
      const ids = ['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222', '33333333-3333-4333-8333-333333333333'];
      await backend.createVoice(voice(ids[0]!, 'keyA'), { maxVoices: 1 });
      await assert.rejects(backend.createVoice(voice(ids[1]!, 'keyA'), { maxVoices: 1 }), rejectsWith('E_QUOTA_VOICES'));
      await backend.createVoice(voice(ids[1]!, 'keyB'), { maxVoices: 1 });
      await backend.createVoice(voice(ids[2]!));
      const stored = await backend.getVoice(ids[0]!);
      assert.equal(stored?.owner, 'keyA');
      assert.equal(stored?.consent?.speakerName, 'Ada Example');
      assert.deepEqual(
        (await backend.listVoices('keyA')).map((v) => v.id),
        [ids[0]],
      );
      assert.equal((await backend.listVoices()).length, 3);
      assert.equal(await backend.deleteVoice(ids[0]!), true);
      assert.deepEqual(await backend.listVoices('keyA'), []);
      await backend.createVoice(voice(ids[0]!, 'keyA'), { maxVoices: 1 });
    }));

  test(`${name}: API keys: create, read, list, touch, revoke; an active name is unique; hasActiveKeys follows`, () =>
    withBackend(factory, async (backend) => {
      assert.equal(await backend.keys.hasActiveKeys(), false);
      await backend.keys.create({ ...key('aaaaaaaaaaaa', 'ops', 'admin'), quotas: { charsPerDay: 10 } });
      assert.equal(await backend.keys.hasActiveKeys(), true);
      await assert.rejects(backend.keys.create(key('bbbbbbbbbbbb', 'ops')), rejectsWith('E_KEY_NAME_TAKEN'));
      const read = await backend.keys.get('aaaaaaaaaaaa');
      assert.equal(read?.role, 'admin');
      assert.deepEqual(read?.quotas, { charsPerDay: 10 });
      assert.equal(await backend.keys.get('cccccccccccc'), undefined);
      await backend.keys.touch('aaaaaaaaaaaa', 1234);
      assert.equal((await backend.keys.get('aaaaaaaaaaaa'))?.lastUsedAt, 1234);
      const revoked = await backend.keys.revoke('aaaaaaaaaaaa', 5678);
      assert.equal(revoked?.revokedAt, 5678);
      assert.equal((await backend.keys.revoke('aaaaaaaaaaaa', 9999))?.revokedAt, 5678, 'revoked once');
      assert.equal(await backend.keys.revoke('cccccccccccc', 1), undefined);
      assert.equal(await backend.keys.hasActiveKeys(), false);
      await backend.keys.create(key('bbbbbbbbbbbb', 'ops'));
      assert.deepEqual(
        (await backend.keys.list()).map((k) => k.id),
        ['aaaaaaaaaaaa', 'bbbbbbbbbbbb'],
      );
      assert.deepEqual((await backend.keys.get('bbbbbbbbbbbb'))?.quotas, {});
    }));

  test(`${name}: daily usage adds up to the limit, per owner and day; a reservation can be given back`, () =>
    withBackend(factory, async (backend) => {
      assert.equal(await backend.keys.addUsage('keyA', '2026-11-27', 60, 100), true);
      assert.equal(await backend.keys.addUsage('keyA', '2026-11-27', 50, 100), false);
      assert.equal(await backend.keys.addUsage('keyB', '2026-11-27', 100, 100), true);
      assert.equal(await backend.keys.addUsage('keyA', '2026-11-28', 100, 100), true, 'a new day starts at zero');
      assert.equal(await backend.keys.addUsage('keyA', '2026-11-27', -60, 100), true);
      assert.equal(await backend.keys.addUsage('keyA', '2026-11-27', 100, 100), true);
      assert.equal(await backend.keys.addUsage('keyC', '2026-11-27', 1_000_000, 0), true, '0 is no limit');
    }));
}
