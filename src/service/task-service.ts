/**
 * Submitting, reading, listing and canceling tasks: what the HTTP routes call. Checks that
 * need the running engines or the stored voices happen here, before a task is stored.
 */

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { DocumentKind, KeyQuotas, KeyStore, TaskBackend, TaskEvent, TaskRecord, TaskRequest, TaskStatus, WebhookDelivery } from '../backends/backend.js';
import type { AuditTrail } from '../access/audit-trail.js';
import { canSee, listScope, ownerOf, type Actor, type Principal } from '../access/principal.js';
import { charCount } from '../text/normalize.js';
import type { EngineCapabilities } from '../engines/protocol.js';
import { inspectReference } from '../audio/reference.js';
import { chooseEngine } from '../engines/routing.js';
import { TtsError } from '../errors.js';
import type { SynthesisFields } from '../http/schemas.js';
import type { BlobStore } from '../storage/blob-store.js';
import { engineNeeds, parseSynthesisFields, textSourceOf, UUID, type RequestLimits } from './synthesis-request.js';
import { extractDocument, type ExtractedDocument } from '../documents/extract.js';
import { DEFAULT_DOCUMENT_CAPS, partsText } from '../documents/types.js';

export interface SubmitInput {
  /** Who submits: the task is theirs, counted against their limits. */
  actor: Actor;
  /** The request's fields, as the API schema (SynthesisBody) validated them. */
  fields: SynthesisFields;
  /** A reference uploaded with the request, already saved at this path (from blobs.uploadPath). */
  uploadPath?: string;
  /** A document uploaded with the request (saved at this path, removed once read), to read instead of `text`. */
  document?: { path: string; name?: string };
  idempotencyKey?: string;
}

export interface TaskServiceOptions {
  backend: TaskBackend;
  blobs: BlobStore;
  limits: RequestLimits;
  /** Capabilities of the configured engines, hosts up or restarting, in order of preference (none while they start). */
  engines: () => EngineCapabilities[];
  /** Daily character counts (the backend's key store). */
  usage: Pick<KeyStore, 'addUsage'>;
  /** Limits of a key that sets none of its own. */
  defaultQuotas: Required<KeyQuotas>;
  /** The content policy (moderation.ts): throws E_CONTENT_REFUSED. */
  moderate: (text: string) => Promise<void>;
  audit: AuditTrail;
  now?: () => number;
}

/** A key's limit: its own, else the service's default; anonymous requests have none. 0: no limit. */
export function quotaOf(principal: Principal, name: keyof KeyQuotas, defaults: Required<KeyQuotas>): number {
  if (principal.keyId === null) return 0;
  return principal.quotas[name] ?? defaults[name];
}

/** The UTC day of `time` (YYYY-MM-DD) and the seconds left in it. */
function utcDay(time: number): { day: string; secondsLeft: number } {
  const day = new Date(time).toISOString().slice(0, 10);
  return { day, secondsLeft: Math.ceil((Date.parse(`${day}T00:00:00Z`) + 86_400_000 - time) / 1000) };
}

async function fileHash(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export class TaskService {
  constructor(private readonly options: TaskServiceOptions) {}

  async submit(input: SubmitInput): Promise<{ task: TaskRecord; created: boolean }> {
    const { backend, blobs, limits, defaultQuotas } = this.options;
    const { principal } = input.actor;
    const owner = ownerOf(principal);
    let reserved: { day: string; chars: number } | undefined;
    try {
      const documentRead = input.document === undefined ? undefined : await this.readDocument(input.fields, input.document);
      const parsed = parseSynthesisFields(input.fields, limits, {
        hasUpload: input.uploadPath !== undefined,
        defaultWebhookUrl: principal.webhookUrl,
        hasDocument: input.document !== undefined,
        documentText: documentRead === undefined ? undefined : partsText(documentRead.document.parts),
        now: this.now(),
      });
      if (documentRead !== undefined && input.document !== undefined) {
        parsed.parts = documentRead.document.parts;
        parsed.document = input.document.name === undefined ? { kind: documentRead.kind } : { kind: documentRead.kind, name: input.document.name };
      }
      // A task no configured engine can do is refused now, not left to wait (checked again when
      // prepared); one for an engine whose hosts are restarting is accepted and waits for it.
      const engines = this.options.engines();
      if (engines.length > 0) chooseEngine(engineNeeds({ ...parsed, uploadPath: input.uploadPath }), engines);
      if (parsed.voiceId !== undefined) {
        const voice = await backend.getVoice(parsed.voiceId);
        // Another key's voice is as unknown as one that does not exist.
        if (voice === undefined || !canSee(principal, voice.owner)) throw new TtsError('E_VOICE_NOT_FOUND', `No voice has the id ${parsed.voiceId}; GET /api/voices lists them.`);
      }
      // Every part's voice, once each; the first unknown one is named by its part.
      const partVoices = new Map<string, number>();
      for (const [index, part] of (parsed.parts ?? []).entries()) if (part.voiceId !== undefined && !partVoices.has(part.voiceId)) partVoices.set(part.voiceId, index);
      for (const [voiceId, index] of partVoices) {
        const voice = await backend.getVoice(voiceId);
        if (voice === undefined || !canSee(principal, voice.owner)) throw new TtsError('E_VOICE_NOT_FOUND', `parts[${index}].voice_id: no voice has the id ${voiceId}; GET /api/voices lists them.`);
      }
      await this.options.moderate(parsed.text);
      // An upload that is not audio is refused now, by the same rule as a voice upload, not when the task runs.
      if (input.uploadPath !== undefined) await inspectReference(input.uploadPath);
      const request: TaskRequest = input.uploadPath === undefined ? parsed : { ...parsed, uploadPath: input.uploadPath };
      let requestHash: string | undefined;
      if (input.idempotencyKey !== undefined) {
        const upload = input.uploadPath === undefined ? '' : await fileHash(input.uploadPath);
        requestHash = createHash('sha256').update(JSON.stringify(parsed)).update(upload).digest('hex');
      }
      const charsPerDay = quotaOf(principal, 'charsPerDay', defaultQuotas);
      if (owner !== undefined && charsPerDay > 0) {
        const { day, secondsLeft } = utcDay(this.now());
        const chars = charCount(parsed.text);
        if (!(await this.options.usage.addUsage(owner, day, chars, charsPerDay))) {
          throw new TtsError('E_QUOTA_CHARS', `This task's ${chars} characters would take the key past its ${charsPerDay} characters a day (UTC); the count starts again at midnight UTC.`, {
            retryAfterS: secondsLeft,
          });
        }
        reserved = { day, chars };
      }
      // Stored where every worker reads it before the task exists to be worked on.
      if (input.uploadPath !== undefined) await blobs.save(input.uploadPath);
      const outcome = await backend.createTask(request, { idempotencyKey: input.idempotencyKey, requestHash, owner, maxOpenTasks: quotaOf(principal, 'openTasks', defaultQuotas) });
      if (outcome.created) {
        reserved = undefined;
        await this.options.audit.record(input.actor, 'task.create', outcome.task.id, { chars: charCount(parsed.text) });
        if (parsed.voiceId !== undefined) await this.options.audit.record(input.actor, 'voice.use', parsed.voiceId, { task: outcome.task.id });
        for (const voiceId of partVoices.keys()) if (voiceId !== parsed.voiceId) await this.options.audit.record(input.actor, 'voice.use', voiceId, { task: outcome.task.id });
      }
      // A repeated request reuses the first task and its upload.
      if (!outcome.created && input.uploadPath !== undefined) await blobs.remove(input.uploadPath);
      return outcome;
    } catch (error) {
      if (input.uploadPath !== undefined) await blobs.remove(input.uploadPath);
      throw error;
    } finally {
      // The document's text is on the task: the file is not kept.
      if (input.document !== undefined) await blobs.remove(input.document.path).catch(() => undefined);
      // Characters counted for a task that was not made (refused, or a repeated request) are given back.
      if (reserved !== undefined && owner !== undefined) await this.options.usage.addUsage(owner, reserved.day, -reserved.chars, 0).catch(() => undefined);
    }
  }

  /** Reads an uploaded document in a worker thread (documents/extract.ts); refuses a second source of text first, before the work. */
  private async readDocument(fields: SynthesisFields, document: { path: string; name?: string }): Promise<{ kind: DocumentKind; document: ExtractedDocument }> {
    const { limits } = this.options;
    textSourceOf(fields, true);
    const caps = limits.documents ?? DEFAULT_DOCUMENT_CAPS;
    return await extractDocument(document.path, fields.document_kind, { ...caps, maxChars: limits.maxTextChars }, document.name === undefined ? {} : { name: document.name });
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** A task the principal may see; another key's task is E_NOT_FOUND, as one that does not exist. */
  async get(id: string, principal: Principal): Promise<TaskRecord> {
    const task = UUID.test(id) ? await this.options.backend.getTask(id) : undefined;
    if (task === undefined || !canSee(principal, task.owner)) throw new TtsError('E_NOT_FOUND', 'No task has this id.');
    return task;
  }

  /** Where a queued task stands (null once it is no longer queued). */
  async queuePosition(task: TaskRecord): Promise<{ position: number } | null> {
    return (await this.options.backend.queuePosition(task.id)) ?? null;
  }

  /** The task's webhook deliveries, oldest first (none without a webhook). */
  async webhookDeliveries(task: TaskRecord): Promise<WebhookDelivery[]> {
    return task.request.webhook === undefined ? [] : await this.options.backend.webhooks.listForTask(task.id);
  }

  async list(options: { status?: TaskStatus; limit: number; cursor?: string }, principal: Principal): Promise<{ tasks: TaskRecord[]; nextCursor?: string }> {
    return await this.options.backend.listTasks({ ...options, owner: listScope(principal) });
  }

  /**
   * Follows a task's events: checks the task exists, subscribes, then replays the events after
   * `afterId`, so no event falls between the two. Returns the task as it was when followed and
   * the replayed events; `listener` then gets the newer ones (possibly some already replayed:
   * the caller skips ids it has sent) until `unsubscribe` is called.
   */
  async follow(id: string, principal: Principal, afterId: number, listener: (event: TaskEvent) => void): Promise<{ task: TaskRecord; replay: TaskEvent[]; unsubscribe: () => void }> {
    const task = await this.get(id, principal);
    const unsubscribe = this.watch(listener, (event) => event.taskId === id);
    try {
      return { task, replay: await this.options.backend.listEvents(id, afterId), unsubscribe };
    } catch (error) {
      unsubscribe();
      throw error;
    }
  }

  /** Calls `listener` for new events of the tasks `accepts` lets through (a WebSocket's subscriptions); returns the unsubscribe function. */
  watch(listener: (event: TaskEvent) => void, accepts: (event: TaskEvent) => boolean): () => void {
    return this.options.backend.subscribe((event) => {
      if (accepts(event)) listener(event);
    });
  }

  /** Resolves when the backend answers a cheap query (for /readyz); throws what it throws. */
  async checkBackend(): Promise<void> {
    await this.options.backend.countByStatus();
  }

  /** Cancels a task; canceling a canceled task is harmless, a completed or failed one is refused. */
  async cancel(id: string, actor: Actor): Promise<TaskRecord> {
    const before = await this.get(id, actor.principal);
    const task = (await this.options.backend.cancelTask(id))!;
    if (task.status === 'completed' || task.status === 'failed') {
      throw new TtsError('E_TASK_FINISHED', `The task is already ${task.status}.`);
    }
    if (before.status !== 'canceled') await this.options.audit.record(actor, 'task.cancel', id);
    return task;
  }
}
