/**
 * Start later's part of the backend contract (backend-contract.ts runs it for every backend): a
 * task with `notBefore` stays queued, its preparing not claimable, until that time; it has a
 * place in the queue meanwhile; canceled while it waits, it is never prepared.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TaskBackend, TaskRequest } from '../backend.js';
import type { WithBackend } from './reuse-contract.js';

/** How far ahead the task is held: long enough for the claims before it, short on real time. */
const HOLD_MS = 1_500;
const request = (text: string, priority: number, notBefore?: number): TaskRequest => ({ text, format: 'wav', priority, pronunciations: [], ...(notBefore === undefined ? {} : { notBefore }) });

/** Claims here outlast the hold: work whose lease lapsed would come back and be claimed again. */
const LEASE_MS = 60_000;

export function runNotBeforeContract(name: string, withBackend: WithBackend): void {
  const claimPrepare = async (backend: TaskBackend): Promise<string | undefined> => {
    const unit = await backend.claim('worker-1', ['prepare'], LEASE_MS);
    return unit?.task.id;
  };

  test(`${name}: a task held by notBefore is not prepared before then, has a place in the queue meanwhile, and is prepared once due`, () =>
    withBackend(async (backend, clock) => {
      const notBefore = clock.now() + HOLD_MS;
      const { task: held } = await backend.createTask(request('等一等。', 0, notBefore));
      assert.equal(held.status, 'queued');
      assert.equal(held.request.notBefore, notBefore);
      const { task: urgent } = await backend.createTask(request('五。', 5));
      const { task: soon } = await backend.createTask(request('三。', 3));
      const { task: low } = await backend.createTask(request('负一。', -1));

      assert.equal(await claimPrepare(backend), urgent.id);
      assert.equal(await backend.queuePosition(urgent.id), undefined, 'a task being prepared has no place in the queue');
      // Queued now: held (waiting), soon (due, priority 3), low (due, priority -1).
      assert.deepEqual(await backend.queuePosition(soon.id), { position: 0 });
      assert.deepEqual(await backend.queuePosition(low.id), { position: 1 }, 'the held task is not due: it does not count');
      assert.deepEqual(await backend.queuePosition(held.id), { position: 1 }, 'once due, the task of priority 3 goes first, not the one of priority -1');
      assert.equal((await backend.workCounts()).tasksWaiting, 1);

      assert.equal(await claimPrepare(backend), soon.id);
      assert.equal(await claimPrepare(backend), low.id);
      assert.equal(await claimPrepare(backend), undefined, 'the held task is not claimable before its time');
      assert.equal((await backend.getTask(held.id))?.status, 'queued');
      assert.deepEqual(await backend.queuePosition(held.id), { position: 0 });

      await clock.advance(HOLD_MS + 200);
      assert.equal(await claimPrepare(backend), held.id);
      const events = await backend.listEvents(held.id, 0);
      const preparing = events.find((event) => event.status === 'preparing');
      assert.ok(preparing !== undefined && preparing.at >= notBefore, `prepared at ${preparing?.at}, not before ${notBefore}`);
      assert.equal((await backend.workCounts()).tasksWaiting, 0);
    }));

  test(`${name}: a task canceled while it waits for notBefore is never prepared`, () =>
    withBackend(async (backend, clock) => {
      const { task } = await backend.createTask(request('取消。', 0, clock.now() + HOLD_MS));
      assert.equal((await backend.cancelTask(task.id))?.status, 'canceled');
      assert.equal(await backend.queuePosition(task.id), undefined);
      assert.equal((await backend.workCounts()).tasksWaiting, 0, 'nothing waits for a canceled task');
      await clock.advance(HOLD_MS + 200);
      assert.equal(await claimPrepare(backend), undefined);
      assert.deepEqual(
        (await backend.listEvents(task.id, 0)).map((event) => event.status),
        ['queued', 'canceled'],
      );
    }));
}
