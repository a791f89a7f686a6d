/**
 * The embedded backend: one SQLite file (better-sqlite3, WAL) holds tasks, segments, voices
 * and events. Every state change is one transaction; events are delivered to subscribers
 * after it commits. Semantics are those of `TaskBackend` (../backend.ts).
 */

import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { MIGRATIONS, SCHEMA, SCHEMA_VERSION } from './schema.js';
import {
  TASK_STATUSES,
  WORK_KINDS,
  type ClaimOptions,
  type FailOptions,
  isFinal,
  type CreateTaskOptions,
  type Lease,
  type ListTasksOptions,
  type PreparedReference,
  type PreparedTask,
  type TaskBackend,
  type TaskEvent,
  type TaskRecord,
  type TaskRequest,
  type TaskResult,
  type TaskStatus,
  type VoiceRecord,
  type WorkKind,
  type WorkUnit,
} from '../backend.js';
import { TtsError, isStorageFull, storageFullError, type WireError } from '../../errors.js';

export interface SqliteBackendOptions {
  /** Database file, or ":memory:". */
  path: string;
  synchronous?: 'NORMAL' | 'FULL';
  /** Clock, for tests. */
  now?: () => number;
  /** Delay before retry n (1-based). */
  backoffMs?: (attempt: number) => number;
  /** How often expired leases are looked for while the backend is open (0: only on claims). */
  recoveryIntervalMs?: number;
}

interface TaskRow {
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
  engine: string | null;
  expired: number;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  expires_at: number | null;
  updated_at: number;
  idempotency_key: string | null;
  request_hash: string | null;
}

interface EventRow {
  id: number;
  task_id: string;
  type: 'status' | 'progress';
  status: TaskStatus;
  segments_done: number;
  segments_total: number;
  error_code: string | null;
  error_message: string | null;
  at: number;
}

interface VoiceRow {
  id: string;
  name: string;
  prompt_text: string;
  audio_path: string;
  sha256: string;
  sample_rate: number;
  duration_ms: number;
  original_path: string;
  created_at: number;
}

/** Candidate tasks looked at per segment claim (those whose pending segments are all backing off are skipped). */
const SEGMENT_CANDIDATES = 16;
/** How often the checkpoint thread moves the write-ahead log into the database file. */
const CHECKPOINT_INTERVAL_MS = 500;
/** Task records kept for status reads (emptied by every write). */
const READ_CACHE_SIZE = 10_000;
/** How often expired leases are looked for (by a timer, and by claims). */
const RECOVERY_INTERVAL_MS = 1_000;
/** Below this much free space, a write that failed with an I/O error is taken for a full disk. */
const LOW_SPACE_BYTES = 1024 * 1024;

const defaultBackoff = (attempt: number): number => Math.min(30_000, 500 * 2 ** (attempt - 1));

/** SQLite's codes for a file that is not a database or whose pages are damaged. */
const isCorruption = (error: unknown): boolean => /^SQLITE_(NOTADB|CORRUPT)/u.test(String((error as { code?: unknown } | undefined)?.code));

/** True when the file system holding `path` has (nearly) no room left. */
function diskNearlyFull(path: string): boolean {
  try {
    const fs = statfsSync(dirname(path));
    return fs.bavail * fs.bsize < LOW_SPACE_BYTES;
  } catch {
    return false;
  }
}

function toTask(row: TaskRow): TaskRecord {
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
  if (row.result !== null) task.result = JSON.parse(row.result) as TaskResult;
  if (row.reference !== null) task.reference = JSON.parse(row.reference) as PreparedReference;
  if (row.engine !== null) task.engine = row.engine;
  if (row.started_at !== null) task.startedAt = row.started_at;
  if (row.finished_at !== null) task.finishedAt = row.finished_at;
  if (row.expires_at !== null) task.expiresAt = row.expires_at;
  return task;
}

function toEvent(row: EventRow): TaskEvent {
  const event: TaskEvent = {
    id: row.id,
    taskId: row.task_id,
    type: row.type,
    status: row.status,
    segmentsDone: row.segments_done,
    segmentsTotal: row.segments_total,
    at: row.at,
  };
  if (row.error_code !== null) event.error = { code: row.error_code, message: row.error_message ?? '' };
  return event;
}

function toVoice(row: VoiceRow): VoiceRecord {
  return {
    id: row.id,
    name: row.name,
    promptText: row.prompt_text,
    audioPath: row.audio_path,
    sha256: row.sha256,
    sampleRate: row.sample_rate,
    durationMs: row.duration_ms,
    originalPath: row.original_path,
    createdAt: row.created_at,
  };
}

export class SqliteBackend implements TaskBackend {
  private readonly db: Database.Database;
  private readonly now: () => number;
  private readonly backoffMs: (attempt: number) => number;
  private readonly emitter = new EventEmitter();
  private pendingEvents: TaskEvent[] = [];
  private lastRecovery = 0;
  private readonly recoveryTimer: NodeJS.Timeout | undefined;
  private readonly path: string;
  /** Strictly increasing "last served" stamps give round-robin order between tasks. */
  private serveCounter: number;
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private readonly statements;
  private readonly cache = new Map<string, Database.Statement>();
  private readCache = new Map<string, TaskRecord>();
  private readonly checkpointer: Worker | undefined;
  private readonly begin: Database.Statement;
  private readonly commit: Database.Statement;
  private readonly rollback: Database.Statement;
  /** Creation order of tasks; this process owns the file, so the counter lives here. */
  private seq: number;
  private readonly savepoint: Database.Statement;
  private readonly release: Database.Statement;
  private readonly rollbackToSavepoint: Database.Statement;
  private createQueue: Array<{
    request: TaskRequest;
    options: CreateTaskOptions;
    resolve: (value: { task: TaskRecord; created: boolean }) => void;
    reject: (error: unknown) => void;
  }> = [];

  constructor(options: SqliteBackendOptions) {
    this.now = options.now ?? Date.now;
    this.backoffMs = options.backoffMs ?? defaultBackoff;
    this.path = options.path;
    this.db = SqliteBackend.open(options.path);
    this.db.pragma(`synchronous = ${options.synchronous ?? 'NORMAL'}`);
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    // 32 MB of page cache (SQLite's default is 2 MB): status reads of a large table stay in memory.
    this.db.pragma('cache_size = -32000');
    if (options.path !== ':memory:') {
      // Checkpoints run in their own thread (checkpoint-thread.ts), not between requests.
      this.db.pragma('wal_autocheckpoint = 0');
      this.checkpointer = new Worker(new URL('./checkpoint-thread.js', import.meta.url), { workerData: { path: options.path, intervalMs: CHECKPOINT_INTERVAL_MS } });
      this.checkpointer.unref();
      this.checkpointer.on('error', () => {
        // Without its thread the connection checkpoints by itself again.
        this.db.pragma('wal_autocheckpoint = 1000');
      });
    }
    this.emitter.setMaxListeners(0);
    this.serveCounter = (this.sql('SELECT IFNULL(MAX(last_served_at), 0) AS v FROM tasks').get() as { v: number }).v;
    this.seq = (this.sql('SELECT IFNULL(MAX(seq), 0) AS v FROM tasks').get() as { v: number }).v;
    this.begin = this.db.prepare('BEGIN IMMEDIATE');
    this.commit = this.db.prepare('COMMIT');
    this.rollback = this.db.prepare('ROLLBACK');
    this.savepoint = this.db.prepare('SAVEPOINT create_task');
    this.release = this.db.prepare('RELEASE create_task');
    this.rollbackToSavepoint = this.db.prepare('ROLLBACK TO create_task');

    const db = this.db;
    this.statements = {
      taskById: db.prepare<[string], TaskRow>('SELECT * FROM tasks WHERE id = ?'),
      taskByKey: db.prepare<[string], TaskRow>('SELECT * FROM tasks WHERE idempotency_key = ?'),
      insertTask: db.prepare(
        `INSERT INTO tasks (id, seq, status, priority, request, idempotency_key, request_hash, created_at, updated_at)
         VALUES (@id, @seq, 'queued', @priority, @request, @key, @hash, @now, @now)`,
      ),
      insertEvent: db.prepare<[string, string, string, number, number, string | null, string | null, number]>(
        'INSERT INTO events (task_id, type, status, segments_done, segments_total, error_code, error_message, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      nextPrepare: db.prepare<[number], { id: string }>(
        "SELECT id FROM tasks WHERE status = 'queued' AND available_at <= ? ORDER BY priority DESC, seq ASC LIMIT 1",
      ),
      segmentCandidates: db.prepare<[], { id: string }>(
        `SELECT id FROM tasks WHERE status = 'synthesizing' AND segments_pending > 0
         ORDER BY priority DESC, last_served_at ASC, seq ASC LIMIT ${SEGMENT_CANDIDATES}`,
      ),
      segmentCandidatesFor: db.prepare<[string], { id: string }>(
        `SELECT id FROM tasks WHERE status = 'synthesizing' AND engine = ? AND segments_pending > 0
         ORDER BY priority DESC, last_served_at ASC, seq ASC LIMIT ${SEGMENT_CANDIDATES}`,
      ),
      nextSegmentOf: db.prepare<[string, number], { idx: number; text: string; attempts: number }>(
        "SELECT idx, text, attempts FROM segments WHERE task_id = ? AND status = 'pending' AND available_at <= ? ORDER BY idx LIMIT 1",
      ),
      nextAssemble: db.prepare<[number], { id: string }>(
        "SELECT id FROM tasks WHERE status = 'encoding' AND lease_owner IS NULL AND available_at <= ? ORDER BY priority DESC, seq ASC LIMIT 1",
      ),
      leaseTask: db.prepare('UPDATE tasks SET lease_owner = ?, lease_token = ?, lease_expires_at = ?, updated_at = ? WHERE id = ?'),
      synthesizingCount: db.prepare<[], { n: number }>("SELECT COUNT(*) AS n FROM tasks WHERE status = 'synthesizing'"),
      segmentPaths: db.prepare<[string], { audio_path: string }>("SELECT audio_path FROM segments WHERE task_id = ? AND status = 'done' ORDER BY idx"),
      eventsAfter: db.prepare<[string, number], EventRow>('SELECT * FROM events WHERE task_id = ? AND id > ? ORDER BY id'),
    };
    // Leases of a worker that died lapse while the service runs, whether or not anyone claims.
    const recoveryMs = options.recoveryIntervalMs ?? RECOVERY_INTERVAL_MS;
    if (recoveryMs > 0) {
      this.recoveryTimer = setInterval(() => {
        try {
          this.recoverExpiredLeases();
        } catch {
          // Storage full or busy: the next round tries again.
        }
      }, recoveryMs);
      this.recoveryTimer.unref();
    }
  }

  /**
   * Opens the file and brings its schema up to date. A file that is not a database, or whose
   * pages are damaged, is a typed error that says what to do, not a stack trace.
   */
  private static open(path: string): Database.Database {
    let db: Database.Database | undefined;
    try {
      db = new Database(path);
      db.pragma('journal_mode = WAL');
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > SCHEMA_VERSION) throw new TtsError('E_INTERNAL', `The database was written by a newer tts-queue (schema ${version}).`);
      const current = db;
      if (version > 0) current.transaction(() => {
        for (let from = version; from < SCHEMA_VERSION; from++) current.exec(MIGRATIONS[from]!);
      })();
      db.exec(SCHEMA);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
      // Reads every table's pages once: a file cut short fails here rather than on the first task.
      const check = db.pragma('quick_check(1)', { simple: true });
      if (check !== 'ok') throw Object.assign(new Error(String(check)), { code: 'SQLITE_CORRUPT' });
      return db;
    } catch (error) {
      db?.close();
      if (isCorruption(error)) {
        throw new TtsError(
          'E_DATABASE_CORRUPT',
          `The task database ${path} is damaged or is not a SQLite database, so the service cannot start. Move it away (the service then starts with an empty queue) or restore it from a backup, then start again.`,
          { cause: error },
        );
      }
      if (isStorageFull(error) || (String((error as { code?: unknown }).code).startsWith('SQLITE_IOERR') && diskNearlyFull(path))) throw storageFullError(error);
      throw error;
    }
  }

  // ---- tasks ------------------------------------------------------------------------------

  /**
   * Stores a task. Tasks submitted in the same turn of the event loop are written in one
   * transaction (group commit): each still resolves only once it is committed, but a burst of
   * submissions pays for one commit instead of one each.
   */
  async createTask(request: TaskRequest, options: CreateTaskOptions = {}): Promise<{ task: TaskRecord; created: boolean }> {
    return await new Promise((resolve, reject) => {
      this.createQueue.push({ request, options, resolve, reject });
      if (this.createQueue.length === 1) setImmediate(() => this.flushCreates());
    });
  }

  private flushCreates(): void {
    const batch = this.createQueue.splice(0);
    // New work is refused while the disk is (nearly) full: room left goes to the work already accepted.
    // (SQLite may still find room in its log file, so waiting for a failed write is not enough.)
    if (this.path !== ':memory:' && diskNearlyFull(this.path)) {
      const error = storageFullError();
      for (const item of batch) item.reject(error);
      return;
    }
    const outcomes: Array<{ ok: true; value: { task: TaskRecord; created: boolean } } | { ok: false; error: unknown }> = [];
    try {
      this.transaction(() => {
        for (const item of batch) {
          this.savepoint.run();
          try {
            outcomes.push({ ok: true, value: this.insertTask(item.request, item.options) });
            this.release.run();
          } catch (error) {
            // A full disk can make SQLite roll back the whole transaction: the batch fails as one.
            if (!this.db.inTransaction) throw error;
            this.rollbackToSavepoint.run();
            this.release.run();
            outcomes.push({ ok: false, error: this.storageError(error) });
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
    if (outcomes.some((o) => o.ok && o.value.created)) this.emitter.emit('work', 'prepare');
  }

  private insertTask(request: TaskRequest, options: CreateTaskOptions): { task: TaskRecord; created: boolean } {
    if (options.idempotencyKey !== undefined) {
      const existing = this.statements.taskByKey.get(options.idempotencyKey);
      if (existing !== undefined) {
        if (existing.request_hash !== (options.requestHash ?? null)) {
          throw new TtsError('E_IDEMPOTENCY_CONFLICT', 'This Idempotency-Key was already used with a different request; use a new key for a new request.');
        }
        return { task: toTask(existing), created: false };
      }
    }
    const now = this.now();
    const id = randomUUID();
    this.statements.insertTask.run({
      id,
      seq: this.seq + 1,
      priority: request.priority,
      request: JSON.stringify(request),
      key: options.idempotencyKey ?? null,
      hash: options.requestHash ?? null,
      now,
    });
    this.seq++;
    const task: TaskRecord = { id, status: 'queued', request, segmentsTotal: 0, segmentsDone: 0, attempts: 1, expired: false, createdAt: now, updatedAt: now };
    this.event(task, 'status');
    return { task, created: true };
  }

  /**
   * Reads a task. Status reads are the hottest path of the API, so records are kept in a
   * read cache that every write transaction empties (all writes go through this object). The
   * record returned is shared: callers must not change it.
   */
  async getTask(id: string): Promise<TaskRecord | undefined> {
    const cached = this.readCache.get(id);
    if (cached !== undefined) return cached;
    const task = this.task(id);
    if (task !== undefined) {
      if (this.readCache.size >= READ_CACHE_SIZE) this.readCache = new Map();
      this.readCache.set(id, task);
    }
    return task;
  }

  async listTasks(options: ListTasksOptions): Promise<{ tasks: TaskRecord[]; nextCursor?: string }> {
    const before = options.cursor === undefined ? Number.MAX_SAFE_INTEGER : Number(options.cursor);
    if (!Number.isSafeInteger(before) || before < 0) throw new TtsError('E_INVALID_ARGUMENT', `Expected cursor to be a value returned as next_cursor, got "${options.cursor}".`);
    const rows = options.status === undefined
      ? this.sql<[number, number], TaskRow>('SELECT * FROM tasks WHERE seq < ? ORDER BY seq DESC LIMIT ?').all(before, options.limit + 1)
      : this.sql<[string, number, number], TaskRow>('SELECT * FROM tasks WHERE status = ? AND seq < ? ORDER BY seq DESC LIMIT ?').all(options.status, before, options.limit + 1);
    const page = rows.slice(0, options.limit);
    return {
      tasks: page.map(toTask),
      nextCursor: rows.length > options.limit ? String(page.at(-1)!.seq) : undefined,
    };
  }

  async cancelTask(id: string): Promise<TaskRecord | undefined> {
    return this.transaction(() => {
      const task = this.task(id);
      if (task === undefined || isFinal(task.status)) return task;
      const now = this.now();
      this.sql("UPDATE tasks SET status = 'canceled', lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, finished_at = ?, updated_at = ? WHERE id = ?")
        .run(now, now, id);
      this.sql("UPDATE segments SET status = 'pending', lease_owner = NULL, lease_token = NULL WHERE task_id = ? AND status = 'running'").run(id);
      const canceled = this.task(id)!;
      this.event(canceled, 'status');
      return canceled;
    });
  }

  // ---- work -------------------------------------------------------------------------------

  async claim(owner: string, kinds: readonly WorkKind[], leaseMs: number, options: ClaimOptions = {}): Promise<WorkUnit | undefined> {
    const now = this.now();
    if (now - this.lastRecovery >= RECOVERY_INTERVAL_MS) this.recoverExpiredLeases(now);
    const prepareAllowed = options.maxSynthesizing === undefined || this.statements.synthesizingCount.get()!.n < options.maxSynthesizing;
    if (!prepareAllowed && kinds.every((kind) => kind === 'prepare')) return undefined;
    return this.transaction(() => {
      for (const kind of kinds) {
        if (kind === 'prepare' && !prepareAllowed) continue;
        const unit = kind === 'prepare' ? this.claimPrepare(owner, now, leaseMs) : kind === 'segment' ? this.claimSegment(owner, now, leaseMs, options.engine) : this.claimAssemble(owner, now, leaseMs);
        if (unit !== undefined) return unit;
      }
      return undefined;
    });
  }

  private newLease(owner: string, now: number, leaseMs: number): Lease {
    return { owner, token: randomUUID(), expiresAt: now + leaseMs };
  }

  private claimPrepare(owner: string, now: number, leaseMs: number): WorkUnit | undefined {
    const row = this.statements.nextPrepare.get(now);
    if (row === undefined) return undefined;
    const lease = this.newLease(owner, now, leaseMs);
    this.sql("UPDATE tasks SET status = 'preparing', lease_owner = ?, lease_token = ?, lease_expires_at = ?, started_at = IFNULL(started_at, ?), updated_at = ? WHERE id = ?")
      .run(owner, lease.token, lease.expiresAt, now, now, row.id);
    const task = this.task(row.id)!;
    this.event(task, 'status');
    return { kind: 'prepare', task, lease };
  }

  private claimSegment(owner: string, now: number, leaseMs: number, engine: string | undefined): WorkUnit | undefined {
    const candidates = engine === undefined ? this.statements.segmentCandidates.all() : this.statements.segmentCandidatesFor.all(engine);
    for (const candidate of candidates) {
      const segment = this.statements.nextSegmentOf.get(candidate.id, now);
      if (segment === undefined) continue;
      const lease = this.newLease(owner, now, leaseMs);
      this.sql("UPDATE segments SET status = 'running', attempts = attempts + 1, lease_owner = ?, lease_token = ?, lease_expires_at = ? WHERE task_id = ? AND idx = ?")
        .run(owner, lease.token, lease.expiresAt, candidate.id, segment.idx);
      this.sql('UPDATE tasks SET segments_pending = segments_pending - 1, last_served_at = ?, updated_at = ? WHERE id = ?').run(++this.serveCounter, now, candidate.id);
      return { kind: 'segment', task: this.task(candidate.id)!, segment: { index: segment.idx, text: segment.text, attempt: segment.attempts + 1 }, lease };
    }
    return undefined;
  }

  private claimAssemble(owner: string, now: number, leaseMs: number): WorkUnit | undefined {
    const row = this.statements.nextAssemble.get(now);
    if (row === undefined) return undefined;
    const lease = this.newLease(owner, now, leaseMs);
    this.statements.leaseTask.run(owner, lease.token, lease.expiresAt, now, row.id);
    const segmentPaths = this.statements.segmentPaths.all(row.id).map((s) => s.audio_path);
    return { kind: 'assemble', task: this.task(row.id)!, segmentPaths, lease };
  }

  async renewLease(unit: WorkUnit, leaseMs: number): Promise<boolean> {
    const expiresAt = this.now() + leaseMs;
    const changes = this.write(() => unit.kind === 'segment'
      ? this.sql("UPDATE segments SET lease_expires_at = ? WHERE task_id = ? AND idx = ? AND lease_token = ? AND status = 'running'").run(expiresAt, unit.task.id, unit.segment.index, unit.lease.token).changes
      : this.sql('UPDATE tasks SET lease_expires_at = ? WHERE id = ? AND lease_token = ?').run(expiresAt, unit.task.id, unit.lease.token).changes);
    return changes > 0;
  }

  /** True when the unit's task still holds this lease (not expired and re-claimed, not canceled). */
  private holdsTaskLease(unit: WorkUnit, status: TaskStatus): boolean {
    const row = this.sql<[string], { status: TaskStatus; lease_token: string | null }>('SELECT status, lease_token FROM tasks WHERE id = ?').get(unit.task.id);
    return row !== undefined && row.status === status && row.lease_token === unit.lease.token;
  }

  async completePrepare(unit: WorkUnit & { kind: 'prepare' }, prepared: PreparedTask): Promise<void> {
    const accepted = this.transaction(() => {
      if (!this.holdsTaskLease(unit, 'preparing')) return false;
      if (prepared.segments.length === 0) throw new TtsError('E_INTERNAL', 'A prepared task needs at least one segment.');
      const insert = this.sql("INSERT INTO segments (task_id, idx, text, status) VALUES (?, ?, ?, 'pending')");
      prepared.segments.forEach((text, index) => insert.run(unit.task.id, index, text));
      const now = this.now();
      this.sql(
          `UPDATE tasks SET status = 'synthesizing', segments_total = ?, segments_pending = ?, segments_done = 0, reference = ?, engine = ?,
           lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = ? WHERE id = ?`,
        )
        .run(prepared.segments.length, prepared.segments.length, prepared.reference === undefined ? null : JSON.stringify(prepared.reference), prepared.engine ?? null, now, unit.task.id);
      this.event(this.task(unit.task.id)!, 'status');
      return true;
    });
    if (accepted) this.emitter.emit('work', 'segment');
  }

  async completeSegment(unit: WorkUnit & { kind: 'segment' }, result: { audioPath: string; durationMs: number }): Promise<void> {
    const becameComplete = this.transaction(() => {
      const changes = this.sql(
          `UPDATE segments SET status = 'done', audio_path = ?, duration_ms = ?, lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
           WHERE task_id = ? AND idx = ? AND lease_token = ? AND status = 'running'`,
        )
        .run(result.audioPath, result.durationMs, unit.task.id, unit.segment.index, unit.lease.token).changes;
      if (changes === 0) return false; // lease lost or task canceled: the result is not used
      const now = this.now();
      this.sql('UPDATE tasks SET segments_done = segments_done + 1, updated_at = ? WHERE id = ?').run(now, unit.task.id);
      let task = this.task(unit.task.id)!;
      if (task.status !== 'synthesizing') return false;
      this.event(task, 'progress');
      if (task.segmentsDone < task.segmentsTotal) return false;
      this.sql("UPDATE tasks SET status = 'encoding', available_at = 0, updated_at = ? WHERE id = ?").run(now, unit.task.id);
      task = this.task(unit.task.id)!;
      this.event(task, 'status');
      return true;
    });
    // A task left `synthesizing`: there is assembling to do, and room to prepare another.
    if (becameComplete) {
      this.emitter.emit('work', 'assemble');
      this.emitter.emit('work', 'prepare');
    }
  }

  async completeAssemble(unit: WorkUnit & { kind: 'assemble' }, result: TaskResult, retentionMs: number): Promise<void> {
    this.transaction(() => {
      if (!this.holdsTaskLease(unit, 'encoding')) return;
      const now = this.now();
      this.sql(
          `UPDATE tasks SET status = 'completed', result = ?, finished_at = ?, expires_at = ?,
           lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = ? WHERE id = ?`,
        )
        .run(JSON.stringify(result), now, now + retentionMs, now, unit.task.id);
      this.event(this.task(unit.task.id)!, 'status');
    });
  }

  async failWork(unit: WorkUnit, error: Required<WireError>, maxAttempts: number, options: FailOptions = {}): Promise<'retrying' | 'failed' | 'ignored'> {
    const spare = options.spareAttempt === true && error.retryable;
    const outcome = this.transaction((): { outcome: 'retrying' | 'failed' | 'ignored'; retryAt?: number } => {
      const now = this.now();
      if (unit.kind === 'segment') {
        const row = this.sql<[string, number, string], { attempts: number }>(
          `SELECT s.attempts FROM segments s JOIN tasks t ON t.id = s.task_id
           WHERE s.task_id = ? AND s.idx = ? AND s.lease_token = ? AND s.status = 'running' AND t.status = 'synthesizing'`,
        ).get(unit.task.id, unit.segment.index, unit.lease.token);
        // Lease lost, or the task already ended (canceled, or failed by another segment): nothing to record.
        if (row === undefined) return { outcome: 'ignored' };
        if (error.retryable && (spare || row.attempts < maxAttempts)) {
          const retryAt = now + this.backoffMs(Math.max(1, row.attempts));
          this.sql(
            `UPDATE segments SET status = 'pending', available_at = ?, attempts = attempts - ?, lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
             WHERE task_id = ? AND idx = ?`,
          ).run(retryAt, spare ? 1 : 0, unit.task.id, unit.segment.index);
          this.sql('UPDATE tasks SET segments_pending = segments_pending + 1, retries = retries + ?, updated_at = ? WHERE id = ?').run(spare ? 0 : 1, now, unit.task.id);
          return { outcome: 'retrying', retryAt };
        }
        this.sql("UPDATE segments SET status = 'pending', lease_owner = NULL, lease_token = NULL WHERE task_id = ? AND idx = ?").run(unit.task.id, unit.segment.index);
        this.failTask(unit.task.id, error, now);
        return { outcome: 'failed' };
      }
      const status = unit.kind === 'prepare' ? 'preparing' : 'encoding';
      if (!this.holdsTaskLease(unit, status)) return { outcome: 'ignored' };
      const task = this.task(unit.task.id)!;
      if (error.retryable && (spare || task.attempts < maxAttempts)) {
        const retryAt = now + this.backoffMs(task.attempts);
        this.sql(
            `UPDATE tasks SET status = ?, available_at = ?, retries = retries + ?, lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL,
             updated_at = ? WHERE id = ?`,
          )
          .run(unit.kind === 'prepare' ? 'queued' : 'encoding', retryAt, spare ? 0 : 1, now, unit.task.id);
        if (unit.kind === 'prepare') this.event(this.task(unit.task.id)!, 'status');
        return { outcome: 'retrying', retryAt };
      }
      this.failTask(unit.task.id, error, now);
      return { outcome: 'failed' };
    });
    if (outcome.retryAt !== undefined) this.wakeAt(outcome.retryAt, unit.kind);
    if (outcome.outcome === 'failed') this.emitter.emit('work', 'prepare');
    return outcome.outcome;
  }

  async reopenSegments(unit: WorkUnit & { kind: 'assemble' }, indexes: readonly number[]): Promise<boolean> {
    const reopened = this.transaction(() => {
      if (!this.holdsTaskLease(unit, 'encoding')) return false;
      const reopen = this.sql("UPDATE segments SET status = 'pending', audio_path = NULL, duration_ms = NULL, available_at = 0 WHERE task_id = ? AND idx = ? AND status = 'done'");
      let count = 0;
      for (const index of new Set(indexes)) count += reopen.run(unit.task.id, index).changes;
      if (count === 0) return false;
      this.sql(
          `UPDATE tasks SET status = 'synthesizing', segments_done = segments_done - ?, segments_pending = segments_pending + ?,
           lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = ? WHERE id = ?`,
        )
        .run(count, count, this.now(), unit.task.id);
      this.event(this.task(unit.task.id)!, 'status');
      return true;
    });
    if (reopened) this.emitter.emit('work', 'segment');
    return reopened;
  }

  private failTask(id: string, error: WireError, now: number): void {
    this.sql(
        `UPDATE tasks SET status = 'failed', error_code = ?, error_message = ?, finished_at = ?, lease_owner = NULL, lease_token = NULL,
         lease_expires_at = NULL, updated_at = ? WHERE id = ? AND status NOT IN ('completed', 'failed', 'canceled')`,
      )
      .run(error.code, error.message, now, now, id);
    this.event(this.task(id)!, 'status');
  }

  /** Puts work whose lease expired (its worker died) back in the queue; finished segments stay. */
  recoverExpiredLeases(now = this.now()): number {
    // The time of this run, not `now`: releaseAllLeases passes the end of time, which would otherwise stop claims from ever looking again.
    this.lastRecovery = this.now();
    const recovered = this.transaction(() => {
      let count = 0;
      const stale = this.sql<[number], { task_id: string; idx: number }>("SELECT task_id, idx FROM segments WHERE status = 'running' AND lease_expires_at < ?")
        .all(now);
      for (const { task_id, idx } of stale) {
        this.sql("UPDATE segments SET status = 'pending', lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL WHERE task_id = ? AND idx = ?").run(task_id, idx);
        this.sql("UPDATE tasks SET segments_pending = segments_pending + 1 WHERE id = ? AND status = 'synthesizing'").run(task_id);
        count++;
      }
      const preparing = this.sql<[number], { id: string }>("SELECT id FROM tasks WHERE status = 'preparing' AND lease_expires_at < ?")
        .all(now);
      for (const { id } of preparing) {
        this.sql("UPDATE tasks SET status = 'queued', lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = ? WHERE id = ?").run(now, id);
        this.event(this.task(id)!, 'status');
        count++;
      }
      count += this.sql("UPDATE tasks SET lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL WHERE status = 'encoding' AND lease_expires_at < ?")
        .run(now).changes;
      return count;
    });
    if (recovered > 0) for (const kind of WORK_KINDS) this.emitter.emit('work', kind);
    return recovered;
  }

  /**
   * Releases every lease at once. Only for a backend owned by one process (the embedded
   * service), at start-up: the process that held them is gone.
   */
  releaseAllLeases(): number {
    return this.recoverExpiredLeases(Number.MAX_SAFE_INTEGER);
  }

  // ---- events ------------------------------------------------------------------------------

  async listEvents(taskId: string, afterId: number): Promise<TaskEvent[]> {
    return this.statements.eventsAfter.all(taskId, afterId).map(toEvent);
  }

  subscribe(listener: (event: TaskEvent) => void): () => void {
    this.emitter.on('event', listener);
    return () => this.emitter.off('event', listener);
  }

  onWork(listener: (kind: WorkKind) => void): () => void {
    this.emitter.on('work', listener);
    return () => this.emitter.off('work', listener);
  }

  // ---- voices ------------------------------------------------------------------------------

  async createVoice(voice: VoiceRecord): Promise<void> {
    this.write(() => this.sql(
        `INSERT INTO voices (id, name, prompt_text, audio_path, sha256, sample_rate, duration_ms, original_path, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(voice.id, voice.name, voice.promptText, voice.audioPath, voice.sha256, voice.sampleRate, voice.durationMs, voice.originalPath, voice.createdAt));
  }

  async getVoice(id: string): Promise<VoiceRecord | undefined> {
    const row = this.sql<[string], VoiceRow>('SELECT * FROM voices WHERE id = ?').get(id);
    return row && toVoice(row);
  }

  async listVoices(): Promise<VoiceRecord[]> {
    return this.sql<[], VoiceRow>('SELECT * FROM voices ORDER BY created_at DESC, id').all().map(toVoice);
  }

  async deleteVoice(id: string): Promise<boolean> {
    return this.write(() => this.sql('DELETE FROM voices WHERE id = ?').run(id).changes > 0);
  }

  // ---- housekeeping ------------------------------------------------------------------------

  async rerouteTasks(runningEngines: readonly string[]): Promise<number> {
    const orphans = this.transaction(() => {
      const candidates = this.sql<[], { id: string; engine: string }>(
        "SELECT id, engine FROM tasks WHERE status = 'synthesizing' AND engine IS NOT NULL",
      ).all();
      const orphaned = candidates.filter((row) => !runningEngines.includes(row.engine));
      const dropSegments = this.sql('DELETE FROM segments WHERE task_id = ?');
      const requeue = this.sql(
        `UPDATE tasks SET status = 'queued', engine = NULL, segments_total = 0, segments_done = 0, segments_pending = 0,
         lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, available_at = 0, updated_at = ? WHERE id = ?`,
      );
      const now = this.now();
      for (const { id } of orphaned) {
        dropSegments.run(id);
        requeue.run(now, id);
        this.event(this.task(id)!, 'status');
      }
      return orphaned.length;
    });
    if (orphans > 0) this.emitter.emit('work', 'prepare');
    return orphans;
  }

  async expireResults(now: number): Promise<TaskRecord[]> {
    return this.transaction(() => {
      const rows = this.sql<[number], TaskRow>('SELECT * FROM tasks WHERE expired = 0 AND expires_at IS NOT NULL AND expires_at <= ?').all(now);
      const mark = this.sql('UPDATE tasks SET expired = 1, updated_at = ? WHERE id = ?');
      for (const row of rows) mark.run(now, row.id);
      return rows.map((row) => ({ ...toTask(row), expired: true }));
    });
  }

  async countByStatus(): Promise<Record<TaskStatus, number>> {
    const counts = Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<TaskStatus, number>;
    for (const row of this.sql<[], { status: TaskStatus; n: number }>('SELECT status, COUNT(*) AS n FROM tasks GROUP BY status').all()) counts[row.status] = row.n;
    return counts;
  }

  async close(): Promise<void> {
    clearInterval(this.recoveryTimer);
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.retryTimers.clear();
    this.emitter.removeAllListeners();
    if (this.checkpointer !== undefined) {
      this.checkpointer.ref(); // keep the process alive until the thread has closed its connection
      this.checkpointer.postMessage('stop');
      await new Promise((resolve) => this.checkpointer!.once('exit', resolve));
    }
    if (this.db.open) {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
      this.db.close();
    }
  }

  // ---- internals ---------------------------------------------------------------------------

  private task(id: string): TaskRecord | undefined {
    const row = this.statements.taskById.get(id);
    return row && toTask(row);
  }

  private event(task: TaskRecord, type: 'status' | 'progress'): void {
    const at = this.now();
    const { lastInsertRowid } = this.statements.insertEvent.run(task.id, type, task.status, task.segmentsDone, task.segmentsTotal, task.error?.code ?? null, task.error?.message ?? null, at);
    const event: TaskEvent = { id: Number(lastInsertRowid), taskId: task.id, type, status: task.status, segmentsDone: task.segmentsDone, segmentsTotal: task.segmentsTotal, at };
    if (task.error !== undefined) event.error = task.error;
    this.pendingEvents.push(event);
  }

  /** A write that failed for want of room, as E_STORAGE_FULL; anything else as it came. */
  private storageError(error: unknown): unknown {
    if (error instanceof TtsError) return error;
    const code = String((error as { code?: unknown } | undefined)?.code);
    if (isStorageFull(error) || (code.startsWith('SQLITE_IOERR') && this.path !== ':memory:' && diskNearlyFull(this.path))) return storageFullError(error);
    return error;
  }

  /** Runs a single write outside a transaction, with the same translation of a full disk. */
  private write<T>(body: () => T): T {
    try {
      return body();
    } catch (error) {
      throw this.storageError(error);
    }
  }

  /** A prepared statement, made once per SQL text. */
  private sql<P extends unknown[] = unknown[], R = unknown>(source: string): Database.Statement<P, R> {
    let statement = this.cache.get(source);
    if (statement === undefined) {
      statement = this.db.prepare(source);
      this.cache.set(source, statement);
    }
    return statement as unknown as Database.Statement<P, R>;
  }

  /**
   * Runs `body` in one IMMEDIATE transaction and delivers its events once it has committed.
   * A write that found the disk full is E_STORAGE_FULL, and the transaction is always ended.
   */
  private transaction<T>(body: () => T): T {
    let result: T;
    try {
      this.begin.run();
      try {
        result = body();
        this.commit.run();
      } catch (error) {
        try {
          if (this.db.inTransaction) this.rollback.run();
        } catch {
          // The rollback of a failed write needs no room; if it fails anyway, the first error says why.
        }
        this.pendingEvents = [];
        throw error;
      } finally {
        this.readCache = new Map();
      }
    } catch (error) {
      throw this.storageError(error);
    }
    const events = this.pendingEvents;
    this.pendingEvents = [];
    for (const event of events) this.emitter.emit('event', event);
    return result;
  }

  private wakeAt(at: number, kind: WorkKind): void {
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      this.emitter.emit('work', kind);
    }, Math.max(0, at - this.now()));
    timer.unref();
    this.retryTimers.add(timer);
  }
}
