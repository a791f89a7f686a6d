/**
 * Creating, listing and revoking API keys: what the `keys` command and the /api/keys routes
 * call. The key itself is returned once, at creation; only its hash is stored.
 */

import type { ApiKeyRecord, KeyQuotas, KeyRole, KeyStore } from '../backends/backend.js';
import { TtsError } from '../errors.js';
import { KEY_ID_PATTERN, KEY_PREFIX, generateKey, hashKey } from './api-keys.js';
import { checkWebhookUrl } from '../net/post-webhook.js';

/** Names are for people: letters, digits, spaces and a few marks, 1 to 64 characters. */
const NAME_PATTERN = /^[\p{L}\p{N}][\p{L}\p{N} ._@-]{0,63}$/u;
const QUOTA_NAMES = ['requestsPerSecond', 'charsPerDay', 'openTasks', 'voices'] as const satisfies ReadonlyArray<keyof KeyQuotas>;
const MAX_QUOTA = 1_000_000_000;

export interface NewKey {
  name: string;
  role?: KeyRole;
  quotas?: KeyQuotas;
  /** The webhook of the key's tasks that name none. */
  webhookUrl?: string;
}

export class KeyService {
  constructor(
    private readonly keys: KeyStore,
    private readonly now: () => number = Date.now,
    /** WEBHOOK_ALLOW_PRIVATE: a key's webhook may point at loopback and private addresses. */
    private readonly webhookAllowPrivate = false,
  ) {}

  async create(input: NewKey): Promise<{ record: ApiKeyRecord; key: string }> {
    const name = input.name.trim();
    if (!NAME_PATTERN.test(name)) throw new TtsError('E_INVALID_ARGUMENT', 'Expected the key name to be 1 to 64 letters, digits, spaces or ._@- (starting with a letter or digit).');
    const quotas: KeyQuotas = {};
    for (const quota of QUOTA_NAMES) {
      const value = input.quotas?.[quota];
      if (value === undefined) continue;
      if (!Number.isInteger(value) || value < 0 || value > MAX_QUOTA) throw new TtsError('E_INVALID_ARGUMENT', `Expected the quota ${quota} to be an integer from 0 (no limit) to ${MAX_QUOTA}.`);
      quotas[quota] = value;
    }
    if (input.webhookUrl !== undefined) checkWebhookUrl(input.webhookUrl, this.webhookAllowPrivate);
    const { id, key } = generateKey();
    const record: ApiKeyRecord = { id, name, role: input.role ?? 'user', hash: hashKey(key), quotas, createdAt: this.now() };
    if (input.webhookUrl !== undefined) record.webhookUrl = input.webhookUrl;
    await this.keys.create(record);
    return { record, key };
  }

  async list(): Promise<ApiKeyRecord[]> {
    return await this.keys.list();
  }

  /** A key by its id or, failing that, by the name of a key that is not revoked. */
  async find(idOrName: string): Promise<ApiKeyRecord> {
    const byId = KEY_ID_PATTERN.test(idOrName) ? await this.keys.get(idOrName) : undefined;
    if (byId !== undefined) return byId;
    const byName = (await this.keys.list()).filter((key) => key.name === idOrName && key.revokedAt === undefined);
    if (byName.length === 0) {
      // A key itself (pasted where its id goes) is never repeated: answers end up in logs.
      const shown = idOrName.startsWith(KEY_PREFIX) ? `that starts with ${KEY_PREFIX} (a key itself; give its id, the 12 characters after ${KEY_PREFIX})` : `"${idOrName.slice(0, 100)}"`;
      throw new TtsError('E_KEY_NOT_FOUND', `No key has the id or name ${shown}; \`tts-queue keys list\` or GET /api/keys lists them.`);
    }
    return byName[0]!;
  }

  /** Revokes a key (revoking it again changes nothing); returns it as it is now. */
  async revoke(idOrName: string): Promise<ApiKeyRecord> {
    const key = await this.find(idOrName);
    return (await this.keys.revoke(key.id, this.now())) ?? key;
  }
}
