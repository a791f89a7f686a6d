/**
 * API keys (their hashes) and each owner's characters per day, in Redis, so every API node
 * sees the same keys. Keys (K = prefix + ':'):
 *   K apikey:ID          JSON of the key record
 *   K apikeys            sorted set of key ids by creation time
 *   K apikeys:active     set of ids not revoked
 *   K apikey-name:NAME   id of the key that is not revoked with this name
 *   K usage:OWNER:DAY    characters accepted that day (kept two days)
 */

import type { ApiKeyRecord, KeyStore } from '../backend.js';
import { TtsError } from '../../errors.js';
import type { RedisConnection } from './connection.js';

/** ARGV: prefix, id, name, record JSON, created at. Returns 0 when the name is taken. */
const CREATE_KEY = `
local K = ARGV[1] .. ':'
if redis.call('SET', K .. 'apikey-name:' .. ARGV[3], ARGV[2], 'NX') == false then return 0 end
redis.call('SET', K .. 'apikey:' .. ARGV[2], ARGV[4])
redis.call('ZADD', K .. 'apikeys', ARGV[5], ARGV[2])
redis.call('SADD', K .. 'apikeys:active', ARGV[2])
return 1
`;

/** ARGV: prefix, id, revoked at. Returns the record JSON as it is now, or false. */
const REVOKE_KEY = `
local K = ARGV[1] .. ':'
local json = redis.call('GET', K .. 'apikey:' .. ARGV[2])
if not json then return false end
local key = cjson.decode(json)
if key.revokedAt == nil then
  key.revokedAt = tonumber(ARGV[3])
  json = cjson.encode(key)
  redis.call('SET', K .. 'apikey:' .. ARGV[2], json)
  redis.call('SREM', K .. 'apikeys:active', ARGV[2])
  if redis.call('GET', K .. 'apikey-name:' .. key.name) == ARGV[2] then redis.call('DEL', K .. 'apikey-name:' .. key.name) end
end
return json
`;

/** ARGV: prefix, id, last used at. */
const TOUCH_KEY = `
local K = ARGV[1] .. ':'
local json = redis.call('GET', K .. 'apikey:' .. ARGV[2])
if not json then return 0 end
local key = cjson.decode(json)
key.lastUsedAt = tonumber(ARGV[3])
redis.call('SET', K .. 'apikey:' .. ARGV[2], cjson.encode(key))
return 1
`;

/** ARGV: prefix, owner, day, chars (negative: give back), limit (0: none). Returns 1 when added. */
const ADD_USAGE = `
local key = ARGV[1] .. ':usage:' .. ARGV[2] .. ':' .. ARGV[3]
local chars, limit = tonumber(ARGV[4]), tonumber(ARGV[5])
local used = tonumber(redis.call('GET', key) or '0')
if chars > 0 and limit > 0 and used + chars > limit then return 0 end
redis.call('SET', key, math.max(0, used + chars), 'EX', 172800)
return 1
`;

export class RedisKeyStore implements KeyStore {
  constructor(
    private readonly connection: RedisConnection,
    /** Runs a Redis call; connection failures become E_BACKEND_UNAVAILABLE. */
    private readonly call: <T>(body: () => Promise<T>) => Promise<T>,
  ) {}

  private eval(script: string, ...args: Array<string | number>): Promise<unknown> {
    return this.call(() => this.connection.redis.eval(script, 0, this.connection.prefix, ...args));
  }

  async create(key: ApiKeyRecord): Promise<void> {
    // cjson cannot tell an empty object from an empty array: quotas always travel as an object.
    const created = await this.eval(CREATE_KEY, key.id, key.name, JSON.stringify(key), String(key.createdAt));
    if (created === 0) throw new TtsError('E_KEY_NAME_TAKEN', `A key named "${key.name}" exists; choose another name or revoke that key first.`);
  }

  async get(id: string): Promise<ApiKeyRecord | undefined> {
    const json = await this.call(() => this.connection.redis.get(this.connection.key(`apikey:${id}`)));
    return json === null ? undefined : parseKey(json);
  }

  async list(): Promise<ApiKeyRecord[]> {
    return await this.call(async () => {
      const ids = await this.connection.redis.zrange(this.connection.key('apikeys'), '0', '-1');
      if (ids.length === 0) return [];
      const values = await this.connection.redis.mget(ids.map((id) => this.connection.key(`apikey:${id}`)));
      return values.filter((json): json is string => json !== null).map(parseKey);
    });
  }

  async revoke(id: string, at: number): Promise<ApiKeyRecord | undefined> {
    const json = (await this.eval(REVOKE_KEY, id, at)) as string | null;
    return json === null ? undefined : parseKey(json);
  }

  async touch(id: string, at: number): Promise<void> {
    await this.eval(TOUCH_KEY, id, at);
  }

  async hasActiveKeys(): Promise<boolean> {
    return (await this.call(() => this.connection.redis.scard(this.connection.key('apikeys:active')))) > 0;
  }

  async addUsage(owner: string, day: string, chars: number, limit: number): Promise<boolean> {
    return (await this.eval(ADD_USAGE, owner, day, chars, limit)) === 1;
  }
}

/** A record as stored; Lua's cjson turns an empty `quotas` object into an array, read back as no quotas. */
function parseKey(json: string): ApiKeyRecord {
  const key = JSON.parse(json) as ApiKeyRecord;
  if (Array.isArray(key.quotas)) key.quotas = {};
  return key;
}
