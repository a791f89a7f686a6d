/**
 * The audit log in Redis: a stream, `<prefix>:audit`, one entry per record (field `e`: its JSON).
 * The stream id is the entry's id: it starts with the entry's time in ms (APPEND_AUDIT in
 * scripts.ts), or a little later when another node's clock ran ahead, since ids only grow.
 *
 * - Listing reads newest first (XREVRANGE) from the cursor, the stream id of where the previous
 *   page stopped. `since` bounds the range itself (an entry's id is never earlier than its time);
 *   the other filters are applied while reading. A page reads at most `MAX_SCANNED_PER_PAGE`
 *   entries of the stream: a filter that matches few of them gives a short page, even an empty
 *   one, with a `nextCursor` to go on from. Only a page without `nextCursor` is the last.
 * - Pruning is an XTRIM MINID at `before`: every entry whose time is before it goes, except one
 *   whose id was moved later (see above), which goes at a later prune.
 */

import type { AuditEntry, AuditLog, AuditQuery } from '../backend.js';
import { TtsError } from '../../errors.js';
import type { RedisConnection } from './connection.js';

/** The most stream entries one page reads, matching or not: the work of one call is bounded. */
export const MAX_SCANNED_PER_PAGE = 5_000;
/** Entries read per XREVRANGE while a filter skips some. */
const SCAN_BATCH = 500;
const STREAM_ID = /^(\d{1,20})-(\d{1,20})$/u;
const MAX_ID_PART = 2n ** 64n - 1n;

/**
 * Whether `cursor` can start an XREVRANGE after it: a stream id whose two parts fit in 64 bits,
 * and not 0-0 (nothing comes before it). Redis refuses anything else with an error of its own,
 * which is not the client's fault to see as a 500.
 */
function isStreamCursor(cursor: string): boolean {
  const match = STREAM_ID.exec(cursor);
  if (match === null) return false;
  const [ms, seq] = [BigInt(match[1]!), BigInt(match[2]!)];
  return ms <= MAX_ID_PART && seq <= MAX_ID_PART && ms + seq > 0n;
}

/** Runs a Redis call; connection failures become E_BACKEND_UNAVAILABLE (the backend's `call`). */
export type RedisCall = <T>(body: () => Promise<T>) => Promise<T>;

function toEntry(streamId: string, fields: string[]): AuditEntry {
  const stored = JSON.parse(fields[1]!) as Omit<AuditEntry, 'id'>;
  return { id: streamId, ...stored };
}

function matches(entry: AuditEntry, query: AuditQuery): boolean {
  return (
    (query.keyId === undefined || entry.keyId === query.keyId) &&
    (query.action === undefined || entry.action === query.action) &&
    (query.subject === undefined || entry.subject === query.subject) &&
    (query.since === undefined || entry.at >= query.since) &&
    (query.until === undefined || entry.at < query.until)
  );
}

export class RedisAuditLog implements AuditLog {
  private readonly key: string;

  constructor(
    private readonly connection: RedisConnection,
    private readonly call: RedisCall,
  ) {
    this.key = connection.key('audit');
  }

  async append(entry: Omit<AuditEntry, 'id'>): Promise<void> {
    const stored: Omit<AuditEntry, 'id'> = { at: entry.at, action: entry.action, keyId: entry.keyId, address: entry.address, subject: entry.subject };
    if (entry.detail !== undefined) stored.detail = entry.detail;
    await this.call(() => this.connection.script('appendAudit', '', Math.max(0, Math.floor(entry.at)), JSON.stringify(stored)));
  }

  async list(query: AuditQuery): Promise<{ entries: AuditEntry[]; nextCursor?: string }> {
    if (query.cursor !== undefined && !isStreamCursor(query.cursor)) {
      throw new TtsError('E_INVALID_ARGUMENT', `Expected cursor to be a value returned as next_cursor, got "${query.cursor.slice(0, 64)}".`);
    }
    const filtered = query.keyId !== undefined || query.action !== undefined || query.subject !== undefined || query.until !== undefined;
    // An entry at or after `since` has an id at or after `since`-0: older ids need not be read.
    const oldest = query.since === undefined ? '-' : `${Math.max(0, Math.ceil(query.since))}-0`;
    return await this.call(async () => {
      const entries: AuditEntry[] = [];
      let start = query.cursor === undefined ? '+' : `(${query.cursor}`;
      let scanned = 0;
      let lastRead: string | undefined;
      while (scanned < MAX_SCANNED_PER_PAGE) {
        // Without a filter every entry read is one of the page (and one more says whether a next page exists).
        const count = Math.min(filtered ? SCAN_BATCH : query.limit + 1, MAX_SCANNED_PER_PAGE - scanned);
        const batch = (await this.connection.redis.xrevrange(this.key, start, oldest, 'COUNT', count)) as Array<[string, string[]]>;
        for (const [streamId, fields] of batch) {
          const entry = toEntry(streamId, fields);
          if (!matches(entry, query)) {
            lastRead = streamId;
            continue;
          }
          // A match beyond the page: there is a next page, starting after the page's last entry.
          if (entries.length === query.limit) return { entries, nextCursor: entries.at(-1)!.id };
          entries.push(entry);
          lastRead = streamId;
        }
        scanned += batch.length;
        if (batch.length < count) return { entries };
        start = `(${lastRead!}`;
      }
      // The page read as much as it may: go on from the last entry read, matching or not.
      return { entries, nextCursor: lastRead };
    });
  }

  async prune(before: number): Promise<number> {
    return await this.call(() => this.connection.redis.xtrim(this.key, 'MINID', `${Math.max(0, Math.floor(before))}-0`));
  }
}
