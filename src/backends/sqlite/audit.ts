/**
 * The audit log in the SQLite file: one row per entry in the `audit` table, newest first by its
 * id (the order entries were appended), pruned by time. Filters use the table's indexes (by key,
 * subject, action and time), so a page reads about as many rows as it returns.
 */

import type { SqliteConnection } from './connection.js';
import type { AuditAction, AuditEntry, AuditLog, AuditQuery } from '../backend.js';
import { TtsError } from '../../errors.js';

interface AuditRow {
  id: number;
  at: number;
  action: AuditAction;
  key_id: string | null;
  address: string;
  subject: string;
  detail: string | null;
}

function toEntry(row: AuditRow): AuditEntry {
  const entry: AuditEntry = { id: String(row.id), at: row.at, action: row.action, keyId: row.key_id, address: row.address, subject: row.subject };
  if (row.detail !== null) entry.detail = JSON.parse(row.detail) as AuditEntry['detail'];
  return entry;
}

/** The id after which a page starts: the `nextCursor` of the previous page. */
function cursorId(cursor: string | undefined): number | undefined {
  if (cursor === undefined) return undefined;
  const id = /^\d{1,15}$/u.test(cursor) ? Number(cursor) : Number.NaN;
  if (!Number.isSafeInteger(id)) throw new TtsError('E_INVALID_ARGUMENT', `Expected cursor to be a value returned as next_cursor, got "${cursor.slice(0, 64)}".`);
  return id;
}

export class SqliteAuditLog implements AuditLog {
  constructor(private readonly connection: SqliteConnection) {}

  async append(entry: Omit<AuditEntry, 'id'>): Promise<void> {
    const detail = entry.detail === undefined ? null : JSON.stringify(entry.detail);
    this.connection.write(() =>
      this.connection.sql('INSERT INTO audit (at, action, key_id, address, subject, detail) VALUES (?, ?, ?, ?, ?, ?)').run(entry.at, entry.action, entry.keyId, entry.address, entry.subject, detail),
    );
  }

  async list(query: AuditQuery): Promise<{ entries: AuditEntry[]; nextCursor?: string }> {
    const before = cursorId(query.cursor);
    const where: string[] = [];
    const values: Array<string | number> = [];
    const filter = (clause: string, value: string | number | undefined): void => {
      if (value === undefined) return;
      where.push(clause);
      values.push(value);
    };
    filter('key_id = ?', query.keyId);
    filter('action = ?', query.action);
    filter('subject = ?', query.subject);
    filter('at >= ?', query.since);
    filter('at < ?', query.until);
    filter('id < ?', before);
    // One statement per combination of filters (at most 64), each prepared once.
    const sql = `SELECT * FROM audit ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`} ORDER BY id DESC LIMIT ?`;
    const rows = this.connection.sql<Array<string | number>, AuditRow>(sql).all(...values, query.limit + 1);
    const entries = rows.slice(0, query.limit).map(toEntry);
    return rows.length > query.limit ? { entries, nextCursor: entries.at(-1)!.id } : { entries };
  }

  async prune(before: number): Promise<number> {
    return this.connection.write(() => this.connection.sql('DELETE FROM audit WHERE at < ?').run(before).changes);
  }
}
