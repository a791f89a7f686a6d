/**
 * PDF: the text layer only, through `pdfjs-dist`'s legacy build (the one for Node). No fonts are
 * loaded and no code generated (disableFontFace, isEvalSupported: false); nothing is rendered.
 * A PDF that claims more pages than the cap (maxPdfPages) is refused before any page is read,
 * so a billion-page claim costs nothing; the extraction's time cap (extract.ts) bounds the rest.
 * Reading rules (README: Documents): text items in page order, a line break where the PDF marks
 * one, a word split by a hyphen at a line end joined again, a blank line a paragraph; the
 * outline's top-level entries start chapters at their pages (their titles not read again: the
 * page holds them); a PDF without a text layer (a scan) has no text (E_TEXT_EMPTY).
 */

import { TtsError } from '../errors.js';
import { PartsBuilder } from './parts-builder.js';
import type { ExtractedDocument, Reader } from './types.js';

interface PdfTextItem {
  str?: string;
  hasEOL?: boolean;
}

interface PdfOutlineItem {
  title: string;
  dest: string | unknown[] | null;
}

interface PdfDocument {
  numPages: number;
  getPage(number: number): Promise<{ getTextContent(): Promise<{ items: PdfTextItem[] }>; cleanup(): void }>;
  getOutline(): Promise<PdfOutlineItem[] | null>;
  getDestination(name: string): Promise<unknown[] | null>;
  getPageIndex(ref: unknown): Promise<number>;
  getMetadata(): Promise<{ info?: { Title?: unknown } }>;
  destroy(): Promise<void>;
}

function unreadable(cause: unknown): TtsError {
  const message = cause instanceof Error ? cause.message : String(cause);
  return new TtsError('E_DOCUMENT_UNREADABLE', `The PDF cannot be read (${message.slice(0, 200)}); send a valid PDF with a text layer.`, { cause });
}

/** Page index (0-based) of each top-level outline entry that leads to a page. */
async function outlineChapters(pdf: PdfDocument): Promise<Map<number, string[]>> {
  const chapters = new Map<number, string[]>();
  let outline: PdfOutlineItem[] | null = null;
  try {
    outline = await pdf.getOutline();
  } catch {
    // A broken outline leaves the text without chapters, not unread.
    return chapters;
  }
  for (const item of (outline ?? []).slice(0, 10_000)) {
    try {
      const dest = typeof item.dest === 'string' ? await pdf.getDestination(item.dest) : item.dest;
      if (!Array.isArray(dest) || dest[0] === undefined) continue;
      const index = typeof dest[0] === 'number' ? dest[0] : await pdf.getPageIndex(dest[0]);
      chapters.set(index, [...(chapters.get(index) ?? []), item.title]);
    } catch {
      // An entry leading nowhere is skipped.
    }
  }
  return chapters;
}

/** A page's text: items in order, line breaks kept, hyphenated line ends joined. */
function pageText(items: PdfTextItem[]): string {
  let text = '';
  for (const item of items) {
    text += item.str ?? '';
    if (item.hasEOL === true) text += '\n';
  }
  return text.replace(/(\p{L})-\n(\p{Ll})/gu, '$1$2');
}

export const readPdf: Reader = async (bytes, limits): Promise<ExtractedDocument> => {
  const pdfjs = await import('pdfjs-dist/legacy/build/pdf.mjs');
  let pdf: PdfDocument;
  try {
    // pdfjs takes the buffer over: it gets a copy.
    const task = pdfjs.getDocument({ data: new Uint8Array(bytes), disableFontFace: true, isEvalSupported: false, useSystemFonts: false, stopAtErrors: false, verbosity: 0, disableAutoFetch: true });
    pdf = (await task.promise) as unknown as PdfDocument;
  } catch (error) {
    throw unreadable(error);
  }
  try {
    if (pdf.numPages > limits.maxPdfPages) {
      throw new TtsError('E_DOCUMENT_TOO_LARGE', `The PDF claims ${pdf.numPages} pages; at most ${limits.maxPdfPages} are read (MAX_DOCUMENT_PAGES). Split it into several documents.`);
    }
    const chapters = await outlineChapters(pdf);
    const builder = new PartsBuilder(limits.maxChars);
    for (let index = 0; index < pdf.numPages; index++) {
      for (const title of chapters.get(index) ?? []) builder.chapter(title);
      let items: PdfTextItem[];
      try {
        const page = await pdf.getPage(index + 1);
        items = (await page.getTextContent()).items;
        page.cleanup();
      } catch (error) {
        throw unreadable(error);
      }
      for (const paragraph of pageText(items).split(/\n\s*\n/u)) builder.paragraph(paragraph);
    }
    const parts = builder.finish();
    let title: string | undefined;
    try {
      const info = (await pdf.getMetadata()).info;
      if (typeof info?.Title === 'string' && info.Title.trim() !== '') title = info.Title.trim().slice(0, 200);
    } catch {
      // No metadata: no title.
    }
    return title === undefined ? { parts } : { title, parts };
  } finally {
    await pdf.destroy().catch(() => undefined);
  }
};
