/** When a file system counts as full: the one rule the backend and the blob store both apply. */

import { statfsSync } from 'node:fs';
import { dirname } from 'node:path';

/** Less free space than this counts as full: no segment, result or database page would fit. */
const FULL_BELOW_BYTES = 1024 * 1024;

/**
 * True when the file system holding `path` (or, while `path` does not exist yet, its nearest
 * existing parent) has less than FULL_BELOW_BYTES free. One statfs call; false when it cannot tell.
 */
export function isNearlyFull(path: string): boolean {
  for (let current = path; ; current = dirname(current)) {
    try {
      const fs = statfsSync(current);
      return fs.bavail * fs.bsize < FULL_BELOW_BYTES;
    } catch {
      if (dirname(current) === current) return false;
    }
  }
}
