/**
 * The work of the Redis backend on BullMQ: one queue for preparing, one for assembling and one
 * per engine for segments. A claim is BullMQ's manual job fetching: `getNextJob` hands a job
 * out under a lock (the lease), `extendLock` renews it, BullMQ's stalled-job check puts back
 * the job of a worker that died, `moveToDelayed` waits out a retry's backoff. The task record
 * (scripts.ts) says what each job is for; a job whose task moved on is dropped at its claim.
 *
 * Fairness: BullMQ orders jobs by priority, then first in, first out. A segment's priority is
 * its task's priority first, then its index up to FAIR_INDEXES: a new task's first segments
 * go ahead of an older task's later ones, so a short task is never stuck behind a long one;
 * past FAIR_INDEXES, tasks take turns, since each keeps only a window of segments enqueued.
 *
 * Crash safety: every step first changes the record, then adds follow-up jobs with ids derived
 * from the record (BullMQ ignores an add whose id exists), then removes its own job. A worker
 * that dies between two steps leaves its job locked; the lock lapses, the job is claimed again,
 * and the claim redoes the follow-ups it finds missing.
 */

import { randomUUID } from 'node:crypto';
import { type Job, type JobsOptions, Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { FAIR_RANK_CAP, type ClaimOptions, type FailOptions, type PreparedTask, type TaskResult, type WorkKind, type WorkUnit } from '../backend.js';
import type { WireError } from '../../errors.js';
import type { RedisConnection } from './connection.js';
import { toTask } from './task-records.js';

export interface RedisWorkOptions {
  /** Delay before retry n (1-based). */
  backoffMs?: (attempt: number) => number;
  /** Segments of one task enqueued at once (the rest wait in the record). */
  segmentWindow?: number;
  /** How often each queue is checked for jobs whose worker died (their lock lapsed). */
  stalledIntervalMs?: number;
  /** The lease a claim starts with when none is asked (BullMQ's lock duration). */
  leaseMs?: number;
}

interface JobData {
  taskId: string;
  epoch: number;
  index?: number;
  gen?: number;
  agen?: number;
}

/** Task priorities run from -10 to 10; BullMQ takes 1 (first) to 2^21. */
const MAX_TASK_PRIORITY = 10;
/** Segment indexes that order segments within a priority; later ones share the last rank. */
const FAIR_INDEXES = 64;
const DEFAULT_WINDOW = 64;
const defaultBackoff = (attempt: number): number => Math.min(30_000, 500 * 2 ** (attempt - 1));
/** Finished jobs are removed at once: the record keeps what matters, and an id can be used again. */
const JOB_DEFAULTS: JobsOptions = { removeOnComplete: true, removeOnFail: true };

// A task's fair rank (backend.ts: its owner's unfinished tasks when it was submitted) moves its
// work back as a segment index does: owners take turns, and within one owner a task submitted
// later still overtakes the later segments of a long one.
const segmentPriority = (taskPriority: number, rank: number, index: number): number => (MAX_TASK_PRIORITY - taskPriority) * (FAIR_INDEXES + 1) + Math.min(rank + index, FAIR_INDEXES) + 1;
const preparePriority = (taskPriority: number, rank: number): number => (MAX_TASK_PRIORITY - taskPriority) * (FAIR_RANK_CAP + 1) + Math.min(rank, FAIR_RANK_CAP) + 1;
const taskPriority = (taskPriority: number): number => MAX_TASK_PRIORITY - taskPriority + 1;

const prepareJobId = (taskId: string, epoch: number): string => `${taskId}.e${epoch}.p`;
const segmentJobId = (taskId: string, epoch: number, index: number, gen: number): string => `${taskId}.e${epoch}.s${index}.g${gen}`;
const assembleJobId = (taskId: string, epoch: number, agen: number): string => `${taskId}.e${epoch}.a${agen}`;

type Claimed = { unit: WorkUnit; job: Job<JobData> };

/**
 * ARGV: prioritized key, job id, the job's BullMQ priority. A job in the prioritized set (score:
 * priority * 2^32 + arrival counter) counts those scored below it; any other (delayed) those of
 * its priority or better, since it arrives behind them.
 */
const QUEUE_POSITION = `
local score = redis.call('ZSCORE', ARGV[1], ARGV[2])
if score then return redis.call('ZCOUNT', ARGV[1], '-inf', '(' .. score) end
return redis.call('ZCOUNT', ARGV[1], '-inf', '(' .. string.format('%.0f', (tonumber(ARGV[3]) + 1) * 4294967296))
`;

export class RedisWorkQueue {
  private readonly queues = new Map<string, Queue<JobData>>();
  private readonly workers = new Map<string, Worker<JobData>>();
  /** The jobs this process holds, by lease token. */
  private readonly held = new Map<string, Job<JobData>>();
  private readonly backoffMs: (attempt: number) => number;
  private readonly window: number;
  private readonly stalledIntervalMs: number;
  private readonly leaseMs: number;
  private closed = false;

  constructor(
    private readonly connection: RedisConnection,
    private readonly bullConnection: Redis,
    options: RedisWorkOptions = {},
  ) {
    this.backoffMs = options.backoffMs ?? defaultBackoff;
    this.window = options.segmentWindow ?? DEFAULT_WINDOW;
    this.leaseMs = options.leaseMs ?? 30_000;
    this.stalledIntervalMs = options.stalledIntervalMs ?? Math.max(250, Math.min(15_000, this.leaseMs / 2));
  }

  private queueName(kind: WorkKind, engine?: string): string {
    return kind === 'segment' ? `work-segment-${engine ?? 'any'}` : `work-${kind}`;
  }

  queue(name: string): Queue<JobData> {
    let queue = this.queues.get(name);
    if (queue === undefined) {
      queue = new Queue<JobData>(name, { connection: this.bullConnection, prefix: this.connection.prefix, defaultJobOptions: JOB_DEFAULTS, streams: { events: { maxLen: 100 } } });
      this.queues.set(name, queue);
    }
    return queue;
  }

  private async worker(name: string): Promise<Worker<JobData>> {
    let worker = this.workers.get(name);
    if (worker === undefined) {
      worker = new Worker<JobData>(name, null, {
        connection: this.bullConnection,
        prefix: this.connection.prefix,
        autorun: false,
        lockDuration: this.leaseMs,
        stalledInterval: this.stalledIntervalMs,
        // A job that comes back because its worker died is claimed again, however often: the
        // task's attempts are counted in its record, not by BullMQ.
        maxStalledCount: Number.MAX_SAFE_INTEGER,
        skipLockRenewal: true,
      });
      worker.on('error', () => undefined); // connection trouble surfaces in the calls that failed
      this.workers.set(name, worker);
      // Jobs locked by a worker that died go back to their queue (BullMQ's stalled check).
      void worker.startStalledCheckTimer().catch(() => undefined);
    }
    return worker;
  }

  // ---- adding work ----------------------------------------------------------------------

  /** Queues a task's preparing; with `notBefore` (start later) as a delayed job, claimable from then on. */
  async addPrepare(task: { id: string; priority: number; rank: number; epoch: number; notBefore?: number }): Promise<void> {
    const delay = task.notBefore === undefined ? 0 : Math.max(0, task.notBefore - Date.now());
    await this.queue(this.queueName('prepare')).add(
      'prepare',
      { taskId: task.id, epoch: task.epoch },
      { jobId: prepareJobId(task.id, task.epoch), priority: preparePriority(task.priority, task.rank), ...(delay > 0 ? { delay } : {}) },
    );
    // A delayed job is moved to the queue by the claims of idle workers (their polling) once due.
    if (delay === 0) this.connection.wake('prepare');
  }

  /** Removes a canceled task's prepare job while it waits (a delayed job would otherwise linger until due). */
  async dropPrepareJob(taskId: string): Promise<void> {
    const epoch = await this.connection.redis.hget(this.connection.taskKey(taskId), 'epoch');
    if (epoch === null) return;
    // A job being claimed right now is locked and stays: its claim finds the task canceled and drops it.
    await this.queue(this.queueName('prepare'))
      .remove(prepareJobId(taskId, Number(epoch)))
      .catch(() => 0);
  }

  /**
   * Where a queued task's prepare job stands among those due (BullMQ's prioritized set, scored by
   * priority then arrival): those before it; for a job still delayed, those of its priority or a
   * better one, which it joins behind when it comes due. Undefined when the task is not queued.
   */
  async queuePosition(taskId: string): Promise<number | undefined> {
    const [status, epoch, priority, rank] = await this.connection.redis.hmget(this.connection.taskKey(taskId), 'status', 'epoch', 'priority', 'rank');
    if (status !== 'queued') return undefined;
    const prioritized = this.queue(this.queueName('prepare')).toKey('prioritized');
    const ahead = await this.connection.redis.eval(QUEUE_POSITION, 0, prioritized, prepareJobId(taskId, Number(epoch)), preparePriority(Number(priority), Number(rank ?? 0)));
    return Number(ahead);
  }

  /** Prepare jobs not yet due: tasks held by not_before, or waiting out a retry's backoff. */
  async waitingCount(): Promise<number> {
    return (await this.queue(this.queueName('prepare')).getJobCounts('delayed')).delayed ?? 0;
  }

  private async addAssemble(task: { id: string; priority: number; epoch: number }, agen: number): Promise<void> {
    await this.queue(this.queueName('assemble')).add(
      'assemble',
      { taskId: task.id, epoch: task.epoch, agen },
      { jobId: assembleJobId(task.id, task.epoch, agen), priority: taskPriority(task.priority) },
    );
    this.connection.wake('assemble');
  }

  /** Enqueues the task's next segments, up to the window. */
  private async fillWindow(taskId: string): Promise<void> {
    const f = await this.connection.redis.hmget(this.connection.taskKey(taskId), 'status', 'total', 'next', 'inflight', 'epoch', 'engine', 'priority', 'rank');
    const [status, total, next, inflight, epoch, engine, priority, rank] = [f[0], Number(f[1]), Number(f[2]), Number(f[3]), Number(f[4]), f[5] ?? undefined, Number(f[6]), Number(f[7] ?? 0)];
    if (status !== 'synthesizing') return;
    const last = Math.min(total, next + Math.max(0, this.window - inflight));
    if (last <= next) return;
    const queueName = this.queueName('segment', engine);
    await this.connection.redis.sadd(this.connection.key('segment-queues'), queueName);
    const jobs = [];
    for (let index = next; index < last; index++) {
      jobs.push({ name: 'segment', data: { taskId, epoch, index, gen: 0 }, opts: { ...JOB_DEFAULTS, jobId: segmentJobId(taskId, epoch, index, 0), priority: segmentPriority(priority, rank, index) } });
    }
    // One MULTI: either every job of the window is added or none, which the claim relies on.
    await this.queue(queueName).addBulk(jobs);
    await this.connection.script('markQueued', taskId, next, last);
    this.connection.wake('segment');
  }

  /** Removes the waiting jobs of segments that will never run (their task ended); `queued` holds index, generation pairs. */
  async dropSegmentJobs(taskId: string, queued: ReadonlyArray<string | number>): Promise<void> {
    if (queued.length === 0) return;
    const [epoch, engine] = await this.connection.redis.hmget(this.connection.taskKey(taskId), 'epoch', 'engine');
    const queue = this.queue(this.queueName('segment', engine ?? undefined));
    for (let n = 0; n + 1 < queued.length; n += 2) {
      // A job locked by a worker stays; its completion is ignored since the task ended.
      await queue.remove(segmentJobId(taskId, Number(epoch), Number(queued[n]), Number(queued[n + 1]))).catch(() => 0);
    }
  }

  // ---- claiming -------------------------------------------------------------------------

  async claim(owner: string, kinds: readonly WorkKind[], leaseMs: number, options: ClaimOptions): Promise<WorkUnit | undefined> {
    for (const kind of kinds) {
      if (kind === 'prepare' && options.maxSynthesizing !== undefined) {
        if ((await this.connection.redis.zcard(this.connection.key('status:synthesizing'))) >= options.maxSynthesizing) continue;
      }
      const names = kind === 'segment' ? await this.segmentQueues(options.engine) : [this.queueName(kind)];
      for (const name of names) {
        const claimed = await this.claimFrom(name, kind, owner, leaseMs);
        if (claimed !== undefined) return claimed.unit;
      }
    }
    return undefined;
  }

  private async segmentQueues(engine: string | undefined): Promise<string[]> {
    if (engine !== undefined) return [this.queueName('segment', engine)];
    return (await this.connection.redis.smembers(this.connection.key('segment-queues'))).sort();
  }

  /** Takes jobs from one queue until one is still wanted; drops the others. */
  private async claimFrom(name: string, kind: WorkKind, owner: string, leaseMs: number): Promise<Claimed | undefined> {
    const worker = await this.worker(name);
    for (;;) {
      if (this.closed) return undefined;
      const token = randomUUID();
      const job = (await worker.getNextJob(token, { block: false })) as Job<JobData> | undefined;
      if (job === undefined || job === null) return undefined;
      const unit = await this.bind(job, kind, owner, token, leaseMs);
      if (unit === undefined) {
        // Its task moved on, perhaps without what follows (its worker died between the two):
        // make sure of that before the job goes.
        await this.followUp(job.data.taskId);
        await job.moveToCompleted(null, token, false).catch(() => undefined);
        continue;
      }
      if (leaseMs !== this.leaseMs) await job.extendLock(token, leaseMs);
      this.held.set(token, job);
      return { unit, job };
    }
  }

  /** Records the claim of a job on its task; undefined when the job is no longer wanted. */
  private async bind(job: Job<JobData>, kind: WorkKind, owner: string, token: string, leaseMs: number): Promise<WorkUnit | undefined> {
    const { taskId, epoch } = job.data;
    const now = Date.now();
    const lease = { owner, token, expiresAt: now + leaseMs };
    if (kind === 'prepare') {
      const [outcome, fields] = (await this.connection.script('claimPrepare', taskId, epoch, token, now)) as [string, string[]];
      return outcome === 'ok' ? { kind, task: toTask(fields), lease } : undefined;
    }
    if (kind === 'assemble') {
      const [outcome, paths, fields, texts] = (await this.connection.script('claimAssemble', taskId, epoch, job.data.agen!, token, now)) as [string, string[], string[], string[]];
      return outcome === 'ok' ? { kind, task: toTask(fields), segmentPaths: paths, segmentTexts: texts, lease } : undefined;
    }
    const reply = (await this.connection.script('claimSegment', taskId, epoch, job.data.index!, job.data.gen!, token, now)) as [string, ...unknown[]];
    if (reply[0] !== 'ok') return undefined;
    const [, text, attempts, fields] = reply as [string, string, number, string[]];
    return { kind, task: toTask(fields), segment: { index: job.data.index!, text, attempt: attempts }, lease };
  }

  /** After a segment: the next ones of the window, or the assembling once all are done. */
  private async followUp(taskId: string): Promise<void> {
    const f = await this.connection.redis.hmget(this.connection.taskKey(taskId), 'status', 'epoch', 'agen', 'priority');
    if (f[0] === 'encoding') await this.addAssemble({ id: taskId, epoch: Number(f[1]), priority: Number(f[3]) }, Number(f[2]));
    else if (f[0] === 'synthesizing') await this.fillWindow(taskId);
  }

  // ---- leases and outcomes ----------------------------------------------------------------

  async renewLease(unit: WorkUnit, leaseMs: number): Promise<boolean> {
    const holds = (await this.connection.script('holdsLease', unit.task.id, unit.kind, unit.lease.token, unit.kind === 'segment' ? unit.segment.index : -1)) === 1;
    if (!holds) return false;
    const job = this.held.get(unit.lease.token);
    if (job === undefined) return false;
    return (await job.extendLock(unit.lease.token, leaseMs)) === 1;
  }

  /**
   * Lets go of the unit's job: removed, or left to wait out `retryAt`. Before a job goes, what
   * follows it is made sure of (`followUp`) when this process cannot know it was done: a
   * completion whose reply was lost (Redis died after running it) looks like a failure here.
   */
  private async release(unit: WorkUnit, retryAt?: number, followUp = false): Promise<void> {
    if (followUp && retryAt === undefined) await this.followUp(unit.task.id);
    const job = this.held.get(unit.lease.token);
    this.held.delete(unit.lease.token);
    if (job === undefined) return;
    // A job whose lock lapsed belongs to its next claimer: BullMQ refuses the move, which is right.
    if (retryAt === undefined) await job.moveToCompleted(null, unit.lease.token, false).catch(() => undefined);
    else await job.moveToDelayed(retryAt, unit.lease.token).catch(() => undefined);
  }

  async completePrepare(unit: WorkUnit & { kind: 'prepare' }, prepared: PreparedTask): Promise<void> {
    const accepted = await this.connection.script(
      'completePrepare',
      unit.task.id,
      unit.lease.token,
      Date.now(),
      prepared.reference === undefined ? '' : JSON.stringify(prepared.reference),
      prepared.engine ?? '',
      prepared.reuseKey ?? '',
      prepared.references === undefined ? '' : JSON.stringify(prepared.references),
      prepared.segmentParts === undefined ? '' : JSON.stringify(prepared.segmentParts),
      ...prepared.segments,
    );
    if (accepted === 1) await this.fillWindow(unit.task.id);
    await this.release(unit, undefined, accepted !== 1);
  }

  async completeReused(unit: WorkUnit & { kind: 'prepare' }, prepared: PreparedTask, result: TaskResult, retentionMs: number): Promise<boolean> {
    const now = Date.now();
    const accepted = await this.connection.script(
      'completeReused',
      unit.task.id,
      unit.lease.token,
      now,
      prepared.reference === undefined ? '' : JSON.stringify(prepared.reference),
      prepared.engine ?? '',
      prepared.reuseKey ?? '',
      prepared.segments.length,
      JSON.stringify(result),
      now + retentionMs,
    );
    await this.release(unit, undefined, accepted !== 1);
    return accepted === 1;
  }

  async completeSegment(unit: WorkUnit & { kind: 'segment' }, result: { audioPath: string; durationMs: number }): Promise<void> {
    const [outcome] = (await this.connection.script('completeSegment', unit.task.id, unit.segment.index, unit.lease.token, result.audioPath, result.durationMs, Date.now())) as [string, number?];
    if (outcome !== 'ignored') await this.followUp(unit.task.id);
    if (outcome === 'complete') this.connection.wake('prepare');
    await this.release(unit, undefined, outcome === 'ignored');
  }

  async completeAssemble(unit: WorkUnit & { kind: 'assemble' }, result: TaskResult, retentionMs: number): Promise<void> {
    const now = Date.now();
    await this.connection.script('completeAssemble', unit.task.id, unit.lease.token, JSON.stringify(result), now, now + retentionMs);
    await this.release(unit);
  }

  async failWork(unit: WorkUnit, error: Required<WireError>, maxAttempts: number, options: FailOptions): Promise<'retrying' | 'failed' | 'ignored'> {
    const spare = options.spareAttempt === true && error.retryable;
    const now = Date.now();
    const reply = (await this.connection.script(
      'failWork',
      unit.task.id,
      unit.kind,
      unit.lease.token,
      unit.kind === 'segment' ? unit.segment.index : -1,
      JSON.stringify({ code: error.code, message: error.message }),
      error.retryable ? 1 : 0,
      spare ? 1 : 0,
      maxAttempts,
      now,
    )) as [string, number, Array<string | number>?];
    const outcome = reply[0] as 'retrying' | 'failed' | 'ignored';
    if (outcome === 'retrying') {
      await this.release(unit, now + this.backoffMs(reply[1]));
      return outcome;
    }
    await this.release(unit, undefined, true);
    if (outcome === 'failed') {
      await this.dropSegmentJobs(unit.task.id, reply[2] ?? []);
      this.connection.wake('prepare');
    }
    return outcome;
  }

  async reopenSegments(unit: WorkUnit & { kind: 'assemble' }, indexes: readonly number[]): Promise<boolean> {
    const key = this.connection.taskKey(unit.task.id);
    const [epoch, priority, engine, rank] = await this.connection.redis.hmget(key, 'epoch', 'priority', 'engine', 'rank');
    const unique = [...new Set(indexes)];
    const gens = unique.length === 0 ? [] : await this.connection.redis.hmget(`${key}:seg`, ...unique.map((i) => `g${i}`));
    const queueName = this.queueName('segment', engine ?? undefined);
    // Jobs first, under the generation the segments will have: if the reopening is refused
    // (the lease was lost), their generation never matches and they are dropped at claim.
    const jobs = unique.flatMap((index, n) =>
      gens[n] === null || gens[n] === undefined
        ? []
        : [
            {
              name: 'segment',
              data: { taskId: unit.task.id, epoch: Number(epoch), index, gen: Number(gens[n]) + 1 },
              opts: { ...JOB_DEFAULTS, jobId: segmentJobId(unit.task.id, Number(epoch), index, Number(gens[n]) + 1), priority: segmentPriority(Number(priority), Number(rank ?? 0), index) },
            },
          ],
    );
    if (jobs.length > 0) await this.queue(queueName).addBulk(jobs);
    const count = (await this.connection.script('reopenSegments', unit.task.id, unit.lease.token, Date.now(), ...unique)) as number;
    await this.release(unit);
    if (count > 0) this.connection.wake('segment');
    return count > 0;
  }

  /** Tasks routed to engines no longer running go back to be prepared again. */
  async reroute(runningEngines: readonly string[]): Promise<number> {
    const ids = await this.connection.redis.zrange(this.connection.key('status:synthesizing'), '0', '-1');
    let count = 0;
    for (const id of ids) {
      const [engine, priority, rank] = await this.connection.redis.hmget(this.connection.taskKey(id), 'engine', 'priority', 'rank');
      if (engine === null || engine === undefined || runningEngines.includes(engine)) continue;
      const epoch = (await this.connection.script('rerouteTask', id, Date.now(), engine)) as number;
      if (epoch === 0) continue;
      await this.addPrepare({ id, priority: Number(priority), rank: Number(rank ?? 0), epoch });
      count++;
    }
    return count;
  }

  /**
   * Queued tasks whose prepare job is missing (the process that created them died between
   * the record and the job) get it. Looks at the oldest `limit` queued tasks.
   */
  async repairQueued(limit = 100): Promise<number> {
    const ids = await this.connection.redis.zrange(this.connection.key('status:queued'), '0', String(limit - 1));
    const queue = this.queue(this.queueName('prepare'));
    let repaired = 0;
    for (const id of ids) {
      const [epoch, priority, updatedAt, rank, request] = await this.connection.redis.hmget(this.connection.taskKey(id), 'epoch', 'priority', 'updatedAt', 'rank', 'request');
      // Give the creator time to add the job itself.
      if (Date.now() - Number(updatedAt) < 10_000) continue;
      if ((await queue.getJobState(prepareJobId(id, Number(epoch)))) !== 'unknown') continue;
      const { notBefore } = JSON.parse(request ?? '{}') as { notBefore?: number };
      await this.addPrepare({ id, priority: Number(priority), rank: Number(rank ?? 0), epoch: Number(epoch), notBefore });
      repaired++;
    }
    return repaired;
  }

  /** Waiting, delayed and running segment jobs per engine (for metrics). */
  async segmentJobCounts(): Promise<Array<{ engine: string; queued: number; running: number }>> {
    const names = await this.segmentQueues(undefined);
    const out = [];
    for (const name of names) {
      const counts = await this.queue(name).getJobCounts('waiting', 'prioritized', 'delayed', 'active');
      out.push({ engine: name.slice('work-segment-'.length), queued: (counts.waiting ?? 0) + (counts.prioritized ?? 0) + (counts.delayed ?? 0), running: counts.active ?? 0 });
    }
    return out;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.workers.values()].map((w) => w.close(true).catch(() => undefined)));
    await Promise.all([...this.queues.values()].map((q) => q.close().catch(() => undefined)));
  }
}
