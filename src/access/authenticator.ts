/**
 * Turns a request's credentials into a Principal. A key comes as `Authorization: Bearer <key>`
 * or `X-API-Key: <key>`; a key that is given must be valid, whatever the mode. Without one the
 * request is anonymous, allowed only where the service needs no key:
 * - AUTH=off: never needed (the operator said so; logged as a warning at every start);
 * - AUTH=on: always needed;
 * - AUTH=auto (default): needed once any key exists, and always on an address other than
 *   loopback (a service started there without keys refuses to start: see `checkExposure`).
 * Keys are read through a short cache (KEY_CACHE_MS), so a key created or revoked by another
 * process (the `keys` command, another API node) takes effect within that time; one revoked
 * through this process's API at once.
 */

import { LRUCache } from 'lru-cache';
import type { ApiKeyRecord, KeyStore } from '../backends/backend.js';
import { TtsError } from '../errors.js';
import type { Logger } from '../service/logger.js';
import { keyIdOf, keyMatches } from './api-keys.js';
import { ANONYMOUS, ANONYMOUS_REMOTE, type Principal } from './principal.js';

export const AUTH_MODES = ['auto', 'on', 'off'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

const KEY_CACHE_MS = 1_000;
const KEY_CACHE_SIZE = 10_000;
/** last_used_at is written at most this often per key: a write per request would cost more than the request. */
const TOUCH_EVERY_MS = 60_000;

export interface AuthenticatorOptions {
  keys: KeyStore;
  mode: AuthMode;
  /** Whether the API listens on loopback only. */
  loopbackOnly: boolean;
  logger: Logger;
  now?: () => number;
}

type Headers = Record<string, string | string[] | undefined>;

const unauthorized = (message: string): TtsError => new TtsError('E_UNAUTHORIZED', message);

/** The key a request carries, or undefined; a malformed header is refused. */
export function credentialOf(headers: Headers): string | undefined {
  const authorization = headers.authorization;
  const apiKey = headers['x-api-key'];
  if (Array.isArray(authorization) || Array.isArray(apiKey)) throw unauthorized('Send one key, in one Authorization or X-API-Key header.');
  if (authorization !== undefined) {
    const match = /^Bearer +(\S+) *$/iu.exec(authorization);
    if (match === null) throw unauthorized('Expected the header `Authorization: Bearer <key>`.');
    if (apiKey !== undefined && apiKey !== match[1]) throw unauthorized('Authorization and X-API-Key name different keys; send one.');
    return match[1];
  }
  return apiKey === undefined ? undefined : apiKey.trim();
}

export class Authenticator {
  private readonly cache = new LRUCache<string, { key: ApiKeyRecord | undefined; at: number }>({ max: KEY_CACHE_SIZE });
  /**
   * Keys checked against their hash in the last KEY_CACHE_MS, by the key as sent: the hash is
   * then not computed again for each request (it was most of what authentication cost).
   * Looked up by a hash table, not compared character by character, so nothing leaks by timing.
   */
  private readonly verified = new LRUCache<string, { principal: Principal; at: number }>({ max: KEY_CACHE_SIZE });
  private readonly touchedAt = new Map<string, number>();
  private activeKeys: { value: boolean; at: number } | undefined;
  private readonly now: () => number;

  constructor(private readonly options: AuthenticatorOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Whether a request without a key is refused now. */
  async keyRequired(): Promise<boolean> {
    const { mode, loopbackOnly } = this.options;
    if (mode !== 'auto') return mode === 'on';
    if (!loopbackOnly) return true;
    const now = this.now();
    if (this.activeKeys === undefined || now - this.activeKeys.at >= KEY_CACHE_MS) this.activeKeys = { value: await this.options.keys.hasActiveKeys(), at: now };
    return this.activeKeys.value;
  }

  async authenticate(headers: Headers): Promise<Principal> {
    const given = credentialOf(headers);
    if (given === undefined) {
      if (await this.keyRequired()) throw unauthorized('This service needs an API key: send `Authorization: Bearer <key>` (an admin creates keys with `tts-queue keys create`).');
      return this.options.loopbackOnly ? ANONYMOUS : ANONYMOUS_REMOTE;
    }
    const now = this.now();
    const recent = this.verified.get(given);
    if (recent !== undefined && now - recent.at < KEY_CACHE_MS) return recent.principal;
    const id = keyIdOf(given);
    const key = id === undefined ? undefined : await this.lookup(id);
    // One answer for malformed, unknown, wrong and revoked keys: nothing to learn from trying.
    if (key === undefined || key.revokedAt !== undefined || !keyMatches(given, key.hash)) throw unauthorized('The API key is not valid (unknown, mistyped or revoked).');
    this.touch(key.id);
    const principal: Principal = { keyId: key.id, role: key.role, quotas: key.quotas };
    if (key.webhookUrl !== undefined) principal.webhookUrl = key.webhookUrl;
    this.verified.set(given, { principal, at: now });
    return principal;
  }

  /** Forgets what is cached after a change made through this process (a key created or revoked). */
  forget(id?: string): void {
    if (id !== undefined) this.cache.delete(id);
    // A revoked key must stop at once on this node: forget every verified key (they are few, and checked again cheaply).
    this.verified.clear();
    this.activeKeys = undefined;
  }

  private async lookup(id: string): Promise<ApiKeyRecord | undefined> {
    const now = this.now();
    const cached = this.cache.get(id);
    if (cached !== undefined && now - cached.at < KEY_CACHE_MS) return cached.key;
    const key = await this.options.keys.get(id);
    this.cache.set(id, { key, at: now });
    return key;
  }

  private touch(id: string): void {
    const now = this.now();
    if (now - (this.touchedAt.get(id) ?? 0) < TOUCH_EVERY_MS) return;
    this.touchedAt.set(id, now);
    this.options.keys.touch(id, now).catch((error: unknown) => this.options.logger.warn({ err: error }, 'could not record when a key was last used'));
  }
}
