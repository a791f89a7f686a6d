/**
 * A task's audio as its segments finish: GET /api/task/:id/stream and POST /v1/audio/speech read
 * it from here. Segments are sent in order, from the first, with the pause assembly puts after
 * each (segment-layout.ts) (so the stream is as long as the result), through one encoder per stream (stream-encoder.ts).
 * The stream learns that a segment is done from the task's events and reads the finished
 * segments' files from the backend and the blob store; a task assembled meanwhile (its segment
 * files are then removed) continues from its result, decoded from where the stream was.
 */

import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { ffmpegPath } from '../audio/binaries.js';
import { atempoFilters, OUTPUT_FORMATS, type OutputFormat } from '../audio/output.js';
import { asFileUrl } from '../audio/probe.js';
import { spawnPiped } from '../audio/run-binary.js';
import { StreamEncoder, type PcmFormat } from '../audio/stream-encoder.js';
import { decodeWav } from '../audio/wav.js';
import type { TaskBackend, TaskRecord } from '../backends/backend.js';
import { TtsError, isErrorCode, toTtsError } from '../errors.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { Logger } from './logger.js';
import { pauseAfter } from '../worker/segment-layout.js';

/** Without an event, the state is read again this often (an event missed while a subscription reconnects). */
const POLL_MS = 2_000;

export interface TaskAudioStreamerOptions {
  backend: Pick<TaskBackend, 'getTask' | 'segmentAudio' | 'subscribe'>;
  /** Streams open at once in this process (MAX_AUDIO_STREAMS): each may hold an encoder. */
  maxStreams: number;
  /** Streams one caller (a key, or a client's address without one) may hold at once (MAX_AUDIO_STREAMS_PER_CALLER). */
  maxStreamsPerCaller: number;
  blobs: Pick<BlobStore, 'load'>;
  /** Silence between segments, as assembly puts it (PAUSE_MS). */
  pauseMs: number;
  logger: Logger;
  pollMs?: number;
}

export interface AudioStreamRequest {
  format: OutputFormat;
  /** Who asks (a key id, or the client's address without a key): counted against the per-caller limit. */
  caller: string;
  /** Resample to this rate (OpenAI's pcm); absent: the task's own. */
  sampleRate?: number;
  /** Aborted when the client goes away: everything stops, the encoder is killed. */
  signal: AbortSignal;
}

export interface OpenedAudioStream {
  contentType: string;
  /** The rate of the audio sent (pcm says it in a header: raw samples do not). */
  sampleRate: number;
  channels: number;
  /** The bytes; ends after the last segment, or early (truncated but valid) when the task fails or is canceled. */
  body: Readable;
  /** Why the audio ended before the task's last segment (failed, canceled, expired); undefined while it goes on, and when it was whole. Set before `body` ends. */
  endedEarly(): TtsError | undefined;
}

/**
 * What the source yields: the PCM format first, then samples. `atSpeed`: the samples are already
 * at the task's speed (a completed task's result, from its start), so the encoder must not apply it.
 */
type Piece = { kind: 'format'; format: PcmFormat; atSpeed: boolean } | { kind: 'pcm'; bytes: Uint8Array };

/** Why a task has no more audio to give (thrown by the source; an error to answer with if nothing was sent). */
function endedError(task: TaskRecord): TtsError {
  if (task.status === 'canceled') return new TtsError('E_CANCELED', 'The task was canceled; it has no more audio.');
  const error = task.error;
  if (error !== undefined && isErrorCode(error.code)) return new TtsError(error.code, `The task failed: ${error.message}`);
  return new TtsError('E_TASK_NOT_READY', `The task failed${error === undefined ? '' : ` (${error.code}: ${error.message})`}; it has no audio.`);
}

const expiredError = (): TtsError => new TtsError('E_RESULT_EXPIRED', 'The audio was deleted after the retention period; submit the task again.');

/** A guess of when a stream slot frees up: the client is told to retry then. */
const STREAMS_RETRY_AFTER_S = 5;

export class TaskAudioStreamer {
  /** Open streams by caller; their sum is the process's count. */
  private readonly byCaller = new Map<string, number>();
  private total = 0;

  constructor(private readonly options: TaskAudioStreamerOptions) {}

  /**
   * Takes a stream slot for `caller` (a client that opens streams and never reads them holds an
   * encoder each: bounded here, not by memory); returns its release, to call once.
   */
  private take(caller: string): () => void {
    const { maxStreams, maxStreamsPerCaller } = this.options;
    const held = this.byCaller.get(caller) ?? 0;
    if (held >= maxStreamsPerCaller) {
      throw new TtsError('E_TOO_MANY_STREAMS', `This caller has ${held} audio streams open, as many as one may; close one (or read a finished task's /audio) first.`, {
        retryAfterS: STREAMS_RETRY_AFTER_S,
      });
    }
    if (this.total >= maxStreams) {
      throw new TtsError('E_TOO_MANY_STREAMS', `The service has ${this.total} audio streams open, as many as it serves at once; retry in a moment.`, { retryAfterS: STREAMS_RETRY_AFTER_S });
    }
    this.byCaller.set(caller, held + 1);
    this.total++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = (this.byCaller.get(caller) ?? 1) - 1;
      if (left === 0) this.byCaller.delete(caller);
      else this.byCaller.set(caller, left);
    };
  }

  /** Streams open now (metrics, tests). */
  openStreams(): number {
    return this.total;
  }

  /**
   * Opens a stream of `task`'s audio; resolves once its first segment is there (a queued task
   * waits), with the format known. A task that failed or was canceled before that, or whose
   * result expired, is refused with its typed error.
   */
  async open(task: TaskRecord, request: AudioStreamRequest): Promise<OpenedAudioStream> {
    const { signal } = request;
    signal.throwIfAborted();
    if (task.status === 'completed' && task.expired) throw expiredError();
    const speed = task.request.speed ?? 1;
    const release = this.take(request.caller);
    let encoder: StreamEncoder;
    try {
      // Started before the first segment is there: its start-up is not on the way of the first bytes.
      encoder = await StreamEncoder.start({ format: request.format, speed, outputRate: request.sampleRate });
    } catch (error) {
      release();
      throw error;
    }
    const source = this.pieces(task.id, speed, signal);
    const stop = (): void => {
      void encoder.destroy();
    };
    let input: PcmFormat;
    try {
      const first = await source.next();
      if (first.done === true || first.value.kind !== 'format') throw new TtsError('E_INTERNAL', 'The stream had no audio format.');
      input = first.value.format;
      if (first.value.atSpeed && speed !== 1) {
        await encoder.destroy();
        encoder = await StreamEncoder.start({ format: request.format, outputRate: request.sampleRate });
      }
      await encoder.begin(input);
    } catch (error) {
      await source.return(undefined);
      await encoder.destroy();
      release();
      // Aborted with a reason of our own (the service closing), or by a client that went away.
      if (signal.aborted) throw signal.reason instanceof TtsError ? signal.reason : new TtsError('E_CANCELED', 'The client went away before the audio began.');
      throw error;
    }
    signal.addEventListener('abort', stop, { once: true });
    // The client went away (or stopped reading and was cut off): stop reading and encoding.
    encoder.output.once('close', stop);
    // The slot is held until the client's stream is gone, however it ends.
    encoder.output.once('close', release);
    let early: TtsError | undefined;
    void this.pump(task.id, source, encoder, signal, (reason) => (early = reason)).finally(() => signal.removeEventListener('abort', stop));
    return { contentType: OUTPUT_FORMATS[request.format].contentType, sampleRate: encoder.outputRate(input), channels: input.channels, body: encoder.output, endedEarly: () => early };
  }

  /** Feeds the encoder until the last segment; `endEarly` hears why the audio stopped short, before the output ends. */
  private async pump(taskId: string, source: AsyncGenerator<Piece>, encoder: StreamEncoder, signal: AbortSignal, endEarly: (reason: TtsError) => void): Promise<void> {
    try {
      for await (const piece of source) {
        if (piece.kind === 'pcm') await encoder.write(piece.bytes);
        if (signal.aborted || encoder.output.destroyed) return;
      }
      await encoder.end();
    } catch (error) {
      if (signal.aborted || encoder.output.destroyed) return;
      // Too late for a status: the stream ends where the audio ends (the task says why).
      this.options.logger.debug({ task: taskId, err: error }, 'audio stream ended early');
      endEarly(toTtsError(error));
      await encoder.end().catch(() => undefined);
    } finally {
      if (signal.aborted || encoder.output.destroyed) await encoder.destroy();
    }
  }

  /**
   * The task's audio as PCM pieces, in segment order. Subscribed before each look at the state,
   * so no finished segment is missed; waits for the next index when later ones finish first.
   */
  private async *pieces(taskId: string, speed: number, signal: AbortSignal): AsyncGenerator<Piece> {
    const { backend, pauseMs } = this.options;
    let events = 0;
    let wake: (() => void) | undefined;
    const unsubscribe = backend.subscribe((event) => {
      if (event.taskId !== taskId) return;
      events++;
      wake?.();
    });
    const onAbort = (): void => wake?.();
    signal.addEventListener('abort', onAbort);
    try {
      let next = 0;
      let format: PcmFormat | undefined;
      /** Frames sent, pauses included, before the speed is applied. */
      let frames = 0;
      for (;;) {
        signal.throwIfAborted();
        const seen = events;
        const task = await backend.getTask(taskId);
        if (task === undefined) throw new TtsError('E_NOT_FOUND', 'No task has this id.');
        if (task.status === 'completed') {
          yield* this.fromResult(task, format, frames, speed, signal);
          return;
        }
        if (task.status === 'failed' || task.status === 'canceled') throw endedError(task);
        const segments = task.segmentsTotal > 0 ? await backend.segmentAudio(taskId) : [];
        while (segments[next] !== undefined) {
          const audio = await this.readSegment(segments[next]!.audioPath, next);
          // Gone: assembled meanwhile (the result takes over) or made again (an event says when).
          if (audio === undefined) break;
          if (format === undefined) {
            format = { sampleRate: audio.sampleRate, channels: audio.channels };
            yield { kind: 'format', format, atSpeed: false };
          } else if (audio.sampleRate !== format.sampleRate || audio.channels !== format.channels) {
            throw new TtsError('E_ENGINE_FAILED', `Segment ${next + 1} is ${audio.sampleRate} Hz/${audio.channels} ch, the first was ${format.sampleRate} Hz/${format.channels} ch.`);
          }
          const pauseBefore = next > 0 ? pauseAfter(task, next - 1, pauseMs) : 0;
          if (pauseBefore > 0) {
            const pause = new Uint8Array(Math.round((format.sampleRate * pauseBefore) / 1000) * format.channels * 2);
            frames += pause.length / 2 / format.channels;
            yield { kind: 'pcm', bytes: pause };
          }
          frames += audio.samples.length / format.channels;
          yield { kind: 'pcm', bytes: new Uint8Array(audio.samples.buffer, audio.samples.byteOffset, audio.samples.byteLength) };
          next++;
        }
        if (task.segmentsTotal > 0 && next >= task.segmentsTotal) return;
        // Nothing new since the state was read: wait for the task's next event (or abort, or the poll).
        if (seen === events) await this.nextWake((resolve) => (wake = resolve));
      }
    } finally {
      wake = undefined;
      signal.removeEventListener('abort', onAbort);
      unsubscribe();
    }
  }

  /** Resolves when the function given to `setWake` is called, or after the poll interval. */
  private async nextWake(setWake: (resolve: () => void) => void): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.options.pollMs ?? POLL_MS);
      setWake(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** A finished segment's samples; undefined when its file is gone. */
  private async readSegment(path: string, index: number): Promise<ReturnType<typeof decodeWav> | undefined> {
    let local: string;
    let bytes: Buffer;
    try {
      local = await this.options.blobs.load(path);
      bytes = await readFile(local);
    } catch (error) {
      if ((error instanceof TtsError && error.code === 'E_STORED_FILE_MISSING') || (error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    return decodeWav(bytes, `segment ${index + 1}`);
  }

  /**
   * The rest of a completed task's audio, from its result: decoded to the stream's PCM from the
   * frames already sent. From the start, the result is sent as it is (already at the task's
   * speed: `atSpeed`). Midway, the stream's encoder applies the speed again, so the rest is
   * first slowed back by the inverse (a rare case: a task that completed while its stream lagged).
   */
  private async *fromResult(task: TaskRecord, sent: PcmFormat | undefined, frames: number, speed: number, signal: AbortSignal): AsyncGenerator<Piece> {
    if (task.expired || task.result === undefined) throw expiredError();
    let path: string;
    try {
      path = await this.options.blobs.load(task.result.path);
    } catch (error) {
      if (error instanceof TtsError && error.code === 'E_STORED_FILE_MISSING') throw expiredError();
      throw error;
    }
    // Results do not record their channels: engines write mono.
    const format = sent ?? { sampleRate: task.result.sampleRate, channels: 1 };
    const start = Math.round(frames / speed);
    const filters = [`aresample=${format.sampleRate}`, `atrim=start_sample=${start}`, ...(sent === undefined ? [] : atempoFilters(1 / speed))];
    // A pcm result is raw samples: ffmpeg must be told their form (the others say it in their header).
    const input = task.result.format === 'pcm' ? ['-f', 's16le', '-ar', String(task.result.sampleRate), '-ac', '1'] : [];
    const child = await spawnPiped(ffmpegPath(), ['-nostdin', '-v', 'error', ...input, '-i', asFileUrl(path), '-af', filters.join(','), '-ac', String(format.channels), '-f', 's16le', 'pipe:1']);
    const closed = once(child, 'close').catch(() => undefined);
    child.stderr.resume();
    try {
      if (sent === undefined) yield { kind: 'format', format, atSpeed: true };
      for await (const chunk of child.stdout) {
        signal.throwIfAborted();
        yield { kind: 'pcm', bytes: chunk as Buffer };
      }
    } finally {
      child.kill('SIGKILL');
      await closed;
    }
  }
}
