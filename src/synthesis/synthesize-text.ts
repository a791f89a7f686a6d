/**
 * Text (and an optional reference voice) to one audio file, through a started engine pool:
 * normalise and split the text, normalise the reference once, run the segments on every host
 * at once (retrying the retryable failures), then join and encode. The CLI's `say` stands on
 * this; the service's worker reuses its parts.
 */

import { mkdtemp, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { AudioSink, type OutputFormat } from '../audio/output.js';
import { normalizeReference, type NormalizedReference } from '../audio/reference.js';
import type { EnginePool } from '../engines/engine-pool.js';
import type { Pronunciation, VoiceReference } from '../engines/protocol.js';
import { TtsError, toTtsError } from '../errors.js';
import { charCount, isSpeakable, normalizeText } from '../text/normalize.js';
import { splitText, type Segment } from '../text/segment.js';

/** Default text limit: about a 250-page book. Longer texts are refused, not truncated. */
export const DEFAULT_MAX_TEXT_CHARS = 100_000;

export interface SynthesizeTextOptions {
  text: string;
  pool: EnginePool;
  format: OutputFormat;
  outPath: string;
  /** A recording of the voice to follow (any accepted format; normalised here). */
  voicePath?: string;
  /** Transcript of the reference. */
  promptText?: string;
  pronunciations?: Pronunciation[];
  seed?: number;
  /** Silence between segments. */
  pauseMs?: number;
  maxTextChars?: number;
  /** Attempts per segment for retryable failures (engine crash, timeout, out of memory). */
  maxAttempts?: number;
  signal?: AbortSignal;
  onProgress?: (progress: { done: number; total: number }) => void;
}

export interface SynthesisResult {
  outPath: string;
  format: OutputFormat;
  durationMs: number;
  bytes: number;
  sampleRate: number;
  segments: number;
  /** Segment attempts that failed and were run again. */
  retries: number;
}

/** Normalises text and enforces the limits; returns what the engine will read. */
export function prepareText(text: string, maxChars = DEFAULT_MAX_TEXT_CHARS): string {
  // Check the raw length first, so a hostile 1 GB string is refused before any work on it.
  if (text.length > maxChars * 4) throw tooLong(charCount(text), maxChars);
  const normalized = normalizeText(text);
  if (!isSpeakable(normalized)) {
    throw new TtsError('E_TEXT_EMPTY', normalized === '' ? 'The text is empty; give some text to read.' : 'The text has nothing to read aloud (only punctuation or symbols).');
  }
  const chars = charCount(normalized);
  if (chars > maxChars) throw tooLong(chars, maxChars);
  return normalized;
}

function tooLong(chars: number, maxChars: number): TtsError {
  return new TtsError('E_TEXT_TOO_LONG', `The text has ${chars} characters; the limit is ${maxChars}. Split it into several requests.`);
}

const RETRY_BACKOFF_MS = 200;

export async function synthesizeText(options: SynthesizeTextOptions): Promise<SynthesisResult> {
  const { pool, maxAttempts = 3, pauseMs = 200 } = options;
  // One failed segment stops the others; the scratch folder goes only once every host is done with it.
  const stopAll = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stopAll.signal]) : stopAll.signal;
  // Every segment waiting for a host listens to this signal: thousands of listeners are expected.
  setMaxListeners(0, signal);
  const capabilities = pool.capabilities;
  if (capabilities === undefined) throw new TtsError('E_INTERNAL', 'synthesizeText needs a started engine pool.');
  const text = prepareText(options.text, options.maxTextChars);
  const segments = splitText(text, { maxChars: capabilities.maxSegmentChars })
    .filter((s) => isSpeakable(s.text))
    .map((s, index) => ({ ...s, index }));
  if (capabilities.requiresVoice && options.voicePath === undefined) {
    throw new TtsError('E_INVALID_ARGUMENT', `The "${capabilities.engine}" engine needs a reference voice.`);
  }

  const scratch = await mkdtemp(join(tmpdir(), 'tts-queue-'));
  try {
    let reference: NormalizedReference | undefined;
    if (options.voicePath !== undefined) {
      reference = await normalizeReference(options.voicePath, { sampleRate: capabilities.sampleRates[0]!, outPath: join(scratch, 'reference.wav'), signal });
    }
    const voice: VoiceReference | undefined = reference && { audioPath: reference.path, sha256: reference.sha256, promptText: options.promptText ?? '' };

    let done = 0;
    let retries = 0;
    // Finished segments are written (and encoded) in order while later ones are still being synthesised.
    const sink = new AudioSink(options.format, options.outPath, { pauseMs });
    const finished: Array<string | undefined> = new Array(segments.length).fill(undefined);
    let nextToJoin = 0;
    let joining: Promise<void> = Promise.resolve();
    const joinReady = (): void => {
      joining = joining.then(async () => {
        while (nextToJoin < segments.length && finished[nextToJoin] !== undefined) {
          await sink.append(finished[nextToJoin]!);
          await unlink(finished[nextToJoin]!); // joined: a long book need not sit on disk twice
          nextToJoin++;
        }
      });
      joining.catch(() => stopAll.abort());
    };
    options.onProgress?.({ done, total: segments.length });
    const runSegment = async (segment: Segment): Promise<string> => {
      const outPath = join(scratch, `segment-${String(segment.index).padStart(6, '0')}.wav`);
      for (let attempt = 1; ; attempt++) {
        try {
          await pool.synthesize(
            { text: segment.text.trim(), outPath, voice, seed: options.seed, pronunciations: options.pronunciations?.length ? options.pronunciations : undefined },
            { signal },
          );
          done++;
          options.onProgress?.({ done, total: segments.length });
          finished[segment.index] = outPath;
          joinReady();
          return outPath;
        } catch (error) {
          const failure = toTtsError(error);
          if (!failure.retryable || attempt >= maxAttempts || signal?.aborted) throw failure;
          retries++;
          await sleep(RETRY_BACKOFF_MS * attempt, undefined, { signal });
        }
      }
    };
    // Every segment is handed to the pool at once; it runs as many as its hosts take (their maxBatch).
    const settled = await Promise.allSettled(
      segments.map((segment) =>
        runSegment(segment).catch((error: unknown) => {
          stopAll.abort();
          throw error;
        }),
      ),
    );
    const joinFailure = await joining.then(() => undefined, (error: unknown) => toTtsError(error));
    const failures = settled.flatMap((s) => (s.status === 'rejected' ? [toTtsError(s.reason)] : []));
    if (joinFailure !== undefined) failures.unshift(joinFailure);
    if (failures.length > 0) {
      await sink.abort();
      throw failures.find((f) => f.code !== 'E_CANCELED') ?? failures[0]!;
    }
    const encoded = await sink.finish();
    return { outPath: encoded.path, format: encoded.format, durationMs: encoded.durationMs, bytes: encoded.bytes, sampleRate: encoded.sampleRate, segments: segments.length, retries };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
