/**
 * Downloads an `audio_url` reference (or a `document_url`: the same rules, no audio sniffing) without letting it reach inside the network: http(s) only,
 * no credentials; an address is refused unless it is public unicast, checked three times: an IP
 * literal in the URL, every address a host name resolves to, and the address each connection
 * actually reached (Node skips the lookup for IP literals, and a check done before connecting
 * is only as good as the path that led there). Redirects are followed by hand, each hop checked
 * again; size and time are capped; the bytes must start like an audio container.
 */

import { createWriteStream } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { lookup as dnsLookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { SNIFF_BYTES, sniffAudioContainer } from '../audio/sniff.js';
import { TtsError } from '../errors.js';
import { type AddressStage, checkPeerOnConnect, guardedLookup, isLocalhostName, isPublicAddress, type Resolve } from './address-guard.js';

export { type AddressStage, isPublicAddress } from './address-guard.js';

export interface FetchAudioOptions {
  maxBytes: number;
  /** For the whole download, redirects included. */
  timeoutMs: number;
  /** Let loopback and private addresses through (tests, trusted networks only). */
  allowPrivate: boolean;
  maxRedirects?: number;
  /**
   * Which addresses may be reached, asked at every stage; `isPublicAddress` unless set. Only
   * tests set it, to let one loopback listener stand in for a public server while every other
   * address still goes through the real check.
   */
  allowAddress?: (address: string, stage: AddressStage) => boolean;
  /** Resolves host names (the system resolver unless set); its answers are checked like any other. Tests answer made-up names with it. */
  resolve?: Resolve;
  /** Stops the download (the task was canceled): E_CANCELED. */
  cancel?: AbortSignal;
  /** The request field the URL came from, named in refusals (default `audio_url`). */
  field?: UrlField;
  /** false: the bytes need not start like audio (a document); default true. */
  expectAudio?: boolean;
}

/** The request fields whose URL the service downloads, by the same rules. */
export type UrlField = 'audio_url' | 'document_url';

const DEFAULT_MAX_REDIRECTS = 3;

function forbidden(address: string, how: string, field: UrlField = 'audio_url'): TtsError {
  return new TtsError('E_URL_FORBIDDEN', `${field} ${how} a private, loopback or reserved address (${address}); give a public URL or upload the file.`);
}

function addressCheck(options: Pick<FetchAudioOptions, 'allowPrivate' | 'allowAddress'>): (address: string, stage: AddressStage) => boolean {
  if (options.allowPrivate) return () => true;
  return options.allowAddress ?? isPublicAddress;
}

function parseAudioUrl(raw: string, allowed: (address: string, stage: AddressStage) => boolean, allowPrivate: boolean, field: UrlField = 'audio_url'): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TtsError('E_URL_FORBIDDEN', `${field} is not a valid URL: ${JSON.stringify(raw.slice(0, 200))}.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TtsError('E_URL_FORBIDDEN', `${field} must be http or https, got ${url.protocol.replace(':', '')}.`);
  if (url.username !== '' || url.password !== '') throw new TtsError('E_URL_FORBIDDEN', `${field} must not carry credentials.`);
  if (allowPrivate) return url;
  // The URL parser has already turned decimal, octal and hex IPv4 into dotted form and IPv6 into its bracketed canonical form.
  const host = url.hostname.replace(/^\[|\]$/gu, '');
  if (isLocalhostName(host)) throw forbidden(host, 'points at', field);
  if (isIP(host) !== 0 && !allowed(host, 'url')) throw forbidden(host, 'points at', field);
  return url;
}

/** Checks an audio_url's form (scheme, credentials, local names, literal addresses); resolved and connected addresses are checked when fetching. */
export function checkAudioUrl(raw: string, allowPrivate: boolean, field: UrlField = 'audio_url'): URL {
  return parseAudioUrl(raw, addressCheck({ allowPrivate }), allowPrivate, field);
}

function request(url: URL, options: FetchAudioOptions, allowed: (address: string, stage: AddressStage) => boolean, signal: AbortSignal): Promise<http.IncomingMessage> {
  const client = url.protocol === 'https:' ? https : http;
  const field = options.field ?? 'audio_url';
  const lookup = guardedLookup(options.resolve ?? dnsLookup, allowed, (address) => forbidden(address, 'resolves to', field));
  return new Promise((resolve, reject) => {
    // agent: false gives each hop its own connection, so every one of them passes the connect check.
    const accept = options.expectAudio === false ? '*/*' : 'audio/*, */*';
    const req = client.get(url, { agent: false, lookup, signal, headers: { 'user-agent': 'tts-queue', accept } }, resolve);
    req.on('error', reject);
    checkPeerOnConnect(req, allowed, (address) => forbidden(address, 'connected to', field));
  });
}

/** Passes bytes through while counting them against the cap and refusing a start that is not an audio container. */
function capAndSniff(maxBytes: number, contentType: string | undefined, field: UrlField, expectAudio: boolean): Transform {
  let received = 0;
  let head: Buffer | undefined = Buffer.alloc(0);
  const notAudio = (): TtsError =>
    new TtsError(
      'E_AUDIO_UNREADABLE',
      `audio_url did not return audio: its content (Content-Type ${JSON.stringify((contentType ?? 'none').slice(0, 100))}) does not start like wav, mp3, m4a/aac, ogg/opus, webm or flac.`,
    );
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      received += chunk.length;
      if (received > maxBytes) return callback(new TtsError('E_URL_FETCH_FAILED', `${field} is larger than ${maxBytes} bytes.`));
      if (head === undefined || !expectAudio) return callback(null, chunk);
      head = Buffer.concat([head, chunk]);
      if (head.length < SNIFF_BYTES) return callback();
      const start = head;
      head = undefined;
      callback(sniffAudioContainer(start) === undefined ? notAudio() : null, start);
    },
    flush(callback) {
      if (head === undefined || !expectAudio) return callback();
      callback(sniffAudioContainer(head) === undefined ? notAudio() : null, head);
    },
  });
}

/** A failure to write our own file: not the URL's fault, and its message names a server path. */
function isFileError(error: unknown): boolean {
  return error instanceof Error && 'path' in error;
}

/**
 * Downloads `rawUrl` to `outPath`; refuses with E_URL_FORBIDDEN, E_URL_FETCH_FAILED or (content
 * that is not audio) E_AUDIO_UNREADABLE. Failures to write `outPath` are thrown as they are.
 */
export async function fetchAudioUrl(rawUrl: string, outPath: string, options: FetchAudioOptions): Promise<{ contentType?: string }> {
  const field = options.field ?? 'audio_url';
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.cancel === undefined ? timeout : AbortSignal.any([timeout, options.cancel]);
  const allowed = addressCheck(options);
  let url = parseAudioUrl(rawUrl, allowed, options.allowPrivate, field);
  try {
    for (let redirects = 0; ; redirects++) {
      const response = await request(url, options, allowed, signal);
      const status = response.statusCode ?? 0;
      if (status >= 300 && status < 400 && response.headers.location !== undefined) {
        response.resume();
        if (redirects >= (options.maxRedirects ?? DEFAULT_MAX_REDIRECTS)) throw new TtsError('E_URL_FETCH_FAILED', `${field} redirects too many times.`);
        url = parseAudioUrl(new URL(response.headers.location, url).href, allowed, options.allowPrivate, field);
        continue;
      }
      if (status !== 200) {
        response.resume();
        throw new TtsError('E_URL_FETCH_FAILED', `${field} answered HTTP ${status}.`);
      }
      const declared = Number(response.headers['content-length']);
      if (Number.isFinite(declared) && declared > options.maxBytes) {
        response.destroy();
        throw new TtsError('E_URL_FETCH_FAILED', `${field} is ${declared} bytes; the limit is ${options.maxBytes}.`);
      }
      const contentType = response.headers['content-type'];
      await pipeline(response, capAndSniff(options.maxBytes, contentType, field, options.expectAudio !== false), createWriteStream(outPath), { signal });
      return contentType === undefined ? {} : { contentType };
    }
  } catch (error) {
    await unlink(outPath).catch(() => undefined);
    if (error instanceof TtsError) throw error;
    if (options.cancel?.aborted === true) throw new TtsError('E_CANCELED', 'The work was canceled.', { cause: error });
    if (timeout.aborted) throw new TtsError('E_URL_FETCH_FAILED', `${field} was not downloaded within ${options.timeoutMs} ms.`, { cause: error });
    if (isFileError(error)) throw error;
    throw new TtsError('E_URL_FETCH_FAILED', `${field} could not be downloaded: ${(error as Error).message}.`, { cause: error });
  }
}
