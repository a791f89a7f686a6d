/**
 * The work queue: claims under leases (prepare, segment, assemble), renewals, completions,
 * failures with backoff, expired-lease recovery (at start-up and while running) and rerouting
 * of tasks whose engine is gone. Semantics are those of `TaskBackend` (../backend.ts).
 */

import { randomUUID } from 'node:crypto';
import type { SqliteConnection } from './connection.js';
import type { EventLog } from './events.js';
import type { ReuseKeys } from './reuse-keys.js';
import type { TaskStore } from './task-store.js';
import { WORK_KINDS, type ClaimOptions, type FailOptions, type Lease, type PreparedTask, type SegmentAudio, type TaskResult, type TaskStatus, type WorkKind, type WorkUnit } from '../backend.js';
import { TtsError, type WireError } from '../../errors.js';

export interface WorkQueueOptions {
  /** Delay before retry n (1-based). */
  backoffMs?: (attempt: number) => number;
  /** How often expired leases are looked for while the queue is open (0: only on claims). */
  recoveryIntervalMs?: number;
}

/**
 * Candidate tasks looked at per segment claim (those whose pending segments are all backing off
 * are skipped). Preparing stays only a little ahead of the engines, so few tasks synthesize at once.
 */
const SEGMENT_CANDIDATES = 64;

interface Candidate {
  id: string;
  owner: string | null;
  priority: number;
}
/** How often expired leases are looked for (by a timer, and by claims). */
const RECOVERY_INTERVAL_MS = 1_000;

const defaultBackoff = (attempt: number): number => Math.min(30_000, 500 * 2 ** (attempt - 1));

export class WorkQueue {
  private readonly backoffMs: (attempt: number) => number;
  private lastRecovery = 0;
  private readonly recoveryTimer: NodeJS.Timeout | undefined;
  /** Strictly increasing "last served" stamps give round-robin order between tasks. */
  private serveCounter: number;
  /**
   * When each owner was last served (a serve stamp), for round-robin between owners before
   * tasks. Kept in memory: after a restart every owner starts even, which is fair too.
   */
  private readonly ownerServedAt = new Map<string | null, number>();
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  /** Wakes preparing when the next queued task comes due (start later); one timer for the earliest. */
  private dueTimer: NodeJS.Timeout | undefined;
  private dueAt = Number.POSITIVE_INFINITY;
  private readonly statements;

  constructor(
    private readonly connection: SqliteConnection,
    private readonly tasks: TaskStore,
    private readonly events: EventLog,
    private readonly reuseKeys: ReuseKeys,
    options: WorkQueueOptions = {},
  ) {
    this.backoffMs = options.backoffMs ?? defaultBackoff;
    this.serveCounter = (connection.sql('SELECT IFNULL(MAX(last_served_at), 0) AS v FROM tasks').get() as { v: number }).v;
    const { db } = connection;
    this.statements = {
      nextPrepare: db.prepare<[number], { id: string }>("SELECT id FROM tasks WHERE status = 'queued' AND available_at <= ? ORDER BY priority DESC, fair_rank ASC, seq ASC LIMIT 1"),
      segmentCandidates: db.prepare<[], Candidate>(
        `SELECT id, owner, priority FROM tasks WHERE status = 'synthesizing' AND segments_pending > 0
         ORDER BY priority DESC, last_served_at ASC, seq ASC LIMIT ${SEGMENT_CANDIDATES}`,
      ),
      segmentCandidatesFor: db.prepare<[string], Candidate>(
        `SELECT id, owner, priority FROM tasks WHERE status = 'synthesizing' AND engine = ? AND segments_pending > 0
         ORDER BY priority DESC, last_served_at ASC, seq ASC LIMIT ${SEGMENT_CANDIDATES}`,
      ),
      nextSegmentOf: db.prepare<[string, number], { idx: number; text: string; attempts: number }>(
        "SELECT idx, text, attempts FROM segments WHERE task_id = ? AND status = 'pending' AND available_at <= ? ORDER BY idx LIMIT 1",
      ),
      nextAssemble: db.prepare<[number], { id: string }>("SELECT id FROM tasks WHERE status = 'encoding' AND lease_owner IS NULL AND available_at <= ? ORDER BY priority DESC, seq ASC LIMIT 1"),
      leaseTask: db.prepare('UPDATE tasks SET lease_owner = ?, lease_token = ?, lease_expires_at = ?, updated_at = ? WHERE id = ?'),
      synthesizingCount: db.prepare<[], { n: number }>("SELECT COUNT(*) AS n FROM tasks WHERE status = 'synthesizing'"),
      nextDue: db.prepare<[number], { at: number | null }>("SELECT MIN(available_at) AS at FROM tasks WHERE status = 'queued' AND available_at > ?"),
      waitingCount: db.prepare<[number], { n: number }>("SELECT COUNT(*) AS n FROM tasks WHERE status = 'queued' AND available_at > ?"),
      queuedTask: db.prepare<[string], { priority: number; fair_rank: number; seq: number; available_at: number }>(
        "SELECT priority, fair_rank, seq, available_at FROM tasks WHERE id = ? AND status = 'queued'",
      ),
      // Three ranges of the queued tasks' order index (higher priority; same priority, lower rank; same both, earlier seq),
      // each filtered by due time from the same index: the rows themselves are never read.
      queuedAhead: db.prepare<{ priority: number; rank: number; seq: number; due: number }, { n: number }>(
        `SELECT (SELECT COUNT(*) FROM tasks INDEXED BY tasks_queued_order WHERE status = 'queued' AND priority > @priority AND available_at <= @due)
              + (SELECT COUNT(*) FROM tasks INDEXED BY tasks_queued_order WHERE status = 'queued' AND priority = @priority AND fair_rank < @rank AND available_at <= @due)
              + (SELECT COUNT(*) FROM tasks INDEXED BY tasks_queued_order WHERE status = 'queued' AND priority = @priority AND fair_rank = @rank AND seq < @seq AND available_at <= @due) AS n`,
      ),
      segmentPaths: db.prepare<[string], { audio_path: string; text: string }>("SELECT audio_path, text FROM segments WHERE task_id = ? AND status = 'done' ORDER BY idx"),
      // Driven by the few synthesizing tasks (status index), then each one's segments by key.
      segmentCounts: db.prepare<[], { engine: string; priority: number; queued: number; running: number }>(
        `SELECT IFNULL(t.engine, '') AS engine, t.priority AS priority, SUM(s.status = 'pending') AS queued, SUM(s.status = 'running') AS running
         FROM tasks t JOIN segments s ON s.task_id = t.id
         WHERE t.status = 'synthesizing' AND s.status != 'done'
         GROUP BY 1, 2 ORDER BY 1, 2`,
      ),
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
    // Tasks held until a later time survive a restart in their rows: wake when the first comes due.
    this.scheduleNextDue();
  }

  /** Wakes preparing at `at` (or earlier, if another task comes due first). */
  scheduleDue(at: number): void {
    if (at >= this.dueAt) return;
    clearTimeout(this.dueTimer);
    this.dueAt = at;
    // setTimeout holds at most 2^31-1 ms (about 24.8 days); a longer wait wakes early and looks again.
    this.dueTimer = setTimeout(
      () => {
        this.dueAt = Number.POSITIVE_INFINITY;
        this.connection.wake('prepare');
        try {
          this.scheduleNextDue();
        } catch {
          // The database is closed or busy: workers' idle polling still finds the task.
        }
      },
      Math.min(2 ** 31 - 1, Math.max(0, at - this.connection.now())),
    );
    this.dueTimer.unref();
  }

  private scheduleNextDue(): void {
    const next = this.statements.nextDue.get(this.connection.now())?.at;
    if (next !== null && next !== undefined) this.scheduleDue(next);
  }

  /**
   * Where a queued task stands: the queued tasks prepared before it. For a task waiting for its
   * time, those due by then; for a due one, those due now. Counts index ranges, not every task.
   */
  queuePosition(taskId: string): { position: number; dueAt: number } | undefined {
    const row = this.statements.queuedTask.get(taskId);
    if (row === undefined) return undefined;
    const due = Math.max(row.available_at, this.connection.now());
    const position = this.statements.queuedAhead.get({ priority: row.priority, rank: row.fair_rank, seq: row.seq, due })!.n;
    return { position, dueAt: row.available_at };
  }

  /** Queued tasks not yet due (start later, or waiting out a retry's backoff). */
  waitingCount(): number {
    return this.statements.waitingCount.get(this.connection.now())!.n;
  }

  /** Finished segments by index (see TaskBackend.segmentAudio). */
  segmentAudio(taskId: string): Array<SegmentAudio | undefined> {
    const total = this.connection.sql<[string], { n: number }>('SELECT segments_total AS n FROM tasks WHERE id = ?').get(taskId)?.n ?? 0;
    const found: Array<SegmentAudio | undefined> = Array.from({ length: total }, () => undefined);
    const rows = this.connection
      .sql<[string], { idx: number; audio_path: string; duration_ms: number }>("SELECT idx, audio_path, duration_ms FROM segments WHERE task_id = ? AND status = 'done' ORDER BY idx")
      .all(taskId);
    for (const row of rows) if (row.idx < total) found[row.idx] = { audioPath: row.audio_path, durationMs: row.duration_ms };
    return found;
  }

  async claim(owner: string, kinds: readonly WorkKind[], leaseMs: number, options: ClaimOptions = {}): Promise<WorkUnit | undefined> {
    const now = this.connection.now();
    if (now - this.lastRecovery >= RECOVERY_INTERVAL_MS) this.recoverExpiredLeases(now);
    const prepareAllowed = options.maxSynthesizing === undefined || this.statements.synthesizingCount.get()!.n < options.maxSynthesizing;
    if (!prepareAllowed && kinds.every((kind) => kind === 'prepare')) return undefined;
    return this.connection.transaction(() => {
      for (const kind of kinds) {
        if (kind === 'prepare' && !prepareAllowed) continue;
        const unit =
          kind === 'prepare' ? this.claimPrepare(owner, now, leaseMs) : kind === 'segment' ? this.claimSegment(owner, now, leaseMs, options.engine) : this.claimAssemble(owner, now, leaseMs);
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
    this.connection
      .sql("UPDATE tasks SET status = 'preparing', lease_owner = ?, lease_token = ?, lease_expires_at = ?, started_at = IFNULL(started_at, ?), updated_at = ? WHERE id = ?")
      .run(owner, lease.token, lease.expiresAt, now, now, row.id);
    const task = this.tasks.read(row.id)!;
    this.events.append(task, 'status');
    return { kind: 'prepare', task, lease };
  }

  private claimSegment(owner: string, now: number, leaseMs: number, engine: string | undefined): WorkUnit | undefined {
    const candidates = engine === undefined ? this.statements.segmentCandidates.all() : this.statements.segmentCandidatesFor.all(engine);
    // Within a priority, the owner served least recently goes first, then (SQL order) its task served least recently.
    const turn = (candidate: Candidate): number => this.ownerServedAt.get(candidate.owner) ?? 0;
    candidates.sort((a, b) => b.priority - a.priority || turn(a) - turn(b));
    for (const candidate of candidates) {
      const segment = this.statements.nextSegmentOf.get(candidate.id, now);
      if (segment === undefined) continue;
      const lease = this.newLease(owner, now, leaseMs);
      this.connection
        .sql("UPDATE segments SET status = 'running', attempts = attempts + 1, lease_owner = ?, lease_token = ?, lease_expires_at = ? WHERE task_id = ? AND idx = ?")
        .run(owner, lease.token, lease.expiresAt, candidate.id, segment.idx);
      this.connection.sql('UPDATE tasks SET segments_pending = segments_pending - 1, last_served_at = ?, updated_at = ? WHERE id = ?').run(++this.serveCounter, now, candidate.id);
      this.ownerServedAt.set(candidate.owner, this.serveCounter);
      return { kind: 'segment', task: this.tasks.read(candidate.id)!, segment: { index: segment.idx, text: segment.text, attempt: segment.attempts + 1 }, lease };
    }
    return undefined;
  }

  private claimAssemble(owner: string, now: number, leaseMs: number): WorkUnit | undefined {
    const row = this.statements.nextAssemble.get(now);
    if (row === undefined) return undefined;
    const lease = this.newLease(owner, now, leaseMs);
    this.statements.leaseTask.run(owner, lease.token, lease.expiresAt, now, row.id);
    const segments = this.statements.segmentPaths.all(row.id);
    return { kind: 'assemble', task: this.tasks.read(row.id)!, segmentPaths: segments.map((s) => s.audio_path), segmentTexts: segments.map((s) => s.text), lease };
  }

  async renewLease(unit: WorkUnit, leaseMs: number): Promise<boolean> {
    const expiresAt = this.connection.now() + leaseMs;
    const changes = this.connection.write(() =>
      unit.kind === 'segment'
        ? this.connection
            .sql("UPDATE segments SET lease_expires_at = ? WHERE task_id = ? AND idx = ? AND lease_token = ? AND status = 'running'")
            .run(expiresAt, unit.task.id, unit.segment.index, unit.lease.token).changes
        : this.connection.sql('UPDATE tasks SET lease_expires_at = ? WHERE id = ? AND lease_token = ?').run(expiresAt, unit.task.id, unit.lease.token).changes,
    );
    return changes > 0;
  }

  /** True when the unit's task still holds this lease (not expired and re-claimed, not canceled). */
  private holdsTaskLease(unit: WorkUnit, status: TaskStatus): boolean {
    const row = this.connection.sql<[string], { status: TaskStatus; lease_token: string | null }>('SELECT status, lease_token FROM tasks WHERE id = ?').get(unit.task.id);
    return row !== undefined && row.status === status && row.lease_token === unit.lease.token;
  }

  async completePrepare(unit: WorkUnit & { kind: 'prepare' }, prepared: PreparedTask): Promise<void> {
    const accepted = this.connection.transaction(() => {
      if (!this.holdsTaskLease(unit, 'preparing')) return false;
      if (prepared.segments.length === 0) throw new TtsError('E_INTERNAL', 'A prepared task needs at least one segment.');
      const insert = this.connection.sql("INSERT INTO segments (task_id, idx, text, status) VALUES (?, ?, ?, 'pending')");
      for (const [index, text] of prepared.segments.entries()) insert.run(unit.task.id, index, text);
      const now = this.connection.now();
      this.connection
        .sql(
          `UPDATE tasks SET status = 'synthesizing', segments_total = ?, segments_pending = ?, segments_done = 0, reference = ?, voice_references = ?, segment_parts = ?,
           engine = ?, lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = ? WHERE id = ?`,
        )
        .run(
          prepared.segments.length,
          prepared.segments.length,
          prepared.reference === undefined ? null : JSON.stringify(prepared.reference),
          prepared.references === undefined ? null : JSON.stringify(prepared.references),
          prepared.segmentParts === undefined ? null : JSON.stringify(prepared.segmentParts),
          prepared.engine ?? null,
          now,
          unit.task.id,
        );
      this.reuseKeys.record(unit.task.id, unit.task.owner ?? '', prepared.reuseKey);
      this.events.append(this.tasks.read(unit.task.id)!, 'status');
      return true;
    });
    if (accepted) this.connection.wake('segment');
  }

  async completeReused(unit: WorkUnit & { kind: 'prepare' }, prepared: PreparedTask, result: TaskResult, retentionMs: number): Promise<boolean> {
    return this.connection.transaction(() => {
      if (!this.holdsTaskLease(unit, 'preparing')) return false;
      const now = this.connection.now();
      const total = prepared.segments.length;
      this.connection
        .sql(
          `UPDATE tasks SET status = 'completed', segments_total = ?, segments_done = ?, segments_pending = 0, reference = ?, engine = ?, result = ?,
           finished_at = ?, expires_at = ?, lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = ? WHERE id = ?`,
        )
        .run(
          total,
          total,
          prepared.reference === undefined ? null : JSON.stringify(prepared.reference),
          prepared.engine ?? null,
          JSON.stringify({ ...result, cached: true }),
          now,
          now + retentionMs,
          now,
          unit.task.id,
        );
      // The copy may be reused in turn, after the result it copied has expired.
      this.reuseKeys.record(unit.task.id, unit.task.owner ?? '', prepared.reuseKey);
      this.events.append(this.tasks.read(unit.task.id)!, 'status');
      return true;
    });
  }

  async completeSegment(unit: WorkUnit & { kind: 'segment' }, result: { audioPath: string; durationMs: number }): Promise<void> {
    const becameComplete = this.connection.transaction(() => {
      const changes = this.connection
        .sql(
          `UPDATE segments SET status = 'done', audio_path = ?, duration_ms = ?, lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
           WHERE task_id = ? AND idx = ? AND lease_token = ? AND status = 'running'`,
        )
        .run(result.audioPath, result.durationMs, unit.task.id, unit.segment.index, unit.lease.token).changes;
      if (changes === 0) return false; // lease lost or task canceled: the result is not used
      const now = this.connection.now();
      this.connection.sql('UPDATE tasks SET segments_done = segments_done + 1, updated_at = ? WHERE id = ?').run(now, unit.task.id);
      let task = this.tasks.read(unit.task.id)!;
      if (task.status !== 'synthesizing') return false;
      this.events.append(task, 'progress');
      if (task.segmentsDone < task.segmentsTotal) return false;
      this.connection.sql("UPDATE tasks SET status = 'encoding', available_at = 0, updated_at = ? WHERE id = ?").run(now, unit.task.id);
      task = this.tasks.read(unit.task.id)!;
      this.events.append(task, 'status');
      return true;
    });
    // A task left `synthesizing`: there is assembling to do, and room to prepare another.
    if (becameComplete) {
      this.connection.wake('assemble');
      this.connection.wake('prepare');
    }
  }

  async completeAssemble(unit: WorkUnit & { kind: 'assemble' }, result: TaskResult, retentionMs: number): Promise<void> {
    this.connection.transaction(() => {
      if (!this.holdsTaskLease(unit, 'encoding')) return;
      const now = this.connection.now();
      this.connection
        .sql(
          `UPDATE tasks SET status = 'completed', result = ?, finished_at = ?, expires_at = ?,
           lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = ? WHERE id = ?`,
        )
        .run(JSON.stringify(result), now, now + retentionMs, now, unit.task.id);
      this.events.append(this.tasks.read(unit.task.id)!, 'status');
    });
  }

  async failWork(unit: WorkUnit, error: Required<WireError>, maxAttempts: number, options: FailOptions = {}): Promise<'retrying' | 'failed' | 'ignored'> {
    const spare = options.spareAttempt === true && error.retryable;
    const outcome = this.connection.transaction((): { outcome: 'retrying' | 'failed' | 'ignored'; retryAt?: number } => {
      const now = this.connection.now();
      if (unit.kind === 'segment') {
        const row = this.connection
          .sql<[string, number, string], { attempts: number }>(
            `SELECT s.attempts FROM segments s JOIN tasks t ON t.id = s.task_id
           WHERE s.task_id = ? AND s.idx = ? AND s.lease_token = ? AND s.status = 'running' AND t.status = 'synthesizing'`,
          )
          .get(unit.task.id, unit.segment.index, unit.lease.token);
        // Lease lost, or the task already ended (canceled, or failed by another segment): nothing to record.
        if (row === undefined) return { outcome: 'ignored' };
        if (error.retryable && (spare || row.attempts < maxAttempts)) {
          const retryAt = now + this.backoffMs(Math.max(1, row.attempts));
          this.connection
            .sql(
              `UPDATE segments SET status = 'pending', available_at = ?, attempts = attempts - ?, lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
             WHERE task_id = ? AND idx = ?`,
            )
            .run(retryAt, spare ? 1 : 0, unit.task.id, unit.segment.index);
          this.connection.sql('UPDATE tasks SET segments_pending = segments_pending + 1, retries = retries + ?, updated_at = ? WHERE id = ?').run(spare ? 0 : 1, now, unit.task.id);
          return { outcome: 'retrying', retryAt };
        }
        this.connection.sql("UPDATE segments SET status = 'pending', lease_owner = NULL, lease_token = NULL WHERE task_id = ? AND idx = ?").run(unit.task.id, unit.segment.index);
        this.failTask(unit.task.id, error, now);
        return { outcome: 'failed' };
      }
      const status = unit.kind === 'prepare' ? 'preparing' : 'encoding';
      if (!this.holdsTaskLease(unit, status)) return { outcome: 'ignored' };
      const task = this.tasks.read(unit.task.id)!;
      if (error.retryable && (spare || task.attempts < maxAttempts)) {
        const retryAt = now + this.backoffMs(task.attempts);
        this.connection
          .sql(
            `UPDATE tasks SET status = ?, available_at = ?, retries = retries + ?, lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL,
             updated_at = ? WHERE id = ?`,
          )
          .run(unit.kind === 'prepare' ? 'queued' : 'encoding', retryAt, spare ? 0 : 1, now, unit.task.id);
        if (unit.kind === 'prepare') this.events.append(this.tasks.read(unit.task.id)!, 'status');
        return { outcome: 'retrying', retryAt };
      }
      this.failTask(unit.task.id, error, now);
      return { outcome: 'failed' };
    });
    if (outcome.retryAt !== undefined) this.wakeAt(outcome.retryAt, unit.kind);
    if (outcome.outcome === 'failed') this.connection.wake('prepare');
    return outcome.outcome;
  }

  async reopenSegments(unit: WorkUnit & { kind: 'assemble' }, indexes: readonly number[]): Promise<boolean> {
    const reopened = this.connection.transaction(() => {
      if (!this.holdsTaskLease(unit, 'encoding')) return false;
      const reopen = this.connection.sql("UPDATE segments SET status = 'pending', audio_path = NULL, duration_ms = NULL, available_at = 0 WHERE task_id = ? AND idx = ? AND status = 'done'");
      let count = 0;
      for (const index of new Set(indexes)) count += reopen.run(unit.task.id, index).changes;
      if (count === 0) return false;
      this.connection
        .sql(
          `UPDATE tasks SET status = 'synthesizing', segments_done = segments_done - ?, segments_pending = segments_pending + ?,
           lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = ? WHERE id = ?`,
        )
        .run(count, count, this.connection.now(), unit.task.id);
      this.events.append(this.tasks.read(unit.task.id)!, 'status');
      return true;
    });
    if (reopened) this.connection.wake('segment');
    return reopened;
  }

  private failTask(id: string, error: WireError, now: number): void {
    this.connection
      .sql(
        `UPDATE tasks SET status = 'failed', error_code = ?, error_message = ?, finished_at = ?, lease_owner = NULL, lease_token = NULL,
         lease_expires_at = NULL, updated_at = ? WHERE id = ? AND status NOT IN ('completed', 'failed', 'canceled')`,
      )
      .run(error.code, error.message, now, now, id);
    this.reuseKeys.forget(id);
    this.events.append(this.tasks.read(id)!, 'status');
  }

  /** Puts work whose lease expired (its worker died) back in the queue; finished segments stay. */
  recoverExpiredLeases(now = this.connection.now()): number {
    // The time of this run, not `now`: releaseAllLeases passes the end of time, which would otherwise stop claims from ever looking again.
    this.lastRecovery = this.connection.now();
    const recovered = this.connection.transaction(() => {
      let count = 0;
      const stale = this.connection.sql<[number], { task_id: string; idx: number }>("SELECT task_id, idx FROM segments WHERE status = 'running' AND lease_expires_at < ?").all(now);
      for (const { task_id, idx } of stale) {
        this.connection.sql("UPDATE segments SET status = 'pending', lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL WHERE task_id = ? AND idx = ?").run(task_id, idx);
        this.connection.sql("UPDATE tasks SET segments_pending = segments_pending + 1 WHERE id = ? AND status = 'synthesizing'").run(task_id);
        count++;
      }
      const preparing = this.connection.sql<[number], { id: string }>("SELECT id FROM tasks WHERE status = 'preparing' AND lease_expires_at < ?").all(now);
      for (const { id } of preparing) {
        this.connection.sql("UPDATE tasks SET status = 'queued', lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = ? WHERE id = ?").run(now, id);
        this.events.append(this.tasks.read(id)!, 'status');
        count++;
      }
      count += this.connection.sql("UPDATE tasks SET lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL WHERE status = 'encoding' AND lease_expires_at < ?").run(now).changes;
      return count;
    });
    if (recovered > 0) for (const kind of WORK_KINDS) this.connection.wake(kind);
    return recovered;
  }

  /**
   * Releases every lease at once. Only for a backend owned by one process (the embedded
   * service), at start-up: the process that held them is gone.
   */
  releaseAllLeases(): number {
    return this.recoverExpiredLeases(Number.MAX_SAFE_INTEGER);
  }

  async rerouteTasks(runningEngines: readonly string[]): Promise<number> {
    const orphans = this.connection.transaction(() => {
      const candidates = this.connection.sql<[], { id: string; engine: string }>("SELECT id, engine FROM tasks WHERE status = 'synthesizing' AND engine IS NOT NULL").all();
      const orphaned = candidates.filter((row) => !runningEngines.includes(row.engine));
      const dropSegments = this.connection.sql('DELETE FROM segments WHERE task_id = ?');
      const requeue = this.connection.sql(
        `UPDATE tasks SET status = 'queued', engine = NULL, segments_total = 0, segments_done = 0, segments_pending = 0,
         lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, available_at = 0, updated_at = ? WHERE id = ?`,
      );
      const now = this.connection.now();
      for (const { id } of orphaned) {
        dropSegments.run(id);
        requeue.run(now, id);
        this.events.append(this.tasks.read(id)!, 'status');
      }
      return orphaned.length;
    });
    if (orphans > 0) this.connection.wake('prepare');
    return orphans;
  }

  /** Unfinished segments of synthesizing tasks, by engine and priority (WorkCounts.segments). */
  segmentCounts(): Array<{ engine: string; priority: number; queued: number; running: number }> {
    return this.statements.segmentCounts.all();
  }

  private wakeAt(at: number, kind: WorkKind): void {
    const timer = setTimeout(
      () => {
        this.retryTimers.delete(timer);
        this.connection.wake(kind);
      },
      Math.max(0, at - this.connection.now()),
    );
    timer.unref();
    this.retryTimers.add(timer);
  }

  /** Stops the timers (recovery, retry wake-ups). */
  close(): void {
    clearInterval(this.recoveryTimer);
    clearTimeout(this.dueTimer);
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.retryTimers.clear();
  }
}
