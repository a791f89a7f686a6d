/** API keys (their hashes) and each owner's characters per day, in the embedded database. */

import type { SqliteConnection } from './connection.js';
import type { ApiKeyRecord, KeyQuotas, KeyRole, KeyStore } from '../backend.js';
import { TtsError } from '../../errors.js';

interface KeyRow {
  id: string;
  name: string;
  role: KeyRole;
  hash: string;
  quotas: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
  webhook_url: string | null;
}

function toKey(row: KeyRow): ApiKeyRecord {
  const key: ApiKeyRecord = { id: row.id, name: row.name, role: row.role, hash: row.hash, quotas: JSON.parse(row.quotas) as KeyQuotas, createdAt: row.created_at };
  if (row.last_used_at !== null) key.lastUsedAt = row.last_used_at;
  if (row.revoked_at !== null) key.revokedAt = row.revoked_at;
  if (row.webhook_url !== null) key.webhookUrl = row.webhook_url;
  return key;
}

export class SqliteKeyStore implements KeyStore {
  constructor(private readonly connection: SqliteConnection) {}

  async create(key: ApiKeyRecord): Promise<void> {
    this.connection.transaction(() => {
      if (this.connection.sql<[string], { id: string }>('SELECT id FROM api_keys WHERE name = ? AND revoked_at IS NULL').get(key.name) !== undefined) {
        throw new TtsError('E_KEY_NAME_TAKEN', `A key named "${key.name}" exists; choose another name or revoke that key first.`);
      }
      this.connection
        .sql('INSERT INTO api_keys (id, name, role, hash, quotas, created_at, last_used_at, revoked_at, webhook_url) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, ?)')
        .run(key.id, key.name, key.role, key.hash, JSON.stringify(key.quotas), key.createdAt, key.webhookUrl ?? null);
    });
  }

  async get(id: string): Promise<ApiKeyRecord | undefined> {
    const row = this.connection.sql<[string], KeyRow>('SELECT * FROM api_keys WHERE id = ?').get(id);
    return row && toKey(row);
  }

  async list(): Promise<ApiKeyRecord[]> {
    return this.connection.sql<[], KeyRow>('SELECT * FROM api_keys ORDER BY created_at, id').all().map(toKey);
  }

  async revoke(id: string, at: number): Promise<ApiKeyRecord | undefined> {
    return this.connection.transaction(() => {
      this.connection.sql('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(at, id);
      const row = this.connection.sql<[string], KeyRow>('SELECT * FROM api_keys WHERE id = ?').get(id);
      return row && toKey(row);
    });
  }

  async touch(id: string, at: number): Promise<void> {
    this.connection.write(() => this.connection.sql('UPDATE api_keys SET last_used_at = ? WHERE id = ?').run(at, id));
  }

  async hasActiveKeys(): Promise<boolean> {
    return this.connection.sql<[], { n: number }>('SELECT EXISTS (SELECT 1 FROM api_keys WHERE revoked_at IS NULL) AS n').get()!.n === 1;
  }

  async addUsage(owner: string, day: string, chars: number, limit: number): Promise<boolean> {
    return this.connection.transaction(() => {
      const row = this.connection.sql<[string, string], { chars: number }>('SELECT chars FROM usage WHERE owner = ? AND day = ?').get(owner, day);
      const used = row?.chars ?? 0;
      if (chars > 0 && limit > 0 && used + chars > limit) return false;
      if (row !== undefined) this.connection.sql('UPDATE usage SET chars = MAX(0, chars + ?) WHERE owner = ? AND day = ?').run(chars, owner, day);
      else if (chars > 0) this.connection.sql('INSERT INTO usage (owner, day, chars) VALUES (?, ?, ?)').run(owner, day, chars);
      // Counts of days gone by are of no further use.
      this.connection.sql('DELETE FROM usage WHERE owner = ? AND day < ?').run(owner, day);
      return true;
    });
  }
}
