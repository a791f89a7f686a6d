/**
 * The Redis side of the Redis backend: a command connection with the task scripts loaded, key
 * names under the deployment's prefix, and a reader that follows the stream of task events
 * (so a subscriber on any API node sees every event, from whichever process made it) and turns
 * them into wake-ups for the workers.
 */

import { Redis } from 'ioredis';
import type { TaskEvent, WorkKind } from '../backend.js';
import * as scripts from './scripts.js';

const SCRIPTS = {
  createTask: scripts.CREATE_TASK,
  claimPrepare: scripts.CLAIM_PREPARE,
  claimSegment: scripts.CLAIM_SEGMENT,
  claimAssemble: scripts.CLAIM_ASSEMBLE,
  holdsLease: scripts.HOLDS_LEASE,
  completePrepare: scripts.COMPLETE_PREPARE,
  markQueued: scripts.MARK_QUEUED,
  completeSegment: scripts.COMPLETE_SEGMENT,
  completeAssemble: scripts.COMPLETE_ASSEMBLE,
  completeReused: scripts.COMPLETE_REUSED,
  findReusable: scripts.FIND_REUSABLE,
  failWork: scripts.FAIL_WORK,
  reopenSegments: scripts.REOPEN_SEGMENTS,
  cancelTask: scripts.CANCEL_TASK,
  rerouteTask: scripts.REROUTE_TASK,
  expireResult: scripts.EXPIRE_RESULT,
  workCounts: scripts.WORK_COUNTS,
  appendAudit: scripts.APPEND_AUDIT,
} as const;
export type ScriptName = keyof typeof SCRIPTS;

/** Which work an event may have made claimable. */
function workFor(event: TaskEvent): WorkKind | undefined {
  if (event.status === 'queued') return 'prepare';
  if (event.status === 'synthesizing') return 'segment';
  if (event.status === 'encoding') return 'assemble';
  // A task that ended leaves room to prepare another.
  if (event.type === 'status' && (event.status === 'completed' || event.status === 'failed' || event.status === 'canceled')) return 'prepare';
  return undefined;
}

export class RedisConnection {
  readonly redis: Redis;
  private readonly reader: Redis;
  private readonly eventListeners = new Set<(event: TaskEvent) => void>();
  private readonly workListeners = new Set<(kind: WorkKind) => void>();
  private lastStreamId = '$';
  private reading: Promise<void> | undefined;
  private closed = false;

  constructor(
    url: string,
    readonly prefix: string,
  ) {
    // Commands fail at once while Redis is away (the caller retries, or answers 503) instead of
    // waiting in an offline queue: a client is not kept hanging for a reconnect.
    this.redis = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true, enableOfflineQueue: false });
    this.reader = new Redis(url, { maxRetriesPerRequest: null, lazyConnect: true });
    for (const [name, lua] of Object.entries(SCRIPTS)) this.redis.defineCommand(name, { numberOfKeys: 0, lua });
    this.redis.on('error', () => undefined);
    this.reader.on('error', () => undefined);
  }

  /** Connects and starts following events from now on. */
  async open(): Promise<void> {
    await this.redis.connect();
    await this.reader.connect();
    const last = (await this.redis.xrevrange(this.key('events'), '+', '-', 'COUNT', 1)) as Array<[string, string[]]>;
    this.lastStreamId = last[0]?.[0] ?? '0-0';
    this.reading = this.readEvents();
  }

  key(name: string): string {
    return `${this.prefix}:${name}`;
  }

  taskKey(id: string): string {
    return `${this.prefix}:task:${id}`;
  }

  async script(name: ScriptName, id: string, ...args: Array<string | number>): Promise<unknown> {
    const command = (this.redis as unknown as Record<ScriptName, (...a: Array<string | number>) => Promise<unknown>>)[name];
    return await command.call(this.redis, this.prefix, id, ...args);
  }

  subscribe(listener: (event: TaskEvent) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  onWork(listener: (kind: WorkKind) => void): () => void {
    this.workListeners.add(listener);
    return () => this.workListeners.delete(listener);
  }

  /** Wakes this process's workers at once (the stream wakes those elsewhere a moment later). */
  wake(kind: WorkKind): void {
    for (const listener of this.workListeners) listener(kind);
  }

  private async readEvents(): Promise<void> {
    while (!this.closed) {
      let reply: Array<[string, Array<[string, string[]]>]> | null;
      try {
        reply = (await this.reader.xread('COUNT', 1000, 'BLOCK', 1000, 'STREAMS', this.key('events'), this.lastStreamId)) as typeof reply;
      } catch {
        if (this.closed) return;
        // Redis is away: try again shortly; events written meanwhile are read once it is back.
        await new Promise((resolve) => setTimeout(resolve, 200));
        continue;
      }
      for (const [, entries] of reply ?? []) {
        for (const [streamId, fields] of entries) {
          this.lastStreamId = streamId;
          const event = JSON.parse(fields[1]!) as TaskEvent;
          for (const listener of this.eventListeners) listener(event);
          const kind = workFor(event);
          if (kind !== undefined) this.wake(kind);
        }
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.reader.disconnect();
    await this.reading;
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
