/**
 * The webhook outbox in Redis. Deliveries are recorded by the task scripts (recordWebhook in
 * scripts.ts) in the script that appends the status event; here they are claimed, tried, listed
 * and pruned, each change one script. Keys (K = prefix + ':'):
 *   K webhook:DID      hash: id task owner url type status eventAt next token attempts deliveredAt endedAt
 *                      (attempts: a JSON list, appended to as text so no number goes through cjson)
 *   K task:ID:wh       list of the task's delivery ids, oldest first
 *   K webhooks:due     sorted set of pending ids by next try (while claimed: by the claim's end)
 *   K webhooks:ended   sorted set of delivered and failed ids by when they ended (for pruning)
 *   K webhook-secret   the master secret (set once, NX)
 * Semantics: WebhookStore in ../backend.ts.
 */

import { randomUUID } from 'node:crypto';
import type { ClaimedDelivery, WebhookAttempt, WebhookDelivery, WebhookDeliveryStatus, WebhookOutcome, WebhookStore } from '../backend.js';
import type { RedisConnection } from './connection.js';
import type { RedisCall } from './audit.js';

/** ARGV: prefix, now, claim end, most to claim, token. Returns the claimed records (flat field lists). */
const CLAIM_DUE = `
local K = ARGV[1] .. ':'
local now, leaseUntil, limit, token = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local out = {}
for _, did in ipairs(redis.call('ZRANGEBYSCORE', K .. 'webhooks:due', '-inf', now, 'LIMIT', 0, limit)) do
  local key = K .. 'webhook:' .. did
  if redis.call('HGET', key, 'status') == 'pending' then
    redis.call('ZADD', K .. 'webhooks:due', leaseUntil, did)
    redis.call('HSET', key, 'next', leaseUntil, 'token', token)
    table.insert(out, redis.call('HGETALL', key))
  else
    redis.call('ZREM', K .. 'webhooks:due', did)
  end
end
return out
`;

/**
 * ARGV: prefix, id, token, attempt JSON, outcome (pending, delivered, failed), next try (pending)
 * or end time. Returns 1 when recorded, 0 when the claim was lost.
 */
const RECORD_ATTEMPT = `
local K = ARGV[1] .. ':'
local did, token, attempt, outcome, at = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local key = K .. 'webhook:' .. did
local f = redis.call('HMGET', key, 'status', 'token', 'attempts')
if f[1] ~= 'pending' or f[2] ~= token then return 0 end
local attempts = f[3] == '[]' and ('[' .. attempt .. ']') or (string.sub(f[3], 1, -2) .. ',' .. attempt .. ']')
redis.call('HSET', key, 'attempts', attempts, 'token', '')
if outcome == 'pending' then
  redis.call('HSET', key, 'next', at)
  redis.call('ZADD', K .. 'webhooks:due', at, did)
  return 1
end
redis.call('HSET', key, 'status', outcome, 'endedAt', at)
redis.call('HDEL', key, 'next')
if outcome == 'delivered' then redis.call('HSET', key, 'deliveredAt', at) end
redis.call('ZREM', K .. 'webhooks:due', did)
redis.call('ZADD', K .. 'webhooks:ended', at, did)
return 1
`;

/** ARGV: prefix, before, most to delete. Deletes deliveries that ended before; returns how many. */
const PRUNE = `
local K = ARGV[1] .. ':'
local ids = redis.call('ZRANGEBYSCORE', K .. 'webhooks:ended', '-inf', '(' .. ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
for _, did in ipairs(ids) do
  local key = K .. 'webhook:' .. did
  local task = redis.call('HGET', key, 'task')
  if task then redis.call('LREM', K .. 'task:' .. task .. ':wh', 0, did) end
  redis.call('DEL', key)
  redis.call('ZREM', K .. 'webhooks:ended', did)
end
return #ids
`;

/** Deliveries one prune script deletes at most; prune runs it until fewer are left. */
const PRUNE_BATCH = 500;

type Fields = Record<string, string>;

function fieldsOf(reply: string[]): Fields {
  return Object.fromEntries(Array.from({ length: reply.length / 2 }, (_, i) => [reply[2 * i], reply[2 * i + 1]]));
}

function toDelivery(f: Fields): WebhookDelivery {
  const delivery: WebhookDelivery = {
    id: f.id!,
    taskId: f.task!,
    url: f.url!,
    type: f.type!,
    status: f.status as WebhookDeliveryStatus,
    eventAt: Number(f.eventAt),
    attempts: JSON.parse(f.attempts ?? '[]') as WebhookAttempt[],
  };
  if (f.owner !== undefined && f.owner !== '') delivery.owner = f.owner;
  if (f.next !== undefined && delivery.status === 'pending') delivery.nextAttemptAt = Number(f.next);
  if (f.deliveredAt !== undefined) delivery.deliveredAt = Number(f.deliveredAt);
  return delivery;
}

export class RedisWebhookStore implements WebhookStore {
  constructor(
    private readonly connection: RedisConnection,
    private readonly call: RedisCall,
  ) {}

  private eval(script: string, ...args: Array<string | number>): Promise<unknown> {
    return this.call(() => this.connection.redis.eval(script, 0, this.connection.prefix, ...args));
  }

  async claimDue(now: number, leaseUntil: number, limit: number): Promise<ClaimedDelivery[]> {
    const token = randomUUID();
    const replies = (await this.eval(CLAIM_DUE, now, leaseUntil, limit, token)) as string[][];
    return replies.map((reply) => ({ ...toDelivery(fieldsOf(reply)), token, leaseUntil }));
  }

  async recordAttempt(claim: ClaimedDelivery, attempt: WebhookAttempt, outcome: WebhookOutcome): Promise<boolean> {
    const at = outcome.status === 'pending' ? outcome.nextAttemptAt : attempt.at + attempt.durationMs;
    return (await this.eval(RECORD_ATTEMPT, claim.id, claim.token, JSON.stringify(attempt), outcome.status, Math.round(at))) === 1;
  }

  async listForTask(taskId: string): Promise<WebhookDelivery[]> {
    return await this.call(async () => {
      const ids = await this.connection.redis.lrange(`${this.connection.taskKey(taskId)}:wh`, 0, -1);
      if (ids.length === 0) return [];
      const pipeline = this.connection.redis.pipeline();
      for (const id of ids) pipeline.hgetall(this.connection.key(`webhook:${id}`));
      const results = (await pipeline.exec()) ?? [];
      return results
        .map(([, fields]) => fields as Fields)
        .filter((fields) => fields.id !== undefined)
        .map(toDelivery);
    });
  }

  async masterSecret(candidate: string): Promise<string> {
    return await this.call(async () => {
      const key = this.connection.key('webhook-secret');
      await this.connection.redis.set(key, candidate, 'NX');
      return (await this.connection.redis.get(key))!;
    });
  }

  async prune(before: number): Promise<number> {
    let total = 0;
    for (;;) {
      const count = (await this.eval(PRUNE, Math.floor(before), PRUNE_BATCH)) as number;
      total += count;
      if (count < PRUNE_BATCH) return total;
    }
  }
}
