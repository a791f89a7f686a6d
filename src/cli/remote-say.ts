/**
 * `tts-queue say --server URL`: the same request as a local `say`, sent to a running service.
 * The progress bar follows the task's Server-Sent Events, the audio is downloaded to --out
 * (whole or not at all), and Ctrl-C cancels the task on the service.
 */

import { createProgressBar } from './progress.js';
import { ServiceClient, parseServerUrl, type RemoteEvent } from './service-client.js';
import type { SayRequest } from './say.js';
import { basename } from 'node:path';
import { TtsError, isErrorCode } from '../errors.js';

export interface RemoteSayOptions {
  server: string;
  /** --key, or TTS_QUEUE_KEY. */
  key?: string;
  engine?: string;
  /** With a reference file: whose voice it is (stating their consent). */
  speakerName?: string;
  reuse: boolean;
  json: boolean;
  quiet: boolean;
}

/** What `say --server --json` prints: a local run's fields, and the task's. */
export interface RemoteResult {
  outPath: string;
  format: string;
  durationMs: number;
  bytes: number;
  sampleRate: number;
  segments: number;
  retries: number;
  taskId: string;
  /** True when the service reused an identical request's result instead of running the engine. */
  cached: boolean;
}

const INTERRUPTED = 'Interrupted; the task was canceled on the service and nothing was written.';

export async function runRemoteSay(request: SayRequest, options: RemoteSayOptions, signal: AbortSignal): Promise<void> {
  const server = parseServerUrl(options.server);
  const key = options.key === '' ? undefined : options.key;
  const client = new ServiceClient(server, key);
  const fields = { ...request.fields };
  if (options.engine !== undefined) fields.engine = options.engine;
  if (request.scriptParts !== undefined) {
    // Each speaker's recording becomes a stored voice on the service (once), stating the consent
    // that --speaker-name gives; the parts name them by id.
    const ids = new Map<string, string>();
    for (const path of new Set(request.scriptParts.flatMap((p) => (p.voicePath === undefined ? [] : [p.voicePath])))) {
      ids.set(path, await client.createVoice(`say script: ${basename(path)}`.slice(0, 100), path, options.speakerName));
    }
    fields.parts = request.scriptParts.map(({ voicePath, ...part }) => (voicePath === undefined ? part : { ...part, voice_id: ids.get(voicePath) }));
  } else if (options.speakerName !== undefined) {
    if (request.voicePath === undefined) throw new TtsError('E_INVALID_ARGUMENT', '--speaker-name goes with --voice: it says whose voice the recording is.');
    fields.consent = true;
    fields.speaker_name = options.speakerName;
  }
  if (!options.reuse) fields.reuse = false;

  const bar = createProgressBar(process.stderr, !options.quiet);
  const started = performance.now();
  if (signal.aborted) throw new TtsError('E_CANCELED', 'Interrupted; nothing was sent.');
  // An interrupt while the submission waits for its answer ends the wait (the task may exist
  // without its id here, and the message says so); once its id is known, an interrupt cancels it.
  const { id } = await client.submit(fields, request.voicePath, signal);
  try {
    let final: RemoteEvent | undefined;
    try {
      if (signal.aborted) throw new TtsError('E_CANCELED', INTERRUPTED);
      for await (const event of client.events(id, signal)) {
        if (event.segments_total > 0) bar.update(event.segments_done, event.segments_total);
        if (event.type === 'status' && ['completed', 'failed', 'canceled'].includes(event.status)) final = event;
      }
    } catch (error) {
      if (!signal.aborted) throw error;
      await client.cancel(id).catch((cancelError: unknown) => {
        throw new TtsError('E_SERVER_UNREACHABLE', `Interrupted, but the task ${id} could not be canceled on the service: ${(cancelError as Error).message}`);
      });
      throw new TtsError('E_CANCELED', INTERRUPTED);
    }
    if (final?.status === 'canceled') throw new TtsError('E_CANCELED', `The task ${id} was canceled on the service; nothing was written.`);
    if (final?.status === 'failed') {
      const { code, message } = final.error ?? { code: 'E_INTERNAL', message: 'The task failed.' };
      throw isErrorCode(code) ? new TtsError(code, message) : new TtsError('E_SERVER_RESPONSE', `${code}: ${message}`);
    }
    const task = await client.task(id);
    if (task.result === null) throw new TtsError('E_SERVER_RESPONSE', `The task ${id} is ${task.status} and has no result.`);
    if (request.subtitles !== undefined) await client.subtitles(id, request.subtitles.format, request.subtitles.path, signal);
    await client.download(id, request.outPath, task.result.bytes, signal);
    bar.finish();
    const result: RemoteResult = {
      outPath: request.outPath,
      format: task.result.format,
      durationMs: task.result.duration_ms,
      bytes: task.result.bytes,
      sampleRate: task.result.sample_rate,
      segments: task.progress.segments_total,
      retries: task.attempts - 1,
      taskId: id,
      cached: task.cached === true,
    };
    if (options.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    if (!options.quiet) {
      const seconds = (performance.now() - started) / 1000;
      process.stderr.write(
        `${result.outPath}: ${result.format}, ${(result.durationMs / 1000).toFixed(1)} s of audio, ${result.segments} segments, ${result.bytes} bytes, ` +
          `${seconds.toFixed(1)} s on ${server.origin} (task ${id}${result.cached ? ', an identical earlier result reused' : ''})${result.retries ? `, ${result.retries} segment retries` : ''}\n`,
      );
    }
  } finally {
    bar.finish();
  }
}
