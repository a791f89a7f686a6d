/**
 * The embedded backend: one SQLite file (better-sqlite3, WAL) holds tasks, segments, voices
 * and events. Every state change is one transaction; events are delivered to subscribers
 * after it commits. Semantics are those of `TaskBackend` (../backend.ts). This class only
 * composes the parts, one role each: connection.ts (file, schema, transactions), task-store.ts,
 * work-queue.ts, events.ts, voices.ts, audit.ts, webhooks.ts.
 */

import { SqliteAuditLog } from './audit.js';
import { SqliteConnection } from './connection.js';
import { EventLog } from './events.js';
import { ReuseKeys } from './reuse-keys.js';
import { TaskStore } from './task-store.js';
import { VoiceStore } from './voices.js';
import { SqliteKeyStore } from './keys.js';
import { WorkQueue } from './work-queue.js';
import { SqliteWebhookStore } from './webhooks.js';
import { sumEngineReports, type StoredReports } from '../engine-reports.js';
import type {
  AuditLog,
  ClaimOptions,
  EngineReport,
  CreateTaskOptions,
  FailOptions,
  ListTasksOptions,
  PreparedTask,
  SegmentAudio,
  TaskBackend,
  TaskEvent,
  TaskRecord,
  TaskRequest,
  TaskResult,
  TaskStatus,
  VoiceRecord,
  WorkCounts,
  WorkKind,
  WorkUnit,
} from '../backend.js';
import type { WireError } from '../../errors.js';

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

export class SqliteBackend implements TaskBackend {
  readonly audit: AuditLog;
  private readonly connection: SqliteConnection;
  private readonly events: EventLog;
  private readonly tasks: TaskStore;
  private readonly work: WorkQueue;
  private readonly voices: VoiceStore;
  readonly keys: SqliteKeyStore;
  readonly webhooks: SqliteWebhookStore;
  private readonly now: () => number;
  private readonly reports = { workers: new Map<string, StoredReports['workers'][number]>(), known: new Map<string, StoredReports['known'][number]>() };

  constructor(options: SqliteBackendOptions) {
    this.now = options.now ?? Date.now;
    this.connection = new SqliteConnection(options);
    this.webhooks = new SqliteWebhookStore(this.connection);
    this.events = new EventLog(this.connection, this.webhooks);
    const reuseKeys = new ReuseKeys(this.connection);
    this.tasks = new TaskStore(this.connection, this.events, reuseKeys);
    this.work = new WorkQueue(this.connection, this.tasks, this.events, reuseKeys, options);
    this.voices = new VoiceStore(this.connection);
    this.keys = new SqliteKeyStore(this.connection);
    this.audit = new SqliteAuditLog(this.connection);
  }

  // ---- tasks ------------------------------------------------------------------------------

  async createTask(request: TaskRequest, options: CreateTaskOptions = {}): Promise<{ task: TaskRecord; created: boolean }> {
    const outcome = await this.tasks.create(request, options);
    if (outcome.created && request.notBefore !== undefined) this.work.scheduleDue(request.notBefore);
    return outcome;
  }

  async queuePosition(taskId: string): Promise<{ position: number } | undefined> {
    const found = this.work.queuePosition(taskId);
    return found === undefined ? undefined : { position: found.position };
  }

  async getTask(id: string): Promise<TaskRecord | undefined> {
    return this.tasks.get(id);
  }

  async listTasks(options: ListTasksOptions): Promise<{ tasks: TaskRecord[]; nextCursor?: string }> {
    return this.tasks.list(options);
  }

  async cancelTask(id: string): Promise<TaskRecord | undefined> {
    return this.tasks.cancel(id);
  }

  // ---- work -------------------------------------------------------------------------------

  async claim(owner: string, kinds: readonly WorkKind[], leaseMs: number, options: ClaimOptions = {}): Promise<WorkUnit | undefined> {
    return await this.work.claim(owner, kinds, leaseMs, options);
  }

  async renewLease(unit: WorkUnit, leaseMs: number): Promise<boolean> {
    return await this.work.renewLease(unit, leaseMs);
  }

  async completePrepare(unit: WorkUnit & { kind: 'prepare' }, prepared: PreparedTask): Promise<void> {
    await this.work.completePrepare(unit, prepared);
  }

  async completeSegment(unit: WorkUnit & { kind: 'segment' }, result: { audioPath: string; durationMs: number }): Promise<void> {
    await this.work.completeSegment(unit, result);
  }

  async completeAssemble(unit: WorkUnit & { kind: 'assemble' }, result: TaskResult, retentionMs: number): Promise<void> {
    await this.work.completeAssemble(unit, result, retentionMs);
  }

  async findReusable(owner: string, reuseKey: string, now: number): Promise<TaskRecord | undefined> {
    return this.tasks.findReusable(owner, reuseKey, now);
  }

  async completeReused(unit: WorkUnit & { kind: 'prepare' }, prepared: PreparedTask, result: TaskResult, retentionMs: number): Promise<boolean> {
    return await this.work.completeReused(unit, prepared, result, retentionMs);
  }

  async failWork(unit: WorkUnit, error: Required<WireError>, maxAttempts: number, options: FailOptions = {}): Promise<'retrying' | 'failed' | 'ignored'> {
    return await this.work.failWork(unit, error, maxAttempts, options);
  }

  async reopenSegments(unit: WorkUnit & { kind: 'assemble' }, indexes: readonly number[]): Promise<boolean> {
    return await this.work.reopenSegments(unit, indexes);
  }

  /** Puts work whose lease expired (its worker died) back in the queue; finished segments stay. */
  recoverExpiredLeases(now?: number): number {
    return this.work.recoverExpiredLeases(now);
  }

  /**
   * Releases every lease at once. Only for a backend owned by one process (the embedded
   * service), at start-up: the process that held them is gone.
   */
  releaseAllLeases(): number {
    return this.work.releaseAllLeases();
  }

  /** Makes webhook deliveries a dead process had claimed due at once (start-up of the embedded service, as releaseAllLeases). */
  releaseWebhookClaims(): number {
    return this.webhooks.releaseClaims(this.now());
  }

  async segmentAudio(taskId: string): Promise<Array<SegmentAudio | undefined>> {
    return this.work.segmentAudio(taskId);
  }

  // ---- events ------------------------------------------------------------------------------

  async listEvents(taskId: string, afterId: number): Promise<TaskEvent[]> {
    return this.events.list(taskId, afterId);
  }

  subscribe(listener: (event: TaskEvent) => void): () => void {
    return this.connection.subscribe(listener);
  }

  onWork(listener: (kind: WorkKind) => void): () => void {
    return this.connection.onWork(listener);
  }

  // ---- voices ------------------------------------------------------------------------------

  async createVoice(voice: VoiceRecord, options: { maxVoices?: number } = {}): Promise<void> {
    this.voices.create(voice, options.maxVoices);
  }

  async getVoice(id: string): Promise<VoiceRecord | undefined> {
    return this.voices.get(id);
  }

  async listVoices(owner?: string): Promise<VoiceRecord[]> {
    return this.voices.list(owner);
  }

  async deleteVoice(id: string): Promise<boolean> {
    return this.voices.delete(id);
  }

  // ---- housekeeping ------------------------------------------------------------------------

  async rerouteTasks(runningEngines: readonly string[]): Promise<number> {
    return await this.work.rerouteTasks(runningEngines);
  }

  async expireResults(now: number): Promise<TaskRecord[]> {
    return this.tasks.expireResults(now);
  }

  async reportEngines(owner: string, engines: readonly EngineReport[], ttlMs: number): Promise<void> {
    // One process owns the file: its reports live in memory.
    const now = this.now();
    this.reports.workers.set(owner, { expiresAt: now + ttlMs, engines });
    for (const [rank, report] of engines.entries()) this.reports.known.set(report.capabilities.engine, { capabilities: report.capabilities, rank, seenAt: now });
  }

  async engineReports(): Promise<EngineReport[]> {
    return sumEngineReports({ workers: [...this.reports.workers.values()], known: [...this.reports.known.values()] }, this.now());
  }

  async countByStatus(): Promise<Record<TaskStatus, number>> {
    return this.tasks.countByStatus();
  }

  async workCounts(): Promise<WorkCounts> {
    // Both reads run in one synchronous turn of this process, the file's only writer: they describe the same moment.
    return { tasksByStatus: this.tasks.countByStatus(), tasksWaiting: this.work.waitingCount(), segments: this.work.segmentCounts() };
  }

  async close(): Promise<void> {
    this.work.close();
    await this.connection.close();
  }
}
