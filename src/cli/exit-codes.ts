/** Process exit codes of the CLI, by kind of failure (documented in the README). */

import type { ErrorCode } from '../errors.js';

export const EXIT = {
  ok: 0,
  internal: 1,
  usage: 2,
  badInput: 3,
  engine: 4,
  canceled: 130,
} as const;

export function exitCodeFor(code: ErrorCode): number {
  if (code === 'E_CANCELED') return EXIT.canceled;
  if (code === 'E_INVALID_ARGUMENT' || code === 'E_FORMAT_UNSUPPORTED' || code === 'E_ENGINE_UNKNOWN') return EXIT.usage;
  if (code.startsWith('E_TEXT_') || code.startsWith('E_AUDIO_') || code === 'E_PRONUNCIATION_INVALID' || code === 'E_FILE_NOT_FOUND') return EXIT.badInput;
  if (code.startsWith('E_ENGINE_')) return EXIT.engine;
  return EXIT.internal;
}
