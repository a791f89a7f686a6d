/**
 * Builds a document's parts from a stream of blocks, the same way for every kind: a heading that
 * is a chapter becomes a part of its own (its title read, then a pause) carrying `chapter`; a
 * lower heading is read as its own part with a shorter pause; paragraphs between headings join
 * into one part, one paragraph a line.
 */

import type { TextPart } from '../backends/backend.js';
import { TtsError } from '../errors.js';
import { isSpeakable, normalizeText } from '../text/normalize.js';
import { CHAPTER_PAUSE_MS, HEADING_PAUSE_MS, MAX_DOCUMENT_PARTS, SUBHEADING_PAUSE_MS } from './types.js';

/** Adds a full stop to a line that ends without punctuation (a heading, a list item), so it is read as a sentence. */
export function asSentence(text: string): string {
  const trimmed = text.trim();
  if (trimmed === '' || /[.!?。！？:;…,，；：]$/u.test(trimmed)) return trimmed;
  return `${trimmed}.`;
}

export class PartsBuilder {
  private readonly parts: TextPart[] = [];
  private paragraphs: string[] = [];
  private chars = 0;
  private pendingChapter: string | undefined;

  /** `maxChars`: refuse as soon as the text read passes it (a bomb of text is not built whole first). */
  constructor(private readonly maxChars: number) {}

  paragraph(text: string): void {
    const line = normalizeText(text).replace(/\n/gu, ' ');
    if (!isSpeakable(line)) return;
    this.count(line.length);
    this.paragraphs.push(line);
  }

  /** A heading: `chapter` true starts a chapter titled with it. */
  heading(text: string, chapter: boolean): void {
    const title = normalizeText(text).replace(/\n/gu, ' ');
    if (!isSpeakable(title)) return;
    this.flush(chapter ? CHAPTER_PAUSE_MS : SUBHEADING_PAUSE_MS);
    this.count(title.length);
    const part: TextPart = { text: asSentence(title), pauseMs: chapter ? HEADING_PAUSE_MS : SUBHEADING_PAUSE_MS };
    if (chapter) part.chapter = title.slice(0, 200);
    this.push(part);
  }

  /** Starts a chapter whose title is not read (a PDF's outline: the page holds the heading's text already). */
  chapter(title: string): void {
    const clean = normalizeText(title).replace(/\n/gu, ' ');
    if (!isSpeakable(clean)) return;
    this.flush(CHAPTER_PAUSE_MS);
    this.pendingChapter = clean.slice(0, 200);
  }

  /** The parts so far; E_TEXT_EMPTY where nothing could be read. */
  finish(): TextPart[] {
    this.flush(undefined);
    const last = this.parts.at(-1);
    if (last !== undefined) delete last.pauseMs;
    if (this.parts.length === 0) throw new TtsError('E_TEXT_EMPTY', 'The document holds no text to read (a scanned PDF has no text layer; an empty file).');
    return this.parts;
  }

  private flush(pauseMs: number | undefined): void {
    if (this.paragraphs.length === 0) {
      const last = this.parts.at(-1);
      // Two headings in a row: the longer pause wins.
      if (last !== undefined && pauseMs !== undefined) last.pauseMs = Math.max(last.pauseMs ?? 0, pauseMs);
      return;
    }
    const part: TextPart = { text: this.paragraphs.join('\n') };
    if (pauseMs !== undefined) part.pauseMs = pauseMs;
    this.paragraphs = [];
    this.push(part);
  }

  private push(part: TextPart): void {
    if (this.parts.length >= MAX_DOCUMENT_PARTS) {
      throw new TtsError('E_DOCUMENT_TOO_LONG', `The document has more than ${MAX_DOCUMENT_PARTS} headings and sections; split it into several documents.`);
    }
    if (this.pendingChapter !== undefined && part.chapter === undefined) part.chapter = this.pendingChapter;
    this.pendingChapter = undefined;
    this.parts.push(part);
  }

  private count(chars: number): void {
    this.chars += chars + 1;
    if (this.chars > this.maxChars + 1) throw documentTooLong(this.maxChars);
  }
}

export function documentTooLong(maxChars: number): TtsError {
  return new TtsError('E_DOCUMENT_TOO_LONG', `The document's text is longer than the limit of ${maxChars} characters (MAX_TEXT_CHARS); it is refused, not cut: split it into several documents.`);
}
