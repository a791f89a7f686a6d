/**
 * A result's timeline: where each segment's audio lies in the final file, pauses and playback
 * speed included. Subtitles (text/subtitles.ts) and chapter times are made from it. Assembly
 * writes it beside the result (BlobStore.timelinePath) with the result's retention.
 */

import type { TimelineEntry } from '../backends/backend.js';

export interface TimelineSegment {
  /** The segment's text as the engine read it. */
  text: string;
  /** The part it belongs to (0 without parts). */
  part?: number;
  /** Its audio's length as synthesised (before speed): AudioSink's `segmentDurationsMs`. */
  durationMs: number;
}

export interface TimelineOptions {
  /** Silence after each segment, in input time (before speed); the last one's, if any, is not in the audio. */
  pausesAfterMs: readonly number[];
  /** Playback speed the audio was encoded at (absent: 1): every time is divided by it. */
  speed?: number;
}

/** The timeline of segments joined in order with the given pauses, at the given speed. */
export function buildTimeline(segments: readonly TimelineSegment[], options: TimelineOptions): TimelineEntry[] {
  const speed = options.speed ?? 1;
  if (!(speed > 0)) throw new RangeError(`Expected a positive speed, got ${speed}`);
  const entries: TimelineEntry[] = [];
  let at = 0;
  segments.forEach((segment, i) => {
    if (i > 0) at += Math.max(0, options.pausesAfterMs[i - 1] ?? 0);
    const start = at;
    at += Math.max(0, segment.durationMs);
    entries.push({ text: segment.text, part: segment.part ?? 0, startMs: round(start / speed), endMs: round(at / speed) });
  });
  return entries;
}

/** To a tenth of a millisecond: exact enough, and short in JSON. */
function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
