/**
 * The connection every part of the SQLite backend shares: opening the file (pragmas, schema and
 * migrations, a typed error for a damaged file), the checkpoint thread, prepared statements made
 * once per SQL text, and transactions that deliver their events only once committed. A write
 * that finds the disk full is `E_STORAGE_FULL`, whichever part made it.
 */

import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { MIGRATIONS, SCHEMA, SCHEMA_VERSION } from './schema.js';
import type { TaskEvent, WorkKind } from '../backend.js';
import { TtsError, isStorageFull, storageFullError } from '../../errors.js';
import { isNearlyFull } from '../../storage/free-space.js';

export interface ConnectionOptions {
  /** Database file, or ":memory:". */
  path: string;
  synchronous?: 'NORMAL' | 'FULL';
  /** Clock, for tests. */
  now?: () => number;
}

/** How often the checkpoint thread moves the write-ahead log into the database file. */
const CHECKPOINT_INTERVAL_MS = 500;

/** SQLite's codes for a file that is not a database or whose pages are damaged. */
const isCorruption = (error: unknown): boolean => /^SQLITE_(NOTADB|CORRUPT)/u.test(String((error as { code?: unknown } | undefined)?.code));

/**
 * Opens the file and brings its schema up to date. A file that is not a database, or whose
 * pages are damaged, is a typed error that says what to do, not a stack trace.
 */
function openDatabase(path: string): Database.Database {
  let db: Database.Database | undefined;
  try {
    db = new Database(path);
    db.pragma('journal_mode = WAL');
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) throw new TtsError('E_INTERNAL', `The database was written by a newer tts-queue (schema ${version}).`);
    const current = db;
    if (version > 0)
      current.transaction(() => {
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
    if (isStorageFull(error) || (String((error as { code?: unknown }).code).startsWith('SQLITE_IOERR') && isNearlyFull(path))) throw storageFullError(error);
    throw error;
  }
}

export class SqliteConnection {
  readonly db: Database.Database;
  readonly now: () => number;
  /** `event` (a committed TaskEvent) and `work` (a WorkKind that may be claimable). */
  private readonly emitter = new EventEmitter();
  private pendingEvents: TaskEvent[] = [];
  private readonly statements = new Map<string, Database.Statement>();
  private readonly writeListeners: Array<() => void> = [];
  private readonly checkpointer: Worker | undefined;
  private readonly begin: Database.Statement;
  private readonly commit: Database.Statement;
  private readonly rollback: Database.Statement;

  constructor(private readonly options: ConnectionOptions) {
    this.now = options.now ?? Date.now;
    this.db = openDatabase(options.path);
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
    this.begin = this.db.prepare('BEGIN IMMEDIATE');
    this.commit = this.db.prepare('COMMIT');
    this.rollback = this.db.prepare('ROLLBACK');
  }

  /** True when the disk holding the database has (nearly) no room left. */
  nearlyFull(): boolean {
    return this.options.path !== ':memory:' && isNearlyFull(this.options.path);
  }

  /** A prepared statement, made once per SQL text. */
  sql<P extends unknown[] = unknown[], R = unknown>(source: string): Database.Statement<P, R> {
    let statement = this.statements.get(source);
    if (statement === undefined) {
      statement = this.db.prepare(source);
      this.statements.set(source, statement);
    }
    return statement as unknown as Database.Statement<P, R>;
  }

  /** Calls `listener` after every write transaction, committed or not (read caches empty themselves). */
  onWrite(listener: () => void): void {
    this.writeListeners.push(listener);
  }

  /**
   * Runs `body` in one IMMEDIATE transaction and delivers its events once it has committed.
   * A write that found the disk full is E_STORAGE_FULL, and the transaction is always ended.
   */
  transaction<T>(body: () => T): T {
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
        for (const listener of this.writeListeners) listener();
      }
    } catch (error) {
      throw this.storageError(error);
    }
    const events = this.pendingEvents;
    this.pendingEvents = [];
    for (const event of events) this.emitter.emit('event', event);
    return result;
  }

  /** Runs a single write outside a transaction, with the same translation of a full disk. */
  write<T>(body: () => T): T {
    try {
      return body();
    } catch (error) {
      throw this.storageError(error);
    }
  }

  /** A write that failed for want of room, as E_STORAGE_FULL; anything else as it came. */
  storageError(error: unknown): unknown {
    if (error instanceof TtsError) return error;
    const code = String((error as { code?: unknown } | undefined)?.code);
    if (isStorageFull(error) || (code.startsWith('SQLITE_IOERR') && this.nearlyFull())) return storageFullError(error);
    return error;
  }

  /** Queues an event recorded in the running transaction; subscribers get it once it commits. */
  queueEvent(event: TaskEvent): void {
    this.pendingEvents.push(event);
  }

  subscribe(listener: (event: TaskEvent) => void): () => void {
    this.emitter.on('event', listener);
    return () => this.emitter.off('event', listener);
  }

  /** Tells workers that work of a kind may be claimable. */
  wake(kind: WorkKind): void {
    this.emitter.emit('work', kind);
  }

  onWork(listener: (kind: WorkKind) => void): () => void {
    this.emitter.on('work', listener);
    return () => this.emitter.off('work', listener);
  }

  async close(): Promise<void> {
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
}
