/**
 * HTML, parsed by `linkedom` (a DOM without a script engine: nothing in the page runs). A web
 * page goes through `@mozilla/readability` first, which keeps the article and drops navigation,
 * headers, footers and sidebars; the article (or, where Readability finds none, the body without
 * nav/header/footer/aside) is then read block by block. Reading rules (README: Documents):
 * h1–h3 start chapters (EPUB: h1–h2), lower headings are read with a pause; script, style,
 * noscript, template, svg, forms, pre (code) are not read; a list item or a table row is read as a
 * sentence (cells joined by commas); an image is read as its figure caption, not its alt text;
 * links are read as their text.
 */

import { Readability } from '@mozilla/readability';
import { parseHTML } from 'linkedom';
import { asSentence, PartsBuilder } from './parts-builder.js';
import { decodeText } from './text.js';
import { TtsError } from '../errors.js';
import type { ExtractedDocument, Reader } from './types.js';

/** The few DOM members read here (the project's TypeScript has no DOM library). */
export interface DomNode {
  nodeType: number;
  nodeName: string;
  textContent: string | null;
  childNodes: ArrayLike<DomNode>;
}
interface DomDocument {
  title?: string;
  body: (DomNode & { querySelectorAll(selector: string): ArrayLike<DomNode & { remove(): void }> }) | null;
  documentElement: DomNode | null;
}

const ELEMENT = 1;
const TEXT = 3;
const SKIPPED = new Set([
  'SCRIPT',
  'STYLE',
  'NOSCRIPT',
  'TEMPLATE',
  'SVG',
  'MATH',
  'IFRAME',
  'OBJECT',
  'EMBED',
  'CANVAS',
  'FORM',
  'BUTTON',
  'SELECT',
  'TEXTAREA',
  'INPUT',
  'PRE',
  'HEAD',
  'NAV',
  'IMG',
  'VIDEO',
  'AUDIO',
]);
const BLOCKS = new Set([
  'P',
  'DIV',
  'SECTION',
  'ARTICLE',
  'MAIN',
  'BLOCKQUOTE',
  'UL',
  'OL',
  'DL',
  'DT',
  'DD',
  'TABLE',
  'THEAD',
  'TBODY',
  'TFOOT',
  'CAPTION',
  'FIGURE',
  'FIGCAPTION',
  'HEADER',
  'FOOTER',
  'ASIDE',
  'ADDRESS',
  'BODY',
  'HTML',
  'HR',
  'BR',
  'DETAILS',
  'SUMMARY',
]);
/** Blocks read as one sentence each. */
const SENTENCES = new Set(['LI', 'TR', 'DT', 'DD', 'CAPTION', 'FIGCAPTION', 'SUMMARY']);
const CELLS = new Set(['TD', 'TH']);
const MAX_ELEMENTS = 200_000;
/** Elements nested deeper are refused: browsers stop nesting at 512, and no page needs more. */
const MAX_DEPTH = 512;
/**
 * Readability runs only on documents of ordinary shape. Over linkedom its cost grows with depth
 * times size: 12,000 elements of a real page take 1 s, but 5 KB of 1,000 nested empty divs took
 * 9.5 s, 2,000 took over a minute, and 200 chains of 100 took 16 s. Past these bounds (2–3 s at
 * most) the body is read as where Readability finds no article.
 */
const READABILITY_MAX_DEPTH = 128;
const READABILITY_MAX_DEPTH_SUM = 400_000;

/** The document's shape, refused where it nests deeper than MAX_DEPTH (the reading walk recurses). */
function checkedShape(document: DomDocument, kind: string): { maxDepth: number; depthSum: number } {
  const shape = document.documentElement === null ? { maxDepth: 0, depthSum: 0 } : treeShape(document.documentElement);
  if (shape.maxDepth > MAX_DEPTH) {
    throw new TtsError('E_DOCUMENT_UNREADABLE', `The ${kind} document nests elements ${shape.maxDepth} levels deep; at most ${MAX_DEPTH} are read. Send a simpler document.`);
  }
  return shape;
}

/** The deepest element under `root` and the sum of every element's depth (one pass, no recursion). */
function treeShape(root: DomNode): { maxDepth: number; depthSum: number } {
  let maxDepth = 0;
  let depthSum = 0;
  const stack: Array<[DomNode, number]> = [[root, 1]];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const [node, depth] = next;
    maxDepth = Math.max(maxDepth, depth);
    depthSum += depth;
    for (const child of Array.from(node.childNodes)) if (child.nodeType === ELEMENT) stack.push([child, depth + 1]);
  }
  return { maxDepth, depthSum };
}

/** Reads the blocks under `root` into `builder`; headings up to h`chapterLevel` start chapters. */
export function readHtmlNode(root: DomNode, builder: PartsBuilder, chapterLevel: number): void {
  let inline = '';
  const flush = (sentence: boolean): void => {
    if (inline.trim() !== '') builder.paragraph(sentence ? asSentence(inline.replace(/\s+/gu, ' ')) : inline);
    inline = '';
  };
  const walk = (node: DomNode): void => {
    if (node.nodeType === TEXT) {
      inline += node.textContent ?? '';
      return;
    }
    if (node.nodeType !== ELEMENT) return;
    const name = node.nodeName.toUpperCase();
    if (SKIPPED.has(name)) return;
    const level = /^H([1-6])$/u.exec(name)?.[1];
    if (level !== undefined) {
      flush(false);
      builder.heading(node.textContent ?? '', Number(level) <= chapterLevel);
      return;
    }
    if (CELLS.has(name)) {
      if (inline.trim() !== '') inline += ', ';
      for (const child of Array.from(node.childNodes)) walk(child);
      return;
    }
    const sentence = SENTENCES.has(name);
    if (sentence || BLOCKS.has(name) || name === 'TR') flush(false);
    for (const child of Array.from(node.childNodes)) walk(child);
    if (sentence) flush(true);
    else if (BLOCKS.has(name)) flush(false);
  };
  walk(root);
  flush(false);
}

function parse(html: string): DomDocument {
  return parseHTML(html).document as unknown as DomDocument;
}

/** A web page: the article Readability keeps, read by the rules above. */
export function readHtmlText(html: string, maxChars: number): ExtractedDocument {
  const document = parse(html);
  const pageTitle = document.title?.trim() || undefined;
  const shape = checkedShape(document, 'html');
  let article: { title?: string | null; content?: DomNode | null } | null = null;
  if (shape.maxDepth <= READABILITY_MAX_DEPTH && shape.depthSum <= READABILITY_MAX_DEPTH_SUM) {
    try {
      article = new Readability<DomNode>(parse(html) as never, { maxElemsToParse: MAX_ELEMENTS, serializer: (node) => node as unknown as DomNode }).parse();
    } catch {
      // Readability gives up on pages it cannot score (or too many elements): the body is read instead.
      article = null;
    }
  }
  const builder = new PartsBuilder(maxChars);
  const title = article?.title?.trim() || pageTitle;
  let root: DomNode | null | undefined = article?.content;
  if (root === null || root === undefined || (root.textContent ?? '').trim() === '') {
    // No article found: the body, less what is navigation rather than content.
    for (const element of Array.from(document.body?.querySelectorAll('nav, header, footer, aside, [role=navigation]') ?? [])) element.remove();
    root = document.body ?? document.documentElement;
  }
  if (root === null || root === undefined) return { parts: builder.finish() };
  // Readability removes a heading that repeats the title: the title then opens the first chapter.
  if (title !== undefined && !startsWithHeading(root)) builder.heading(title, true);
  readHtmlNode(root, builder, 3);
  const parts = builder.finish();
  return title === undefined ? { parts } : { title, parts };
}

/** Whether the first text under `root` is inside a heading. */
function startsWithHeading(root: DomNode): boolean {
  const visit = (node: DomNode): boolean | undefined => {
    if (node.nodeType === TEXT) return (node.textContent ?? '').trim() === '' ? undefined : false;
    if (node.nodeType !== ELEMENT || SKIPPED.has(node.nodeName.toUpperCase())) return undefined;
    if (/^H[1-6]$/iu.test(node.nodeName)) return (node.textContent ?? '').trim() === '' ? undefined : true;
    for (const child of Array.from(node.childNodes)) {
      const found = visit(child);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  return visit(root) === true;
}

/** An XHTML document of an EPUB: its body, no Readability (a book's chapter is all content). */
export function readXhtmlInto(xhtml: string, builder: PartsBuilder, chapterTitle: string | undefined): void {
  const document = parse(xhtml);
  checkedShape(document, 'epub');
  const root = document.body ?? document.documentElement;
  if (root === null) return;
  const hasChapterHeading = Array.from(document.body?.querySelectorAll('h1, h2') ?? []).some((heading) => (heading.textContent ?? '').trim() !== '');
  if (chapterTitle !== undefined && !hasChapterHeading) builder.heading(chapterTitle, true);
  readHtmlNode(root, builder, 2);
}

export const readHtml: Reader = (bytes, limits) => readHtmlText(decodeText(bytes), limits.maxChars);
