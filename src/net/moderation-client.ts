/**
 * The call to an external moderation check (MODERATION_URL), guarded like audio_url downloads:
 * unless private addresses are allowed, every address a name resolves to and the address each
 * connection reached must be public (src/net/address-guard.ts); redirects are not followed; the
 * answer is capped in size and the whole exchange in time.
 *
 * The contract, for whoever writes the service:
 *   request:  POST MODERATION_URL, `Content-Type: application/json`, body `{"text": "…"}` (the
 *             text as the client sent it, up to MAX_TEXT_CHARS characters)
 *   answer:   2xx with a JSON object holding `"allowed": true | false`, or, as OpenAI-style
 *             moderation services say it, `"flagged": true | false` (flagged means refused);
 *             `allowed` wins when both are there; other fields are ignored; at most 64 KiB.
 * Anything else (another status, a redirect, no such boolean, JSON that does not parse, an
 * answer over 64 KiB, no answer in time, a refused connection) means the check is unavailable.
 */

import { lookup as dnsLookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { type AddressCheck, checkPeerOnConnect, guardedLookup, isLocalhostName, isPublicAddress, type Resolve } from './address-guard.js';

/** The largest answer read from the check. */
export const MODERATION_ANSWER_MAX_BYTES = 64 * 1024;

export interface ModerationClientOptions {
  url: URL;
  timeoutMs: number;
  /** Let the check be on loopback or a private address (a sidecar). */
  allowPrivate: boolean;
  /** Resolves host names (the system resolver unless set); tests answer made-up names with it. */
  resolve?: Resolve;
}

/** The check could not give a usable answer; `message` says why and never holds the text. */
export class ModerationUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ModerationUnavailableError';
  }
}

function privateAddress(address: string): Error {
  return new Error(`MODERATION_URL reaches a loopback, private or reserved address (${address}); set MODERATION_ALLOW_PRIVATE=1 for a check on localhost or inside your network`);
}

/**
 * At start-up: refuses a URL whose host is `localhost`, a literal private address, or a name that
 * resolves to one, unless private addresses are allowed (the message says so). A name that does
 * not resolve yet is let through (the check may start after this service); it is checked again
 * at each call.
 */
export async function checkModerationUrl(options: ModerationClientOptions): Promise<'ok' | 'unresolved'> {
  if (options.allowPrivate) return 'ok';
  const host = options.url.hostname.replace(/^\[|\]$/gu, '');
  if (isLocalhostName(host)) throw privateAddress(host);
  if (isIP(host) !== 0) {
    if (!isPublicAddress(host)) throw privateAddress(host);
    return 'ok';
  }
  let addresses: Array<{ address: string }>;
  try {
    addresses = await (options.resolve ?? dnsLookup)(host, { all: true });
  } catch {
    return 'unresolved';
  }
  const refused = addresses.find((a) => !isPublicAddress(a.address));
  if (refused !== undefined) throw privateAddress(refused.address);
  return 'ok';
}

/** Asks the check about `text`: true when allowed, false when refused; ModerationUnavailableError when it cannot tell. */
export async function askModerationService(text: string, options: ModerationClientOptions): Promise<boolean> {
  const allowed: AddressCheck = options.allowPrivate ? () => true : isPublicAddress;
  const signal = AbortSignal.timeout(options.timeoutMs);
  try {
    const { status, body } = await post(options, JSON.stringify({ text }), allowed, signal);
    if (status < 200 || status > 299)
      throw new ModerationUnavailableError(status >= 300 && status < 400 ? `it answered a redirect (HTTP ${status}), which is not followed` : `it answered HTTP ${status}`);
    return verdict(body);
  } catch (error) {
    if (error instanceof ModerationUnavailableError) throw error;
    if (signal.aborted) throw new ModerationUnavailableError(`it did not answer within ${options.timeoutMs} ms`, { cause: error });
    throw new ModerationUnavailableError(`it could not be reached: ${(error as Error).message}`, { cause: error });
  }
}

function verdict(body: string): boolean {
  let answer: unknown;
  try {
    answer = JSON.parse(body);
  } catch (error) {
    throw new ModerationUnavailableError('its answer is not JSON', { cause: error });
  }
  if (typeof answer === 'object' && answer !== null) {
    const { allowed, flagged } = answer as { allowed?: unknown; flagged?: unknown };
    if (typeof allowed === 'boolean') return allowed;
    if (typeof flagged === 'boolean') return !flagged;
  }
  throw new ModerationUnavailableError('its answer has neither an "allowed" nor a "flagged" boolean');
}

function post(options: ModerationClientOptions, payload: string, allowed: AddressCheck, signal: AbortSignal): Promise<{ status: number; body: string }> {
  const { url } = options;
  const client = url.protocol === 'https:' ? https : http;
  const lookup = guardedLookup(options.resolve ?? dnsLookup, allowed, (address) => privateAddress(address));
  return new Promise((resolve, reject) => {
    // agent: false: a connection of its own, so it passes the connect check; redirects are never followed (no code here does).
    const req = client.request(
      url,
      {
        method: 'POST',
        agent: false,
        lookup,
        signal,
        headers: { 'user-agent': 'tts-queue', 'content-type': 'application/json', accept: 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (response) => {
        const status = response.statusCode ?? 0;
        if (status < 200 || status > 299) {
          response.resume();
          resolve({ status, body: '' });
          return;
        }
        const chunks: Buffer[] = [];
        let received = 0;
        response.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (received > MODERATION_ANSWER_MAX_BYTES) {
            response.destroy();
            reject(new ModerationUnavailableError(`its answer is larger than ${MODERATION_ANSWER_MAX_BYTES} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        response.on('end', () => resolve({ status, body: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', reject);
        response.on('close', () => {
          if (!response.complete) reject(new Error('the answer was cut short'));
        });
      },
    );
    req.on('error', reject);
    checkPeerOnConnect(req, allowed, (address) => privateAddress(address));
    req.end(payload);
  });
}
