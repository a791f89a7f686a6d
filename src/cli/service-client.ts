/**
 * The service's HTTP API as `say --server` calls it: submit a task (JSON, or multipart with a
 * reference file), follow its Server-Sent Events, download its audio, cancel it. Every failure
 * is a typed TtsError: the service's own `{"error": {code, message}}`, or E_SERVER_UNREACHABLE /
 * E_SERVER_RESPONSE for a service that cannot be reached or does not answer as the API does.
 */

import { createWriteStream, openAsBlob } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { TtsError, isErrorCode } from '../errors.js';

/** A task as GET /api/task/:id shows it (the fields the client reads). */
export interface RemoteTask {
  id: string;
  status: string;
  progress: { segments_done: number; segments_total: number };
  attempts: number;
  cached?: boolean;
  error: { code: string; message: string } | null;
  result: { format: string; duration_ms: number; bytes: number; sample_rate: number } | null;
}

/** One event of GET /api/task/:id/events. */
export interface RemoteEvent {
  event_id: number;
  type: 'status' | 'progress';
  status: string;
  segments_done: number;
  segments_total: number;
  error: { code: string; message: string } | null;
}

const FINAL = new Set(['completed', 'failed', 'canceled']);
/** The most an answer in JSON (a task, an error) or one event may weigh: the API's are a few KiB; a server that sends more is not the service, and is not held in memory. */
const MAX_ANSWER_BYTES = 1024 * 1024;
/** Content types the audio download may come as (the service sends audio/<format>). */
const AUDIO_TYPE = /^(?:audio\/|application\/octet-stream(?:$|;))/iu;
/** What subtitles come as (src/text/subtitles.ts), and the most a subtitle file of the longest task takes. */
const SUBTITLES_TYPE = /^(?:text\/vtt|application\/x-subrip)(?:$|;)/iu;
const MAX_SUBTITLES_BYTES = 64 * 1024 * 1024;
/** Times an event stream that broke off (a restart, a proxy) is opened again before giving up. */
const RECONNECTS = 5;
const RECONNECT_DELAY_MS = 1_000;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value) && value >= 0;
const isApiError = (value: unknown): boolean => value === null || (isObject(value) && typeof value.code === 'string' && typeof value.message === 'string');

/** Whether `value` has the fields of a task that the client reads, with their types. */
function isRemoteTask(value: unknown): value is RemoteTask {
  if (!isObject(value) || typeof value.id !== 'string' || typeof value.status !== 'string' || !isCount(value.attempts) || !isApiError(value.error)) return false;
  const { progress, result } = value;
  if (!isObject(progress) || !isCount(progress.segments_done) || !isCount(progress.segments_total)) return false;
  return result === null || (isObject(result) && typeof result.format === 'string' && isCount(result.duration_ms) && isCount(result.bytes) && isCount(result.sample_rate));
}

/** Whether `value` has the fields of an event of GET /api/task/:id/events that the client reads. */
function isRemoteEvent(value: unknown): value is RemoteEvent {
  return (
    isObject(value) &&
    (value.type === 'status' || value.type === 'progress') &&
    typeof value.status === 'string' &&
    isCount(value.segments_done) &&
    isCount(value.segments_total) &&
    (value.error === undefined || isApiError(value.error))
  );
}

/** The body as text, refused with E_SERVER_RESPONSE (and left unread) past `limit` bytes. */
async function readText(response: Response, limit: number, what: string): Promise<string> {
  if (response.body === null) return '';
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    bytes += chunk.byteLength;
    // Leaving the loop cancels the body: the rest is not read.
    if (bytes > limit) throw new TtsError('E_SERVER_RESPONSE', `${what} is larger than ${limit} bytes, which no answer of the API is; is --server the tts-queue service?`);
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** `--server`: an http(s) URL with a host and no credentials (the key goes in --key); a path is kept as a prefix. */
export function parseServerUrl(raw: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    throw new TtsError('E_INVALID_ARGUMENT', `Expected --server to be an http:// or https:// URL of the service, such as http://127.0.0.1:3000, got "${raw.slice(0, 200)}".`);
  }
  if (url.username !== '' || url.password !== '') throw new TtsError('E_INVALID_ARGUMENT', 'Expected --server without a user or password in it; give the API key with --key or TTS_QUEUE_KEY.');
  if (url.search !== '' || url.hash !== '') throw new TtsError('E_INVALID_ARGUMENT', `Expected --server without a query or fragment, got "${raw.slice(0, 200)}".`);
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}

/** Why a request never got an answer, in words, from undici's error and its cause. */
function unreachable(base: URL, error: unknown): TtsError {
  const cause = (error as { cause?: { code?: string; message?: string } } | undefined)?.cause;
  const code = cause?.code ?? (error as NodeJS.ErrnoException | undefined)?.code;
  const why =
    code === 'ECONNREFUSED'
      ? 'connection refused'
      : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
        ? `no such host "${base.hostname}"`
        : code === 'ETIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT'
          ? 'the connection timed out'
          : code === 'ECONNRESET' || code === 'UND_ERR_SOCKET'
            ? 'the connection was closed'
            : (cause?.message ?? (error instanceof Error ? error.message : String(error)));
  return new TtsError('E_SERVER_UNREACHABLE', `Cannot reach the service at ${base.origin}${base.pathname} (${why}); check --server and that the service runs.`, { cause: error });
}

export class ServiceClient {
  constructor(
    private readonly base: URL,
    private readonly key: string | undefined,
  ) {}

  private url(path: string): URL {
    return new URL(path, this.base);
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return this.key === undefined ? extra : { ...extra, authorization: `Bearer ${this.key}` };
  }

  private async send(path: string, init: RequestInit = {}): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(this.url(path), { ...init, headers: this.headers(init.headers as Record<string, string> | undefined), redirect: 'error' });
    } catch (error) {
      if ((error as Error | undefined)?.name === 'AbortError') throw error;
      throw unreachable(this.base, error);
    }
    if (!response.ok) throw await this.failure(response);
    return response;
  }

  /** The service's typed error, or E_SERVER_RESPONSE for an answer that is not the API's. */
  private async failure(response: Response): Promise<TtsError> {
    const text = await readText(response, MAX_ANSWER_BYTES, 'The error').catch(() => '');
    let error: { code?: unknown; message?: unknown } | undefined;
    try {
      error = (JSON.parse(text) as { error?: typeof error }).error;
    } catch {
      error = undefined;
    }
    if (typeof error?.code !== 'string' || typeof error.message !== 'string') {
      return new TtsError('E_SERVER_RESPONSE', `${this.base.origin} answered ${response.status} ${response.statusText} without an API error; is --server the tts-queue service (${this.base.href})?`);
    }
    if (error.code === 'E_UNAUTHORIZED') {
      const hint = this.key === undefined ? 'pass an API key with --key or TTS_QUEUE_KEY' : 'check the key given with --key or TTS_QUEUE_KEY';
      return new TtsError('E_UNAUTHORIZED', `${error.message} (${hint})`);
    }
    if (isErrorCode(error.code)) return new TtsError(error.code, error.message);
    // A newer service's code: kept in the message.
    return new TtsError('E_SERVER_RESPONSE', `${error.code}: ${error.message}`);
  }

  private async json(response: Response): Promise<unknown> {
    const text = await readText(response, MAX_ANSWER_BYTES, `The answer of ${response.url}`);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new TtsError('E_SERVER_RESPONSE', `${this.base.origin} answered ${response.url} with something other than JSON; is --server the tts-queue service?`);
    }
  }

  /**
   * POST /api/synthesis: JSON, or multipart with the reference file as `audio`. `signal` stops
   * the wait for the answer (a server that never gives one); the task may then exist on the service.
   */
  async submit(fields: Record<string, unknown>, voicePath: string | undefined, signal: AbortSignal): Promise<{ id: string }> {
    let init: RequestInit;
    if (voicePath === undefined) {
      init = { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(fields) };
    } else {
      const form = new FormData();
      for (const [name, value] of Object.entries(fields)) form.set(name, typeof value === 'string' ? value : JSON.stringify(value));
      form.set('audio', await openAsBlob(voicePath), basename(voicePath));
      init = { method: 'POST', body: form };
    }
    let accepted: unknown;
    try {
      accepted = await this.json(await this.send('api/synthesis', { ...init, signal }));
    } catch (error) {
      if (signal.aborted) throw new TtsError('E_CANCELED', 'Interrupted before the service answered; the task may exist on the service all the same (GET /api/tasks), nothing was written.');
      throw error;
    }
    if (!isObject(accepted) || typeof accepted.id !== 'string') throw new TtsError('E_SERVER_RESPONSE', 'POST /api/synthesis answered without a task id; is --server the tts-queue service?');
    return { id: accepted.id };
  }

  /** POST /api/voices: a recording stored as a voice (`consent`: the speaker_name to state it with, if any); returns its id. */
  async createVoice(name: string, path: string, speakerName?: string): Promise<string> {
    const form = new FormData();
    form.set('name', name);
    if (speakerName !== undefined) {
      form.set('consent', 'true');
      form.set('speaker_name', speakerName);
    }
    form.set('audio', await openAsBlob(path), basename(path));
    const created = (await this.json(await this.send('api/voices', { method: 'POST', body: form }))) as { id?: unknown } | null;
    if (typeof created?.id !== 'string') throw new TtsError('E_SERVER_RESPONSE', 'POST /api/voices answered without a voice id; is --server the tts-queue service?');
    return created.id as string;
  }

  async task(id: string): Promise<RemoteTask> {
    const task = await this.json(await this.send(`api/task/${encodeURIComponent(id)}`));
    if (!isRemoteTask(task)) throw new TtsError('E_SERVER_RESPONSE', `GET /api/task/${id} answered with something other than a task; is --server the tts-queue service?`);
    return task;
  }

  /**
   * The task's events until its final status, opened again (from the last id seen) when the
   * stream breaks off before that. `signal` ends the wait.
   */
  async *events(id: string, signal: AbortSignal): AsyncGenerator<RemoteEvent> {
    let lastId: number | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        const response = await this.send(`api/task/${encodeURIComponent(id)}/events`, {
          signal,
          headers: { accept: 'text/event-stream', ...(lastId === undefined ? {} : { 'last-event-id': String(lastId) }) },
        });
        if (response.body === null) throw new TtsError('E_SERVER_RESPONSE', 'The event stream has no body.');
        for await (const event of readEventStream(response.body)) {
          if (event.type !== 'status' && event.type !== 'progress') continue;
          let data: unknown;
          try {
            data = JSON.parse(event.data) as unknown;
          } catch {
            throw new TtsError('E_SERVER_RESPONSE', `The event stream sent data that is not JSON: ${event.data.slice(0, 100)}`);
          }
          if (!isRemoteEvent(data)) throw new TtsError('E_SERVER_RESPONSE', `The event stream sent an event that is not a task's status or progress: ${event.data.slice(0, 100)}`);
          if (event.id !== undefined) lastId = Number(event.id);
          attempt = 0;
          yield data;
          if (data.type === 'status' && FINAL.has(data.status)) return;
        }
      } catch (error) {
        if (signal.aborted || (error instanceof TtsError && error.code !== 'E_SERVER_UNREACHABLE')) throw error;
        if (attempt >= RECONNECTS) throw error instanceof TtsError ? error : unreachable(this.base, error);
      }
      // The stream ended without a final status (a restart, a proxy's time-out): open it again.
      if (attempt >= RECONNECTS) throw new TtsError('E_SERVER_UNREACHABLE', `The event stream of task ${id} kept breaking off; the task goes on at ${this.base.href}api/task/${id}.`);
      await new Promise((resolve) => setTimeout(resolve, RECONNECT_DELAY_MS));
    }
  }

  /**
   * GET /api/task/:id/audio into `outPath`: written beside it, then renamed, so the file appears
   * whole or not at all. `bytes`: the size the task gives its result; an answer that is not audio,
   * or of another size, is refused (a server that sends for ever fills no disk).
   */
  async download(id: string, outPath: string, bytes: number, signal: AbortSignal): Promise<number> {
    return await this.saveTo(`api/task/${encodeURIComponent(id)}/audio`, outPath, signal, { what: 'audio', type: AUDIO_TYPE, bytes, exact: true });
  }

  /** GET /api/task/:id/subtitles?format= into `outPath`, as `download` (their size is not known ahead: capped instead). */
  async subtitles(id: string, format: string, outPath: string, signal: AbortSignal): Promise<number> {
    return await this.saveTo(`api/task/${encodeURIComponent(id)}/subtitles?format=${encodeURIComponent(format)}`, outPath, signal, {
      what: 'subtitles',
      type: SUBTITLES_TYPE,
      bytes: MAX_SUBTITLES_BYTES,
      exact: false,
    });
  }

  private async saveTo(path: string, outPath: string, signal: AbortSignal, expected: { what: string; type: RegExp; bytes: number; exact: boolean }): Promise<number> {
    const { what, bytes } = expected;
    const response = await this.send(path, { signal });
    const type = response.headers.get('content-type') ?? '';
    if (!expected.type.test(type)) {
      await response.body?.cancel().catch(() => undefined);
      throw new TtsError('E_SERVER_RESPONSE', `The ${what} download came as ${JSON.stringify(type.slice(0, 100))}, not ${what}; is --server the tts-queue service?`);
    }
    if (response.body === null) throw new TtsError('E_SERVER_RESPONSE', `The ${what} download has no body.`);
    const partial = `${outPath}.partial`;
    let received = 0;
    const counted = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        received += chunk.length;
        if (received > bytes) done(new TtsError('E_SERVER_RESPONSE', `The ${what} download sent more than the ${bytes} bytes expected; nothing was written.`));
        else done(null, chunk);
      },
    });
    try {
      await pipeline(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), counted, createWriteStream(partial), { signal });
      if (expected.exact && received !== bytes) throw new TtsError('E_SERVER_RESPONSE', `The ${what} download sent ${received} bytes, its task gives ${bytes}; nothing was written.`);
      await rename(partial, outPath);
    } catch (error) {
      await rm(partial, { force: true });
      if ((error as Error | undefined)?.name === 'AbortError' || signal.aborted) throw new TtsError('E_CANCELED', 'Interrupted during the download; nothing was written.');
      throw error instanceof TtsError ? error : unreachable(this.base, error);
    }
    return received;
  }

  /** DELETE /api/task/:id; a task already finished is left as it is. */
  async cancel(id: string): Promise<void> {
    try {
      await this.send(`api/task/${encodeURIComponent(id)}`, { method: 'DELETE' });
    } catch (error) {
      if (error instanceof TtsError && error.code === 'E_TASK_FINISHED') return;
      throw error;
    }
  }
}

/** Server-Sent Events from a response body: each event's id, type and data (lines joined). */
async function* readEventStream(body: ReadableStream<Uint8Array>): AsyncGenerator<{ id?: string; type: string; data: string }> {
  const decoder = new TextDecoder();
  let buffer = '';
  let fields: { id?: string; type: string; data: string[] } = { type: 'message', data: [] };
  /** Characters of data in the event being read. */
  let dataChars = 0;
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    // Neither a line nor an event grows without bound (a server that sends no line end, or no empty line).
    if (buffer.length > MAX_ANSWER_BYTES && buffer.lastIndexOf('\n', MAX_ANSWER_BYTES) < 0) {
      throw new TtsError('E_SERVER_RESPONSE', `The event stream sent a line longer than ${MAX_ANSWER_BYTES} characters; is --server the tts-queue service?`);
    }
    let newline = buffer.indexOf('\n');
    while (newline >= 0) {
      const line = buffer.slice(0, newline).replace(/\r$/u, '');
      buffer = buffer.slice(newline + 1);
      if (line === '') {
        if (fields.data.length > 0) yield { id: fields.id, type: fields.type, data: fields.data.join('\n') };
        fields = { type: 'message', data: [] };
        dataChars = 0;
      } else if (!line.startsWith(':')) {
        const colon = line.indexOf(':');
        const name = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /u, '');
        if (name === 'data') {
          dataChars += value.length + 1;
          if (dataChars > MAX_ANSWER_BYTES) throw new TtsError('E_SERVER_RESPONSE', `The event stream sent an event larger than ${MAX_ANSWER_BYTES} characters; is --server the tts-queue service?`);
          fields.data.push(value);
        } else if (name === 'event') fields.type = value;
        else if (name === 'id') fields.id = value;
      }
      newline = buffer.indexOf('\n');
    }
  }
}
