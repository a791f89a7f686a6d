/**
 * EPUB: a zip (read with `yauzl`, from memory) holding XHTML chapters. The zip is opened with
 * caps checked on its central directory before anything is unpacked: the number of entries, each
 * entry's and the total unpacked size, and each entry's compression ratio (a zip bomb is refused
 * with E_DOCUMENT_TOO_LARGE); only the entries the book needs are unpacked, each counted as it
 * is read (yauzl's validateEntrySizes refuses an entry that unpacks to more than it declares).
 * META-INF/container.xml names the package (OPF), whose spine gives the reading order
 * (`fast-xml-parser`); each chapter is read as XHTML (html.ts), h1–h2 as chapters, else the
 * title the navigation (EPUB 3 nav or EPUB 2 NCX) gives its file.
 */

import { posix } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import yauzl, { type Entry, type ZipFile } from 'yauzl';
import { TtsError } from '../errors.js';
import { readXhtmlInto } from './html.js';
import { PartsBuilder } from './parts-builder.js';
import { decodeText } from './text.js';
import type { DocumentLimits, ExtractedDocument, Reader } from './types.js';

export const MAX_EPUB_ENTRIES = 10_000;
/** A deflated entry unpacking to more than this many times its packed size is a zip bomb, not a book. */
export const MAX_COMPRESSION_RATIO = 100;
/** Small entries may compress better than any bomb threshold (a run of spaces): the ratio counts above this size. */
const RATIO_FLOOR_BYTES = 64 * 1024;

function unreadable(what: string, cause?: unknown): TtsError {
  return new TtsError('E_DOCUMENT_UNREADABLE', `The EPUB cannot be read: ${what}. Send a valid EPUB (a zip with META-INF/container.xml and its package).`, cause === undefined ? undefined : { cause });
}

function tooLarge(what: string): TtsError {
  return new TtsError('E_DOCUMENT_TOO_LARGE', `The EPUB is refused: ${what}.`);
}

function openZip(bytes: Uint8Array): Promise<ZipFile> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { lazyEntries: true, validateEntrySizes: true, strictFileNames: false, decodeStrings: true }, (error, zip) =>
      error ? reject(unreadable(error.message, error)) : resolve(zip),
    );
  });
}

/** Every entry of the central directory, the caps checked before any is unpacked. */
function listEntries(zip: ZipFile, limits: Required<DocumentLimits>): Promise<Map<string, Entry>> {
  if (zip.entryCount > MAX_EPUB_ENTRIES) return Promise.reject(tooLarge(`it has ${zip.entryCount} entries; at most ${MAX_EPUB_ENTRIES} are read`));
  return new Promise((resolve, reject) => {
    const entries = new Map<string, Entry>();
    let total = 0;
    zip.on('entry', (entry: Entry) => {
      total += entry.uncompressedSize;
      if (entry.uncompressedSize > limits.maxUnpackedBytes || total > limits.maxUnpackedBytes) {
        zip.close();
        return reject(tooLarge(`it unpacks to more than ${limits.maxUnpackedBytes} bytes`));
      }
      if (entry.uncompressedSize > RATIO_FLOOR_BYTES && entry.uncompressedSize > MAX_COMPRESSION_RATIO * Math.max(1, entry.compressedSize)) {
        zip.close();
        return reject(tooLarge(`${JSON.stringify(entry.fileName.slice(0, 100))} is compressed more than ${MAX_COMPRESSION_RATIO} to 1 (a zip bomb)`));
      }
      entries.set(entry.fileName, entry);
      zip.readEntry();
    });
    zip.on('end', () => resolve(entries));
    zip.on('error', (error: Error) => reject(unreadable(error.message, error)));
    zip.readEntry();
  });
}

function readEntry(zip: ZipFile, entry: Entry): Promise<string> {
  return new Promise((resolve, reject) => {
    zip.openReadStream(entry, (error, stream) => {
      if (error) return reject(unreadable(error.message, error));
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', (streamError: Error) => reject(unreadable(`${entry.fileName}: ${streamError.message}`, streamError)));
      stream.on('end', () => resolve(decodeText(Buffer.concat(chunks))));
    });
  });
}

const xml = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  removeNSPrefix: true,
  processEntities: false,
  isArray: (name) => ['item', 'itemref', 'rootfile', 'navPoint'].includes(name),
});

type XmlNode = Record<string, unknown>;

function parseXml(text: string, name: string): XmlNode {
  try {
    return xml.parse(text) as XmlNode;
  } catch (error) {
    throw unreadable(`${name} is not well-formed XML`, error);
  }
}

function child(node: unknown, ...path: string[]): unknown {
  let current = node;
  for (const key of path) current = current !== null && typeof current === 'object' ? (current as XmlNode)[key] : undefined;
  return current;
}

function textOf(node: unknown): string | undefined {
  if (typeof node === 'string' || typeof node === 'number') return String(node).trim() || undefined;
  if (node !== null && typeof node === 'object') return textOf((node as XmlNode)['#text']);
  return undefined;
}

function list(node: unknown): XmlNode[] {
  return Array.isArray(node) ? (node as XmlNode[]) : node === undefined || node === null ? [] : [node as XmlNode];
}

/** Entry names are relative to the file that names them, URL-encoded, maybe with a #fragment. */
function resolveHref(base: string, href: string): string {
  const path = href.split('#')[0] ?? '';
  let decoded = path;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    // A malformed escape is taken as it is.
  }
  return posix.normalize(posix.join(posix.dirname(base), decoded));
}

/** Titles by file from the navigation: EPUB 3's nav document (first link per file) or EPUB 2's NCX. */
async function navigationTitles(zip: ZipFile, entries: Map<string, Entry>, items: XmlNode[], opfPath: string): Promise<Map<string, string>> {
  const titles = new Map<string, string>();
  const nav = items.find((item) =>
    String(item['@properties'] ?? '')
      .split(/\s+/u)
      .includes('nav'),
  );
  if (nav !== undefined) {
    const path = resolveHref(opfPath, String(nav['@href'] ?? ''));
    const entry = entries.get(path);
    if (entry !== undefined) {
      const { parseHTML } = await import('linkedom');
      const document = parseHTML(await readEntry(zip, entry)).document as unknown as { querySelectorAll(s: string): ArrayLike<{ getAttribute(n: string): string | null; textContent: string | null }> };
      for (const link of Array.from(document.querySelectorAll('nav a[href]'))) {
        const file = resolveHref(path, link.getAttribute('href') ?? '');
        const title = (link.textContent ?? '').replace(/\s+/gu, ' ').trim();
        if (title !== '' && !titles.has(file)) titles.set(file, title);
      }
      return titles;
    }
  }
  const ncx = items.find((item) => item['@media-type'] === 'application/x-dtbncx+xml');
  const ncxPath = ncx === undefined ? undefined : resolveHref(opfPath, String(ncx['@href'] ?? ''));
  const ncxEntry = ncxPath === undefined ? undefined : entries.get(ncxPath);
  if (ncxEntry === undefined || ncxPath === undefined) return titles;
  const visit = (points: unknown): void => {
    for (const point of list(points)) {
      const file = resolveHref(ncxPath, String(child(point, 'content', '@src') ?? ''));
      const title = textOf(child(point, 'navLabel', 'text'));
      if (title !== undefined && !titles.has(file)) titles.set(file, title);
      visit(point.navPoint);
    }
  };
  visit(child(parseXml(await readEntry(zip, ncxEntry), 'the NCX'), 'ncx', 'navMap', 'navPoint'));
  return titles;
}

export const readEpub: Reader = async (bytes, limits): Promise<ExtractedDocument> => {
  const zip = await openZip(bytes);
  try {
    const entries = await listEntries(zip, limits);
    const containerEntry = entries.get('META-INF/container.xml');
    if (containerEntry === undefined) throw unreadable('it has no META-INF/container.xml');
    const container = parseXml(await readEntry(zip, containerEntry), 'container.xml');
    const opfPath = String(child(list(child(container, 'container', 'rootfiles', 'rootfile'))[0], '@full-path') ?? '');
    const opfEntry = entries.get(posix.normalize(opfPath));
    if (opfEntry === undefined) throw unreadable(`its package ${JSON.stringify(opfPath.slice(0, 100))} is missing`);
    const opf = parseXml(await readEntry(zip, opfEntry), 'the package (OPF)');
    const items = list(child(opf, 'package', 'manifest', 'item'));
    const byId = new Map(items.map((item) => [String(item['@id']), item]));
    const spine = list(child(opf, 'package', 'spine', 'itemref'));
    if (spine.length === 0) throw unreadable('its package has no spine (reading order)');
    const title = textOf(child(opf, 'package', 'metadata', 'title'));
    const titles = await navigationTitles(zip, entries, items, opfPath);
    const builder = new PartsBuilder(limits.maxChars);
    for (const ref of spine) {
      if (ref['@linear'] === 'no') continue;
      const item = byId.get(String(ref['@idref']));
      if (item === undefined) throw unreadable(`its spine names an item ${JSON.stringify(String(ref['@idref']).slice(0, 100))} the manifest lacks`);
      // The navigation document is read for its titles, not as a chapter.
      if (
        String(item['@properties'] ?? '')
          .split(/\s+/u)
          .includes('nav')
      )
        continue;
      const path = resolveHref(opfPath, String(item['@href'] ?? ''));
      const entry = entries.get(path);
      if (entry === undefined) throw unreadable(`its spine names ${JSON.stringify(path.slice(0, 100))}, which is not in the zip`);
      readXhtmlInto(await readEntry(zip, entry), builder, titles.get(path));
    }
    const parts = builder.finish();
    return title === undefined ? { parts } : { title, parts };
  } finally {
    zip.close();
  }
};
