/** Records as the API shows them: snake_case fields, ISO times, links. */

import type { ApiKeyRecord, AuditEntry, TaskRecord, TaskEvent, VoiceRecord, WebhookAttempt, WebhookDelivery } from '../backends/backend.js';
import type { Static } from '@sinclair/typebox';
import type { AuditEntryJson, TaskJson, WebhookAttemptBody, WebhookDeliveryBody } from './schemas.js';

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

export function taskLinks(id: string): TaskJson['links'] {
  return { self: `/api/task/${id}`, audio: `/api/task/${id}/audio`, events: `/api/task/${id}/events`, stream: `/api/task/${id}/stream`, subtitles: `/api/task/${id}/subtitles` };
}

/**
 * A task; with `deliveries`, its webhook shows them; with `queue`, where a queued task stands
 * (both GET /api/task/:id only; a task no longer queued has no `queue`, so it reads as its webhook payload).
 */
export function presentTask(task: TaskRecord, deliveries?: readonly WebhookDelivery[], queue?: { position: number } | null, now = Date.now()): TaskJson {
  const { webhook, notBefore } = task.request;
  const waiting = notBefore !== undefined && notBefore > now;
  return {
    id: task.id,
    status: task.status,
    owner: task.owner ?? null,
    format: task.request.format,
    priority: task.request.priority,
    engine: task.engine ?? null,
    progress: { segments_done: task.segmentsDone, segments_total: task.segmentsTotal },
    attempts: task.attempts,
    created_at: iso(task.createdAt)!,
    started_at: iso(task.startedAt),
    finished_at: iso(task.finishedAt),
    expires_at: iso(task.expiresAt),
    error: task.error ?? null,
    cached: task.cached === true,
    webhook: webhook === undefined ? null : { url: webhook.url, events: webhook.events, ...(deliveries === undefined ? {} : { deliveries: deliveries.map(presentDelivery) }) },
    not_before: iso(notBefore),
    ...(queue === undefined || queue === null ? {} : { queue: { position: queue.position, starts_at: waiting ? iso(notBefore) : null } }),
    result:
      task.result === undefined
        ? null
        : {
            url: `/api/task/${task.id}/audio`,
            format: task.result.format,
            duration_ms: Math.round(task.result.durationMs),
            bytes: task.result.bytes,
            sample_rate: task.result.sampleRate,
            expired: task.expired,
            ...(task.result.chapters === undefined ? {} : { chapters: task.result.chapters.map((c) => ({ title: c.title, start_ms: Math.round(c.startMs), end_ms: Math.round(c.endMs) })) }),
          },
    links: taskLinks(task.id),
  };
}

function presentAttempt(attempt: WebhookAttempt): Static<typeof WebhookAttemptBody> {
  return { at: iso(attempt.at)!, duration_ms: Math.round(attempt.durationMs), status_code: attempt.statusCode ?? null, error: attempt.error ?? null };
}

export function presentDelivery(delivery: WebhookDelivery): Static<typeof WebhookDeliveryBody> {
  const last = delivery.attempts.at(-1);
  return {
    id: delivery.id,
    type: delivery.type,
    status: delivery.status,
    attempts: delivery.attempts.length,
    last_attempt_at: iso(last?.at),
    last_status_code: last?.statusCode ?? null,
    last_error: last?.error ?? null,
    next_attempt_at: iso(delivery.nextAttemptAt),
    delivered_at: iso(delivery.deliveredAt),
    history: delivery.attempts.map(presentAttempt),
  };
}

export function presentEvent(event: TaskEvent): Record<string, unknown> {
  return {
    event_id: event.id,
    task_id: event.taskId,
    type: event.type,
    status: event.status,
    segments_done: event.segmentsDone,
    segments_total: event.segmentsTotal,
    error: event.error ?? null,
    at: new Date(event.at).toISOString(),
  };
}

export function presentVoice(voice: VoiceRecord): Record<string, unknown> {
  return {
    id: voice.id,
    name: voice.name,
    prompt_text: voice.promptText,
    duration_ms: voice.durationMs,
    sample_rate: voice.sampleRate,
    speaker_name: voice.consent?.speakerName ?? null,
    owner: voice.owner ?? null,
    created_at: new Date(voice.createdAt).toISOString(),
  };
}

export function presentKey(key: ApiKeyRecord): Record<string, unknown> {
  const { requestsPerSecond, charsPerDay, openTasks, voices } = key.quotas;
  return {
    id: key.id,
    name: key.name,
    role: key.role,
    quotas: { requests_per_second: requestsPerSecond, chars_per_day: charsPerDay, open_tasks: openTasks, voices },
    webhook_url: key.webhookUrl ?? null,
    created_at: iso(key.createdAt)!,
    last_used_at: iso(key.lastUsedAt),
    revoked_at: iso(key.revokedAt),
  };
}

export function presentAuditEntry(entry: AuditEntry): AuditEntryJson {
  return {
    id: entry.id,
    at: iso(entry.at)!,
    action: entry.action,
    key_id: entry.keyId,
    address: entry.address,
    subject: entry.subject,
    detail: entry.detail ?? null,
  };
}
