/**
 * POSTs a webhook without letting it reach inside the network, by the rules `audio_url` follows
 * (address-guard.ts): http(s) only, no credentials, no `localhost`; an address is refused unless
 * it is public unicast, checked as a literal in the URL, as every address the host name resolves
 * to, and as the address the connection actually reached. Redirects are not followed (a 3xx is
 * an answer like any other that is not 2xx); one time limit covers connecting and the answer's
 * status line. The answer's body is not read.
 */

import { lookup as dnsLookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { TtsError } from '../errors.js';
import { type AddressStage, checkPeerOnConnect, guardedLookup, isLocalhostName, isPublicAddress, type Resolve } from './address-guard.js';

/** The longest webhook_url taken (as audio_url). */
export const MAX_WEBHOOK_URL_CHARS = 2048;

export interface PostWebhookOptions {
  /** For connecting and the status line of the answer. */
  timeoutMs: number;
  /** Let loopback and private addresses through (WEBHOOK_ALLOW_PRIVATE: tests, trusted networks only). */
  allowPrivate: boolean;
  /** Which addresses may be reached, asked at every stage; `isPublicAddress` unless set (tests). */
  allowAddress?: (address: string, stage: AddressStage) => boolean;
  /** Resolves host names (the system resolver unless set); its answers are checked like any other. */
  resolve?: Resolve;
  /** Stops the request (the service is shutting down). */
  signal?: AbortSignal;
}

function forbidden(address: string, how: string): TtsError {
  return new TtsError('E_WEBHOOK_URL_FORBIDDEN', `webhook_url ${how} a private, loopback or reserved address (${address}); give a public http(s) URL.`);
}

function parse(raw: string, allowed: (address: string, stage: AddressStage) => boolean, allowPrivate: boolean): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TtsError('E_WEBHOOK_URL_FORBIDDEN', `webhook_url is not a valid URL: ${JSON.stringify(raw.slice(0, 200))}.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TtsError('E_WEBHOOK_URL_FORBIDDEN', `webhook_url must be http or https, got ${url.protocol.replace(':', '')}.`);
  if (url.username !== '' || url.password !== '') throw new TtsError('E_WEBHOOK_URL_FORBIDDEN', 'webhook_url must not carry credentials (user:password@); put a token in its path or query instead.');
  if (raw.length > MAX_WEBHOOK_URL_CHARS) throw new TtsError('E_WEBHOOK_URL_FORBIDDEN', `webhook_url must be at most ${MAX_WEBHOOK_URL_CHARS} characters, got ${raw.length}.`);
  if (allowPrivate) return url;
  // The URL parser has already turned decimal, octal and hex IPv4 into dotted form and IPv6 into its bracketed canonical form.
  const host = url.hostname.replace(/^\[|\]$/gu, '');
  if (isLocalhostName(host)) throw forbidden(host, 'points at');
  if (isIP(host) !== 0 && !allowed(host, 'url')) throw forbidden(host, 'points at');
  return url;
}

function addressCheck(options: Pick<PostWebhookOptions, 'allowPrivate' | 'allowAddress'>): (address: string, stage: AddressStage) => boolean {
  if (options.allowPrivate) return () => true;
  return options.allowAddress ?? isPublicAddress;
}

/** Checks a webhook_url's form (scheme, credentials, length, local names, literal addresses); resolved and connected addresses are checked at each delivery. */
export function checkWebhookUrl(raw: string, allowPrivate: boolean): URL {
  return parse(raw, addressCheck({ allowPrivate }), allowPrivate);
}

/** Why a connection failed, in words a receiver's operator recognises. */
function describe(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ECONNREFUSED':
      return 'the connection was refused (nothing listens there)';
    case 'ECONNRESET':
      return 'the connection was closed before an answer came';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'the host name could not be resolved';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'the host cannot be reached';
    default:
      return error.message;
  }
}

/**
 * POSTs `body` to `rawUrl` with `headers`; resolves with the answer's HTTP status (whatever it
 * is). Refuses with E_WEBHOOK_URL_FORBIDDEN (an address the rules refuse) or
 * E_WEBHOOK_DELIVERY_FAILED (no answer: refused, reset, time-out, a name that does not resolve).
 */
export async function postWebhook(rawUrl: string, body: string, headers: Record<string, string>, options: PostWebhookOptions): Promise<number> {
  const allowed = addressCheck(options);
  const url = parse(rawUrl, allowed, options.allowPrivate);
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal === undefined ? timeout : AbortSignal.any([timeout, options.signal]);
  const client = url.protocol === 'https:' ? https : http;
  const lookup = guardedLookup(options.resolve ?? dnsLookup, allowed, (address) => forbidden(address, 'resolves to'));
  try {
    return await new Promise<number>((resolve, reject) => {
      // agent: false gives each delivery its own connection, so every one of them passes the connect check.
      const req = client.request(url, { method: 'POST', agent: false, lookup, signal, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (response) => {
        // Only the status counts; the body is dropped as it comes.
        response.resume();
        resolve(response.statusCode ?? 0);
      });
      req.on('error', reject);
      checkPeerOnConnect(req, allowed, (address) => forbidden(address, 'connected to'));
      req.end(body);
    });
  } catch (error) {
    if (error instanceof TtsError) throw error;
    if (timeout.aborted) throw new TtsError('E_WEBHOOK_DELIVERY_FAILED', `The receiver did not answer within ${options.timeoutMs} ms.`, { cause: error });
    if (options.signal?.aborted === true) throw new TtsError('E_CANCELED', 'The delivery was stopped (the service is shutting down).', { cause: error });
    throw new TtsError('E_WEBHOOK_DELIVERY_FAILED', `The receiver could not be reached: ${describe(error as NodeJS.ErrnoException)}.`, { cause: error });
  }
}
