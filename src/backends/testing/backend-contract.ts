/**
 * The contract every TaskBackend implementation passes. An implementation's test file calls
 * `runBackendContract(name, factory)`; the factory gets a controllable clock. The audit log's
 * cases are in audit-contract.ts, result reuse's in reuse-contract.ts.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TaskBackend, TaskEvent, TaskRequest, WorkUnit } from '../backend.js';
import { TtsError } from '../../errors.js';
import { runAuditContract } from './audit-contract.js';
import { runNotBeforeContract } from './not-before-contract.js';
import { runReuseContract } from './reuse-contract.js';

export interface Clock {
  now: () => number;
  /** A fake clock jumps; a backend on real time (Redis: lock expiry is Redis's own) waits. */
  advance: (ms: number) => void | Promise<void>;
}

export type BackendFactory = (clock: Clock) => Promise<TaskBackend>;

/**
 * The contract's durations. A backend on a fake clock takes the defaults; one on real time
 * passes short ones, with `leaseLapseMs` long enough for its lease expiry to be noticed.
 */
export interface ContractTiming {
  /** The clock: fake (the default) or real. */
  clock: 'fake' | 'real';
  leaseMs: number;
  /** Time after a claim by which an unrenewed lease has lapsed and its work is claimable again. */
  leaseLapseMs: number;
  /** Time after a retryable failure by which the retry is claimable (the backend's first backoffs). */
  backoffWaitMs: number;
}

const FAKE_TIMING: ContractTiming = { clock: 'fake', leaseMs: 10_000, leaseLapseMs: 15_000, backoffWaitMs: 60_000 };

const request = (text = '你好。', priority = 0): TaskRequest => ({ text, format: 'wav', priority, pronunciations: [] });
/** The lease of claims in the contract (set per run from its timing). */
let LEASE = FAKE_TIMING.leaseMs;
const transient = { code: 'E_ENGINE_CRASHED', message: 'host died', retryable: true };
const permanent = { code: 'E_ENGINE_REJECTED', message: 'cannot', retryable: false };

function makeClock(kind: ContractTiming['clock']): Clock {
  if (kind === 'real') return { now: () => Date.now(), advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) };
  let time = 1_700_000_000_000;
  return {
    now: () => time,
    advance: (ms) => {
      time += ms;
    },
  };
}

/** Waits until `condition` holds: events reach subscribers of a distributed backend a moment after the change. */
async function eventually(condition: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !condition(); waited += 10) {
    if (waited > 5_000) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

let clockKind: ContractTiming['clock'] = 'fake';

async function withBackend(factory: BackendFactory, body: (backend: TaskBackend, clock: Clock) => Promise<void>): Promise<void> {
  const clock = makeClock(clockKind);
  const backend = await factory(clock);
  try {
    await body(backend, clock);
  } finally {
    await backend.close();
  }
}

async function claimOf<K extends WorkUnit['kind']>(backend: TaskBackend, kind: K): Promise<WorkUnit & { kind: K }> {
  const unit = await backend.claim('worker-1', [kind], LEASE);
  assert.ok(unit !== undefined, `expected a ${kind} unit`);
  assert.equal(unit.kind, kind);
  return unit as WorkUnit & { kind: K };
}

/** Creates a task and prepares it into `segments`. */
async function preparedTask(backend: TaskBackend, segments: string[], priority = 0): Promise<string> {
  const { task } = await backend.createTask(request(segments.join(''), priority));
  const unit = await claimOf(backend, 'prepare');
  assert.equal(unit.task.id, task.id);
  await backend.completePrepare(unit, { segments });
  return task.id;
}

export function runBackendContract(name: string, factory: BackendFactory, timing: ContractTiming = FAKE_TIMING): void {
  test.before(() => {
    LEASE = timing.leaseMs;
    clockKind = timing.clock;
  });
  test(`${name}: a created task is queued and can be read back`, () =>
    withBackend(factory, async (backend) => {
      const { task, created } = await backend.createTask(request('第一句。'));
      assert.equal(created, true);
      assert.equal(task.status, 'queued');
      const read = await backend.getTask(task.id);
      assert.equal(read?.request.text, '第一句。');
      assert.equal(await backend.getTask('00000000-0000-0000-0000-000000000000'), undefined);
    }));

  test(`${name}: the same idempotency key and body give the same task; another body is refused`, () =>
    withBackend(factory, async (backend) => {
      const first = await backend.createTask(request(), { idempotencyKey: 'k1', requestHash: 'h1' });
      const again = await backend.createTask(request(), { idempotencyKey: 'k1', requestHash: 'h1' });
      assert.equal(again.created, false);
      assert.equal(again.task.id, first.task.id);
      await assert.rejects(backend.createTask(request('别的'), { idempotencyKey: 'k1', requestHash: 'h2' }), (e: unknown) => e instanceof TtsError && e.code === 'E_IDEMPOTENCY_CONFLICT');
    }));

  test(`${name}: a task with parts keeps its voices' references, each segment's part, and hands assembly the segments' texts`, () =>
    withBackend(factory, async (backend) => {
      const parts = [
        { text: '一。二。', voiceId: 'v1' },
        { text: '三。', pauseMs: 500, chapter: 'C' },
      ];
      await backend.createTask({ ...request('一。二。\n\n三。'), parts });
      const prepare = await claimOf(backend, 'prepare');
      const references = { v1: { audioPath: '/v1.wav', sha256: 'a'.repeat(64), promptText: '' } };
      await backend.completePrepare(prepare, { segments: ['一。', '二。', '三。'], segmentParts: [0, 0, 1], references });
      const segments = [await claimOf(backend, 'segment'), await claimOf(backend, 'segment'), await claimOf(backend, 'segment')];
      assert.deepEqual(segments[0]!.task.segmentParts, [0, 0, 1]);
      assert.deepEqual(segments[0]!.task.references, references);
      assert.deepEqual(segments[0]!.task.request.parts, parts);
      for (const segment of segments) await backend.completeSegment(segment, { audioPath: `/s/${segment.segment.index}.wav`, durationMs: 10 });
      const assemble = await claimOf(backend, 'assemble');
      assert.deepEqual(assemble.segmentTexts, ['一。', '二。', '三。']);
      assert.deepEqual(assemble.task.segmentParts, [0, 0, 1]);
    }));

  test(`${name}: a task goes prepare → segments → assemble → completed, with events in order`, () =>
    withBackend(factory, async (backend) => {
      const events: TaskEvent[] = [];
      backend.subscribe((e) => events.push(e));
      const id = await preparedTask(backend, ['一。', '二。']);
      const first = await claimOf(backend, 'segment');
      const second = await claimOf(backend, 'segment');
      assert.deepEqual([first.segment.index, second.segment.index], [0, 1]);
      assert.equal(await backend.claim('worker-1', ['segment', 'assemble'], LEASE), undefined);
      await backend.completeSegment(second, { audioPath: '/s/1.wav', durationMs: 10 });
      await backend.completeSegment(first, { audioPath: '/s/0.wav', durationMs: 10 });
      const assemble = await claimOf(backend, 'assemble');
      assert.deepEqual(assemble.segmentPaths, ['/s/0.wav', '/s/1.wav']);
      await backend.completeAssemble(assemble, { path: '/r.wav', format: 'wav', durationMs: 20, bytes: 100, sampleRate: 24_000 }, 60_000);
      await eventually(() => events.some((e) => e.status === 'completed'), 'the completed event');
      const done = await backend.getTask(id);
      assert.equal(done?.status, 'completed');
      assert.equal(done?.result?.bytes, 100);
      const statuses = events.filter((e) => e.type === 'status').map((e) => e.status);
      assert.deepEqual(statuses, ['queued', 'preparing', 'synthesizing', 'encoding', 'completed']);
      const replay = await backend.listEvents(id, 0);
      assert.deepEqual(
        replay.map((e) => e.id),
        events.map((e) => e.id),
      );
      assert.ok(replay.every((e, i) => i === 0 || e.id > replay[i - 1]!.id));
      assert.deepEqual(
        (await backend.listEvents(id, replay[2]!.id)).map((e) => e.id),
        replay.slice(3).map((e) => e.id),
      );
    }));

  test(`${name}: a short task is not stuck behind a long one of the same priority`, () =>
    withBackend(factory, async (backend) => {
      const long = await preparedTask(
        backend,
        Array.from({ length: 50 }, (_, i) => `长${i}。`),
      );
      for (let i = 0; i < 3; i++) await backend.completeSegment(await claimOf(backend, 'segment'), { audioPath: `/l/${i}`, durationMs: 1 });
      const short = await preparedTask(backend, ['短。']);
      const next = await claimOf(backend, 'segment');
      assert.equal(next.task.id, short, 'the short task goes next');
      const after = await claimOf(backend, 'segment');
      assert.equal(after.task.id, long);
    }));

  test(`${name}: a higher priority goes first`, () =>
    withBackend(factory, async (backend) => {
      await backend.createTask(request('低。', 0));
      const { task: urgent } = await backend.createTask(request('急。', 5));
      const unit = await claimOf(backend, 'prepare');
      assert.equal(unit.task.id, urgent.id);
      await backend.completePrepare(unit, { segments: ['急。'] });
      const low = await claimOf(backend, 'prepare');
      await backend.completePrepare(low, { segments: ['低。'] });
      assert.equal((await claimOf(backend, 'segment')).task.id, urgent.id);
    }));

  test(`${name}: segments go only to the engine the task was routed to`, () =>
    withBackend(factory, async (backend) => {
      await backend.createTask(request('克隆。'));
      await backend.createTask(request('朗读。'));
      const cloned = await claimOf(backend, 'prepare');
      await backend.completePrepare(cloned, { segments: ['克隆。'], engine: 'glm-tts' });
      const read = await claimOf(backend, 'prepare');
      await backend.completePrepare(read, { segments: ['朗读。'], engine: 'espeak' });
      assert.equal((await backend.getTask(cloned.task.id))?.engine, 'glm-tts');
      const forEspeak = await backend.claim('worker-1', ['segment'], LEASE, { engine: 'espeak' });
      assert.equal(forEspeak?.task.id, read.task.id);
      assert.equal(await backend.claim('worker-1', ['segment'], LEASE, { engine: 'espeak' }), undefined, "the other task's segment is not espeak's");
      assert.equal(await backend.claim('worker-1', ['segment'], LEASE, { engine: 'bench-sleep' }), undefined);
      const forGlm = await backend.claim('worker-1', ['segment'], LEASE, { engine: 'glm-tts' });
      assert.equal(forGlm?.task.id, cloned.task.id);
    }));

  test(`${name}: tasks routed to an engine no longer running are queued again, keeping their reference`, () =>
    withBackend(factory, async (backend) => {
      await backend.createTask(request('一。二。'));
      await backend.createTask(request('三。'));
      const orphan = await claimOf(backend, 'prepare');
      const reference = { audioPath: '/ref.wav', sha256: 'ab', promptText: '参考' };
      await backend.completePrepare(orphan, { segments: ['一。', '二。'], reference, engine: 'glm-tts' });
      const kept = await claimOf(backend, 'prepare');
      await backend.completePrepare(kept, { segments: ['三。'], engine: 'espeak' });
      await backend.completeSegment((await backend.claim('w', ['segment'], LEASE, { engine: 'glm-tts' })) as WorkUnit & { kind: 'segment' }, { audioPath: '/s/0.wav', durationMs: 1 });

      assert.equal(await backend.rerouteTasks(['espeak']), 1);
      const requeued = await backend.getTask(orphan.task.id);
      assert.equal(requeued?.status, 'queued');
      assert.equal(requeued?.engine, undefined);
      assert.deepEqual([requeued?.segmentsDone, requeued?.segmentsTotal], [0, 0]);
      assert.deepEqual(requeued?.reference, reference);
      assert.equal((await backend.getTask(kept.task.id))?.status, 'synthesizing');
      const again = await claimOf(backend, 'prepare');
      assert.equal(again.task.id, orphan.task.id);
      await backend.completePrepare(again, { segments: ['一。二。'], reference, engine: 'espeak' });
      assert.equal(await backend.rerouteTasks(['espeak']), 0);
    }));

  test(`${name}: an expired lease puts the segment back; the old holder's result is ignored`, () =>
    withBackend(factory, async (backend, clock) => {
      const id = await preparedTask(backend, ['一。']);
      const lost = await claimOf(backend, 'segment');
      assert.equal(await backend.claim('worker-2', ['segment'], LEASE), undefined);
      await clock.advance(timing.leaseLapseMs);
      const again = await backend.claim('worker-2', ['segment'], LEASE);
      assert.ok(again?.kind === 'segment');
      assert.equal(again.segment.index, 0);
      assert.equal(await backend.renewLease(lost, LEASE), false);
      await backend.completeSegment(lost, { audioPath: '/old.wav', durationMs: 1 });
      assert.equal((await backend.getTask(id))?.segmentsDone, 0);
      await backend.completeSegment(again, { audioPath: '/new.wav', durationMs: 1 });
      assert.equal((await backend.getTask(id))?.status, 'encoding');
    }));

  test(`${name}: a renewed lease is kept`, () =>
    withBackend(factory, async (backend, clock) => {
      await preparedTask(backend, ['一。']);
      const unit = await claimOf(backend, 'segment');
      await clock.advance(LEASE * 0.6);
      assert.equal(await backend.renewLease(unit, LEASE), true);
      await clock.advance(LEASE * 0.6);
      assert.equal(await backend.claim('worker-2', ['segment'], LEASE), undefined);
    }));

  test(`${name}: an expired prepare lease queues the task again`, () =>
    withBackend(factory, async (backend, clock) => {
      const { task } = await backend.createTask(request());
      await claimOf(backend, 'prepare');
      await clock.advance(timing.leaseLapseMs);
      const again = await claimOf(backend, 'prepare');
      assert.equal(again.task.id, task.id);
    }));

  test(`${name}: retryable failures come back after a backoff until the attempts run out`, () =>
    withBackend(factory, async (backend, clock) => {
      const id = await preparedTask(backend, ['一。']);
      assert.equal(await backend.failWork(await claimOf(backend, 'segment'), transient, 2), 'retrying');
      assert.equal(await backend.claim('worker-1', ['segment'], LEASE), undefined, 'not before the backoff');
      await clock.advance(timing.backoffWaitMs);
      const second = await claimOf(backend, 'segment');
      assert.equal(second.segment.attempt, 2);
      assert.equal(await backend.failWork(second, transient, 2), 'failed');
      const failed = await backend.getTask(id);
      assert.equal(failed?.status, 'failed');
      assert.equal(failed?.error?.code, 'E_ENGINE_CRASHED');
      assert.equal(failed?.attempts, 2);
    }));

  test(`${name}: a permanent failure fails the task at once`, () =>
    withBackend(factory, async (backend) => {
      const { task } = await backend.createTask(request());
      assert.equal(await backend.failWork(await claimOf(backend, 'prepare'), permanent, 3), 'failed');
      assert.equal((await backend.getTask(task.id))?.error?.code, 'E_ENGINE_REJECTED');
    }));

  test(`${name}: a failure of a segment whose task already failed changes nothing`, () =>
    withBackend(factory, async (backend) => {
      const id = await preparedTask(backend, ['一。', '二。']);
      const first = await claimOf(backend, 'segment');
      const second = await claimOf(backend, 'segment');
      assert.equal(await backend.failWork(first, permanent, 3), 'failed');
      // The worker stops the task's other segment; its failure must not replace the task's error.
      assert.equal(await backend.failWork(second, { code: 'E_CANCELED', message: 'The work was canceled.', retryable: false }, 3), 'ignored');
      assert.equal(await backend.failWork(second, transient, 3), 'ignored');
      const failed = await backend.getTask(id);
      assert.equal(failed?.status, 'failed');
      assert.equal(failed?.error?.code, 'E_ENGINE_REJECTED');
    }));

  test(`${name}: a failure that spares the attempt is retried however often it happens`, () =>
    withBackend(factory, async (backend, clock) => {
      const storageFull = { code: 'E_STORAGE_FULL', message: 'full', retryable: true };
      const id = await preparedTask(backend, ['一。']);
      for (let i = 0; i < 4; i++) {
        const unit = await claimOf(backend, 'segment');
        assert.equal(unit.segment.attempt, 1, 'no attempt used up');
        assert.equal(await backend.failWork(unit, storageFull, 1, { spareAttempt: true }), 'retrying');
        assert.equal(await backend.claim('worker-1', ['segment'], LEASE), undefined, 'not before the backoff');
        await clock.advance(timing.backoffWaitMs);
      }
      assert.equal((await backend.getTask(id))?.attempts, 1);
      await backend.completeSegment(await claimOf(backend, 'segment'), { audioPath: '/0.wav', durationMs: 1 });
      const assemble = await claimOf(backend, 'assemble');
      assert.equal(await backend.failWork(assemble, storageFull, 1, { spareAttempt: true }), 'retrying');
      await clock.advance(timing.backoffWaitMs);
      assert.equal((await claimOf(backend, 'assemble')).task.id, id);
    }));

  test(`${name}: finished segments whose audio is gone are reopened and run again`, () =>
    withBackend(factory, async (backend) => {
      const id = await preparedTask(backend, ['一。', '二。', '三。']);
      for (let i = 0; i < 3; i++) await backend.completeSegment(await claimOf(backend, 'segment'), { audioPath: `/s/${i}.wav`, durationMs: 1 });
      const assemble = await claimOf(backend, 'assemble');
      assert.equal(await backend.reopenSegments(assemble, [1]), true);
      const reopened = await backend.getTask(id);
      assert.equal(reopened?.status, 'synthesizing');
      assert.deepEqual([reopened?.segmentsDone, reopened?.segmentsTotal], [2, 3]);
      assert.equal(await backend.reopenSegments(assemble, [1]), false, 'the assemble lease ended');
      const again = await claimOf(backend, 'segment');
      assert.equal(again.segment.index, 1);
      assert.equal(await backend.claim('worker-1', ['segment', 'assemble'], LEASE), undefined);
      await backend.completeSegment(again, { audioPath: '/s/1-again.wav', durationMs: 1 });
      const second = await claimOf(backend, 'assemble');
      assert.deepEqual(second.segmentPaths, ['/s/0.wav', '/s/1-again.wav', '/s/2.wav']);
    }));

  test(`${name}: finished segments' audio is read by index, in any order of completion, and a reopened one is unfinished again`, () =>
    withBackend(factory, async (backend) => {
      assert.deepEqual(await backend.segmentAudio('00000000-0000-0000-0000-000000000000'), []);
      const { task: queued } = await backend.createTask(request('一。'));
      assert.deepEqual(await backend.segmentAudio(queued.id), [], 'not prepared yet: no segments');
      await backend.cancelTask(queued.id);
      const id = await preparedTask(backend, ['一。', '二。', '三。']);
      assert.deepEqual(await backend.segmentAudio(id), [undefined, undefined, undefined]);
      const units = [await claimOf(backend, 'segment'), await claimOf(backend, 'segment'), await claimOf(backend, 'segment')];
      await backend.completeSegment(units[2]!, { audioPath: '/s/2.wav', durationMs: 30.5 });
      assert.deepEqual(await backend.segmentAudio(id), [undefined, undefined, { audioPath: '/s/2.wav', durationMs: 30.5 }]);
      await backend.completeSegment(units[0]!, { audioPath: '/s/0.wav', durationMs: 10 });
      await backend.completeSegment(units[1]!, { audioPath: '/s/1.wav', durationMs: 20 });
      assert.deepEqual(
        (await backend.segmentAudio(id)).map((s) => s?.audioPath),
        ['/s/0.wav', '/s/1.wav', '/s/2.wav'],
      );
      assert.equal(await backend.reopenSegments(await claimOf(backend, 'assemble'), [1]), true);
      assert.deepEqual(
        (await backend.segmentAudio(id)).map((s) => s?.audioPath),
        ['/s/0.wav', undefined, '/s/2.wav'],
      );
    }));

  test(`${name}: a canceled task gives no more work and its results are ignored`, () =>
    withBackend(factory, async (backend) => {
      const id = await preparedTask(backend, ['一。', '二。']);
      const running = await claimOf(backend, 'segment');
      const canceled = await backend.cancelTask(id);
      assert.equal(canceled?.status, 'canceled');
      await backend.completeSegment(running, { audioPath: '/x.wav', durationMs: 1 });
      assert.equal(await backend.claim('worker-1', ['prepare', 'segment', 'assemble'], LEASE), undefined);
      assert.equal((await backend.getTask(id))?.status, 'canceled');
      assert.equal((await backend.cancelTask(id))?.status, 'canceled', 'canceling twice is harmless');
      assert.equal(await backend.cancelTask('00000000-0000-0000-0000-000000000000'), undefined);
    }));

  test(`${name}: tasks are listed newest first, by status, a page at a time`, () =>
    withBackend(factory, async (backend) => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await backend.createTask(request(`${i}。`))).task.id);
      await backend.cancelTask(ids[1]!);
      const first = await backend.listTasks({ limit: 2 });
      assert.deepEqual(
        first.tasks.map((t) => t.id),
        [ids[4], ids[3]],
      );
      const second = await backend.listTasks({ limit: 2, cursor: first.nextCursor });
      assert.deepEqual(
        second.tasks.map((t) => t.id),
        [ids[2], ids[1]],
      );
      const third = await backend.listTasks({ limit: 2, cursor: second.nextCursor });
      assert.deepEqual(
        third.tasks.map((t) => t.id),
        [ids[0]],
      );
      assert.equal(third.nextCursor, undefined);
      assert.deepEqual(
        (await backend.listTasks({ limit: 10, status: 'canceled' })).tasks.map((t) => t.id),
        [ids[1]],
      );
    }));

  test(`${name}: results expire after their retention`, () =>
    withBackend(factory, async (backend, clock) => {
      const id = await preparedTask(backend, ['一。']);
      await backend.completeSegment(await claimOf(backend, 'segment'), { audioPath: '/0.wav', durationMs: 1 });
      await backend.completeAssemble(await claimOf(backend, 'assemble'), { path: '/r.wav', format: 'wav', durationMs: 1, bytes: 1, sampleRate: 1 }, 1_000);
      assert.deepEqual(await backend.expireResults(clock.now()), []);
      await clock.advance(2_000);
      const expired = await backend.expireResults(clock.now());
      assert.deepEqual(
        expired.map((t) => t.id),
        [id],
      );
      assert.equal((await backend.getTask(id))?.expired, true);
      assert.deepEqual(await backend.expireResults(clock.now()), [], 'only once');
    }));

  test(`${name}: voices are stored, listed and deleted`, () =>
    withBackend(factory, async (backend) => {
      const voice = { id: 'v1', name: 'teacher', promptText: '你好', audioPath: '/v.wav', sha256: 'ab', sampleRate: 24_000, durationMs: 3000, originalPath: '/o.mp3', createdAt: 1 };
      await backend.createVoice(voice);
      assert.deepEqual(await backend.getVoice('v1'), voice);
      assert.deepEqual(
        (await backend.listVoices()).map((v) => v.id),
        ['v1'],
      );
      assert.equal(await backend.deleteVoice('v1'), true);
      assert.equal(await backend.deleteVoice('v1'), false);
      assert.equal(await backend.getVoice('v1'), undefined);
    }));

  test(`${name}: new work wakes listeners`, () =>
    withBackend(factory, async (backend) => {
      let wakes = 0;
      backend.onWork(() => wakes++);
      await backend.createTask(request());
      assert.ok(wakes >= 1);
    }));

  test(`${name}: engines reported by workers are summed; a worker that stops reporting no longer counts, its engine stays known`, () =>
    withBackend(factory, async (backend) => {
      const capabilities = (engine: string) => ({
        engine,
        version: '1',
        sampleRates: [24_000],
        cloning: engine === 'glm-tts',
        voiceFollowing: [],
        phonemeControl: true,
        languages: ['zh'],
        maxSegmentChars: 200,
        maxBatch: 1,
        requiresVoice: false,
        options: [],
      });
      assert.deepEqual(await backend.engineReports(), []);
      await backend.reportEngines(
        'gpu-1',
        [
          { capabilities: capabilities('glm-tts'), hosts: 2, hostsUp: 2, busy: 1 },
          { capabilities: capabilities('espeak'), hosts: 1, hostsUp: 1, busy: 0 },
        ],
        60_000,
      );
      await backend.reportEngines('gpu-2', [{ capabilities: capabilities('glm-tts'), hosts: 4, hostsUp: 3, busy: 3 }], 200);
      const both = await backend.engineReports();
      assert.deepEqual(
        both.map((r) => [r.capabilities.engine, r.hosts, r.hostsUp, r.busy]),
        [
          ['glm-tts', 6, 5, 4],
          ['espeak', 1, 1, 0],
        ],
      );
      // gpu-2's report lapses; gpu-1 reports again with no espeak host up.
      await backend.reportEngines('gpu-1', [{ capabilities: capabilities('glm-tts'), hosts: 2, hostsUp: 2, busy: 0 }], 60_000);
      await backend.reportEngines('gpu-2', [{ capabilities: capabilities('glm-tts'), hosts: 4, hostsUp: 3, busy: 3 }], -1);
      assert.deepEqual(
        (await backend.engineReports()).map((r) => [r.capabilities.engine, r.hosts, r.hostsUp]),
        [
          ['glm-tts', 2, 2],
          ['espeak', 0, 0],
        ],
      );
    }));

  test(`${name}: work counts give tasks by status and unfinished segments by engine and priority`, () =>
    withBackend(factory, async (backend) => {
      const empty = await backend.workCounts();
      assert.deepEqual(empty, { tasksByStatus: { queued: 0, preparing: 0, synthesizing: 0, encoding: 0, completed: 0, failed: 0, canceled: 0 }, tasksWaiting: 0, segments: [] });
      const prepare = async (text: string, priority: number, segments: string[], engine: string): Promise<string> => {
        const { task } = await backend.createTask(request(text, priority));
        const unit = await claimOf(backend, 'prepare');
        await backend.completePrepare(unit, { segments, engine });
        return task.id;
      };
      await prepare('一。二。三。', 0, ['一。', '二。', '三。'], 'e1');
      const urgent = await prepare('四。', 5, ['四。'], 'e2');
      await backend.createTask(request('还没准备。')); // not prepared: no segments to count yet
      const running = await backend.claim('worker-1', ['segment'], LEASE, { engine: 'e1' });
      const retried = await backend.claim('worker-1', ['segment'], LEASE, { engine: 'e1' });
      assert.ok(running?.kind === 'segment' && retried?.kind === 'segment');
      assert.equal(await backend.failWork(retried, transient, 3), 'retrying');
      const byEngine = (counts: Awaited<ReturnType<TaskBackend['workCounts']>>) => [...counts.segments].sort((a, b) => a.engine.localeCompare(b.engine));

      const during = await backend.workCounts();
      assert.deepEqual(byEngine(during), [
        { engine: 'e1', priority: 0, queued: 2, running: 1 }, // the retried segment waits out its backoff: still queued
        { engine: 'e2', priority: 5, queued: 1, running: 0 },
      ]);
      assert.equal(during.tasksByStatus.queued, 1);
      assert.equal(during.tasksByStatus.synthesizing, 2);

      await backend.cancelTask(urgent);
      await backend.completeSegment(running, { audioPath: '/0.wav', durationMs: 1 });
      const after = await backend.workCounts();
      assert.deepEqual(byEngine(after), [{ engine: 'e1', priority: 0, queued: 2, running: 0 }], 'a canceled task and a done segment are not counted');
      assert.deepEqual(after.tasksByStatus, { queued: 1, preparing: 0, synthesizing: 1, encoding: 0, completed: 0, failed: 0, canceled: 1 });
    }));

  runAuditContract(name, (body) => withBackend(factory, (backend) => body(backend.audit)));
  runReuseContract(
    name,
    (body) => withBackend(factory, body),
    () => LEASE,
  );
  runNotBeforeContract(name, (body) => withBackend(factory, body));
}
