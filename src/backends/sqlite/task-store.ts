/**
 * Task records: creating them (group commit, idempotency keys), reading them (through a read
 * cache that every write empties), listing, canceling, retention and counts.
 */

import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import { LRUCache } from 'lru-cache';
import type { SqliteConnection } from './connection.js';
import type { EventLog } from './events.js';
import type { ReuseKeys } from './reuse-keys.js';
import {
  FAIR_RANK_CAP,
  TASK_STATUSES,
  isFinal,
  openTasksQuotaError,
  scopedIdempotencyKey,
  type CreateTaskOptions,
  type ListTasksOptions,
  type PreparedReference,
  type TaskRecord,
  type TaskRequest,
  type TaskResult,
  type TaskStatus,
} from '../backend.js';
import { TtsError, storageFullError } from '../../errors.js';

export interface TaskRow {
  id: string;
  seq: number;
  status: TaskStatus;
  priority: number;
  request: string;
  segments_total: number;
  segments_done: number;
  segments_pending: number;
  retries: number;
  lease_token: string | null;
  error_code: string | null;
  error_message: string | null;
  result: string | null;
  reference: string | null;
  voice_references?: string | null;
  segment_parts?: string | null;
  engine: string | null;
  expired: number;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  expires_at: number | null;
  updated_at: number;
  idempotency_key: string | null;
  request_hash: string | null;
  owner: string | null;
}

/** Task records kept for status reads (emptied by every write). */
const READ_CACHE_SIZE = 10_000;

export function toTask(row: TaskRow): TaskRecord {
  const task: TaskRecord = {
    id: row.id,
    status: row.status,
    request: JSON.parse(row.request) as TaskRequest,
    segmentsTotal: row.segments_total,
    segmentsDone: row.segments_done,
    attempts: row.retries + 1,
    expired: row.expired === 1,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
  if (row.error_code !== null) task.error = { code: row.error_code, message: row.error_message ?? '' };
  if (row.result !== null) {
    // A reused result is stored marked (a column would need a migration).
    const { cached, ...result } = JSON.parse(row.result) as TaskResult & { cached?: boolean };
    task.result = result;
    if (cached === true) task.cached = true;
  }
  if (row.reference !== null) task.reference = JSON.parse(row.reference) as PreparedReference;
  if (row.voice_references != null) task.references = JSON.parse(row.voice_references) as Record<string, PreparedReference>;
  if (row.segment_parts != null) task.segmentParts = JSON.parse(row.segment_parts) as number[];
  if (row.engine !== null) task.engine = row.engine;
  if (row.owner !== null) task.owner = row.owner;
  if (row.started_at !== null) task.startedAt = row.started_at;
  if (row.finished_at !== null) task.finishedAt = row.finished_at;
  if (row.expires_at !== null) task.expiresAt = row.expires_at;
  return task;
}

interface PendingCreate {
  request: TaskRequest;
  options: CreateTaskOptions;
  resolve: (value: { task: TaskRecord; created: boolean }) => void;
  reject: (error: unknown) => void;
}

export class TaskStore {
  /** Creation order of tasks; this process owns the file, so the counter lives here. */
  private seq: number;
  private createQueue: PendingCreate[] = [];
  private readonly readCache = new LRUCache<string, TaskRecord>({ max: READ_CACHE_SIZE });
  private readonly statements;
  private readonly savepoint: Database.Statement;
  private readonly release: Database.Statement;
  private readonly rollbackToSavepoint: Database.Statement;

  constructor(
    private readonly connection: SqliteConnection,
    private readonly events: EventLog,
    private readonly reuseKeys: ReuseKeys,
  ) {
    const { db } = connection;
    this.seq = (connection.sql('SELECT IFNULL(MAX(seq), 0) AS v FROM tasks').get() as { v: number }).v;
    this.savepoint = db.prepare('SAVEPOINT create_task');
    this.release = db.prepare('RELEASE create_task');
    this.rollbackToSavepoint = db.prepare('ROLLBACK TO create_task');
    this.statements = {
      taskById: db.prepare<[string], TaskRow>('SELECT * FROM tasks WHERE id = ?'),
      taskByKey: db.prepare<[string], TaskRow>('SELECT * FROM tasks WHERE idempotency_key = ?'),
      insertTask: db.prepare(
        `INSERT INTO tasks (id, seq, status, priority, request, idempotency_key, request_hash, owner, fair_rank, available_at, created_at, updated_at)
         VALUES (@id, @seq, 'queued', @priority, @request, @key, @hash, @owner, @rank, @availableAt, @now, @now)`,
      ),
      // The owner's unfinished tasks, counted up to a limit (the fair rank's cap, or the quota).
      openTasksOf: db.prepare<[string | null, number], { n: number }>(
        "SELECT COUNT(*) AS n FROM (SELECT 1 FROM tasks WHERE owner IS ? AND status IN ('queued', 'preparing', 'synthesizing', 'encoding') LIMIT ?)",
      ),
    };
    // All writes go through this connection, so emptying the cache on each keeps it exact.
    connection.onWrite(() => this.readCache.clear());
  }

  /**
   * Stores a task. Tasks submitted in the same turn of the event loop are written in one
   * transaction (group commit): each still resolves only once it is committed, but a burst of
   * submissions pays for one commit instead of one each.
   */
  async create(request: TaskRequest, options: CreateTaskOptions = {}): Promise<{ task: TaskRecord; created: boolean }> {
    return await new Promise((resolve, reject) => {
      this.createQueue.push({ request, options, resolve, reject });
      if (this.createQueue.length === 1) setImmediate(() => this.flushCreates());
    });
  }

  private flushCreates(): void {
    const batch = this.createQueue.splice(0);
    // New work is refused while the disk is (nearly) full: room left goes to the work already accepted.
    // (SQLite may still find room in its log file, so waiting for a failed write is not enough.)
    if (this.connection.nearlyFull()) {
      const error = storageFullError();
      for (const item of batch) item.reject(error);
      return;
    }
    const outcomes: Array<{ ok: true; value: { task: TaskRecord; created: boolean } } | { ok: false; error: unknown }> = [];
    try {
      this.connection.transaction(() => {
        for (const item of batch) {
          this.savepoint.run();
          try {
            outcomes.push({ ok: true, value: this.insert(item.request, item.options) });
            this.release.run();
          } catch (error) {
            // A full disk can make SQLite roll back the whole transaction: the batch fails as one.
            if (!this.connection.db.inTransaction) throw error;
            this.rollbackToSavepoint.run();
            this.release.run();
            outcomes.push({ ok: false, error: this.connection.storageError(error) });
          }
        }
      });
    } catch (error) {
      for (const item of batch) item.reject(error);
      return;
    }
    batch.forEach((item, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) item.resolve(outcome.value);
      else item.reject(outcome.error);
    });
    if (outcomes.some((o) => o.ok && o.value.created)) this.connection.wake('prepare');
  }

  private insert(request: TaskRequest, options: CreateTaskOptions): { task: TaskRecord; created: boolean } {
    const key = scopedIdempotencyKey(options);
    if (key !== undefined) {
      const existing = this.statements.taskByKey.get(key);
      if (existing !== undefined) {
        if (existing.request_hash !== (options.requestHash ?? null)) {
          throw new TtsError('E_IDEMPOTENCY_CONFLICT', 'This Idempotency-Key was already used with a different request; use a new key for a new request.');
        }
        return { task: toTask(existing), created: false };
      }
    }
    const maxOpen = options.maxOpenTasks ?? 0;
    const open = this.statements.openTasksOf.get(options.owner ?? null, Math.max(FAIR_RANK_CAP, maxOpen))!.n;
    if (maxOpen > 0 && open >= maxOpen) throw openTasksQuotaError(open);
    const now = this.connection.now();
    const id = randomUUID();
    this.statements.insertTask.run({
      id,
      seq: this.seq + 1,
      priority: request.priority,
      request: JSON.stringify(request),
      key: key ?? null,
      hash: options.requestHash ?? null,
      owner: options.owner ?? null,
      rank: Math.min(open, FAIR_RANK_CAP),
      // Start later: the prepare claim takes only tasks whose available_at has come.
      availableAt: request.notBefore ?? 0,
      now,
    });
    this.seq++;
    const task: TaskRecord = { id, status: 'queued', request, segmentsTotal: 0, segmentsDone: 0, attempts: 1, expired: false, createdAt: now, updatedAt: now };
    if (options.owner !== undefined) task.owner = options.owner;
    this.events.append(task, 'status');
    return { task, created: true };
  }

  /**
   * Reads a task. Status reads are the hottest path of the API, so records are kept in a
   * read cache that every write transaction empties. The record returned is shared: callers
   * must not change it.
   */
  get(id: string): TaskRecord | undefined {
    const cached = this.readCache.get(id);
    if (cached !== undefined) return cached;
    const task = this.read(id);
    if (task !== undefined) this.readCache.set(id, task);
    return task;
  }

  /** Reads a task from the database (inside a transaction: the cache may be stale there). */
  read(id: string): TaskRecord | undefined {
    const row = this.statements.taskById.get(id);
    return row && toTask(row);
  }

  list(options: ListTasksOptions): { tasks: TaskRecord[]; nextCursor?: string } {
    const before = options.cursor === undefined ? Number.MAX_SAFE_INTEGER : Number(options.cursor);
    if (!Number.isSafeInteger(before) || before < 0) throw new TtsError('E_INVALID_ARGUMENT', `Expected cursor to be a value returned as next_cursor, got "${options.cursor}".`);
    const owner = options.owner === '' ? null : options.owner;
    const rows =
      options.owner === undefined
        ? options.status === undefined
          ? this.connection.sql<[number, number], TaskRow>('SELECT * FROM tasks WHERE seq < ? ORDER BY seq DESC LIMIT ?').all(before, options.limit + 1)
          : this.connection.sql<[string, number, number], TaskRow>('SELECT * FROM tasks WHERE status = ? AND seq < ? ORDER BY seq DESC LIMIT ?').all(options.status, before, options.limit + 1)
        : options.status === undefined
          ? this.connection.sql<[string | null, number, number], TaskRow>('SELECT * FROM tasks WHERE owner IS ? AND seq < ? ORDER BY seq DESC LIMIT ?').all(owner ?? null, before, options.limit + 1)
          : this.connection
              .sql<[string | null, string, number, number], TaskRow>('SELECT * FROM tasks WHERE owner IS ? AND status = ? AND seq < ? ORDER BY seq DESC LIMIT ?')
              .all(owner ?? null, options.status, before, options.limit + 1);
    const page = rows.slice(0, options.limit);
    return {
      tasks: page.map(toTask),
      nextCursor: rows.length > options.limit ? String(page.at(-1)!.seq) : undefined,
    };
  }

  cancel(id: string): TaskRecord | undefined {
    return this.connection.transaction(() => {
      const task = this.read(id);
      if (task === undefined || isFinal(task.status)) return task;
      const now = this.connection.now();
      this.connection.sql("UPDATE tasks SET status = 'canceled', lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, finished_at = ?, updated_at = ? WHERE id = ?").run(now, now, id);
      this.connection.sql("UPDATE segments SET status = 'pending', lease_owner = NULL, lease_token = NULL WHERE task_id = ? AND status = 'running'").run(id);
      this.reuseKeys.forget(id);
      const canceled = this.read(id)!;
      this.events.append(canceled, 'status');
      return canceled;
    });
  }

  expireResults(now: number): TaskRecord[] {
    return this.connection.transaction(() => {
      const rows = this.connection.sql<[number], TaskRow>('SELECT * FROM tasks WHERE expired = 0 AND expires_at IS NOT NULL AND expires_at <= ?').all(now);
      const mark = this.connection.sql('UPDATE tasks SET expired = 1, updated_at = ? WHERE id = ?');
      for (const row of rows) {
        mark.run(now, row.id);
        this.reuseKeys.forget(row.id);
      }
      return rows.map((row) => ({ ...toTask(row), expired: true }));
    });
  }

  /** The owner's completed task prepared with `reuseKey` whose result is kept at `now` (backend.ts). */
  findReusable(owner: string, reuseKey: string, now: number): TaskRecord | undefined {
    const row = this.reuseKeys.find(owner, reuseKey, now);
    return row && toTask(row);
  }

  countByStatus(): Record<TaskStatus, number> {
    const counts = Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<TaskStatus, number>;
    for (const row of this.connection.sql<[], { status: TaskStatus; n: number }>('SELECT status, COUNT(*) AS n FROM tasks GROUP BY status').all()) counts[row.status] = row.n;
    return counts;
  }
}
