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

/** Pieces of `text` that, concatenated, give `text` back. */
type Pieces = string[];

function sentences(text: string): Pieces {
  const pieces: Pieces = [];
  for (const { segment } of sentenceSegmenter.segment(text)) pieces.push(segment);
  return pieces;
}

/** Cuts after clause punctuation (the punctuation and any following spaces stay with the clause). */
function clauses(sentence: string): Pieces {
  const pieces: Pieces = [];
  let current = '';
  for (const { segment } of wordSegmenter.segment(sentence)) {
    if (CLAUSE_END.test(current.trimEnd()) && segment.trim() !== '') {
      pieces.push(current);
      current = '';
    }
    current += segment;
  }
  if (current !== '') pieces.push(current);
  return pieces;
}

/** Word-boundary pieces; a single word longer than `maxChars` is the only thing ever cut inside. */
function words(clause: string, maxChars: number): Pieces {
  const pieces: Pieces = [];
  for (const { segment } of wordSegmenter.segment(clause)) {
    if (charCount(segment) <= maxChars) {
      pieces.push(segment);
      continue;
    }
    // Last resort for a "word" longer than a whole segment (a URL, a 500-digit number):
    // cut it into maxChars-long runs of code points.
    const codePoints = Array.from(segment);
    for (let i = 0; i < codePoints.length; i += maxChars) pieces.push(codePoints.slice(i, i + maxChars).join(''));
  }
  return pieces;
}

/**
 * Packs `pieces` greedily; a piece that does not fit on its own is broken down one level
 * (sentence → clauses → words) and packed among its own parts, so a cut inside a sentence
 * always falls at the best boundary that sentence has.
 */
function packAll(pieces: Pieces, maxChars: number, levels: Array<(piece: string) => Pieces>): string[] {
  const packed: string[] = [];
  let current = '';
  let currentChars = 0;
  const flush = (): void => {
    if (current !== '') packed.push(current);
    current = '';
    currentChars = 0;
  };
  for (const piece of pieces) {
    const chars = charCount(piece);
    if (chars > maxChars) {
      flush();
      const [breakDown, ...finer] = levels;
      // The last level (words) always yields pieces that fit, so `breakDown` exists here.
      packed.push(...packAll(breakDown!(piece), maxChars, finer));
      continue;
    }
    if (currentChars + chars > maxChars) flush();
    current += piece;
    currentChars += chars;
  }
  flush();
  return packed;
}

/**
 * A segment with nothing to say (only punctuation or white space) is merged into its
 * neighbour when the result still fits, so that engines are not handed "……".
 */
function mergeUnspeakable(parts: string[], maxChars: number): string[] {
  const merged: string[] = [];
  for (const part of parts) {
    const previous = merged.at(-1);
    if (previous !== undefined && (!isSpeakable(part) || !isSpeakable(previous)) && charCount(previous) + charCount(part) <= maxChars) {
      merged[merged.length - 1] = previous + part;
    } else {
      merged.push(part);
    }
  }
  return merged;
}

export function splitText(text: string, options: SplitOptions): Segment[] {
  const { maxChars } = options;
  if (!Number.isInteger(maxChars) || maxChars < 1) {
    throw new RangeError(`Expected maxChars to be an integer from 1 and up, got ${String(maxChars)}`);
  }
  const levels = [clauses, (clause: string) => words(clause, maxChars)];
  const parts = mergeUnspeakable(packAll(sentences(text), maxChars, levels), maxChars);
  const segments: Segment[] = [];
  let offset = 0;
  for (const part of parts) {
    segments.push({ index: segments.length, text: part, start: offset });
    offset += part.length;
  }
  return segments;
}
