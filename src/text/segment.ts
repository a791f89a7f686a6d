/**
 * Splits normalised text into segments for an engine: sentences (Intl.Segmenter) packed up to
 * the engine's maximum size; a sentence that is too long is cut at clause punctuation, then at
 * word boundaries, never inside a word or a number. Joining the segments' `text` gives back the
 * input exactly, so offsets map audio back to text.
 */

import { charCount, isSpeakable } from './normalize.js';

export interface Segment {
  /** 0-based position in the task. */
  index: number;
  /** The exact slice of the normalised text, white space included. */
  text: string;
  /** Offset of `text` in the normalised text, in UTF-16 units (as String.prototype.slice). */
  start: number;
}

export interface SplitOptions {
  /** Largest segment, in code points. */
  maxChars: number;
}

// Clause punctuation (Chinese and Latin) after which a long sentence may be cut.
const CLAUSE_END = /[，、；：,;:—…]$/u;

const sentenceSegmenter = new Intl.Segmenter('zh', { granularity: 'sentence' });
const wordSegmenter = new Intl.Segmenter('zh', { granularity: 'word' });
const graphemeSegmenter = new Intl.Segmenter('zh', { granularity: 'grapheme' });

// Node's Intl.Segmenter spends time in proportion to the length of the string for every segment
// it yields, so iterating a long string is quadratic (100,000 characters of words: tens of
// seconds). It is only ever given windows of WINDOW code units; a boundary closer than MARGIN to
// a window's cut end is not trusted (the segmenter saw no text after it), and the next window
// starts at the last trusted boundary. Work is linear in the length of the text.
export const WINDOW = 512;
const MARGIN = 64;

/** Offsets (ascending, after 0 and before `text.length`) where `segmenter` starts a segment. */
function boundaries(segmenter: Intl.Segmenter, text: string): number[] {
  const found: number[] = [];
  let start = 0;
  // Whether `start` is a real boundary. A window may also start inside a segment longer than a
  // window: the segmenter then sees a start there, and what it finds just after is not real.
  let realStart = true;
  for (;;) {
    const end = Math.min(text.length, start + WINDOW);
    const lastWindow = end === text.length;
    const trustedAfter = realStart ? start : start + MARGIN;
    const trustedUpTo = lastWindow ? end : end - MARGIN;
    let lastTrusted = -1;
    for (const { index } of segmenter.segment(text.slice(start, end))) {
      const at = start + index;
      if (at > trustedUpTo) break;
      if (at > trustedAfter && at < text.length) {
        found.push(at);
        lastTrusted = at;
      }
    }
    if (lastWindow) return found;
    if (lastTrusted !== -1) {
      start = lastTrusted;
      realStart = true;
    } else {
      // One segment runs past `trustedUpTo`. The next window overlaps this one by MARGIN, so
      // that once its own untrusted start is skipped, no position is left unexamined.
      start = trustedUpTo - MARGIN;
      realStart = false;
    }
  }
}

/** The segments of `text`, in order, as strings. */
function segmentsOf(segmenter: Intl.Segmenter, text: string): string[] {
  const pieces: string[] = [];
  let previous = 0;
  for (const at of boundaries(segmenter, text)) {
    pieces.push(text.slice(previous, at));
    previous = at;
  }
  if (previous < text.length) pieces.push(text.slice(previous));
  return pieces;
}

/** The sentences of `text` (Intl.Segmenter's, white space kept): joined, they give back `text`. */
export function sentencesOf(text: string): string[] {
  return segmentsOf(sentenceSegmenter, text);
}

/** The words of `text` (Intl.Segmenter's; white space and punctuation are words of their own): joined, they give back `text`. */
export function wordsOf(text: string): string[] {
  return segmentsOf(wordSegmenter, text);
}

/**
 * Groups a sentence's words into clauses, cut after clause punctuation (the punctuation and any
 * following spaces stay with the clause).
 */
function clauses(words: string[]): string[][] {
  const grouped: string[][] = [];
  let clause: string[] = [];
  // Whether the clause so far, trailing white space aside, ends with clause punctuation.
  let endsWithClauseMark = false;
  for (const word of words) {
    const blank = word.trim() === '';
    if (endsWithClauseMark && !blank) {
      grouped.push(clause);
      clause = [];
    }
    if (!blank) endsWithClauseMark = CLAUSE_END.test(word.trimEnd());
    clause.push(word);
  }
  if (clause.length > 0) grouped.push(clause);
  return grouped;
}

// Grapheme rules look only a few characters back or ahead, bar pathological runs.
const GRAPHEME_CONTEXT = 32;

/** The last grapheme boundary in (from, cut] of `word`; `cut` itself if none is found near it. */
function graphemeBoundaryBefore(word: string, from: number, cut: number): number {
  const windowStart = Math.max(from, cut - GRAPHEME_CONTEXT);
  const trustedAfter = windowStart === from ? from : windowStart + GRAPHEME_CONTEXT / 4;
  let best = -1;
  for (const { index } of graphemeSegmenter.segment(word.slice(windowStart, cut + 4))) {
    const at = windowStart + index;
    if (at > cut) break;
    if (at > trustedAfter) best = at;
  }
  return best === -1 ? cut : best;
}

/**
 * Last resort for a "word" longer than a whole segment (a URL, a 500-digit number): runs of at
 * most `maxChars` code points, cut between graphemes (a letter keeps its accents, an emoji
 * sequence stays whole) unless one grapheme is itself that long.
 */
function cutLongWord(word: string, maxChars: number): string[] {
  const runs: string[] = [];
  let from = 0;
  while (from < word.length) {
    let cut = from;
    for (let chars = 0; chars < maxChars && cut < word.length; chars++) cut += word.codePointAt(cut)! > 0xffff ? 2 : 1;
    if (cut < word.length) cut = graphemeBoundaryBefore(word, from, cut);
    runs.push(word.slice(from, cut));
    from = cut;
  }
  return runs;
}

/** Greedy packing of pieces, in order, into parts of at most `maxChars` code points. */
class Packer {
  readonly parts: string[] = [];
  private current: string[] = [];
  private currentChars = 0;

  constructor(private readonly maxChars: number) {}

  add(piece: string, chars = charCount(piece)): void {
    if (this.currentChars + chars > this.maxChars) this.flush();
    this.current.push(piece);
    this.currentChars += chars;
  }

  flush(): void {
    if (this.current.length > 0) this.parts.push(this.current.join(''));
    this.current = [];
    this.currentChars = 0;
  }
}

/**
 * Packs sentences greedily; a sentence that does not fit on its own is packed on its own from its
 * clauses, and a clause that does not fit from its words, so a cut inside a sentence always
 * falls at the best boundary that sentence has.
 */
function pack(text: string, maxChars: number): string[] {
  const packer = new Packer(maxChars);
  for (const sentence of segmentsOf(sentenceSegmenter, text)) {
    const sentenceChars = charCount(sentence);
    if (sentenceChars <= maxChars) {
      packer.add(sentence, sentenceChars);
      continue;
    }
    packer.flush();
    for (const clause of clauses(segmentsOf(wordSegmenter, sentence))) {
      const clauseText = clause.join('');
      const clauseChars = charCount(clauseText);
      if (clauseChars <= maxChars) {
        packer.add(clauseText, clauseChars);
        continue;
      }
      packer.flush();
      for (const word of clause) {
        const wordChars = charCount(word);
        if (wordChars <= maxChars) packer.add(word, wordChars);
        else for (const run of cutLongWord(word, maxChars)) packer.add(run);
      }
      packer.flush();
    }
    packer.flush();
  }
  packer.flush();
  return packer.parts;
}

/**
 * A segment with nothing to say (only punctuation or white space) is merged into its
 * neighbour when the result still fits, so that engines are not handed "……".
 */
function mergeUnspeakable(parts: string[], maxChars: number): string[] {
  const merged: string[] = [];
  // Kept beside `merged` so that merging many small parts does not rescan the growing text.
  const mergedChars: number[] = [];
  const mergedSpeakable: boolean[] = [];
  for (const part of parts) {
    const chars = charCount(part);
    const speakable = isSpeakable(part);
    const last = merged.length - 1;
    if (last >= 0 && (!speakable || !mergedSpeakable[last]!) && mergedChars[last]! + chars <= maxChars) {
      merged[last] += part;
      mergedChars[last]! += chars;
      mergedSpeakable[last] = mergedSpeakable[last]! || speakable;
    } else {
      merged.push(part);
      mergedChars.push(chars);
      mergedSpeakable.push(speakable);
    }
  }
  return merged;
}

export function splitText(text: string, options: SplitOptions): Segment[] {
  const { maxChars } = options;
  if (!Number.isInteger(maxChars) || maxChars < 1) {
    throw new RangeError(`Expected maxChars to be an integer from 1 and up, got ${String(maxChars)}`);
  }
  const parts = mergeUnspeakable(pack(text, maxChars), maxChars);
  const segments: Segment[] = [];
  let offset = 0;
  for (const part of parts) {
    segments.push({ index: segments.length, text: part, start: offset });
    offset += part.length;
  }
  return segments;
}
