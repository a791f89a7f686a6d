/**
 * The answer to a download of an object held in a remote store, from its validators and the
 * request's conditional and Range headers: the same rules `@fastify/send` applies to a local
 * file (RFC 9110), so a client sees no difference between the stores. Object stores differ in
 * which of these headers they honour, so the store is only asked for one plain byte range.
 */

import type { IncomingHttpHeaders } from 'node:http';

export interface ObjectValidators {
  size: number;
  /** A strong ETag, quoted. */
  etag: string;
  lastModified: Date;
}

export interface ObjectAnswer {
  status: 200 | 206 | 304 | 412 | 416;
  headers: Record<string, string>;
  /** The bytes to send (inclusive), for 206. */
  range?: { start: number; end: number };
}

/** True when a list of entity tags (If-Match, If-None-Match) names `etag`, weakly compared. */
function listsEtag(list: string, etag: string): boolean {
  const strip = (tag: string): string => (tag.startsWith('W/') ? tag.slice(2) : tag);
  return list.split(',').some((tag) => tag.trim() === '*' || strip(tag.trim()) === strip(etag));
}

/** Seconds since the epoch of an HTTP date; NaN when it is none. */
function seconds(date: string): number {
  return Math.floor(Date.parse(date) / 1000);
}

/** The one satisfiable range of `header`; 'whole' for a malformed header or several ranges (no multipart answers), 'none' when nothing is satisfiable. */
function parseRange(header: string, size: number): { start: number; end: number } | 'whole' | 'none' {
  const specs = header.replace(/^ *bytes=/u, '').split(',');
  const satisfiable: Array<{ start: number; end: number }> = [];
  for (const spec of specs) {
    const match = /^ *(\d*)-(\d*) *$/u.exec(spec);
    if (match === null || (match[1] === '' && match[2] === '')) return 'whole';
    let start: number;
    let end: number;
    if (match[1] === '') {
      start = Math.max(0, size - Number(match[2]));
      end = size - 1;
      if (Number(match[2]) === 0) continue;
    } else {
      start = Number(match[1]);
      end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
    }
    if (start <= end && start < size) satisfiable.push({ start, end });
  }
  if (satisfiable.length === 0) return 'none';
  return satisfiable.length === 1 ? satisfiable[0]! : 'whole';
}

export function answerFor(method: string, request: IncomingHttpHeaders, object: ObjectValidators): ObjectAnswer {
  const modified = Math.floor(object.lastModified.getTime() / 1000);
  const headers: Record<string, string> = { 'accept-ranges': 'bytes', etag: object.etag, 'last-modified': object.lastModified.toUTCString() };
  const ifMatch = request['if-match'];
  const ifUnmodifiedSince = request['if-unmodified-since'];
  if (ifMatch !== undefined ? !listsEtag(ifMatch, object.etag) : ifUnmodifiedSince !== undefined && modified > seconds(ifUnmodifiedSince)) return { status: 412, headers };
  if (method === 'GET' || method === 'HEAD') {
    const ifNoneMatch = request['if-none-match'];
    const ifModifiedSince = request['if-modified-since'];
    // If-None-Match, when given, decides alone.
    if (ifNoneMatch !== undefined ? listsEtag(ifNoneMatch, object.etag) : ifModifiedSince !== undefined && modified <= seconds(ifModifiedSince)) return { status: 304, headers };
  }
  const rangeHeader = request.range;
  if (rangeHeader !== undefined && /^ *bytes=/u.test(rangeHeader) && rangeIsCurrent(String(request['if-range'] ?? '') || undefined, object.etag, modified)) {
    const range = parseRange(rangeHeader, object.size);
    if (range === 'none') return { status: 416, headers };
    if (range !== 'whole') {
      headers['content-range'] = `bytes ${range.start}-${range.end}/${object.size}`;
      headers['content-length'] = String(range.end - range.start + 1);
      return { status: 206, headers, range };
    }
  }
  headers['content-length'] = String(object.size);
  return { status: 200, headers };
}

/** If-Range: the range applies only while the object is the one the client has (by ETag or date). */
function rangeIsCurrent(ifRange: string | undefined, etag: string, modified: number): boolean {
  if (ifRange === undefined) return true;
  if (ifRange.includes('"')) return ifRange.trim() === etag;
  return modified <= seconds(ifRange);
}
