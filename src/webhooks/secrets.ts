/**
 * Webhook signing secrets. Each owner (API key; '' for tasks made without a key) has its own,
 * derived from the service's master secret (WEBHOOK_SECRET, else one made once and kept in the
 * backend), so every node and every restart signs alike and no per-key secret is stored. In the
 * `whsec_<base64>` form of Standard Webhooks, which its libraries take as they are.
 */

import { createHmac, randomBytes } from 'node:crypto';
import type { WebhookStore } from '../backends/backend.js';

export const SECRET_PREFIX = 'whsec_';

/** What a derived secret is for: a master secret used elsewhere too gives other keys here. */
const DERIVATION_LABEL = 'tts-queue webhook signing secret\n';

export class WebhookSecrets {
  constructor(private readonly master: string) {}

  /** The secret that signs the deliveries of `owner`'s tasks (undefined: tasks made without a key). */
  secretFor(owner: string | undefined): string {
    const key = createHmac('sha256', this.master)
      .update(DERIVATION_LABEL + (owner ?? ''))
      .digest();
    return `${SECRET_PREFIX}${key.toString('base64')}`;
  }
}

/** The configured master secret, or the one kept in the backend (made now if none is). */
export async function loadWebhookSecrets(configured: string | undefined, store: Pick<WebhookStore, 'masterSecret'>): Promise<WebhookSecrets> {
  return new WebhookSecrets(configured ?? (await store.masterSecret(randomBytes(32).toString('base64'))));
}
