/** Process exit codes of the CLI, by kind of failure (documented in the README). */

import type { ErrorCode } from '../errors.js';

export const EXIT = {
  ok: 0,
  internal: 1,
  usage: 2,
  badInput: 3,
  engine: 4,
  /** `say --server`: the service cannot be reached, refused the key, or a limit or its state stopped the task. */
  service: 5,
  canceled: 130,
} as const;

/** What the service (not the request) stood in the way of: retry later, or fix the key or the URL. */
const SERVICE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'E_SERVER_UNREACHABLE',
  'E_SERVER_RESPONSE',
  'E_UNAUTHORIZED',
  'E_FORBIDDEN',
  'E_RATE_LIMITED',
  'E_QUOTA_CHARS',
  'E_QUOTA_TASKS',
  'E_NOT_READY',
  'E_BACKEND_UNAVAILABLE',
  'E_STORAGE_FULL',
  'E_STORAGE_UNAVAILABLE',
  'E_MODERATION_UNAVAILABLE',
  'E_RESULT_EXPIRED',
]);

export function exitCodeFor(code: ErrorCode): number {
  if (code === 'E_CANCELED') return EXIT.canceled;
  if (SERVICE_CODES.has(code)) return EXIT.service;
  if (code === 'E_INVALID_ARGUMENT' || code === 'E_FORMAT_UNSUPPORTED' || code === 'E_ENGINE_UNKNOWN' || code === 'E_SAMPLE_RATE_UNSUPPORTED') return EXIT.usage;
  if (
    code.startsWith('E_TEXT_') ||
    code.startsWith('E_AUDIO_') ||
    code === 'E_PRONUNCIATION_INVALID' ||
    code === 'E_FILE_NOT_FOUND' ||
    code === 'E_CONSENT_REQUIRED' ||
    code === 'E_CONTENT_REFUSED' ||
    code === 'E_BODY_TOO_LARGE' ||
    code === 'E_VOICE_NOT_FOUND'
  )
    return EXIT.badInput;
  if (code.startsWith('E_ENGINE_')) return EXIT.engine;
  return EXIT.internal;
}
