/** METRICS_TOKEN: /metrics then wants `Authorization: Bearer <token>`, compared in constant time. */

import { createHash, timingSafeEqual } from 'node:crypto';
import { TtsError } from '../errors.js';

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/** Throws E_UNAUTHORIZED unless `authorization` carries `token` (nothing is asked when no token is configured). */
export function checkMetricsToken(authorization: string | string[] | undefined, token: string | undefined): void {
  if (token === undefined) return;
  const given = typeof authorization === 'string' ? /^Bearer +(\S+) *$/iu.exec(authorization)?.[1] : undefined;
  if (given === undefined || !timingSafeEqual(digest(given), digest(token))) {
    throw new TtsError('E_UNAUTHORIZED', '/metrics needs `Authorization: Bearer <METRICS_TOKEN>`.');
  }
}
