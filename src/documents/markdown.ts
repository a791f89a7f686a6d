/**
 * Markdown, through the `marked` lexer (tokens, never rendered HTML). Reading rules (README:
 * Documents): headings h1–h3 start chapters, h4–h6 are read with a pause; paragraphs read; each
 * list item read as a sentence; a table read row by row ("header: cell, header: cell."); code
 * blocks skipped; links read as their text; an image read as its alt text (skipped without one);
 * footnote marks ([^1]) dropped and footnote definitions skipped; raw HTML read as its text only.
 */

import { Lexer, type Token, type Tokens } from 'marked';
import { asSentence, PartsBuilder } from './parts-builder.js';
import { decodeText } from './text.js';
import type { ExtractedDocument, Reader } from './types.js';

const FOOTNOTE_MARK = /\[\^[^\]\s]{1,50}\]/gu;
const FOOTNOTE_DEFINITION = /^\s*\[\^[^\]\s]{1,50}\]:/u;
const HTML_TAG = /<[^<>]{0,1000}>/gu;
const CHAPTER_DEPTH = 3;

/** The text of inline tokens, as it is read. */
function inlineText(tokens: Token[] | undefined): string {
  if (tokens === undefined) return '';
  let out = '';
  for (const token of tokens) {
    switch (token.type) {
      case 'image':
        out += (token as Tokens.Image).text;
        break;
      case 'html':
        out += token.raw.replace(HTML_TAG, '');
        break;
      case 'br':
        out += ' ';
        break;
      case 'codespan':
        out += (token as Tokens.Codespan).text;
        break;
      case 'escape':
        out += (token as Tokens.Escape).text;
        break;
      default:
        out += 'tokens' in token && Array.isArray(token.tokens) ? inlineText(token.tokens) : 'text' in token && typeof token.text === 'string' ? token.text : '';
    }
  }
  return decodeEntities(out.replace(FOOTNOTE_MARK, ''));
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", nbsp: ' ' };

/** marked escapes &, <, >, quotes in its tokens' text: the reader wants the characters. */
function decodeEntities(text: string): string {
  return text.replace(/&(amp|lt|gt|quot|#39|nbsp);/gu, (_match, name: string) => ENTITIES[name] ?? '');
}

function readBlocks(tokens: Token[], builder: PartsBuilder): void {
  for (const token of tokens) {
    switch (token.type) {
      case 'heading': {
        const heading = token as Tokens.Heading;
        builder.heading(inlineText(heading.tokens), heading.depth <= CHAPTER_DEPTH);
        break;
      }
      case 'paragraph':
        if (FOOTNOTE_DEFINITION.test(token.raw)) break;
        builder.paragraph(inlineText((token as Tokens.Paragraph).tokens));
        break;
      case 'text':
        builder.paragraph('tokens' in token && Array.isArray(token.tokens) ? inlineText(token.tokens) : decodeEntities((token as Tokens.Text).text));
        break;
      case 'blockquote':
        readBlocks((token as Tokens.Blockquote).tokens, builder);
        break;
      case 'list':
        for (const item of (token as Tokens.List).items) readListItem(item, builder);
        break;
      case 'table': {
        const table = token as Tokens.Table;
        const headers = table.header.map((cell) => inlineText(cell.tokens).trim());
        for (const row of table.rows) {
          const cells = row.map((cell, i) => {
            const value = inlineText(cell.tokens).trim();
            return headers[i] ? `${headers[i]}: ${value}` : value;
          });
          builder.paragraph(asSentence(cells.filter((cell) => cell !== '').join(', ')));
        }
        break;
      }
      case 'html':
        builder.paragraph(decodeEntities(token.raw.replace(HTML_TAG, ' ')));
        break;
      // code, hr, space, def: not read.
      default:
        break;
    }
  }
}

function readListItem(item: Tokens.ListItem, builder: PartsBuilder): void {
  const text: string[] = [];
  for (const token of item.tokens) {
    if (token.type === 'list') {
      if (text.length > 0) builder.paragraph(asSentence(text.join(' ')));
      text.length = 0;
      for (const nested of (token as Tokens.List).items) readListItem(nested, builder);
    } else if (token.type !== 'code' && token.type !== 'space') {
      text.push('tokens' in token && Array.isArray(token.tokens) ? inlineText(token.tokens) : 'text' in token && typeof token.text === 'string' ? decodeEntities(token.text) : '');
    }
  }
  if (text.length > 0) builder.paragraph(asSentence(text.join(' ')));
}

export function readMarkdownText(source: string, maxChars: number): ExtractedDocument {
  const tokens = new Lexer({ gfm: true }).lex(source);
  const builder = new PartsBuilder(maxChars);
  readBlocks(tokens, builder);
  const parts = builder.finish();
  const title = parts.find((part) => part.chapter !== undefined)?.chapter;
  return title === undefined ? { parts } : { title, parts };
}

export const readMarkdown: Reader = (bytes, limits) => readMarkdownText(decodeText(bytes), limits.maxChars);
