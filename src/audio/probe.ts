/** What a media file holds, as ffprobe tells it from the content (never from the file name). */

import { ffprobePath } from './binaries.js';
import { lastLine, runBinary } from './run-binary.js';
import { TtsError } from '../errors.js';

export interface ProbeResult {
  /** ffprobe's demuxer names, e.g. ["mov", "mp4", "m4a", ...] or ["wav"]. */
  containers: string[];
  /** How sure ffprobe is of the demuxer, 0–100: under 50 it is a guess from a few bytes. */
  probeScore: number;
  /** Duration the container announces, when it announces one. */
  durationMs: number | undefined;
  /** True when ffprobe guessed the duration from the bitrate (raw AAC, mp3 without a Xing header). */
  durationIsEstimate: boolean;
  audio: { codec: string; sampleRate: number; channels: number } | undefined;
  hasVideo: boolean;
}

interface FfprobeJson {
  format?: { format_name?: string; duration?: string; probe_score?: number };
  streams?: Array<{ codec_type?: string; codec_name?: string; sample_rate?: string; channels?: number; duration?: string; disposition?: { attached_pic?: number } }>;
}

/** `file:` keeps ffmpeg from reading a path as a protocol (`concat:`, `http:`, ...) or an option. */
export function asFileUrl(path: string): string {
  return `file:${path}`;
}

export async function probeMedia(path: string, options: { signal?: AbortSignal } = {}): Promise<ProbeResult> {
  const result = await runBinary(ffprobePath(), ['-v', 'warning', '-print_format', 'json', '-show_format', '-show_streams', asFileUrl(path)], {
    timeoutMs: 15_000,
    signal: options.signal,
    maxStdoutBytes: 1024 * 1024,
  });
  if (result.exitCode !== 0) {
    throw new TtsError('E_AUDIO_UNREADABLE', `The file cannot be read as audio (${lastLine(result.stderr)}). Send a wav, mp3, m4a, ogg/opus, webm or flac recording.`);
  }
  let parsed: FfprobeJson;
  try {
    parsed = JSON.parse(result.stdout.toString('utf8')) as FfprobeJson;
  } catch (error) {
    throw new TtsError('E_AUDIO_UNREADABLE', 'ffprobe gave no readable description of the file.', { cause: error });
  }
  const streams = parsed.streams ?? [];
  const audioStream = streams.find((s) => s.codec_type === 'audio');
  const formatDuration = Number(parsed.format?.duration);
  const streamDuration = Number(audioStream?.duration);
  const durationSeconds = Number.isFinite(streamDuration) && streamDuration > 0 ? streamDuration : formatDuration;
  return {
    containers: (parsed.format?.format_name ?? '').split(',').filter(Boolean),
    probeScore: parsed.format?.probe_score ?? 0,
    durationMs: Number.isFinite(durationSeconds) && durationSeconds > 0 ? durationSeconds * 1000 : undefined,
    audio: audioStream && {
      codec: audioStream.codec_name ?? 'unknown',
      sampleRate: Number(audioStream.sample_rate) || 0,
      channels: audioStream.channels ?? 0,
    },
    durationIsEstimate: /Estimating duration from bitrate/u.test(result.stderr),
    hasVideo: streams.some((s) => s.codec_type === 'video' && s.disposition?.attached_pic !== 1),
  };
}
