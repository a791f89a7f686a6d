/**
 * Standard Webhooks signatures: `webhook-signature: v1,<base64 HMAC-SHA256>` over
 * `<webhook-id>.<webhook-timestamp>.<body>`, keyed by the secret's bytes (the base64 after
 * `whsec_`). A receiver checks it with any Standard Webhooks library, or by hand (README).
 */

import { createHmac } from 'node:crypto';
import { SECRET_PREFIX } from './secrets.js';

export interface SignedHeaders {
  'webhook-id': string;
  /** Unix seconds of this try (a receiver refuses one far from its own clock). */
  'webhook-timestamp': string;
  'webhook-signature': string;
}

export function signatureOf(secret: string, id: string, timestampS: number, body: string): string {
  const key = Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestampS}.${body}`).digest('base64')}`;
}

export function signedHeaders(secret: string, id: string, timestampS: number, body: string): SignedHeaders {
  return { 'webhook-id': id, 'webhook-timestamp': String(timestampS), 'webhook-signature': signatureOf(secret, id, timestampS, body) };
}
