/**
 * Reference-voice normalisation: any accepted recording becomes mono 16-bit PCM WAV at the
 * engine's rate, with leading and trailing silence trimmed and loudness evened out, or is
 * refused with a typed error that says what to send instead.
 */

import { createHash } from 'node:crypto';
import { rename, unlink, writeFile } from 'node:fs/promises';
import { ffmpegPath } from './binaries.js';
import { asFileUrl, probeMedia, type ProbeResult } from './probe.js';
import { lastLine, runBinary } from './run-binary.js';
import { readFileHead, sniffAudioContainer } from './sniff.js';
import { encodeWav } from './wav.js';
import { TtsError } from '../errors.js';

/** Containers accepted as a reference, by ffprobe's demuxer name (decided by content). */
export const REFERENCE_CONTAINERS = ['wav', 'mp3', 'mov', 'mp4', 'm4a', 'aac', 'ogg', 'matroska', 'webm', 'flac'] as const;

export interface ReferenceLimits {
  /** Least speech kept after trimming silence. */
  minSpeechMs: number;
  /** Most speech kept after trimming silence. */
  maxSpeechMs: number;
  /** Files that announce more than this are refused before decoding. */
  maxFileMs: number;
}

export const DEFAULT_REFERENCE_LIMITS: ReferenceLimits = { minSpeechMs: 2_000, maxSpeechMs: 30_000, maxFileMs: 60_000 };

export interface NormalizeReferenceOptions {
  sampleRate: number;
  /** Where the normalised WAV is written. */
  outPath: string;
  limits?: Partial<ReferenceLimits>;
  signal?: AbortSignal;
}

export interface NormalizedReference {
  path: string;
  sampleRate: number;
  /** Speech kept, after trimming. */
  durationMs: number;
  /** sha256 of the normalised WAV: the key for per-voice caches. */
  sha256: string;
  source: ProbeResult;
}

const FRAME_MS = 10;
const SILENCE_FLOOR_DB = -50;
/** A frame is speech when within this many dB of the loudest frame (and above the floor). */
const SPEECH_RANGE_DB = 40;
const EDGE_PADDING_MS = 60;
const TARGET_RMS_DB = -20;
const PEAK_CEILING = 0.89; // -1 dBFS
/** Decoded audio shorter than this share of the announced duration means the file is cut short. */
const TRUNCATION_RATIO = 0.9;
/** ffprobe's AVPROBE_SCORE_EXTENSION: below it a demuxer was guessed, not recognised. */
const PROBE_SCORE_RECOGNISED = 50;

function frameLevelsDb(samples: Int16Array, frameSize: number): Float64Array {
  const frames = Math.ceil(samples.length / frameSize);
  const levels = new Float64Array(frames);
  for (let f = 0; f < frames; f++) {
    let sum = 0;
    const end = Math.min(samples.length, (f + 1) * frameSize);
    for (let i = f * frameSize; i < end; i++) {
      const v = (samples[i] ?? 0) / 32768;
      sum += v * v;
    }
    const rms = Math.sqrt(sum / Math.max(1, end - f * frameSize));
    levels[f] = rms > 0 ? 20 * Math.log10(rms) : -120;
  }
  return levels;
}

function checkSource(source: ProbeResult, limits: ReferenceLimits): void {
  if (!source.containers.some((c) => (REFERENCE_CONTAINERS as readonly string[]).includes(c))) {
    // ffprobe names a demuxer for about one file of random bytes in a hundred (lyrics at score 5,
    // raw H.263 at 25): a guess, or a format with neither sound nor picture, is not media.
    if (source.probeScore < PROBE_SCORE_RECOGNISED || (source.audio === undefined && !source.hasVideo)) {
      throw new TtsError('E_AUDIO_UNREADABLE', 'The reference is not an audio recording; send a wav, mp3, m4a/aac, ogg/opus, webm or flac file.');
    }
    throw new TtsError('E_AUDIO_UNSUPPORTED_FORMAT', `The reference is "${source.containers.join(',') || 'unknown'}" media; send wav, mp3, m4a/aac, ogg/opus, webm or flac.`);
  }
  if (source.audio === undefined) {
    throw new TtsError('E_AUDIO_NO_AUDIO_STREAM', `The reference has no audio stream${source.hasVideo ? ' (it is a video without sound)' : ''}; send a recording of the voice.`);
  }
  if (source.durationMs !== undefined && source.durationMs > limits.maxFileMs) {
    throw new TtsError('E_AUDIO_TOO_LONG', `The reference lasts ${(source.durationMs / 1000).toFixed(1)} s; send at most ${limits.maxSpeechMs / 1000} s of speech (3–10 s is best).`);
  }
}

/**
 * Whether a file can be a reference, by its content: readable media, an accepted container, an
 * audio stream, not far too long. The one rule for every upload (voices and synthesis requests,
 * checked before they are accepted) and for every reference normalised later.
 */
/**
 * Checks a reference by content, never by name: its first bytes must be those of an accepted
 * container (magic bytes), then ffprobe must find an audio stream of an accepted length.
 */
export async function inspectReference(inputPath: string, options: { limits?: Partial<ReferenceLimits>; signal?: AbortSignal } = {}): Promise<ProbeResult> {
  const limits = { ...DEFAULT_REFERENCE_LIMITS, ...options.limits };
  const sniffed = sniffAudioContainer(await readFileHead(inputPath));
  const source = await probeMedia(inputPath, { signal: options.signal });
  // ffprobe still runs for a file that fails the first gate: it tells other media (a video, an
  // AIFF: E_AUDIO_UNSUPPORTED_FORMAT) from something that is not media at all.
  checkSource(source, limits);
  if (sniffed === undefined) {
    throw new TtsError('E_AUDIO_UNREADABLE', 'The reference does not start like a wav, mp3, m4a/aac, ogg/opus, webm or flac file; send one of those.');
  }
  return source;
}

export async function normalizeReference(inputPath: string, options: NormalizeReferenceOptions): Promise<NormalizedReference> {
  const limits = { ...DEFAULT_REFERENCE_LIMITS, ...options.limits };
  const { sampleRate, outPath, signal } = options;
  const source = await inspectReference(inputPath, { limits, signal });

  const maxDecodeSeconds = limits.maxFileMs / 1000 + 1;
  const decoded = await runBinary(
    ffmpegPath(),
    [
      '-nostdin',
      '-v',
      'error',
      '-i',
      asFileUrl(inputPath),
      '-map',
      '0:a:0',
      '-vn',
      '-sn',
      '-dn',
      '-t',
      String(maxDecodeSeconds),
      '-ac',
      '1',
      '-ar',
      String(sampleRate),
      '-c:a',
      'pcm_s16le',
      '-f',
      's16le',
      'pipe:1',
    ],
    { timeoutMs: 30_000, signal, maxStdoutBytes: Math.ceil(maxDecodeSeconds * sampleRate * 2) + 4096 },
  );
  if (decoded.exitCode !== 0 && decoded.stdout.length === 0) {
    throw new TtsError('E_AUDIO_UNREADABLE', `The reference cannot be decoded (${lastLine(decoded.stderr)}). Send a wav, mp3, m4a, ogg/opus, webm or flac recording.`);
  }
  const bytes = decoded.stdout.length - (decoded.stdout.length % 2);
  const samples = new Int16Array(decoded.stdout.buffer, decoded.stdout.byteOffset, bytes / 2).slice();
  const decodedMs = (samples.length / sampleRate) * 1000;
  if (source.durationMs !== undefined && !source.durationIsEstimate && decodedMs < source.durationMs * TRUNCATION_RATIO - 100) {
    throw new TtsError(
      'E_AUDIO_TRUNCATED',
      `The reference announces ${(source.durationMs / 1000).toFixed(1)} s but only ${(decodedMs / 1000).toFixed(1)} s could be decoded: the file is cut short. Send the whole file.`,
    );
  }

  const frameSize = Math.max(1, Math.round((sampleRate * FRAME_MS) / 1000));
  const levels = frameLevelsDb(samples, frameSize);
  const loudest = levels.reduce((max, level) => Math.max(max, level), -120);
  if (loudest < SILENCE_FLOOR_DB) {
    throw new TtsError('E_AUDIO_SILENT', 'The reference is silent (or nearly so); record the voice closer to the microphone.');
  }
  const threshold = Math.max(SILENCE_FLOOR_DB, loudest - SPEECH_RANGE_DB);
  const firstFrame = levels.findIndex((level) => level >= threshold);
  const lastFrame = levels.findLastIndex((level) => level >= threshold);
  const padding = Math.round(EDGE_PADDING_MS / FRAME_MS);
  const startSample = Math.max(0, firstFrame - padding) * frameSize;
  const endSample = Math.min(samples.length, (lastFrame + 1 + padding) * frameSize);
  const speech = samples.slice(startSample, endSample);
  const speechMs = (speech.length / sampleRate) * 1000;
  if (speechMs < limits.minSpeechMs) {
    throw new TtsError('E_AUDIO_TOO_SHORT', `The reference holds ${(speechMs / 1000).toFixed(1)} s of speech; send at least ${limits.minSpeechMs / 1000} s (3–10 s is best).`);
  }
  if (speechMs > limits.maxSpeechMs) {
    throw new TtsError('E_AUDIO_TOO_LONG', `The reference holds ${(speechMs / 1000).toFixed(1)} s of speech; send at most ${limits.maxSpeechMs / 1000} s (3–10 s is best).`);
  }

  // Even out loudness: bring the speech frames' RMS to the target, without letting peaks clip.
  let sum = 0;
  let count = 0;
  let peak = 0;
  for (let f = firstFrame; f <= lastFrame; f++) {
    if ((levels[f] ?? -120) < threshold) continue;
    const end = Math.min(samples.length, (f + 1) * frameSize);
    for (let i = f * frameSize; i < end; i++) {
      const v = (samples[i] ?? 0) / 32768;
      sum += v * v;
      count++;
    }
  }
  for (const v of speech) peak = Math.max(peak, Math.abs(v) / 32768);
  const speechRms = Math.sqrt(sum / Math.max(1, count));
  const gain = Math.min(10 ** (TARGET_RMS_DB / 20) / speechRms, PEAK_CEILING / Math.max(peak, 1e-6));
  for (let i = 0; i < speech.length; i++) {
    speech[i] = Math.max(-32768, Math.min(32767, Math.round((speech[i] ?? 0) * gain)));
  }

  const wav = encodeWav({ sampleRate, channels: 1, samples: speech });
  const partial = `${outPath}.partial`;
  try {
    await writeFile(partial, wav);
    await rename(partial, outPath);
  } catch (error) {
    await unlink(partial).catch(() => undefined);
    throw error;
  }
  return {
    path: outPath,
    sampleRate,
    durationMs: speechMs,
    sha256: createHash('sha256').update(wav).digest('hex'),
    source,
  };
}
