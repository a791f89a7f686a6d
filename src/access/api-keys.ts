/**
 * API keys: `ttsq_<id>_<secret>`. The id (12 lowercase letters and digits, 60 bits) finds the
 * stored record; the secret (32 random bytes, base64url) proves the key. Only the SHA-256 of
 * the whole key is stored: the key has far more entropy than a password, so a fast hash is
 * enough, and it is compared in constant time.
 */

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const KEY_PREFIX = 'ttsq_';
const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const ID_LENGTH = 12;
const SECRET_BYTES = 32;
const KEY_PATTERN = new RegExp(`^${KEY_PREFIX}([a-z2-7]{${ID_LENGTH}})_[A-Za-z0-9_-]{43}$`, 'u');
/** Key ids as they appear in routes and commands. */
export const KEY_ID_PATTERN = new RegExp(`^[a-z2-7]{${ID_LENGTH}}$`, 'u');

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** A new key and its id. */
export function generateKey(): { id: string; key: string } {
  const bytes = randomBytes(ID_LENGTH);
  const id = Array.from(bytes, (byte) => ID_ALPHABET[byte % ID_ALPHABET.length]).join('');
  return { id, key: `${KEY_PREFIX}${id}_${randomBytes(SECRET_BYTES).toString('base64url')}` };
}

/** The id part of a well-formed key, or undefined. */
export function keyIdOf(key: string): string | undefined {
  return KEY_PATTERN.exec(key)?.[1];
}

/** Whether `key` hashes to `storedHash`, compared in constant time. */
export function keyMatches(key: string, storedHash: string): boolean {
  const given = Buffer.from(hashKey(key), 'hex');
  const stored = Buffer.from(storedHash, 'hex');
  return given.length === stored.length && timingSafeEqual(given, stored);
}
