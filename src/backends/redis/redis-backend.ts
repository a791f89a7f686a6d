/**
 * The scaled-out backend: tasks, segments, voices and events in Redis, work on BullMQ queues
 * (work-queue.ts), so API nodes hold no state and workers on many machines share one queue.
 * Semantics are those of `TaskBackend` (../backend.ts); scripts.ts describes the records.
 * Redis is expected to persist (AOF): `appendfsync always` loses nothing acknowledged,
 * `everysec` up to about a second of it (docs/scaling-out.md).
 */

import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { KNOWN_ENGINE_MS, sumEngineReports, type StoredReports } from '../engine-reports.js';
import {
  FAIR_RANK_CAP,
  TASK_STATUSES,
  openTasksQuotaError,
  scopedIdempotencyKey,
  type AuditLog,
  type ClaimOptions,
  type EngineReport,
  type CreateTaskOptions,
  type FailOptions,
  type ListTasksOptions,
  type PreparedTask,
  type SegmentAudio,
  type TaskBackend,
  type TaskEvent,
  type TaskRecord,
  type TaskRequest,
  type TaskResult,
  type TaskStatus,
  type VoiceRecord,
  type WorkCounts,
  type WorkKind,
  type WorkUnit,
} from '../backend.js';
import { TtsError, type WireError } from '../../errors.js';
import { RedisAuditLog } from './audit.js';
import { RedisConnection } from './connection.js';
import { RedisKeyStore } from './keys.js';
import { RedisWebhookStore } from './webhooks.js';
import { epochOf, rankOf, toTask } from './task-records.js';
import { RedisWorkQueue, type RedisWorkOptions } from './work-queue.js';

export interface RedisBackendOptions extends RedisWorkOptions {
  url: string;
  /** Prefix of every key, BullMQ's included: two deployments can share one Redis. */
  prefix: string;
  /** How often queued tasks missing their job are looked for (0: never; tests). */
  repairIntervalMs?: number;
}

/** Redis errors that mean "not reachable right now" or "full" rather than a bug. */
function unavailable(error: unknown): TtsError | undefined {
  const message = error instanceof Error ? error.message : String(error);
  // Redis at its maxmemory (with noeviction, as BullMQ needs): full, as a disk can be.
  if (/^OOM /u.test(message)) return new TtsError('E_STORAGE_FULL', 'Redis is out of memory (maxmemory); the service takes no new work until there is room; try again later.', { cause: error });
  if (/ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|Connection is closed|max retries|LOADING|READONLY|MISCONF|Stream isn't writeable|enableOfflineQueue/iu.test(message)) {
    return new TtsError('E_BACKEND_UNAVAILABLE', `Redis cannot be reached or written right now (${message.slice(0, 200)}); try again shortly.`);
  }
  return undefined;
}

/**
 * ARGV: prefix, id, voice JSON, created at, owner or '', most voices of the owner (0: no limit).
 * Voices: K voice:ID (JSON), K voices and K owner:O:voices (ids by creation time). Returns -1
 * when stored, else the owner's count of voices (at its limit).
 */
const CREATE_VOICE = `
local K = ARGV[1] .. ':'
local owned = K .. 'owner:' .. ARGV[5] .. ':voices'
local count = redis.call('ZCARD', owned)
if tonumber(ARGV[6]) > 0 and count >= tonumber(ARGV[6]) then return count end
redis.call('SET', K .. 'voice:' .. ARGV[2], ARGV[3])
redis.call('ZADD', K .. 'voices', ARGV[4], ARGV[2])
redis.call('ZADD', owned, ARGV[4], ARGV[2])
return -1
`;

/** ARGV: prefix, id. Returns 1 when the voice existed. */
const DELETE_VOICE = `
local K = ARGV[1] .. ':'
local json = redis.call('GET', K .. 'voice:' .. ARGV[2])
if not json then return 0 end
local owner = cjson.decode(json).owner or ''
redis.call('DEL', K .. 'voice:' .. ARGV[2])
redis.call('ZREM', K .. 'voices', ARGV[2])
redis.call('ZREM', K .. 'owner:' .. owner .. ':voices', ARGV[2])
return 1
`;

export class RedisBackend implements TaskBackend {
  readonly audit: AuditLog;
  private readonly work: RedisWorkQueue;
  readonly keys: RedisKeyStore;
  readonly webhooks: RedisWebhookStore;
  private readonly repairTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly connection: RedisConnection,
    private readonly bullConnection: Redis,
    options: RedisBackendOptions,
  ) {
    this.work = new RedisWorkQueue(connection, bullConnection, options);
    this.keys = new RedisKeyStore(connection, (body) => this.call(body));
    this.audit = new RedisAuditLog(connection, (body) => this.call(body));
    this.webhooks = new RedisWebhookStore(connection, (body) => this.call(body));
    const repairMs = options.repairIntervalMs ?? 60_000;
    if (repairMs > 0) {
      this.repairTimer = setInterval(() => void this.work.repairQueued().catch(() => undefined), repairMs);
      this.repairTimer.unref();
    }
  }

  static async open(options: RedisBackendOptions): Promise<RedisBackend> {
    const connection = new RedisConnection(options.url, options.prefix);
    // BullMQ wants a connection that waits for Redis rather than failing its commands.
    const bullConnection = new Redis(options.url, { maxRetriesPerRequest: null });
    bullConnection.on('error', () => undefined);
    try {
      await connection.open();
    } catch (error) {
      bullConnection.disconnect();
      await connection.close().catch(() => undefined);
      const where = options.url.replace(/\/\/[^@/]*@/u, '//…@'); // no password in messages
      throw new TtsError('E_BACKEND_UNAVAILABLE', `Redis at ${where} cannot be reached (${error instanceof Error ? error.message : String(error)}); check REDIS_URL and that Redis runs.`, {
        cause: error,
      });
    }
    return new RedisBackend(connection, bullConnection, options);
  }

  /** Runs a Redis call; connection failures become E_BACKEND_UNAVAILABLE (503, retryable). */
  private async call<T>(body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (error) {
      throw unavailable(error) ?? error;
    }
  }

  // ---- tasks ------------------------------------------------------------------------------

  async createTask(request: TaskRequest, options: CreateTaskOptions = {}): Promise<{ task: TaskRecord; created: boolean }> {
    return await this.call(async () => {
      const id = randomUUID();
      const [outcome, fields] = (await this.connection.script(
        'createTask',
        id,
        Date.now(),
        request.priority,
        JSON.stringify(request),
        scopedIdempotencyKey(options) ?? '',
        options.requestHash ?? '',
        options.owner ?? '',
        options.maxOpenTasks ?? 0,
        FAIR_RANK_CAP,
        request.webhook?.url ?? '',
        request.webhook?.events ?? '',
      )) as [string, string[] | number];
      if (outcome === 'quota') throw openTasksQuotaError(fields as number);
      if (outcome === 'conflict') throw new TtsError('E_IDEMPOTENCY_CONFLICT', 'This Idempotency-Key was already used with a different request; use a new key for a new request.');
      const task = toTask(fields as string[]);
      // The job is added after the record; a repeated request adds it again in case its first
      // maker died in between (BullMQ ignores an id it has).
      if (outcome === 'created' || task.status === 'queued')
        await this.work.addPrepare({ id: task.id, priority: task.request.priority, rank: rankOf(fields as string[]), epoch: epochOf(fields as string[]), notBefore: task.request.notBefore });
      return { task, created: outcome === 'created' };
    });
  }

  async getTask(id: string): Promise<TaskRecord | undefined> {
    return await this.call(async () => {
      const fields = await this.connection.redis.hgetall(this.connection.taskKey(id));
      return fields.id === undefined ? undefined : toTask(fields);
    });
  }

  async listTasks(options: ListTasksOptions): Promise<{ tasks: TaskRecord[]; nextCursor?: string }> {
    const before = options.cursor === undefined ? undefined : Number(options.cursor);
    if (before !== undefined && (!Number.isSafeInteger(before) || before < 0)) {
      throw new TtsError('E_INVALID_ARGUMENT', `Expected cursor to be a value returned as next_cursor, got "${options.cursor}".`);
    }
    return await this.call(async () => {
      const scope = options.owner === undefined || options.owner === '' ? '' : `owner:${options.owner}:`;
      const index = this.connection.key(options.status === undefined ? `${scope}tasks` : `${scope}status:${options.status}`);
      const flat = await this.connection.redis.zrevrangebyscore(index, before === undefined ? '+inf' : `(${before}`, '-inf', 'WITHSCORES', 'LIMIT', 0, options.limit + 1);
      const rows = Array.from({ length: flat.length / 2 }, (_, i) => ({ id: flat[2 * i]!, seq: flat[2 * i + 1]! }));
      const page = rows.slice(0, options.limit);
      const pipeline = this.connection.redis.pipeline();
      for (const row of page) pipeline.hgetall(this.connection.taskKey(row.id));
      const results = (await pipeline.exec()) ?? [];
      const tasks = results
        .map(([, fields]) => fields as Record<string, string>)
        .filter((fields) => fields.id !== undefined)
        .map(toTask);
      return { tasks, nextCursor: rows.length > options.limit ? page.at(-1)!.seq : undefined };
    });
  }

  async cancelTask(id: string): Promise<TaskRecord | undefined> {
    return await this.call(async () => {
      const [status, queued] = (await this.connection.script('cancelTask', id, Date.now())) as [string, Array<string | number>];
      if (status === 'unknown') return undefined;
      await this.work.dropSegmentJobs(id, queued ?? []);
      await this.work.dropPrepareJob(id);
      return await this.getTask(id);
    });
  }

  async queuePosition(taskId: string): Promise<{ position: number } | undefined> {
    return await this.call(async () => {
      const position = await this.work.queuePosition(taskId);
      return position === undefined ? undefined : { position };
    });
  }

  // ---- work -------------------------------------------------------------------------------

  async claim(owner: string, kinds: readonly WorkKind[], leaseMs: number, options: ClaimOptions = {}): Promise<WorkUnit | undefined> {
    return await this.call(() => this.work.claim(owner, kinds, leaseMs, options));
  }

  async renewLease(unit: WorkUnit, leaseMs: number): Promise<boolean> {
    return await this.call(() => this.work.renewLease(unit, leaseMs));
  }

  async completePrepare(unit: WorkUnit & { kind: 'prepare' }, prepared: PreparedTask): Promise<void> {
    if (prepared.segments.length === 0) throw new TtsError('E_INTERNAL', 'A prepared task needs at least one segment.');
    await this.call(() => this.work.completePrepare(unit, prepared));
  }

  async completeSegment(unit: WorkUnit & { kind: 'segment' }, result: { audioPath: string; durationMs: number }): Promise<void> {
    await this.call(() => this.work.completeSegment(unit, result));
  }

  async completeAssemble(unit: WorkUnit & { kind: 'assemble' }, result: TaskResult, retentionMs: number): Promise<void> {
    await this.call(() => this.work.completeAssemble(unit, result, retentionMs));
  }

  async findReusable(owner: string, reuseKey: string, now: number): Promise<TaskRecord | undefined> {
    return await this.call(async () => {
      const fields = (await this.connection.script('findReusable', '', owner, reuseKey, now)) as string[] | null;
      return fields === null ? undefined : toTask(fields);
    });
  }

  async completeReused(unit: WorkUnit & { kind: 'prepare' }, prepared: PreparedTask, result: TaskResult, retentionMs: number): Promise<boolean> {
    return await this.call(() => this.work.completeReused(unit, prepared, result, retentionMs));
  }

  async failWork(unit: WorkUnit, error: Required<WireError>, maxAttempts: number, options: FailOptions = {}): Promise<'retrying' | 'failed' | 'ignored'> {
    return await this.call(() => this.work.failWork(unit, error, maxAttempts, options));
  }

  async reopenSegments(unit: WorkUnit & { kind: 'assemble' }, indexes: readonly number[]): Promise<boolean> {
    return await this.call(() => this.work.reopenSegments(unit, indexes));
  }

  async segmentAudio(taskId: string): Promise<Array<SegmentAudio | undefined>> {
    return await this.call(async () => {
      const key = this.connection.taskKey(taskId);
      // One round trip, read at one moment: the count and every segment's state, path and duration.
      const [[, total], [, fields]] = (await this.connection.redis.multi().hget(key, 'total').hgetall(`${key}:seg`).exec()) as [[unknown, string | null], [unknown, Record<string, string>]];
      return Array.from({ length: Number(total ?? 0) }, (_, i) => {
        const path = fields[`p${i}`];
        return fields[`s${i}`] === 'done' && path !== undefined ? { audioPath: path, durationMs: Number(fields[`d${i}`]) } : undefined;
      });
    });
  }

  // ---- events ------------------------------------------------------------------------------

  async listEvents(taskId: string, afterId: number): Promise<TaskEvent[]> {
    return await this.call(async () => {
      const all = await this.connection.redis.lrange(`${this.connection.taskKey(taskId)}:ev`, 0, -1);
      return all.map((json) => JSON.parse(json) as TaskEvent).filter((event) => event.id > afterId);
    });
  }

  subscribe(listener: (event: TaskEvent) => void): () => void {
    return this.connection.subscribe(listener);
  }

  onWork(listener: (kind: WorkKind) => void): () => void {
    return this.connection.onWork(listener);
  }

  // ---- voices ------------------------------------------------------------------------------

  async createVoice(voice: VoiceRecord, options: { maxVoices?: number } = {}): Promise<void> {
    const count = (await this.call(() =>
      this.connection.redis.eval(CREATE_VOICE, 0, this.connection.prefix, voice.id, JSON.stringify(voice), voice.createdAt, voice.owner ?? '', options.maxVoices ?? 0),
    )) as number;
    if (count >= 0) throw new TtsError('E_QUOTA_VOICES', `This key has ${count} stored voices, its limit; delete one (DELETE /api/voices/ID) before adding another.`);
  }

  async getVoice(id: string): Promise<VoiceRecord | undefined> {
    return await this.call(async () => {
      const json = await this.connection.redis.get(this.connection.key(`voice:${id}`));
      return json === null ? undefined : (JSON.parse(json) as VoiceRecord);
    });
  }

  async listVoices(owner?: string): Promise<VoiceRecord[]> {
    return await this.call(async () => {
      const index = owner === undefined ? 'voices' : `owner:${owner}:voices`;
      const ids = await this.connection.redis.zrevrange(this.connection.key(index), 0, -1);
      if (ids.length === 0) return [];
      const values = await this.connection.redis.mget(ids.map((id) => this.connection.key(`voice:${id}`)));
      return values.filter((json): json is string => json !== null).map((json) => JSON.parse(json) as VoiceRecord);
    });
  }

  async deleteVoice(id: string): Promise<boolean> {
    return (await this.call(() => this.connection.redis.eval(DELETE_VOICE, 0, this.connection.prefix, id))) === 1;
  }

  // ---- housekeeping ------------------------------------------------------------------------

  async rerouteTasks(runningEngines: readonly string[]): Promise<number> {
    return await this.call(() => this.work.reroute(runningEngines));
  }

  async expireResults(now: number): Promise<TaskRecord[]> {
    return await this.call(async () => {
      const ids = await this.connection.redis.zrangebyscore(this.connection.key('expiry'), '-inf', now, 'LIMIT', 0, 1000);
      const expired: TaskRecord[] = [];
      for (const id of ids) {
        const fields = (await this.connection.script('expireResult', id, now)) as string[] | null;
        if (fields !== null) expired.push(toTask(fields));
      }
      return expired;
    });
  }

  async reportEngines(owner: string, engines: readonly EngineReport[], ttlMs: number): Promise<void> {
    await this.call(async () => {
      const now = Date.now();
      const multi = this.connection.redis.multi().hset(this.connection.key('engine-workers'), owner, JSON.stringify({ expiresAt: now + ttlMs, engines }));
      for (const [rank, report] of engines.entries())
        multi.hset(this.connection.key('engine-known'), report.capabilities.engine, JSON.stringify({ capabilities: report.capabilities, rank, seenAt: now }));
      await multi.exec();
    });
  }

  async engineReports(): Promise<EngineReport[]> {
    return await this.call(async () => {
      const [workers, known] = await Promise.all([this.connection.redis.hgetall(this.connection.key('engine-workers')), this.connection.redis.hgetall(this.connection.key('engine-known'))]);
      const now = Date.now();
      const stored: StoredReports = { workers: Object.values(workers).map((json) => JSON.parse(json)), known: Object.values(known).map((json) => JSON.parse(json)) };
      // Reports of workers long gone are dropped here, by whoever reads them.
      const stale = Object.entries(workers)
        .filter(([, json]) => (JSON.parse(json) as { expiresAt: number }).expiresAt < now - KNOWN_ENGINE_MS)
        .map(([owner]) => owner);
      if (stale.length > 0) await this.connection.redis.hdel(this.connection.key('engine-workers'), ...stale);
      return sumEngineReports(stored, now);
    });
  }

  async workCounts(): Promise<WorkCounts> {
    const tasksByStatus = await this.countByStatus();
    return await this.call(async () => {
      const flat = (await this.connection.script('workCounts', '')) as Array<string | number>;
      const segments = [];
      for (let n = 0; n + 3 < flat.length; n += 4) {
        const [engine, priority, queued, running] = [String(flat[n]), Number(flat[n + 1]), Number(flat[n + 2]), Number(flat[n + 3])];
        if (queued > 0 || running > 0) segments.push({ engine, priority, queued, running });
      }
      return { tasksByStatus, tasksWaiting: await this.work.waitingCount(), segments };
    });
  }

  async countByStatus(): Promise<Record<TaskStatus, number>> {
    return await this.call(async () => {
      const pipeline = this.connection.redis.pipeline();
      for (const status of TASK_STATUSES) pipeline.zcard(this.connection.key(`status:${status}`));
      const results = (await pipeline.exec()) ?? [];
      return Object.fromEntries(TASK_STATUSES.map((status, i) => [status, Number(results[i]?.[1] ?? 0)])) as Record<TaskStatus, number>;
    });
  }

  async close(): Promise<void> {
    clearInterval(this.repairTimer);
    await this.work.close();
    await this.connection.close();
    await this.bullConnection.quit().catch(() => this.bullConnection.disconnect());
  }
}
