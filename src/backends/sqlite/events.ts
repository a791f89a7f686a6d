/**
 * Task events: appended inside the transaction that changed the task, replayed by id. A status
 * event of a task whose webhook wants it records its delivery in the same transaction (the outbox).
 */

import type Database from 'better-sqlite3';
import type { SqliteConnection } from './connection.js';
import type { SqliteWebhookStore } from './webhooks.js';
import type { TaskEvent, TaskRecord, TaskStatus } from '../backend.js';

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

export class EventLog {
  private readonly insert: Database.Statement<[string, string, string, number, number, string | null, string | null, number]>;
  private readonly after: Database.Statement<[string, number], EventRow>;

  constructor(
    private readonly connection: SqliteConnection,
    private readonly webhooks: SqliteWebhookStore,
  ) {
    this.insert = connection.db.prepare('INSERT INTO events (task_id, type, status, segments_done, segments_total, error_code, error_message, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    this.after = connection.db.prepare('SELECT * FROM events WHERE task_id = ? AND id > ? ORDER BY id');
  }

  /** Records the task as it is now; call inside a transaction (subscribers get it after the commit). */
  append(task: TaskRecord, type: 'status' | 'progress'): void {
    const at = this.connection.now();
    const { lastInsertRowid } = this.insert.run(task.id, type, task.status, task.segmentsDone, task.segmentsTotal, task.error?.code ?? null, task.error?.message ?? null, at);
    const event: TaskEvent = { id: Number(lastInsertRowid), taskId: task.id, type, status: task.status, segmentsDone: task.segmentsDone, segmentsTotal: task.segmentsTotal, at };
    if (task.error !== undefined) event.error = task.error;
    if (type === 'status') this.webhooks.recordDelivery(task, event.id, at);
    this.connection.queueEvent(event);
  }

  list(taskId: string, afterId: number): TaskEvent[] {
    return this.after.all(taskId, afterId).map(toEvent);
  }
}
