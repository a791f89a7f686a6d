/**
 * Subtitles from a result's timeline (where each segment's audio lies): one cue per sentence,
 * a long sentence split into several cues, written as WebVTT or SRT.
 *
 * Timing: a segment's cues cover exactly its span, so every segment boundary is a cue boundary
 * and the pauses between segments have no cue. Inside a segment, sentence (and cue) boundaries
 * are placed by the engine's timing when it reports one (`marks`: text offsets with their time),
 * else in proportion to how long each stretch takes to say (its speakable weight, below). No
 * engine reports timings today, so cues inside a segment are estimates; segment boundaries are exact.
 *
 * Layout: a cue holds at most `maxLines` lines (2) of at most `maxLineChars` columns (42), the
 * usual readability limits; a wide character (CJK, full-width punctuation) takes two columns, so
 * a Chinese line holds 21 characters. A sentence that does not fit is cut into several cues: its words
 * are packed greedily into lines, lines into cues; a cue ends early after clause punctuation
 * when it is already at least half full; a word longer than a line is cut.
 */

import type { TimelineEntry } from '../backends/backend.js';
import { isSpeakable } from './normalize.js';
import { sentencesOf, wordsOf } from './segment.js';

export interface SubtitleCue {
  startMs: number;
  endMs: number;
  /** One to `maxLines` lines, joined by '\n'. */
  text: string;
}

/** An engine's timing of a point in a segment's text: `offset` (UTF-16, in the entry's `text`) is spoken `ms` after the segment starts. */
export interface TimingMark {
  offset: number;
  ms: number;
}

export interface CueOptions {
  /** Longest line, in columns: a wide (CJK) character takes two (default 42). */
  maxLineChars?: number;
  /** Most lines in a cue (default 2). */
  maxLines?: number;
  /** Per timeline entry (same index), the engine's timing marks, if it reported any. */
  marks?: ReadonlyArray<readonly TimingMark[] | undefined>;
}

export const DEFAULT_MAX_LINE_CHARS = 42;
export const DEFAULT_MAX_LINES = 2;

const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;
const LETTER_OR_DIGIT = /[\p{L}\p{N}]/u;
const BREAK_MARK = /[.!?;:,。！？；：，、…—]/u;
const CLAUSE_END = /[,;:，、；：—…]$/u;

// East Asian Wide and Fullwidth characters, the ones subtitles count as two columns.
const WIDE = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\u3000-\u303f\uff00-\uff60\uffe0-\uffe6]/u;

/** Columns `text` takes on screen: two per wide character, one per other code point. */
export function displayWidth(text: string): number {
  let width = 0;
  for (const char of text) width += WIDE.test(char) ? 2 : 1;
  return width;
}

/**
 * Roughly how long a character takes to say, in units of a Latin letter: a CJK character is a
 * syllable (about three letters), punctuation a short pause, white space a little.
 */
function weightOf(char: string): number {
  if (CJK.test(char)) return 3;
  if (LETTER_OR_DIGIT.test(char)) return 1;
  if (BREAK_MARK.test(char)) return 2;
  return /\s/u.test(char) ? 0.5 : 0;
}

/** Maps offsets in one entry's text to times (ms from the start of the result). */
class Clock {
  /** Cumulative weight before each UTF-16 offset (length + 1 entries). */
  private readonly weights: number[];
  /** Anchors (weight → ms), ascending: the segment's start, any marks, its end. */
  private readonly anchors: Array<{ weight: number; ms: number }>;

  constructor(
    text: string,
    private readonly entry: TimelineEntry,
    marks: readonly TimingMark[] | undefined,
  ) {
    this.weights = [0];
    let total = 0;
    for (const char of text) {
      total += weightOf(char);
      for (let i = 0; i < char.length; i++) this.weights.push(total);
    }
    const span = Math.max(0, entry.endMs - entry.startMs);
    this.anchors = [{ weight: 0, ms: 0 }];
    for (const mark of [...(marks ?? [])].sort((a, b) => a.offset - b.offset)) {
      if (!(mark.offset > 0 && mark.offset < text.length && mark.ms >= 0)) continue;
      const last = this.anchors[this.anchors.length - 1]!;
      const weight = this.weights[mark.offset]!;
      // Marks out of order in time, or at a point already anchored, are ignored.
      if (weight > last.weight && mark.ms >= last.ms && mark.ms <= span) this.anchors.push({ weight, ms: mark.ms });
    }
    const last = this.anchors[this.anchors.length - 1]!;
    if (total > last.weight) this.anchors.push({ weight: total, ms: span });
    else last.ms = span;
  }

  /** The time of `offset` in the entry's text. */
  at(offset: number): number {
    const weight = this.weights[Math.max(0, Math.min(offset, this.weights.length - 1))]!;
    let i = 1;
    while (i < this.anchors.length - 1 && this.anchors[i]!.weight < weight) i++;
    const from = this.anchors[i - 1]!;
    const to = this.anchors[i] ?? from;
    const fraction = to.weight > from.weight ? Math.min(1, Math.max(0, (weight - from.weight) / (to.weight - from.weight))) : 1;
    return this.entry.startMs + from.ms + fraction * (to.ms - from.ms);
  }
}

/** A stretch of an entry's text: [start, end) UTF-16 offsets. */
interface Span {
  start: number;
  end: number;
}

/** The entry's sentences as spans; a sentence with nothing to say (only punctuation) joins its neighbour. */
function sentenceSpans(text: string): Span[] {
  const spans: Span[] = [];
  let offset = 0;
  for (const sentence of sentencesOf(text)) {
    const span = { start: offset, end: offset + sentence.length };
    offset = span.end;
    const last = spans[spans.length - 1];
    if (last !== undefined && (!isSpeakable(sentence) || !isSpeakable(text.slice(last.start, last.end)))) last.end = span.end;
    else spans.push(span);
  }
  return spans;
}

/** Cuts a word wider than a line into runs of at most `max` columns (a character wider than that alone on a run). */
function cutWord(word: string, start: number, max: number): Array<Span & { text: string }> {
  const runs: Array<Span & { text: string }> = [];
  let run = '';
  let runStart = start;
  let columns = 0;
  for (const char of word) {
    const width = displayWidth(char);
    if (columns + width > max && run.length > 0) {
      runs.push({ start: runStart, end: runStart + run.length, text: run });
      runStart += run.length;
      run = '';
      columns = 0;
    }
    run += char;
    columns += width;
  }
  if (run.length > 0) runs.push({ start: runStart, end: runStart + run.length, text: run });
  return runs;
}

interface Line extends Span {
  text: string;
}

/** One sentence laid out: lines of at most `maxLineChars`, grouped into cues of at most `maxLines`. */
function layOut(text: string, sentence: Span, maxLineChars: number, maxLines: number): Line[][] {
  // Lines: words packed greedily; white space at a line's ends is dropped.
  const lines: Line[] = [];
  let current: Line | undefined;
  const add = (word: string, start: number): void => {
    const blank = word.trim() === '';
    if (current === undefined) {
      if (blank) return;
      current = { start, end: start + word.length, text: word };
      return;
    }
    const joined = current.text + word;
    if (blank || displayWidth(joined.trimEnd()) <= maxLineChars) {
      current.text = joined;
      current.end = start + word.length;
      return;
    }
    lines.push(current);
    current = { start, end: start + word.length, text: word };
  };
  let offset = sentence.start;
  for (const word of wordsOf(text.slice(sentence.start, sentence.end))) {
    if (displayWidth(word) > maxLineChars) for (const run of cutWord(word, offset, maxLineChars)) add(run.text, run.start);
    else add(word, offset);
    offset += word.length;
  }
  if (current !== undefined) lines.push(current);
  for (const line of lines) line.text = line.text.replace(/\s+/gu, ' ').trim();

  // Cues: lines grouped; a cue ends early after a clause when it is at least half full.
  const cues: Line[][] = [];
  let cue: Line[] = [];
  for (const line of lines) {
    cue.push(line);
    const full = cue.length === maxLines;
    const clause = cue.length * 2 >= maxLines && CLAUSE_END.test(line.text);
    if (full || (clause && line !== lines[lines.length - 1])) {
      cues.push(cue);
      cue = [];
    }
  }
  if (cue.length > 0) cues.push(cue);
  return cues;
}

/** The cues of a result, in order, from its timeline (see the module's comment for the rules). */
export function buildCues(timeline: readonly TimelineEntry[], options: CueOptions = {}): SubtitleCue[] {
  const maxLineChars = options.maxLineChars ?? DEFAULT_MAX_LINE_CHARS;
  const maxLines = options.maxLines ?? DEFAULT_MAX_LINES;
  if (!Number.isInteger(maxLineChars) || maxLineChars < 1 || !Number.isInteger(maxLines) || maxLines < 1) {
    throw new RangeError(`Expected whole numbers from 1 for maxLineChars and maxLines, got ${maxLineChars} and ${maxLines}`);
  }
  const cues: SubtitleCue[] = [];
  timeline.forEach((entry, index) => {
    // A line break ends a sentence (as in the segmenter); on screen, white space is one space (layOut).
    const { text } = entry;
    const clock = new Clock(text, entry, options.marks?.[index]);
    const pieces: Array<{ start: number; end: number; text: string }> = [];
    for (const sentence of sentenceSpans(text)) {
      for (const lines of layOut(text, sentence, maxLineChars, maxLines)) {
        pieces.push({ start: lines[0]!.start, end: lines[lines.length - 1]!.end, text: lines.map((line) => line.text).join('\n') });
      }
    }
    // The segment's cues cover its whole span, end to end: each cue ends where the next starts.
    pieces.forEach((piece, i) => {
      const startMs = i === 0 ? entry.startMs : clock.at(piece.start);
      const endMs = i === pieces.length - 1 ? entry.endMs : clock.at(pieces[i + 1]!.start);
      cues.push({ startMs, endMs, text: piece.text });
    });
  });
  return cues;
}

/** `hh:mm:ss.mmm` (VTT, separator '.') or `hh:mm:ss,mmm` (SRT, ','). */
export function formatTimestamp(ms: number, separator: '.' | ','): string {
  const total = Math.max(0, Math.round(ms));
  const hours = Math.floor(total / 3_600_000);
  const minutes = Math.floor(total / 60_000) % 60;
  const seconds = Math.floor(total / 1000) % 60;
  const millis = total % 1000;
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${two(hours)}:${two(minutes)}:${two(seconds)}${separator}${String(millis).padStart(3, '0')}`;
}

/** Whole milliseconds, each cue at least 1 ms long (a parser refuses an end that is not after the start). */
function rounded(cue: SubtitleCue): { start: number; end: number } {
  const start = Math.max(0, Math.round(cue.startMs));
  return { start, end: Math.max(start + 1, Math.round(cue.endMs)) };
}

/** WebVTT: `&`, `<` and `>` escaped (so "-->" in a text cannot end up read as a timing). */
export function toWebVtt(cues: readonly SubtitleCue[]): string {
  const blocks = cues.map((cue, i) => {
    const { start, end } = rounded(cue);
    const text = cue.text.replace(/&/gu, '&amp;').replace(/</gu, '&lt;').replace(/>/gu, '&gt;');
    return `${i + 1}\n${formatTimestamp(start, '.')} --> ${formatTimestamp(end, '.')}\n${text}\n`;
  });
  return ['WEBVTT\n', ...blocks].join('\n');
}

/** SRT: numbered from 1; SRT has no escapes, so "-->" in a text is written "->" (a line that holds it could be read as a timing). */
export function toSrt(cues: readonly SubtitleCue[]): string {
  return cues
    .map((cue, i) => {
      const { start, end } = rounded(cue);
      return `${i + 1}\n${formatTimestamp(start, ',')} --> ${formatTimestamp(end, ',')}\n${cue.text.replace(/-->/gu, '->')}\n`;
    })
    .join('\n');
}

export const SUBTITLE_FORMATS = {
  vtt: { contentType: 'text/vtt; charset=utf-8', extension: 'vtt', write: toWebVtt },
  srt: { contentType: 'application/x-subrip; charset=utf-8', extension: 'srt', write: toSrt },
} as const;

export type SubtitleFormat = keyof typeof SUBTITLE_FORMATS;
export const SUBTITLE_FORMAT_NAMES = Object.keys(SUBTITLE_FORMATS) as SubtitleFormat[];
