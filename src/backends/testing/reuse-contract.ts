/**
 * Result reuse's part of the backend contract (backend-contract.ts runs it for every backend):
 * a completed task is found by its owner and reuse key until its result expires, never by another
 * owner; `completeReused` completes a task being prepared with a copy, marked `cached`.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TaskBackend, TaskEvent, TaskRequest, TaskResult, WorkUnit } from '../backend.js';
import type { Clock } from './backend-contract.js';

/** Runs `body` with a fresh backend and its clock, closed afterwards. */
export type WithBackend = (body: (backend: TaskBackend, clock: Clock) => Promise<void>) => Promise<void>;

const KEY = 'a'.repeat(64);
const OTHER_KEY = 'b'.repeat(64);
const RETENTION_MS = 1_000;
const request = (text: string): TaskRequest => ({ text, format: 'wav', priority: 0, pronunciations: [] });
const result = (path: string): TaskResult => ({ path, format: 'wav', durationMs: 1_500, bytes: 3_044, sampleRate: 24_000 });

export function runReuseContract(name: string, withBackend: WithBackend, leaseMs: () => number): void {
  async function claimPrepare(backend: TaskBackend, taskId: string): Promise<WorkUnit & { kind: 'prepare' }> {
    const unit = await backend.claim('worker-1', ['prepare'], leaseMs());
    assert.ok(unit?.kind === 'prepare', 'a prepare unit');
    assert.equal(unit.task.id, taskId);
    return unit;
  }

  /** A task of `owner` run to completion the usual way, prepared with `reuseKey`. */
  async function completedTask(backend: TaskBackend, owner: string | undefined, reuseKey: string | undefined): Promise<string> {
    const { task } = await backend.createTask(request('一。二。'), { owner });
    await backend.completePrepare(await claimPrepare(backend, task.id), { segments: ['一。', '二。'], engine: 'e1', reuseKey });
    for (let i = 0; i < 2; i++) {
      const segment = await backend.claim('worker-1', ['segment'], leaseMs(), { engine: 'e1' });
      assert.ok(segment?.kind === 'segment');
      await backend.completeSegment(segment, { audioPath: `/${i}.wav`, durationMs: 700 });
    }
    let assemble: WorkUnit | undefined;
    for (let tries = 0; assemble === undefined && tries < 100; tries++) {
      assemble = await backend.claim('worker-1', ['assemble'], leaseMs());
      if (assemble === undefined) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.ok(assemble?.kind === 'assemble', 'an assemble unit');
    await backend.completeAssemble(assemble, result(`/results/${task.id}.wav`), RETENTION_MS);
    return task.id;
  }

  test(`${name}: a completed task is found by its owner and reuse key, by no other owner or key`, () =>
    withBackend(async (backend, clock) => {
      const { task: waiting } = await backend.createTask(request('三。'), { owner: 'k1' });
      await backend.completePrepare(await claimPrepare(backend, waiting.id), { segments: ['三。'], engine: 'e2', reuseKey: OTHER_KEY });
      assert.equal(await backend.findReusable('k1', OTHER_KEY, clock.now()), undefined, 'not before it is completed');

      const id = await completedTask(backend, 'k1', KEY);
      const found = await backend.findReusable('k1', KEY, clock.now());
      assert.equal(found?.id, id);
      assert.equal(found?.result?.path, `/results/${id}.wav`);
      assert.equal(found?.cached, undefined, 'a result made by the engine is not cached');
      assert.equal(await backend.findReusable('k2', KEY, clock.now()), undefined, 'another owner');
      assert.equal(await backend.findReusable('', KEY, clock.now()), undefined, 'requests made without a key');
      assert.equal(await backend.findReusable('k1', 'c'.repeat(64), clock.now()), undefined, 'another key');

      const anonymous = await completedTask(backend, undefined, KEY);
      assert.equal((await backend.findReusable('', KEY, clock.now()))?.id, anonymous, "tasks made without a key are their own owner's");
      assert.equal((await backend.findReusable('k1', KEY, clock.now()))?.id, id);
    }));

  test(`${name}: a task prepared without a reuse key is never found`, () =>
    withBackend(async (backend, clock) => {
      await completedTask(backend, 'k1', undefined);
      assert.equal(await backend.findReusable('k1', KEY, clock.now()), undefined);
    }));

  test(`${name}: a task completed from a copy is cached, complete and found in turn; the first is not changed`, () =>
    withBackend(async (backend, clock) => {
      const first = await completedTask(backend, 'k1', KEY);
      const events: TaskEvent[] = [];
      backend.subscribe((event) => events.push(event));
      const { task } = await backend.createTask(request('一。二。'), { owner: 'k1' });
      const unit = await claimPrepare(backend, task.id);
      const reference = { audioPath: '/ref.wav', sha256: 'ab', promptText: '你好' };
      const copied = { ...result(`/results/${task.id}.wav`) };
      assert.equal(await backend.completeReused(unit, { segments: ['一。', '二。'], reference, engine: 'e1', reuseKey: KEY }, copied, RETENTION_MS), true);

      const reused = await backend.getTask(task.id);
      assert.equal(reused?.status, 'completed');
      assert.equal(reused?.cached, true);
      assert.deepEqual(reused?.result, copied);
      assert.equal(reused?.segmentsDone, 2);
      assert.equal(reused?.segmentsTotal, 2);
      assert.equal(reused?.engine, 'e1');
      assert.deepEqual(reused?.reference, reference);
      assert.ok(reused?.finishedAt !== undefined && reused.expiresAt === reused.finishedAt + RETENTION_MS, 'kept for the retention from now');
      assert.equal((await backend.getTask(first))?.cached, undefined);
      assert.equal(await backend.claim('worker-1', ['prepare', 'segment', 'assemble'], leaseMs()), undefined, 'no work is left');
      for (let waited = 0; !events.some((e) => e.taskId === task.id && e.status === 'completed') && waited < 5_000; waited += 10) await new Promise((r) => setTimeout(r, 10));
      const last = events.filter((e) => e.taskId === task.id).at(-1);
      assert.deepEqual(last && { status: last.status, done: last.segmentsDone, total: last.segmentsTotal }, { status: 'completed', done: 2, total: 2 });
      // Either is an identical result; the copy, made last, is kept longer.
      assert.ok([first, task.id].includes((await backend.findReusable('k1', KEY, clock.now()))?.id ?? ''));
      assert.equal((await backend.listTasks({ limit: 10, status: 'completed' })).tasks.find((t) => t.id === task.id)?.cached, true, 'listed as cached');
    }));

  test(`${name}: a canceled task is not completed from a copy`, () =>
    withBackend(async (backend) => {
      const { task } = await backend.createTask(request('一。'), { owner: 'k1' });
      const unit = await claimPrepare(backend, task.id);
      await backend.cancelTask(task.id);
      assert.equal(await backend.completeReused(unit, { segments: ['一。'], reuseKey: KEY }, result('/r.wav'), RETENTION_MS), false);
      const after = await backend.getTask(task.id);
      assert.equal(after?.status, 'canceled');
      assert.equal(after?.result, undefined);
    }));

  test(`${name}: a result whose retention ended is not found`, () =>
    withBackend(async (backend, clock) => {
      const id = await completedTask(backend, 'k1', KEY);
      assert.equal((await backend.findReusable('k1', KEY, clock.now()))?.id, id);
      await clock.advance(RETENTION_MS + 500);
      assert.equal(await backend.findReusable('k1', KEY, clock.now()), undefined, 'past its expiry, before the sweep');
      assert.deepEqual(
        (await backend.expireResults(clock.now())).map((t) => t.id),
        [id],
      );
      assert.equal(await backend.findReusable('k1', KEY, clock.now()), undefined, 'after the sweep');
    }));
}
