/**
 * Submitting, reading, listing and canceling tasks: what the HTTP routes call. Checks that
 * need the running engines or the stored voices happen here, before a task is stored.
 */

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { TaskBackend, TaskEvent, TaskRecord, TaskRequest, TaskStatus } from '../backends/backend.js';
import type { EngineCapabilities } from '../engines/protocol.js';
import { inspectReference } from '../audio/reference.js';
import { chooseEngine } from '../engines/routing.js';
import { TtsError } from '../errors.js';
import type { SynthesisFields } from '../http/schemas.js';
import type { BlobStore } from '../storage/blob-store.js';
import { engineNeeds, parseSynthesisFields, UUID, type RequestLimits } from './synthesis-request.js';

export interface SubmitInput {
  /** The request's fields, as the API schema (SynthesisBody) validated them. */
  fields: SynthesisFields;
  /** A reference uploaded with the request, already saved at this path (from blobs.uploadPath). */
  uploadPath?: string;
  idempotencyKey?: string;
}

export interface TaskServiceOptions {
  backend: TaskBackend;
  blobs: BlobStore;
  limits: RequestLimits;
  /** Capabilities of the configured engines, hosts up or restarting, in order of preference (none while they start). */
  engines: () => EngineCapabilities[];
}

async function fileHash(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export class TaskService {
  constructor(private readonly options: TaskServiceOptions) {}

  async submit(input: SubmitInput): Promise<{ task: TaskRecord; created: boolean }> {
    const { backend, blobs, limits } = this.options;
    try {
      const parsed = parseSynthesisFields(input.fields, limits, { hasUpload: input.uploadPath !== undefined });
      // A task no configured engine can do is refused now, not left to wait (checked again when
      // prepared); one for an engine whose hosts are restarting is accepted and waits for it.
      const engines = this.options.engines();
      if (engines.length > 0) chooseEngine(engineNeeds({ ...parsed, uploadPath: input.uploadPath }), engines);
      if (parsed.voiceId !== undefined && (await backend.getVoice(parsed.voiceId)) === undefined) {
        throw new TtsError('E_VOICE_NOT_FOUND', `No voice has the id ${parsed.voiceId}; GET /api/voices lists them.`);
      }
      // An upload that is not audio is refused now, by the same rule as a voice upload, not when the task runs.
      if (input.uploadPath !== undefined) await inspectReference(input.uploadPath);
      const request: TaskRequest = input.uploadPath === undefined ? parsed : { ...parsed, uploadPath: input.uploadPath };
      let requestHash: string | undefined;
      if (input.idempotencyKey !== undefined) {
        const upload = input.uploadPath === undefined ? '' : await fileHash(input.uploadPath);
        requestHash = createHash('sha256').update(JSON.stringify(parsed)).update(upload).digest('hex');
      }
      // Stored where every worker reads it before the task exists to be worked on.
      if (input.uploadPath !== undefined) await blobs.save(input.uploadPath);
      const outcome = await backend.createTask(request, { idempotencyKey: input.idempotencyKey, requestHash });
      // A repeated request reuses the first task and its upload.
      if (!outcome.created && input.uploadPath !== undefined) await blobs.remove(input.uploadPath);
      return outcome;
    } catch (error) {
      if (input.uploadPath !== undefined) await blobs.remove(input.uploadPath);
      throw error;
    }
  }

  async get(id: string): Promise<TaskRecord> {
    const task = UUID.test(id) ? await this.options.backend.getTask(id) : undefined;
    if (task === undefined) throw new TtsError('E_NOT_FOUND', 'No task has this id.');
    return task;
  }

  async list(options: { status?: TaskStatus; limit: number; cursor?: string }): Promise<{ tasks: TaskRecord[]; nextCursor?: string }> {
    return await this.options.backend.listTasks(options);
  }

  /**
   * Follows a task's events: checks the task exists, subscribes, then replays the events after
   * `afterId`, so no event falls between the two. Returns the task as it was when followed and
   * the replayed events; `listener` then gets the newer ones (possibly some already replayed:
   * the caller skips ids it has sent) until `unsubscribe` is called.
   */
  async follow(id: string, afterId: number, listener: (event: TaskEvent) => void): Promise<{ task: TaskRecord; replay: TaskEvent[]; unsubscribe: () => void }> {
    const task = await this.get(id);
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
  async cancel(id: string): Promise<TaskRecord> {
    await this.get(id);
    const task = (await this.options.backend.cancelTask(id))!;
    if (task.status === 'completed' || task.status === 'failed') {
      throw new TtsError('E_TASK_FINISHED', `The task is already ${task.status}.`);
    }
    return task;
  }
}
