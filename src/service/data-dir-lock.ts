/**
 * A DATA_DIR belongs to one running service: a second one would corrupt the other's leases.
 *
 * The lock is an exclusive lock on a small SQLite database, `DATA_DIR/tts-queue.lock`, held by
 * this process for its whole life (`locking_mode = EXCLUSIVE` keeps it after the first write).
 * It is a POSIX record lock, so the kernel drops it when the holder's descriptors are closed,
 * which happens while the process exits, before it becomes a zombie: a service killed with
 * `kill -9` frees its DATA_DIR at once, and a pid that a container reuses means nothing.
 * The file is never deleted: removing a lock file while another process opens it would let
 * two processes each lock a file of their own.
 */

import { join } from 'node:path';
import Database from 'better-sqlite3';
import { TtsError } from '../errors.js';

const LOCK_FILE = 'tts-queue.lock';

/**
 * How long to wait for a holder that is still going away (its exit not yet finished) before
 * refusing: short, so that a second service is refused at once for practical purposes.
 */
const LOCK_WAIT_MS = 1_000;

export interface DataDirLock {
  /** Releases the lock (at a graceful stop; a process that dies releases it anyway). */
  release(): void;
}

/** Takes the DATA_DIR lock or refuses with E_DATA_DIR_LOCKED when another running service holds it. */
export function lockDataDir(dataDir: string): DataDirLock {
  let db: Database.Database | undefined;
  try {
    const lockDb = new Database(join(dataDir, LOCK_FILE), { timeout: LOCK_WAIT_MS });
    db = lockDb;
    lockDb.pragma('locking_mode = EXCLUSIVE');
    // The first write takes the exclusive lock; in this locking mode it is kept until the connection closes.
    lockDb.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER NOT NULL, started_at TEXT NOT NULL)');
    lockDb
      .transaction(() => {
        lockDb.exec('DELETE FROM holder');
        lockDb.prepare('INSERT INTO holder (pid, started_at) VALUES (?, ?)').run(process.pid, new Date().toISOString());
      })
      .immediate();
  } catch (error) {
    db?.close();
    const code = (error as { code?: string }).code;
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
      throw new TtsError('E_DATA_DIR_LOCKED', `DATA_DIR ${dataDir} is in use by another running tts-queue service; stop it or choose another DATA_DIR.`, { cause: error });
    }
    throw error;
  }
  const held = db;
  return {
    release: () => {
      if (held.open) held.close();
    },
  };
}
