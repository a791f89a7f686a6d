/**
 * Runs in a worker thread: moves the WAL's pages into the database file (a PASSIVE checkpoint,
 * which never blocks writers) so that the service's own thread never pays for it. Started by
 * SqliteBackend with `workerData: { path, intervalMs }`.
 */

import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const { path, intervalMs } = workerData as { path: string; intervalMs: number };
const db = new Database(path);
db.pragma('busy_timeout = 1000');
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
const timer = setInterval(() => {
  try {
    checkpoint.run();
  } catch {
    // Busy: the next round catches up.
  }
}, intervalMs);
parentPort?.on('message', (message: unknown) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  db.close();
  parentPort?.close();
});
