/**
 * Downloads an `audio_url` reference without letting it reach inside the network: http(s) only;
 * every address the host name resolves to is checked when the connection is made (so DNS
 * rebinding cannot slip past a check done earlier); redirects are followed by hand, each one
 * checked again; size and time are capped.
 */

import { createWriteStream } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { TtsError } from '../errors.js';

export interface FetchAudioOptions {
  maxBytes: number;
  timeoutMs: number;
  /** Let loopback and private addresses through (tests, trusted networks only). */
  allowPrivate: boolean;
  maxRedirects?: number;
}

/** True for addresses a public URL must never reach: loopback, private, link-local, metadata, ... */
export function isForbiddenAddress(address: string): boolean {
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (isIP(v4) === 4) {
    const [a = 0, b = 0] = v4.split('.').map(Number);
    return (
      a === 0 || a === 10 || a === 127 || (a === 100 && b >= 64 && b <= 127) || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) || (a === 192 && b === 0) || (a === 198 && (b === 18 || b === 19)) || a >= 224
    );
  }
  const v6 = address.toLowerCase();
  return v6 === '::' || v6 === '::1' || v6.startsWith('fe8') || v6.startsWith('fe9') || v6.startsWith('fea') || v6.startsWith('feb') || v6.startsWith('fc') || v6.startsWith('fd') || v6.startsWith('ff');
}

/** Checks an audio_url's form (scheme, credentials, literal addresses); the resolved address is checked when fetching. */
export function checkAudioUrl(raw: string, allowPrivate: boolean): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TtsError('E_URL_FORBIDDEN', `audio_url is not a valid URL: ${JSON.stringify(raw.slice(0, 200))}.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TtsError('E_URL_FORBIDDEN', `audio_url must be http or https, got ${url.protocol.replace(':', '')}.`);
  if (url.username !== '' || url.password !== '') throw new TtsError('E_URL_FORBIDDEN', 'audio_url must not carry credentials.');
  const host = url.hostname.replace(/^\[|\]$/gu, '');
  if (!allowPrivate && (host === 'localhost' || host.endsWith('.localhost') || (isIP(host) !== 0 && isForbiddenAddress(host)))) {
    throw new TtsError('E_URL_FORBIDDEN', `audio_url points at a private or loopback address (${host}); give a public URL or upload the file.`);
  }
  return url;
}

function guardedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error, '', 0);
      const bad = addresses.find((a) => isForbiddenAddress(a.address));
      if (bad !== undefined && !allowPrivate) {
        return callback(new TtsError('E_URL_FORBIDDEN', `audio_url resolves to a private or loopback address (${bad.address}).`) as unknown as NodeJS.ErrnoException, '', 0);
      }
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      const first = addresses[0]!;
      callback(null, first.address, first.family);
    });
  };
}

function request(url: URL, options: FetchAudioOptions, signal: AbortSignal): Promise<http.IncomingMessage> {
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.get(url, { lookup: guardedLookup(options.allowPrivate), signal, headers: { 'user-agent': 'tts-queue', accept: 'audio/*, */*' } }, resolve);
    req.on('error', reject);
  });
}

/** Downloads `rawUrl` to `outPath`; refuses with E_URL_FORBIDDEN or E_URL_FETCH_FAILED. */
export async function fetchAudioUrl(rawUrl: string, outPath: string, options: FetchAudioOptions): Promise<void> {
  const signal = AbortSignal.timeout(options.timeoutMs);
  let url = checkAudioUrl(rawUrl, options.allowPrivate);
  try {
    for (let redirects = 0; ; redirects++) {
      const response = await request(url, options, signal);
      const status = response.statusCode ?? 0;
      if (status >= 300 && status < 400 && response.headers.location !== undefined) {
        response.resume();
        if (redirects >= (options.maxRedirects ?? 3)) throw new TtsError('E_URL_FETCH_FAILED', 'audio_url redirects too many times.');
        url = checkAudioUrl(new URL(response.headers.location, url).href, options.allowPrivate);
        continue;
      }
      if (status !== 200) {
        response.resume();
        throw new TtsError('E_URL_FETCH_FAILED', `audio_url answered HTTP ${status}.`);
      }
      const declared = Number(response.headers['content-length']);
      if (Number.isFinite(declared) && declared > options.maxBytes) {
        response.destroy();
        throw new TtsError('E_URL_FETCH_FAILED', `audio_url is ${declared} bytes; the limit is ${options.maxBytes}.`);
      }
      let received = 0;
      const cap = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          received += chunk.length;
          if (received > options.maxBytes) callback(new TtsError('E_URL_FETCH_FAILED', `audio_url is larger than ${options.maxBytes} bytes.`));
          else callback(null, chunk);
        },
      });
      await pipeline(response, cap, createWriteStream(outPath));
      return;
    }
  } catch (error) {
    await unlink(outPath).catch(() => undefined);
    if (error instanceof TtsError) throw error;
    const reason = signal.aborted ? `no answer within ${options.timeoutMs} ms` : (error as Error).message;
    throw new TtsError('E_URL_FETCH_FAILED', `audio_url could not be downloaded: ${reason}.`, { cause: error });
  }
}
