/**
 * Request counts for @fastify/rate-limit that hold across API nodes without a Redis round trip
 * per request (the plugin's own Redis store makes one, which cost 15 % of an API node's
 * throughput). Each node counts locally, in fixed windows, and every FLUSH_EVERY_MS adds what it
 * counted to the window's total in Redis (one pipelined INCRBY per key), learning the others'
 * counts in the answer. A request is measured against the last known total plus what this node
 * counted since: exact on one node; across nodes a burst may pass the limit by what the other
 * nodes let through in one flush interval.
 */

import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { Redis } from 'ioredis';

const FLUSH_EVERY_MS = 50;
/** Keys counted at once; the least recently seen go first (their windows are long over). */
const MAX_KEYS = 100_000;

interface Count {
  window: number;
  /** Counted here and not yet added in Redis. */
  unsent: number;
  /** The window's total in Redis at the last flush, this node's part included. */
  known: number;
}

export class SharedRateCounts {
  private readonly counts = new Map<string, Count>();
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly redis: Redis,
    /** Prefix of the Redis keys (the deployment's, so two share one Redis). */
    private readonly prefix: string,
    private readonly now: () => number = Date.now,
  ) {
    this.timer = setInterval(() => void this.flush(), FLUSH_EVERY_MS);
    this.timer.unref();
  }

  /** Counts one request of `key` in its window; returns the window's count and the ms left in it. */
  increment(key: string, windowMs: number): { current: number; ttl: number } {
    const count = this.current(key, windowMs, true);
    count.unsent++;
    return { current: count.known + count.unsent, ttl: this.ttl(count, windowMs) };
  }

  peek(key: string, windowMs: number): { current: number; ttl: number } {
    const count = this.current(key, windowMs, false);
    return { current: count.known + count.unsent, ttl: this.ttl(count, windowMs) };
  }

  /** Sends what was counted since the last flush and learns the totals (errors are ignored: counting goes on locally). */
  async flush(): Promise<void> {
    if (this.flushing !== undefined) return await this.flushing;
    const sent = [...this.counts.entries()].filter(([, count]) => count.unsent > 0).map(([key, count]) => ({ key, count, n: count.unsent, window: count.window }));
    if (sent.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const { key, n, window } of sent) {
      const redisKey = `${this.prefix}${key}:${window}`;
      pipeline.incrby(redisKey, n);
      pipeline.pexpire(redisKey, 60_000);
    }
    for (const item of sent) item.count.unsent -= item.n;
    this.flushing = pipeline
      .exec()
      .then((results) => {
        sent.forEach((item, i) => {
          const total = Number(results?.[2 * i]?.[1]);
          if (item.count.window === item.window && Number.isFinite(total)) item.count.known = total;
          else if (item.count.window === item.window) item.count.known += item.n;
        });
      })
      .catch(() => {
        for (const item of sent) if (item.count.window === item.window) item.count.known += item.n;
      })
      .finally(() => {
        this.flushing = undefined;
      });
    await this.flushing;
  }

  close(): void {
    clearInterval(this.timer);
  }

  private current(key: string, windowMs: number, create: boolean): Count {
    const window = Math.floor(this.now() / windowMs);
    let count = this.counts.get(key);
    if (count === undefined || count.window !== window) {
      count = { window, unsent: 0, known: 0 };
      if (!create) return count;
      this.counts.delete(key);
      if (this.counts.size >= MAX_KEYS) this.counts.delete(this.counts.keys().next().value!);
    } else this.counts.delete(key);
    this.counts.set(key, count); // most recently used last
    return count;
  }

  private ttl(count: Count, windowMs: number): number {
    return (count.window + 1) * windowMs - this.now();
  }
}

/** The store class @fastify/rate-limit instantiates (`store` option), backed by `counts`. */
export function rateLimitStore(counts: SharedRateCounts): FastifyRateLimitStoreCtor {
  return class SharedRateLimitStore implements FastifyRateLimitStore {
    incr(key: string, callback: (error: Error | null, result?: { current: number; ttl: number }) => void, timeWindow: number): void {
      callback(null, counts.increment(key, timeWindow));
    }

    read(key: string, callback: (error: Error | null, result?: { current: number; ttl: number }) => void, timeWindow: number): void {
      callback(null, counts.peek(key, timeWindow));
    }

    child(): FastifyRateLimitStore {
      return this;
    }
  };
}
