/**
 * The worker: claims work from the backend and does it. Three kinds of loops run side by side:
 * `prepare` (route the task to an engine that can do what it asks, fetch and normalise the
 * reference, split the text; or copy an identical request's kept result: reuse-key.ts) for
 * upcoming tasks, one `segment` loop per engine host, claiming
 * only segments routed to its engine (the next one the moment the last is done, so the engine
 * never waits on us), and `assemble` (join and encode), which runs beside the
 * engine instead of in front of it. Leases are renewed while work runs; a canceled task's
 * running segment is stopped. Where every segment runs here, assembling begins with the first
 * segment finished (early-assembly.ts), so that encoding overlaps synthesis.
 */

import { randomUUID } from 'node:crypto';
import { copyFile, writeFile } from 'node:fs/promises';
import { extractDocument } from '../documents/extract.js';
import { DEFAULT_DOCUMENT_CAPS, documentTextPath, partsText } from '../documents/types.js';
import { DEFAULT_MAX_TEXT_CHARS, prepareText } from '../text/prepare.js';
import { isSpeakable } from '../text/normalize.js';
import { splitText } from '../text/segment.js';
import { OUTPUT_FORMATS, writeSegments, type WriteSegmentsOptions, type WrittenSegments } from '../audio/output.js';
import { normalizeReference } from '../audio/reference.js';
import {
  WORK_KINDS,
  isFinal,
  type PreparedReference,
  type PreparedTask,
  type TaskBackend,
  type TaskRecord,
  type TaskRequest,
  type TaskResult,
  type TimelineEntry,
  type WorkKind,
  type WorkUnit,
} from '../backends/backend.js';
import type { EnginePool } from '../engines/engine-pool.js';
import type { EngineSet } from '../engines/engine-set.js';
import { chooseEngine } from '../engines/routing.js';
import type { BlobStore } from '../storage/blob-store.js';
import { fetchAudioUrl } from '../net/fetch-audio-url.js';
import { engineNeeds } from '../service/synthesis-request.js';
import { EarlyAssembly } from './early-assembly.js';
import { reuseKey } from './reuse-key.js';
import { segmentLayout, segmentReference } from './segment-layout.js';
import { TtsError, isStorageFull, storageFullError, toTtsError } from '../errors.js';
import type { Logger } from '../service/logger.js';
import type { ServiceConfig } from '../config/config.js';
import type { WorkerMetrics } from '../metrics/worker-metrics.js';

/** The file to copy vanished (its result expired and was deleted between the look-up and the copy). */
function isGone(error: unknown): boolean {
  return (error instanceof TtsError && error.code === 'E_STORED_FILE_MISSING') || (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

/** Segment files made present at once before assembly. */
const LOAD_CONCURRENCY = 16;

export interface WorkerOptions {
  backend: TaskBackend;
  engines: EngineSet;
  blobs: BlobStore;
  logger: Logger;
  leaseMs: number;
  maxAttempts: number;
  pauseMs: number;
  prepareConcurrency: number;
  assembleConcurrency: number;
  resultTtlMs: number;
  maxUploadBytes: number;
  audioUrlTimeoutMs: number;
  audioUrlAllowPrivate: boolean;
  /** A `document_url`'s caps (absent: DEFAULT_DOCUMENT_CAPS) and the text limit its text is held to. */
  documents?: { maxBytes: number; timeoutMs: number; maxPdfPages: number };
  maxTextChars?: number;
  /** Idle loops look for work this often even without a wake-up (retries coming due). */
  pollMs?: number;
  /** Told of failures, finished tasks and lost leases. */
  metrics?: WorkerMetrics;
  /**
   * Begin assembling a task with its first finished segment (early-assembly.ts). Only where every
   * segment runs in this process and its file stays where it was written: a backend this
   * process owns alone, with local files.
   */
  earlyAssembly?: boolean;
}

/**
 * Tasks encoded early at once: each holds an encoder from its first segment to its last, and a
 * queue served in turns starts many tasks together. Past it, a task's output is encoded after
 * its last segment, as where early assembly is off.
 */
const MAX_EARLY_ASSEMBLIES = 4;

/** The worker's settings from the service's configuration: the service and `say` take them from here, so both run it alike. */
export function workerSettings(config: ServiceConfig): Omit<WorkerOptions, 'backend' | 'engines' | 'blobs' | 'logger' | 'pollMs' | 'metrics'> {
  const { leaseMs, maxAttempts, pauseMs, prepareConcurrency, assembleConcurrency, resultTtlMs, maxUploadBytes, audioUrlTimeoutMs, audioUrlAllowPrivate, maxTextChars } = config;
  const documents = { maxBytes: config.maxDocumentBytes, timeoutMs: config.documentTimeoutMs, maxPdfPages: config.maxDocumentPages };
  return { leaseMs, maxAttempts, pauseMs, prepareConcurrency, assembleConcurrency, resultTtlMs, maxUploadBytes, audioUrlTimeoutMs, audioUrlAllowPrivate, documents, maxTextChars };
}

export class Worker {
  readonly id = `worker-${randomUUID()}`;
  private readonly options: WorkerOptions;
  private stopping = false;
  private loops: Promise<void>[] = [];
  private readonly sleepers: Record<WorkKind, Array<() => void>> = { prepare: [], segment: [], assemble: [] };
  /** Counts wake-ups by kind, so a loop that was claiming when one came does not sleep through it. */
  private readonly wakeGeneration: Record<WorkKind, number> = { prepare: 0, segment: 0, assemble: 0 };
  /** Abort controllers of running units, by task id. */
  private readonly running = new Map<string, Set<AbortController>>();
  /** Assemblies begun before their task's last segment, by task id, until assembling takes them. */
  private readonly early = new Map<string, EarlyAssembly>();
  private unsubscribe: Array<() => void> = [];

  constructor(options: WorkerOptions) {
    this.options = options;
  }

  start(): void {
    const { backend, engines } = this.options;
    this.unsubscribe.push(backend.onWork((kind) => this.wake(kind)));
    this.unsubscribe.push(
      backend.subscribe((event) => {
        if (event.type !== 'status' || !isFinal(event.status)) return;
        // An early assembly that assembling did not take (the task ended first) is stopped, before the scratch goes.
        const dropped = this.dropEarly(event.taskId);
        if (event.status === 'completed') return;
        for (const controller of this.running.get(event.taskId) ?? []) controller.abort();
        void dropped.then(() => this.removeScratch(event.taskId));
      }),
    );
    const loop = (kind: WorkKind, count: number, engine?: { engine: string; pool: EnginePool }): void => {
      for (let i = 0; i < count; i++) this.loops.push(this.loop(kind, engine));
    };
    loop('prepare', this.options.prepareConcurrency);
    // Per engine, one segment loop more than its hosts take at once: that segment waits at the
    // pool, so a host that finishes gets the next one at once, while the finished one is recorded.
    for (const running of engines.pools()) loop('segment', running.pool.capacity + 1, running);
    loop('assemble', this.options.assembleConcurrency);
  }

  /**
   * Stops claiming, lets running work finish for up to `graceMs`, then stops what is left: its
   * leases lapse and the work goes back to the queue (finished segments are kept).
   */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    for (const kind of WORK_KINDS) this.wake(kind);
    const finished = Promise.all(this.loops);
    const timer = setTimeout(() => {
      for (const controllers of this.running.values()) for (const c of controllers) c.abort();
    }, graceMs);
    await finished;
    clearTimeout(timer);
    // The loops are done: nothing more is offered, and assemblies begun early go (their segments are kept).
    await Promise.all([...this.early.keys()].map((taskId) => this.dropEarly(taskId)));
    for (const off of this.unsubscribe) off();
  }

  /**
   * Hands a finished segment to its task's early assembly, begun with the first segment finished
   * here. Before the segment is recorded: once the last one is, assembling may take it.
   */
  private offerEarly(task: TaskRecord, index: number, path: string): void {
    if (this.options.earlyAssembly !== true || this.stopping) return;
    let early = this.early.get(task.id);
    if (early === undefined) {
      if (this.early.size >= MAX_EARLY_ASSEMBLIES) return;
      const { blobs, backend } = this.options;
      const { extension } = OUTPUT_FORMATS[task.request.format];
      const begun = new EarlyAssembly(task.request.format, blobs.resultPath(task.id, extension), blobs.encodingPath(task.id, extension), this.assemblyOptions(task, task.segmentsTotal));
      this.early.set(task.id, begun);
      // A task that ended before this was set up is not seen by the event handler.
      void backend.getTask(task.id).then(
        (now) => (now === undefined || isFinal(now.status) ? this.dropEarly(task.id, begun) : undefined),
        () => this.dropEarly(task.id, begun),
      );
      early = begun;
    }
    early.offer(index, path);
  }

  /** Stops a task's early assembly (only `which`, when given) and removes what it wrote. Never rejects. */
  private async dropEarly(taskId: string, which?: EarlyAssembly): Promise<void> {
    const early = this.early.get(taskId);
    if (early === undefined || (which !== undefined && early !== which)) return;
    this.early.delete(taskId);
    await early.abort().catch((error: unknown) => this.options.logger.warn({ err: error, task: taskId }, 'stopping an early assembly failed'));
  }

  /** How a task's segments are joined: assembling and early assembly take it from here, so that both write the same bytes. */
  private assemblyOptions(task: TaskRecord, segments: number): WriteSegmentsOptions {
    const layout = segmentLayout(task, segments, this.options.pauseMs);
    return { pauseMs: this.options.pauseMs, speed: task.request.speed, pausesAfterMs: layout.pausesAfterMs, chapterStarts: layout.chapterStarts };
  }

  /** A task that ended without a result leaves no working files behind. */
  private async removeScratch(taskId: string): Promise<void> {
    const { backend, blobs, logger } = this.options;
    try {
      const task = await backend.getTask(taskId);
      if (task?.request.uploadPath !== undefined) await blobs.remove(task.request.uploadPath);
      await blobs.removeTaskScratch(taskId);
    } catch (error) {
      logger.warn({ err: error, task: taskId }, 'removing working files failed');
    }
  }

  private wake(kind: WorkKind): void {
    this.wakeGeneration[kind]++;
    for (const wake of this.sleepers[kind].splice(0)) wake();
  }

  private async sleep(kind: WorkKind): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.options.pollMs ?? 250);
      this.sleepers[kind].push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private async loop(kind: WorkKind, engine?: { engine: string; pool: EnginePool }): Promise<void> {
    // Preparing runs a few tasks ahead of the engines, not through the whole queue: a burst
    // of submissions then costs the API nothing, and new tasks are prepared in time anyway.
    const options = kind === 'prepare' ? { maxSynthesizing: Math.max(8, 4 * this.options.engines.size) } : kind === 'segment' ? { engine: engine!.engine } : undefined;
    while (!this.stopping) {
      const generation = this.wakeGeneration[kind];
      let unit: WorkUnit | undefined;
      try {
        unit = await this.options.backend.claim(this.id, [kind], this.options.leaseMs, options);
      } catch (error) {
        this.options.logger.error({ err: error }, `claiming ${kind} work failed`);
      }
      if (unit === undefined) {
        if (generation === this.wakeGeneration[kind]) await this.sleep(kind);
        continue;
      }
      await this.run(unit, engine?.pool);
    }
  }

  private async run(unit: WorkUnit, pool: EnginePool | undefined): Promise<void> {
    const { backend, logger } = this.options;
    const controller = new AbortController();
    const taskControllers = this.running.get(unit.task.id) ?? new Set();
    taskControllers.add(controller);
    this.running.set(unit.task.id, taskControllers);
    const renew = setInterval(
      () => {
        backend.renewLease(unit, this.options.leaseMs).then(
          (held) => {
            if (held) return;
            // Not aborted yet: nobody told us the task ended, so the lease lapsed and the work went elsewhere.
            if (!controller.signal.aborted) this.options.metrics?.leaseLost(unit.kind);
            controller.abort();
          },
          // The backend could not write (a full disk): the lease is not lost, the next renewal tries again.
          (error: unknown) => logger.warn({ err: error, task: unit.task.id }, `renewing the lease of ${unit.kind} work failed`),
        );
      },
      Math.max(50, this.options.leaseMs / 3),
    );
    try {
      if (unit.kind === 'prepare') await this.prepare(unit, controller.signal);
      else if (unit.kind === 'segment') await this.synthesize(unit, pool!, controller.signal);
      else await this.assemble(unit, controller.signal);
    } catch (error) {
      const failure = await this.classify(error);
      if (failure.code === 'E_INTERNAL') logger.error({ err: error, task: unit.task.id }, `${unit.kind} failed`);
      else logger.warn({ task: unit.task.id, code: failure.code }, `${unit.kind} failed: ${failure.message}`);
      // Work stopped by shutdown goes back to the queue without costing an attempt: its lease lapses.
      // Work stopped because its task ended or its lease went elsewhere has nothing to record.
      if (!this.stopping && !controller.signal.aborted) {
        try {
          // Storage that is full or unreachable is no fault of the task: it waits for the storage.
          const spareAttempt = failure.code === 'E_STORAGE_FULL' || failure.code === 'E_STORAGE_UNAVAILABLE';
          const outcome = await backend.failWork(unit, { code: failure.code, message: failure.message, retryable: failure.retryable }, this.options.maxAttempts, { spareAttempt });
          this.options.metrics?.workFailed(unit.kind, failure.code, outcome);
          if (outcome === 'failed') this.options.metrics?.taskFinished(unit.task, 'failed');
        } catch (backendError) {
          // Nothing is lost: the lease is no longer renewed, so the work comes back when it expires.
          logger.error({ err: backendError, task: unit.task.id }, 'recording a failure failed; the work is retried when its lease expires');
        }
      }
    } finally {
      clearInterval(renew);
      taskControllers.delete(controller);
      if (taskControllers.size === 0) this.running.delete(unit.task.id);
    }
  }

  /**
   * The typed failure of a unit. A write that found no room fails however it is reported (an
   * errno, ffmpeg's or an engine host's message, or only a full disk afterwards): it is
   * E_STORAGE_FULL, retried once space returns, never the task's fault.
   */
  private async classify(error: unknown): Promise<TtsError> {
    const failure = toTtsError(error);
    if (failure.code === 'E_STORAGE_FULL' || failure.code === 'E_STORAGE_UNAVAILABLE' || failure.code === 'E_CANCELED') return failure;
    if (isStorageFull(failure) || (!failure.retryable && (await this.options.blobs.isFull().catch(() => false)))) return storageFullError(error);
    return failure;
  }

  private async prepare(unit: WorkUnit & { kind: 'prepare' }, signal: AbortSignal): Promise<void> {
    const { engines, backend, blobs } = this.options;
    const { request } = unit.task;
    // Engines may have changed since the task was accepted (one failed to start): route now. An
    // engine whose hosts are restarting still counts: the segments wait for it.
    const capabilities = chooseEngine(engineNeeds(request), engines.configured());
    const sampleRate = request.sampleRate ?? capabilities.sampleRates[0]!;

    let reference: PreparedReference | undefined;
    if (request.voiceId !== undefined) {
      const audioPath = blobs.referencePath(unit.task.id, sampleRate);
      reference = await this.copyStoredVoice(request.voiceId, audioPath, sampleRate, signal);
      if (request.promptText !== undefined) reference.promptText = request.promptText;
    } else if (unit.task.reference !== undefined) {
      // Prepared before and routed again (its engine is gone): the upload was removed then, but
      // its normalised copy was kept. Normalise that copy for this engine's rate (its own file:
      // a stored file never changes, so no node keeps a stale copy).
      const previous = await blobs.load(unit.task.reference.audioPath);
      const audioPath = blobs.referencePath(unit.task.id, sampleRate);
      if (previous === audioPath) {
        reference = unit.task.reference; // already at this rate
      } else {
        await blobs.prepareFor(audioPath);
        const normalized = await normalizeReference(previous, { sampleRate, outPath: audioPath, signal });
        await blobs.save(audioPath);
        reference = { ...unit.task.reference, audioPath: normalized.path, sha256: normalized.sha256 };
      }
    } else if (request.uploadPath !== undefined || request.audioUrl !== undefined) {
      let source: string;
      if (request.uploadPath !== undefined) {
        source = await blobs.load(request.uploadPath); // uploaded through any API node
      } else {
        // Fetched and read here only: not saved.
        source = blobs.uploadPath(unit.task.id);
        await blobs.prepareFor(source);
        await fetchAudioUrl(request.audioUrl!, source, {
          maxBytes: this.options.maxUploadBytes,
          timeoutMs: this.options.audioUrlTimeoutMs,
          allowPrivate: this.options.audioUrlAllowPrivate,
          cancel: signal,
        });
      }
      const outPath = blobs.referencePath(unit.task.id, sampleRate);
      await blobs.prepareFor(outPath);
      const normalized = await normalizeReference(source, { sampleRate, outPath, signal });
      await blobs.save(outPath);
      reference = { audioPath: normalized.path, sha256: normalized.sha256, promptText: request.promptText ?? '' };
    }

    // Parts: each part's own voice, prepared once however many parts speak with it.
    let references: Record<string, PreparedReference> | undefined;
    for (const voiceId of new Set((request.parts ?? []).flatMap((part) => (part.voiceId === undefined ? [] : [part.voiceId])))) {
      references ??= {};
      references[voiceId] = await this.copyStoredVoice(voiceId, blobs.partVoicePath(unit.task.id, voiceId, sampleRate), sampleRate, signal);
    }

    const split = (text: string): string[] =>
      splitText(text, { maxChars: capabilities.maxSegmentChars })
        .map((s) => s.text.trim())
        .filter(isSpeakable);
    let segments: string[];
    let segmentParts: number[] | undefined;
    // A document_url is read now, before splitting (its text was not known at submit); its
    // text is split as one (its chapters are on GET /api/task/:id/text, not marked in the audio).
    const text = request.documentUrl === undefined ? request.text : await this.readDocumentUrl(unit.task.id, request, signal);
    if (request.parts === undefined) {
      segments = split(text);
    } else {
      // Each part on its own: a segment never spans two parts (two voices).
      segments = [];
      segmentParts = [];
      for (const [index, part] of request.parts.entries()) {
        for (const segment of split(part.text)) {
          segments.push(segment);
          segmentParts.push(index);
        }
      }
    }
    if (segments.length === 0) throw new TtsError('E_TEXT_EMPTY', 'The text has nothing to read aloud.');
    const prepared: PreparedTask = { segments, reference, engine: capabilities.engine };
    if (references !== undefined) prepared.references = references;
    if (segmentParts !== undefined) prepared.segmentParts = segmentParts;
    const key = reuseKey({ request: { ...request, text }, capabilities, sampleRate, reference, pauseMs: this.options.pauseMs, references });
    if (key !== undefined) prepared.reuseKey = key;
    signal.throwIfAborted();
    if (key !== undefined && request.reuse !== false && (await this.reuseResult(unit, prepared, signal))) return;
    await backend.completePrepare(unit, prepared);
    // The normalised reference is kept with the task; the upload is no longer needed.
    if (request.uploadPath !== undefined) await blobs.remove(request.uploadPath);
  }

  /**
   * Fetches and reads a task's `document_url` (net/fetch-audio-url.ts rules, documents/extract.ts
   * caps); its parts are stored beside the result (GET /api/task/:id/text reads them). Returns the
   * text to split (the parts' texts joined, until prepare splits per part).
   */
  private async readDocumentUrl(taskId: string, request: TaskRequest, signal: AbortSignal): Promise<string> {
    const { blobs } = this.options;
    const caps = this.options.documents ?? DEFAULT_DOCUMENT_CAPS;
    const maxChars = this.options.maxTextChars ?? DEFAULT_MAX_TEXT_CHARS;
    // Its own name: the task may also fetch an audio_url, to uploadPath(task id).
    const source = blobs.uploadPath(randomUUID());
    await blobs.prepareFor(source);
    let read: Awaited<ReturnType<typeof extractDocument>>;
    try {
      const { contentType } = await fetchAudioUrl(request.documentUrl!, source, {
        maxBytes: caps.maxBytes,
        timeoutMs: this.options.audioUrlTimeoutMs,
        allowPrivate: this.options.audioUrlAllowPrivate,
        cancel: signal,
        field: 'document_url',
        expectAudio: false,
      });
      const hints: { name?: string; mediaType?: string } = { name: new URL(request.documentUrl!).pathname };
      if (contentType !== undefined) hints.mediaType = contentType;
      read = await extractDocument(source, request.document?.kind, { ...caps, maxChars }, hints);
    } finally {
      await blobs.remove(source);
    }
    const textPath = documentTextPath(blobs, taskId);
    await blobs.prepareFor(textPath);
    await writeFile(textPath, JSON.stringify({ kind: read.kind, title: read.document.title, parts: read.document.parts }));
    await blobs.save(textPath);
    return prepareText(partsText(read.document.parts), maxChars);
  }

  /**
   * The task's own copy of a stored voice at `audioPath` (deleting the voice later does not
   * break the task), normalised again from the original when stored for another rate.
   */
  private async copyStoredVoice(voiceId: string, audioPath: string, sampleRate: number, signal: AbortSignal): Promise<PreparedReference> {
    const { backend, blobs } = this.options;
    const voice = await backend.getVoice(voiceId);
    if (voice === undefined) throw new TtsError('E_VOICE_NOT_FOUND', `The voice ${voiceId} was deleted before the task started.`);
    await blobs.prepareFor(audioPath);
    let sha256 = voice.sha256;
    if (voice.sampleRate === sampleRate) {
      await copyFile(await blobs.load(voice.audioPath), audioPath);
    } else {
      sha256 = (await normalizeReference(await blobs.load(voice.originalPath), { sampleRate, outPath: audioPath, signal })).sha256;
    }
    await blobs.save(audioPath);
    return { audioPath, sha256, promptText: voice.promptText };
  }

  /**
   * Completes the task with a copy of the same owner's identical, kept result, without the
   * engine. False when there is none, or its file is gone: the task then runs as usual.
   */
  private async reuseResult(unit: WorkUnit & { kind: 'prepare' }, prepared: PreparedTask, signal: AbortSignal): Promise<boolean> {
    const { backend, blobs, logger } = this.options;
    const { task } = unit;
    const source = await backend.findReusable(task.owner ?? '', prepared.reuseKey!, Date.now());
    if (source?.result === undefined) return false;
    const copy = blobs.resultPath(task.id, OUTPUT_FORMATS[task.request.format].extension);
    let completed = false;
    try {
      // A copy of its own: the other task's retention and deletion never touch it.
      await blobs.prepareFor(copy);
      await copyFile(await blobs.load(source.result.path), copy);
      const result = { ...source.result, path: copy };
      if (source.result.timelinePath !== undefined) {
        result.timelinePath = blobs.timelinePath(task.id);
        await copyFile(await blobs.load(source.result.timelinePath), result.timelinePath);
        await blobs.save(result.timelinePath);
      }
      signal.throwIfAborted();
      await blobs.save(copy);
      completed = await backend.completeReused(unit, prepared, result, this.options.resultTtlMs);
    } catch (error) {
      if (!isGone(error)) throw error;
      logger.info({ task: task.id, source: source.id }, 'the result to reuse is gone; synthesising');
      return false;
    } finally {
      // A copy that did not become the task's result (canceled meanwhile) is not left behind.
      if (!completed && (await backend.getTask(task.id).catch(() => undefined))?.status !== 'completed') {
        await blobs.remove(copy).catch(() => undefined);
        await blobs.remove(blobs.timelinePath(task.id)).catch(() => undefined);
      }
    }
    if (!completed) return true; // the lease went elsewhere: nothing more to do here
    logger.info({ task: task.id, source: source.id }, 'reused an identical result');
    this.options.metrics?.resultReused(task, prepared.engine ?? '');
    if (task.request.uploadPath !== undefined) await blobs.remove(task.request.uploadPath);
    await blobs.removeTaskScratch(task.id);
    return true;
  }

  private async synthesize(unit: WorkUnit & { kind: 'segment' }, pool: EnginePool, signal: AbortSignal): Promise<void> {
    const { backend, blobs } = this.options;
    const { task, segment } = unit;
    const outPath = blobs.segmentPath(task.id, segment.index);
    await blobs.prepareFor(outPath);
    // The reference was prepared on whichever node prepared the task; a part speaks with its own voice.
    const reference = segmentReference(task, segment.index);
    const voice = reference === undefined ? undefined : { ...reference, audioPath: await blobs.load(reference.audioPath) };
    const done = await pool.synthesize(
      {
        text: segment.text,
        outPath,
        voice,
        sampleRate: task.request.sampleRate,
        seed: task.request.seed,
        pronunciations: task.request.pronunciations.length > 0 ? task.request.pronunciations : undefined,
        options: task.request.engineOptions,
      },
      { signal },
    );
    // Saved before it counts as done: another node may assemble the task.
    await blobs.save(outPath);
    this.offerEarly(task, segment.index, outPath);
    await backend.completeSegment(unit, { audioPath: outPath, durationMs: done.durationMs });
  }

  private async assemble(unit: WorkUnit & { kind: 'assemble' }, signal: AbortSignal): Promise<void> {
    // Taken: every segment is done, so nothing more is offered to it.
    const early = this.early.get(unit.task.id);
    this.early.delete(unit.task.id);
    try {
      await this.assembleWith(unit, early, signal);
    } finally {
      await early?.abort(); // nothing to do once its output became the result
    }
  }

  private async assembleWith(unit: WorkUnit & { kind: 'assemble' }, early: EarlyAssembly | undefined, signal: AbortSignal): Promise<void> {
    const { backend, blobs } = this.options;
    const { task } = unit;
    // A finished segment whose file is gone (scratch cleaned by hand, a disk replaced) is made
    // again rather than failing the task; all segments are done here, so position = index.
    const segmentPaths = await this.loadSegments(unit);
    if (segmentPaths === undefined) return;
    const resultPath = blobs.resultPath(task.id, OUTPUT_FORMATS[task.request.format].extension);
    await blobs.prepareFor(resultPath);
    const options = this.assemblyOptions(task, segmentPaths.length);
    let encoded: WrittenSegments;
    try {
      encoded = (await this.completeEarly(early, task.id, segmentPaths, options, signal)) ?? (await writeSegments(segmentPaths, task.request.format, resultPath, options));
    } catch (error) {
      if (!signal.aborted && (await this.loadSegments(unit)) === undefined) return; // deleted while being joined
      throw error;
    }
    signal.throwIfAborted();
    await blobs.save(encoded.path);
    const result: TaskResult = { path: encoded.path, format: encoded.format, durationMs: encoded.durationMs, bytes: encoded.bytes, sampleRate: encoded.sampleRate };
    if (encoded.chapters.length > 0) result.chapters = encoded.chapters;
    // The timeline: where each segment's audio lies (subtitles are made from it), kept with the result.
    if (unit.segmentTexts !== undefined) {
      const timeline: TimelineEntry[] = encoded.spans.map((span, index) => ({
        text: unit.segmentTexts![index] ?? '',
        part: task.segmentParts?.[index] ?? 0,
        startMs: span.startMs,
        endMs: span.endMs,
      }));
      result.timelinePath = blobs.timelinePath(task.id);
      await blobs.prepareFor(result.timelinePath);
      await writeFile(result.timelinePath, JSON.stringify(timeline));
      await blobs.save(result.timelinePath);
    }
    await backend.completeAssemble(unit, result, this.options.resultTtlMs);
    this.options.metrics?.taskFinished(task, 'completed');
    await blobs.removeTaskScratch(task.id);
  }

  /** The output of the task's early assembly, if there is one and it can be used (else it is removed). */
  private async completeEarly(early: EarlyAssembly | undefined, taskId: string, paths: string[], options: WriteSegmentsOptions, signal: AbortSignal): Promise<WrittenSegments | undefined> {
    if (early === undefined) return undefined;
    const outcome = await early.complete(paths, options, signal);
    if ('written' in outcome) {
      this.options.logger.debug({ task: taskId, segments: paths.length, appendedEarly: outcome.appendedEarly }, 'output encoded as its segments finished');
      return outcome.written;
    }
    this.options.logger.info({ task: taskId, reason: outcome.discarded }, 'the output encoded early cannot be used; encoding it again');
    return undefined;
  }

  /**
   * The segments' files on this machine, in order; undefined when some are missing from the
   * store, after putting those back to be synthesised again.
   */
  private async loadSegments(unit: WorkUnit & { kind: 'assemble' }): Promise<string[] | undefined> {
    const { blobs } = this.options;
    const paths: Array<string | undefined> = [];
    // A few at a time: from an object store, each may be a download.
    for (let i = 0; i < unit.segmentPaths.length; i += LOAD_CONCURRENCY) {
      const batch = unit.segmentPaths.slice(i, i + LOAD_CONCURRENCY).map(async (path) => {
        try {
          return await blobs.load(path);
        } catch (error) {
          if (error instanceof TtsError && error.code === 'E_STORED_FILE_MISSING') return undefined;
          throw error;
        }
      });
      paths.push(...(await Promise.all(batch)));
    }
    const missing = paths.flatMap((path, index) => (path === undefined ? [index] : []));
    if (missing.length === 0) return paths as string[];
    this.options.logger.warn({ task: unit.task.id, segments: missing }, 'finished segments are missing their audio; synthesising them again');
    await this.options.backend.reopenSegments(unit, missing);
    return undefined;
  }
}
