/**
 * Synthesis on this machine through the service's own pipeline: a task is submitted to an
 * in-memory backend with the API's request checks (TaskService), and the Worker prepares,
 * synthesises and assembles it over a scratch blob store, exactly as in the service. `say`
 * and the benchmarks stand on this, so there is one pipeline.
 */

import { randomUUID } from 'node:crypto';
import { copyFile, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import type { OutputFormat } from '../audio/output.js';
import { isFinal, type TaskRecord } from '../backends/backend.js';
import { SqliteBackend } from '../backends/sqlite/sqlite-backend.js';
import { loadConfig, type ServiceConfig } from '../config/config.js';
import type { EngineSet } from '../engines/engine-set.js';
import { TtsError } from '../errors.js';
import { schemaChecker } from '../http/schema-validation.js';
import { SynthesisBody } from '../http/schemas.js';
import { createLogger, type Logger } from '../service/logger.js';
import type { TaskService } from '../service/task-service.js';
import type { VoiceService } from '../service/voice-service.js';
import { wireApi } from '../service/api-wiring.js';
import { SYSTEM_ACTOR } from '../access/principal.js';
import { LocalBlobStore } from '../storage/local/local-blob-store.js';
import { taskSubtitles } from '../service/task-subtitles.js';
import type { SubtitleFormat } from '../text/subtitles.js';
import { Worker, workerSettings } from './worker.js';

/** The fields of POST /api/synthesis, checked by the API's own schema. */
const checkSynthesisFields = schemaChecker(SynthesisBody);

export interface LocalSynthesisOptions {
  /** Silence between segments (default: the service's). */
  pauseMs?: number;
  /** Longest text accepted (default: the service's). */
  maxTextChars?: number;
  logger?: Logger;
  /** Encode as segments finish (default: true; the backend is this process's alone). false only to compare, as the benchmark does. */
  earlyAssembly?: boolean;
}

export interface LocalResult {
  outPath: string;
  format: OutputFormat;
  durationMs: number;
  bytes: number;
  sampleRate: number;
  segments: number;
  /** Attempts of the task's work that failed and were run again. */
  retries: number;
}

export class LocalSynthesis {
  private worker: Worker | undefined;
  private engines: EngineSet | undefined;
  private readonly submitted: string[] = [];

  private constructor(
    private readonly scratch: string,
    private readonly backend: SqliteBackend,
    private readonly blobs: LocalBlobStore,
    private readonly tasks: TaskService,
    private readonly voices: VoiceService,
    private readonly config: ServiceConfig,
    private readonly logger: Logger,
    private readonly earlyAssembly: boolean,
  ) {}

  static async create(options: LocalSynthesisOptions = {}): Promise<LocalSynthesis> {
    const scratch = await mkdtemp(resolve(tmpdir(), 'tts-queue-'));
    const backend = new SqliteBackend({ path: ':memory:' });
    const blobs = new LocalBlobStore(scratch);
    // The service's defaults, with what the caller set; no audio_url here, so no private addresses either.
    const defaults = loadConfig({});
    // The user's own recording on their own machine: no consent statement is asked.
    const config: ServiceConfig = {
      ...defaults,
      pauseMs: options.pauseMs ?? defaults.pauseMs,
      maxTextChars: options.maxTextChars ?? defaults.maxTextChars,
      audioUrlAllowPrivate: false,
      voiceConsent: 'off',
    };
    let local: LocalSynthesis | undefined;
    const logger = options.logger ?? createLogger('silent');
    const { deps } = await wireApi(config, { backend, blobs, logger, engines: () => local?.engines?.configured() ?? [] });
    local = new LocalSynthesis(scratch, backend, blobs, deps.tasks, deps.voices, config, logger, options.earlyAssembly ?? true);
    return local;
  }

  /**
   * Checks and queues a request as `POST /api/synthesis` does (the same fields, the same
   * refusals). `voicePath`: a reference recording on this machine, taken as the upload.
   */
  async submit(fields: Record<string, unknown>, voicePath?: string): Promise<TaskRecord> {
    let uploadPath: string | undefined;
    if (voicePath !== undefined) {
      // A link, not a copy: preparing the task removes its upload, and the user's file stays.
      uploadPath = this.blobs.uploadPath(randomUUID());
      await this.blobs.prepareFor(uploadPath);
      await symlink(resolve(voicePath), uploadPath);
    }
    const { task } = await this.tasks.submit({ actor: SYSTEM_ACTOR, fields: checkSynthesisFields(fields), uploadPath });
    this.submitted.push(task.id);
    return task;
  }

  /** Stores a recording on this machine as a voice of this run (a script's speaker); returns its id. */
  async addVoice(name: string, path: string): Promise<string> {
    const uploadPath = this.blobs.uploadPath(randomUUID());
    await this.blobs.prepareFor(uploadPath);
    // A copy: making the voice takes over (and removes) its upload, and the user's file stays.
    try {
      await copyFile(resolve(path), uploadPath);
    } catch (error) {
      throw new TtsError('E_FILE_NOT_FOUND', `Cannot read the voice file "${path}" (${(error as NodeJS.ErrnoException).code ?? 'error'}).`, { cause: error });
    }
    return (await this.voices.create(SYSTEM_ACTOR, { name }, uploadPath)).id;
  }

  /** Starts working, with the service's worker settings, once `engines` have started. */
  start(engines: EngineSet): void {
    this.engines = engines;
    this.worker = new Worker({ backend: this.backend, engines, blobs: this.blobs, logger: this.logger, ...workerSettings(this.config), earlyAssembly: this.earlyAssembly });
    this.worker.start();
  }

  /**
   * Follows a task to its end through its events; `signal` cancels it. Resolves with the
   * completed task, or throws the error it failed with (E_CANCELED once canceled).
   */
  async waitFor(taskId: string, control: { signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {}): Promise<TaskRecord> {
    const { signal, onProgress } = control;
    let settle!: () => void;
    const ended = new Promise<void>((resolve) => (settle = resolve));
    const unsubscribe = this.backend.subscribe((event) => {
      if (event.taskId !== taskId) return;
      if (event.segmentsTotal > 0) onProgress?.(event.segmentsDone, event.segmentsTotal);
      if (isFinal(event.status)) settle();
    });
    const cancel = (): void => void this.tasks.cancel(taskId, SYSTEM_ACTOR).catch(() => undefined); // a finished task stays as it is
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      if (signal?.aborted) cancel();
      // Subscribed first, so an end that came before is seen here and none is missed after.
      if (!isFinal((await this.tasks.get(taskId, SYSTEM_ACTOR.principal)).status)) await ended;
      const task = await this.tasks.get(taskId, SYSTEM_ACTOR.principal);
      if (task.status === 'completed') return task;
      if (task.status === 'canceled') throw new TtsError('E_CANCELED', 'Interrupted; nothing was written.');
      throw TtsError.fromWire({ code: task.error?.code ?? 'E_INTERNAL', message: task.error?.message ?? 'The task failed.' });
    } finally {
      unsubscribe();
      signal?.removeEventListener('abort', cancel);
    }
  }

  /** Moves a completed task's audio to `outPath`: the file appears whole or not at all. */
  async saveResult(task: TaskRecord, outPath: string): Promise<LocalResult> {
    const result = task.result;
    if (result === undefined) throw new TtsError('E_INTERNAL', 'The task has no result to save.');
    await moveFile(result.path, outPath);
    return { outPath, format: result.format, durationMs: result.durationMs, bytes: result.bytes, sampleRate: result.sampleRate, segments: task.segmentsTotal, retries: task.attempts - 1 };
  }

  /** Writes a completed task's subtitles (as GET /api/task/:id/subtitles gives them) to `outPath`, whole or not at all. */
  async saveSubtitles(task: TaskRecord, outPath: string, format: SubtitleFormat): Promise<void> {
    const partial = `${outPath}.partial`;
    try {
      await writeFile(partial, await taskSubtitles(task, this.blobs, format));
      await rename(partial, outPath);
    } catch (error) {
      await rm(partial, { force: true });
      throw error;
    }
  }

  /** Cancels what is unfinished, stops the worker, and removes the backend and every scratch file (the engines are the caller's). */
  async close(): Promise<void> {
    try {
      for (const id of this.submitted) {
        const task = await this.backend.getTask(id);
        if (task !== undefined && !isFinal(task.status)) await this.backend.cancelTask(id);
      }
      await this.worker?.stop();
      await this.backend.close();
    } finally {
      await rm(this.scratch, { recursive: true, force: true });
    }
  }
}

/** Renames, or copies then renames when `to` is on another file system (the scratch folder is in TMPDIR). */
async function moveFile(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
  }
  const partial = `${to}.partial`;
  try {
    await copyFile(from, partial);
    await rename(partial, to);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
}
