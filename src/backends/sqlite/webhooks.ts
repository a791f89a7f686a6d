/**
 * The webhook outbox in the embedded database: deliveries, written by the event log inside the
 * transaction of the status change that calls for them (`recordDelivery`), claimed, tried and
 * pruned here; and the settings table that keeps the master secret. Semantics: WebhookStore.
 */

import { randomUUID } from 'node:crypto';
import type { SqliteConnection } from './connection.js';
import { webhookWants, type ClaimedDelivery, type TaskRecord, type WebhookAttempt, type WebhookDelivery, type WebhookDeliveryStatus, type WebhookOutcome, type WebhookStore } from '../backend.js';

interface DeliveryRow {
  id: string;
  task_id: string;
  owner: string | null;
  url: string;
  type: string;
  status: WebhookDeliveryStatus;
  event_at: number;
  next_attempt_at: number | null;
  lease_token: string | null;
  attempts: string;
  delivered_at: number | null;
}

function toDelivery(row: DeliveryRow): WebhookDelivery {
  const delivery: WebhookDelivery = {
    id: row.id,
    taskId: row.task_id,
    url: row.url,
    type: row.type,
    status: row.status,
    eventAt: row.event_at,
    attempts: JSON.parse(row.attempts) as WebhookAttempt[],
  };
  if (row.owner !== null) delivery.owner = row.owner;
  if (row.next_attempt_at !== null && row.status === 'pending') delivery.nextAttemptAt = row.next_attempt_at;
  if (row.delivered_at !== null) delivery.deliveredAt = row.delivered_at;
  return delivery;
}

/** The id of the delivery a status event calls for: unique, and the same on every try. */
export const deliveryId = (taskId: string, eventId: number): string => `msg_${taskId}_${eventId}`;

/** The name of the master secret in the settings table. */
const MASTER_SECRET = 'webhook_master_secret';

export class SqliteWebhookStore implements WebhookStore {
  constructor(private readonly connection: SqliteConnection) {}

  /**
   * Records the delivery a status event calls for, if the task's webhook wants it. Call inside
   * the transaction that appends the event: both are committed, or neither.
   */
  recordDelivery(task: TaskRecord, eventId: number, at: number): void {
    const webhook = task.request.webhook;
    if (webhook === undefined || !webhookWants(webhook.events, task.status)) return;
    this.connection
      .sql("INSERT INTO webhook_deliveries (id, task_id, owner, url, type, status, event_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)")
      .run(deliveryId(task.id, eventId), task.id, task.owner ?? null, webhook.url, `task.${task.status}`, at, at);
  }

  async claimDue(now: number, leaseUntil: number, limit: number): Promise<ClaimedDelivery[]> {
    // Read first: a write transaction empties the task read cache, and most polls find nothing due.
    if (this.connection.sql<[number], { n: number }>("SELECT EXISTS (SELECT 1 FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ?) AS n").get(now)!.n === 0) return [];
    const token = randomUUID();
    return this.connection.transaction(() => {
      const rows = this.connection
        .sql<[number, number], DeliveryRow>("SELECT * FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?")
        .all(now, limit);
      const claim = this.connection.sql('UPDATE webhook_deliveries SET next_attempt_at = ?, lease_token = ? WHERE id = ?');
      return rows.map((row) => {
        claim.run(leaseUntil, token, row.id);
        return { ...toDelivery({ ...row, next_attempt_at: leaseUntil }), token, leaseUntil };
      });
    });
  }

  async recordAttempt(claim: ClaimedDelivery, attempt: WebhookAttempt, outcome: WebhookOutcome): Promise<boolean> {
    return this.connection.transaction(() => {
      const row = this.connection.sql<[string], DeliveryRow>('SELECT * FROM webhook_deliveries WHERE id = ?').get(claim.id);
      if (row === undefined || row.status !== 'pending' || row.lease_token !== claim.token) return false;
      const attempts = JSON.stringify([...(JSON.parse(row.attempts) as WebhookAttempt[]), attempt]);
      const ended = attempt.at + attempt.durationMs;
      if (outcome.status === 'pending') {
        this.connection.sql('UPDATE webhook_deliveries SET attempts = ?, next_attempt_at = ?, lease_token = NULL WHERE id = ?').run(attempts, outcome.nextAttemptAt, claim.id);
      } else {
        this.connection
          .sql('UPDATE webhook_deliveries SET attempts = ?, status = ?, next_attempt_at = NULL, lease_token = NULL, delivered_at = ?, ended_at = ? WHERE id = ?')
          .run(attempts, outcome.status, outcome.status === 'delivered' ? ended : null, ended, claim.id);
      }
      return true;
    });
  }

  async listForTask(taskId: string): Promise<WebhookDelivery[]> {
    return this.connection.sql<[string], DeliveryRow>('SELECT * FROM webhook_deliveries WHERE task_id = ? ORDER BY event_at, rowid').all(taskId).map(toDelivery);
  }

  async masterSecret(candidate: string): Promise<string> {
    return this.connection.transaction(() => {
      this.connection.sql('INSERT OR IGNORE INTO settings (name, value) VALUES (?, ?)').run(MASTER_SECRET, candidate);
      return this.connection.sql<[string], { value: string }>('SELECT value FROM settings WHERE name = ?').get(MASTER_SECRET)!.value;
    });
  }

  async prune(before: number): Promise<number> {
    return this.connection.transaction(() => this.connection.sql("DELETE FROM webhook_deliveries WHERE status != 'pending' AND ended_at < ?").run(before).changes);
  }

  /**
   * Makes every claimed delivery due at once. Only at start-up of a backend owned by one process
   * (the embedded service): the claims were a dead process's.
   */
  releaseClaims(now: number): number {
    return this.connection.transaction(
      () => this.connection.sql("UPDATE webhook_deliveries SET next_attempt_at = MIN(next_attempt_at, ?), lease_token = NULL WHERE status = 'pending' AND lease_token IS NOT NULL").run(now).changes,
    );
  }
}
