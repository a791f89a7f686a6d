/** The SQLite schema of the embedded backend. Status lists come from backend.ts, defined once. */

import { TASK_STATUSES } from '../backend.js';

const statusList = TASK_STATUSES.map((s) => `'${s}'`).join(', ');

export const SCHEMA_VERSION = 5;

/** Steps from an older schema to this one, by the version they start from. */
export const MIGRATIONS: Record<number, string> = {
  // 2: tasks remember the engine they were routed to; segment claims filter on it.
  1: `ALTER TABLE tasks ADD COLUMN engine TEXT;
      DROP INDEX IF EXISTS tasks_segment_queue;`,
  // 3: tasks and voices belong to the API key that made them; tasks are prepared in fair-rank order.
  2: `ALTER TABLE tasks ADD COLUMN owner TEXT;
      ALTER TABLE tasks ADD COLUMN fair_rank INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE voices ADD COLUMN owner TEXT;
      ALTER TABLE voices ADD COLUMN consent TEXT;
      DROP INDEX IF EXISTS tasks_prepare_queue;`,
  // 4: a key may name the webhook its tasks use when they name none. (A file older than 3 has no
  // keys yet: the table is made first as schema 3 had it, so that the column can be added.)
  3: `CREATE TABLE IF NOT EXISTS api_keys (id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL CHECK (role IN ('admin', 'user')), hash TEXT NOT NULL,
        quotas TEXT NOT NULL, created_at INTEGER NOT NULL, last_used_at INTEGER, revoked_at INTEGER);
      ALTER TABLE api_keys ADD COLUMN webhook_url TEXT;`,
  // 5: tasks with parts keep the references of the parts' voices and the part of each segment.
  4: `ALTER TABLE tasks ADD COLUMN voice_references TEXT;
      ALTER TABLE tasks ADD COLUMN segment_parts TEXT;`,
};

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS tasks (
  id TEXT PRIMARY KEY,
  seq INTEGER NOT NULL UNIQUE,
  status TEXT NOT NULL CHECK (status IN (${statusList})),
  priority INTEGER NOT NULL,
  request TEXT NOT NULL,
  idempotency_key TEXT UNIQUE,
  request_hash TEXT,
  segments_total INTEGER NOT NULL DEFAULT 0,
  segments_done INTEGER NOT NULL DEFAULT 0,
  segments_pending INTEGER NOT NULL DEFAULT 0,
  retries INTEGER NOT NULL DEFAULT 0,
  last_served_at INTEGER NOT NULL DEFAULT 0,
  available_at INTEGER NOT NULL DEFAULT 0,
  lease_owner TEXT,
  lease_token TEXT,
  lease_expires_at INTEGER,
  error_code TEXT,
  error_message TEXT,
  result TEXT,
  reference TEXT,
  voice_references TEXT,
  segment_parts TEXT,
  engine TEXT,
  owner TEXT,
  fair_rank INTEGER NOT NULL DEFAULT 0,
  expired INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  finished_at INTEGER,
  expires_at INTEGER,
  updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_prepare_queue_fair ON tasks (status, priority DESC, fair_rank, seq);
-- Queued tasks by the time they come due (start later, a retry's backoff): the next due time, the
-- count of those waiting. New indexes need no migration.
CREATE INDEX IF NOT EXISTS tasks_queued_due ON tasks (available_at) WHERE status = 'queued';
-- Queued tasks in prepare order with their due time: a task's queue position is counted from this index alone.
CREATE INDEX IF NOT EXISTS tasks_queued_order ON tasks (priority DESC, fair_rank, seq, available_at) WHERE status = 'queued';
CREATE INDEX IF NOT EXISTS tasks_by_owner ON tasks (owner, seq);
CREATE INDEX IF NOT EXISTS tasks_by_owner_status ON tasks (owner, status, seq);
CREATE INDEX IF NOT EXISTS tasks_segment_queue_by_engine ON tasks (status, engine, priority DESC, last_served_at, seq) WHERE segments_pending > 0;
CREATE INDEX IF NOT EXISTS tasks_expiry ON tasks (expires_at) WHERE expired = 0 AND expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS tasks_leases ON tasks (lease_expires_at) WHERE lease_owner IS NOT NULL;

CREATE TABLE IF NOT EXISTS segments (
  task_id TEXT NOT NULL,
  idx INTEGER NOT NULL,
  text TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done')),
  attempts INTEGER NOT NULL DEFAULT 0,
  available_at INTEGER NOT NULL DEFAULT 0,
  lease_owner TEXT,
  lease_token TEXT,
  lease_expires_at INTEGER,
  audio_path TEXT,
  duration_ms REAL,
  PRIMARY KEY (task_id, idx)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS segments_leases ON segments (lease_expires_at) WHERE status = 'running';

CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  task_id TEXT NOT NULL,
  type TEXT NOT NULL CHECK (type IN ('status', 'progress')),
  status TEXT NOT NULL,
  segments_done INTEGER NOT NULL,
  segments_total INTEGER NOT NULL,
  error_code TEXT,
  error_message TEXT,
  at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_task ON events (task_id, id);

CREATE TABLE IF NOT EXISTS voices (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  prompt_text TEXT NOT NULL,
  audio_path TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  sample_rate INTEGER NOT NULL,
  duration_ms REAL NOT NULL,
  original_path TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  owner TEXT,
  consent TEXT
);
CREATE INDEX IF NOT EXISTS voices_by_owner ON voices (owner, created_at);

CREATE TABLE IF NOT EXISTS api_keys (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('admin', 'user')),
  hash TEXT NOT NULL,
  quotas TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER,
  revoked_at INTEGER,
  webhook_url TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS api_keys_active_name ON api_keys (name) WHERE revoked_at IS NULL;

CREATE TABLE IF NOT EXISTS usage (
  owner TEXT NOT NULL,
  day TEXT NOT NULL,
  chars INTEGER NOT NULL,
  PRIMARY KEY (owner, day)
) WITHOUT ROWID;

-- Result reuse (reuse-keys.ts): the reuse key of each task prepared with one, while it may be
-- reused. A new table: no migration.
CREATE TABLE IF NOT EXISTS reuse_keys (
  task_id TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  reuse_key TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS reuse_keys_lookup ON reuse_keys (owner, reuse_key);

-- The audit log (audit.ts): append-only, newest first by id, pruned by time. A new table needs no
-- migration: CREATE TABLE IF NOT EXISTS runs on every open. The action has no CHECK: SQLite cannot
-- change a CHECK in place, so a file would refuse actions added later (AUDIT_ACTIONS types them).
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  action TEXT NOT NULL,
  key_id TEXT,
  address TEXT NOT NULL,
  subject TEXT NOT NULL,
  detail TEXT
);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit (at);
CREATE INDEX IF NOT EXISTS audit_by_key ON audit (key_id, id);
CREATE INDEX IF NOT EXISTS audit_by_subject ON audit (subject, id);
CREATE INDEX IF NOT EXISTS audit_by_action ON audit (action, id);

-- The webhook outbox (webhooks.ts): a row is written by the transaction that appends the status
-- event calling for it. Pending rows are claimed by moving next_attempt_at to the end of the
-- claim (lease_token names the claim); attempts is a JSON list of every try.
CREATE TABLE IF NOT EXISTS webhook_deliveries (
  id TEXT PRIMARY KEY,
  task_id TEXT NOT NULL,
  owner TEXT,
  url TEXT NOT NULL,
  type TEXT NOT NULL,
  status TEXT NOT NULL,
  event_at INTEGER NOT NULL,
  next_attempt_at INTEGER,
  lease_token TEXT,
  attempts TEXT NOT NULL DEFAULT '[]',
  delivered_at INTEGER,
  ended_at INTEGER
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_task ON webhook_deliveries (task_id);
CREATE INDEX IF NOT EXISTS webhook_deliveries_ended ON webhook_deliveries (ended_at) WHERE status != 'pending';

-- Values the service makes once and every later start reads (the webhook master secret).
CREATE TABLE IF NOT EXISTS settings (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
`;
