/**
 * Result reuse (backend.ts): the reuse key of each task prepared with one, found again once the
 * task is completed. A row lives while its task may still be reused: it goes when the task's
 * result expires, or the task fails or is canceled. Call inside the transaction that changes the task.
 */

import type Database from 'better-sqlite3';
import type { SqliteConnection } from './connection.js';
import type { TaskRow } from './task-store.js';

export class ReuseKeys {
  private readonly statements: {
    record: Database.Statement<[string, string, string]>;
    forget: Database.Statement<[string]>;
    find: Database.Statement<[string, string, number], TaskRow>;
  };

  constructor(connection: SqliteConnection) {
    const { db } = connection;
    this.statements = {
      record: db.prepare('INSERT OR REPLACE INTO reuse_keys (task_id, owner, reuse_key) VALUES (?, ?, ?)'),
      forget: db.prepare('DELETE FROM reuse_keys WHERE task_id = ?'),
      find: db.prepare<[string, string, number], TaskRow>(
        `SELECT t.* FROM reuse_keys r JOIN tasks t ON t.id = r.task_id
         WHERE r.owner = ? AND r.reuse_key = ? AND t.status = 'completed' AND t.expired = 0 AND t.expires_at > ?
         ORDER BY t.expires_at DESC LIMIT 1`,
      ),
    };
  }

  /** The task's key as prepared now (prepared again without one: none). `owner` '' : made without a key. */
  record(taskId: string, owner: string, reuseKey: string | undefined): void {
    if (reuseKey === undefined) this.statements.forget.run(taskId);
    else this.statements.record.run(taskId, owner, reuseKey);
  }

  forget(taskId: string): void {
    this.statements.forget.run(taskId);
  }

  /** The owner's completed task with this key whose result is kept at `now`, kept longest first. */
  find(owner: string, reuseKey: string, now: number): TaskRow | undefined {
    return this.statements.find.get(owner, reuseKey, now);
  }
}
