/** Which kind a document is: the kind asked for, else its file name, else its media type, else its first bytes. */

import { DOCUMENT_KINDS, type DocumentKind } from '../backends/backend.js';
import { TtsError } from '../errors.js';

const BY_EXTENSION: Record<string, DocumentKind> = {
  txt: 'text',
  text: 'text',
  md: 'markdown',
  markdown: 'markdown',
  html: 'html',
  htm: 'html',
  xhtml: 'html',
  epub: 'epub',
  pdf: 'pdf',
};

const BY_MEDIA_TYPE: Record<string, DocumentKind> = {
  'text/plain': 'text',
  'text/markdown': 'markdown',
  'text/x-markdown': 'markdown',
  'text/html': 'html',
  'application/xhtml+xml': 'html',
  'application/epub+zip': 'epub',
  'application/pdf': 'pdf',
};

export function isDocumentKind(value: string): value is DocumentKind {
  return (DOCUMENT_KINDS as readonly string[]).includes(value);
}

function unsupported(what: string): TtsError {
  return new TtsError('E_DOCUMENT_UNSUPPORTED', `${what}; documents may be plain text, Markdown, HTML, EPUB or PDF (name the kind with \`document_kind\`: ${DOCUMENT_KINDS.join(', ')}).`);
}

export function sniffDocumentKind(bytes: Uint8Array, hints: { kind?: string; name?: string; mediaType?: string }): DocumentKind {
  if (hints.kind !== undefined) {
    if (!isDocumentKind(hints.kind)) throw unsupported(`\`document_kind\` ${JSON.stringify(hints.kind.slice(0, 40))} is not a kind read here`);
    return hints.kind;
  }
  const extension = /\.([a-z0-9]{1,10})$/iu.exec(hints.name ?? '')?.[1]?.toLowerCase();
  if (extension !== undefined && BY_EXTENSION[extension] !== undefined) return BY_EXTENSION[extension];
  const mediaType = hints.mediaType?.split(';')[0]?.trim().toLowerCase();
  if (mediaType !== undefined && BY_MEDIA_TYPE[mediaType] !== undefined) return BY_MEDIA_TYPE[mediaType];
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 4096));
  if (head.subarray(0, 5).toString('latin1') === '%PDF-') return 'pdf';
  if (head.subarray(0, 4).toString('latin1') === 'PK\u0003\u0004') {
    if (head.subarray(30, 58).toString('latin1') === 'mimetypeapplication/epub+zip') return 'epub';
    throw unsupported('The document is a zip but not an EPUB');
  }
  if (head.includes(0)) throw unsupported('The document is binary and not a PDF or EPUB');
  const start = head
    .toString('utf8')
    .replace(/^\uFEFF/u, '')
    .trimStart()
    .slice(0, 1000)
    .toLowerCase();
  if (start.startsWith('<!doctype html') || start.startsWith('<html') || /<(?:body|head|article|p|div)[\s>]/u.test(start)) return 'html';
  if (/^(?:#{1,6} |[-*] |\d+\. |```)/mu.test(start)) return 'markdown';
  return 'text';
}
