/**
 * Following tasks live: Server-Sent Events per task (resumable with Last-Event-ID, ends at a
 * final state) and a WebSocket that pushes the events of the tasks a client subscribes to.
 * Both go through TaskService (where ownership checks will live) and both respect
 * backpressure: a client that does not read is disconnected once a bounded amount waits for it.
 */

import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import { ErrorBody, IdParams } from '../schemas.js';
import { presentEvent, presentTask } from '../presenters.js';
import type { AppDependencies } from '../app.js';
import { isFinal, type TaskEvent } from '../../backends/backend.js';
import { TtsError, toTtsError } from '../../errors.js';

const HEARTBEAT_MS = 15_000;
const MAX_WS_SUBSCRIPTIONS = 1_000;
/** What may wait, per stream, for a client that does not read (beyond the kernel's buffers) before it is disconnected. */
const MAX_UNREAD_BYTES = 1024 * 1024;
/** The WebSocket close code for a subscriber that does not read: 1008, policy violation. */
export const WS_CLOSE_NOT_READING = 1008;
/** Ids are database row ids: safe integers, so at most 16 digits. */
const EVENT_ID = /^\d{1,16}$/u;

/** The event id to resume after, from the Last-Event-ID header or the `last_event_id` query parameter (0 when neither). */
export function lastEventId(header: unknown, query: unknown): number {
  const raw = header ?? query;
  if (raw === undefined) return 0;
  // A repeated query parameter arrives as an array (a repeated header is joined with ", " and fails the pattern).
  if (typeof raw !== 'string') throw new TtsError('E_INVALID_ARGUMENT', 'Expected one Last-Event-ID (header or last_event_id parameter), got several; give it once.');
  const value = Number(raw);
  if (!EVENT_ID.test(raw) || !Number.isSafeInteger(value)) {
    const shown = raw.length > 40 ? `${raw.slice(0, 40)}…` : raw;
    throw new TtsError('E_INVALID_ARGUMENT', `Expected Last-Event-ID to be an event id (a whole number from 0), got ${JSON.stringify(shown)}.`);
  }
  return value;
}

/**
 * Writes an event stream without ignoring backpressure: once the response's buffer is full,
 * chunks wait here until 'drain'; when more than `limit` bytes wait, `overflow` is called
 * (the client does not read) and nothing more is taken.
 */
class BoundedWriter {
  private pending: string[] = [];
  private pendingBytes = 0;
  private blocked = false;
  private overflowed = false;

  constructor(
    private readonly out: ServerResponse,
    private readonly limit: number,
    private readonly overflow: () => void,
  ) {
    out.on('drain', () => this.flush());
  }

  /** True while the client has not taken what was already written. */
  get waiting(): boolean {
    return this.blocked;
  }

  write(chunk: string): void {
    if (this.overflowed) return;
    if (!this.blocked) {
      this.blocked = !this.out.write(chunk);
      return;
    }
    this.pending.push(chunk);
    this.pendingBytes += Buffer.byteLength(chunk);
    if (this.pendingBytes > this.limit) {
      this.overflowed = true;
      this.pending = [];
      this.overflow();
    }
  }

  /** Ends the response after what still waits (bounded by `limit`). */
  end(): void {
    if (this.pending.length > 0 && !this.overflowed) this.out.write(this.pending.join(''));
    this.pending = [];
    this.out.end();
  }

  private flush(): void {
    this.blocked = false;
    if (this.pending.length === 0 || this.overflowed) return;
    const chunk = this.pending.join('');
    this.pending = [];
    this.pendingBytes = 0;
    this.blocked = !this.out.write(chunk);
  }
}

export function eventRoutes(app: FastifyInstance, deps: AppDependencies): void {
  // Open event streams are ended when the server closes, or it would wait for them forever.
  const openStreams = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const finish of openStreams) finish();
  });

  app.get(
    '/api/task/:id/events',
    {
      schema: {
        summary: 'Server-Sent Events of a task: `status` and `progress`, ending at a final state; resume with Last-Event-ID',
        params: IdParams,
        response: { 200: { description: 'text/event-stream', type: 'string' }, '4xx': ErrorBody },
      },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      const after = lastEventId(request.headers['last-event-id'], (request.query as Record<string, unknown>).last_event_id);
      let sent = after;
      let ended = false;
      let replaying = true;
      const queue: TaskEvent[] = [];
      // Subscribed first, then replayed: no event falls between the two (those that come during the replay wait in `queue`).
      const { task, replay, unsubscribe } = await deps.tasks.follow(id, request.principal, after, (event) => {
        if (replaying) queue.push(event);
        else write(event);
      });

      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
      const writer = new BoundedWriter(raw, MAX_UNREAD_BYTES, () => {
        request.log.warn({ taskId: id }, 'event stream dropped: the client does not read');
        finish(true);
      });
      const write = (event: TaskEvent): void => {
        if (ended || event.id <= sent) return;
        sent = event.id;
        writer.write(`id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(presentEvent(event))}\n\n`);
        if (event.type === 'status' && isFinal(event.status)) finish();
      };
      // A heartbeat only when the client took everything before: heartbeats never pile up.
      const heartbeat = setInterval(() => {
        if (!writer.waiting) writer.write(': keep-alive\n\n');
      }, HEARTBEAT_MS);
      function finish(drop = false): void {
        if (ended) return;
        ended = true;
        openStreams.delete(finish);
        unsubscribe();
        clearInterval(heartbeat);
        if (drop) raw.destroy();
        else writer.end();
      }
      openStreams.add(finish);
      request.raw.on('close', () => finish());
      for (const event of replay) write(event);
      replaying = false;
      for (const event of queue.splice(0)) write(event);
      // A task that was already final has nothing more to say (its final event was replayed, or the client had it).
      if (isFinal(task.status)) finish();
    },
  );

  app.route({
    method: 'GET',
    url: '/api/ws',
    schema: { summary: 'WebSocket: send {"type":"subscribe","ids":[...]}, receive snapshots and events', hide: false, response: { '4xx': ErrorBody } },
    // A plain HTTP request (no Upgrade) gets an answer in the API's error shape, not the plugin's empty 404.
    handler: async () => {
      throw new TtsError('E_ROUTE_NOT_FOUND', 'GET /api/ws is a WebSocket: connect with a WebSocket client (Upgrade: websocket), then send {"type":"subscribe","ids":[...]}.');
    },
    wsHandler: (socket: WebSocket, request) => {
      const subscribed = new Set<string>();
      const send = (message: unknown): void => {
        if (socket.readyState !== socket.OPEN) return;
        // What ws has not handed to the kernel yet: past the bound, the client is not reading.
        if (socket.bufferedAmount > MAX_UNREAD_BYTES) {
          request.log.warn('WebSocket closed: the client does not read');
          unsubscribe();
          socket.close(WS_CLOSE_NOT_READING, 'Messages were not read: too many wait for this connection.');
          return;
        }
        socket.send(JSON.stringify(message));
      };
      const unsubscribe = deps.tasks.watch(
        (event) => send({ type: 'event', event: presentEvent(event) }),
        (event) => subscribed.has(event.taskId),
      );
      socket.on('close', unsubscribe);
      socket.on('message', (data: Buffer, isBinary: boolean) => {
        void (async () => {
          let message: { type?: unknown; ids?: unknown };
          try {
            if (isBinary || data.length > 64 * 1024) throw new TtsError('E_INVALID_ARGUMENT', 'Messages are JSON text of at most 64 KB.');
            try {
              message = JSON.parse(data.toString('utf8')) as typeof message;
            } catch {
              throw new TtsError('E_MALFORMED_JSON', 'The message is not valid JSON.');
            }
            if (typeof message !== 'object' || message === null) throw new TtsError('E_INVALID_ARGUMENT', 'Expected a JSON object such as {"type":"subscribe","ids":["…"]}.');
            const ids = message.ids;
            if (!Array.isArray(ids) || !ids.every((i) => typeof i === 'string')) throw new TtsError('E_INVALID_ARGUMENT', 'Expected `ids` to be a list of task ids.');
            if (message.type === 'unsubscribe') {
              for (const id of ids) subscribed.delete(id);
              send({ type: 'unsubscribed', ids });
              return;
            }
            if (message.type !== 'subscribe') throw new TtsError('E_INVALID_ARGUMENT', 'Expected `type` to be "subscribe" or "unsubscribe".');
            if (subscribed.size + ids.length > MAX_WS_SUBSCRIPTIONS) throw new TtsError('E_INVALID_ARGUMENT', `At most ${MAX_WS_SUBSCRIPTIONS} subscriptions per connection.`);
            for (const id of ids as string[]) {
              try {
                // Every id is checked for this connection's key: another key's task is not found.
                const task = await deps.tasks.get(id, request.principal);
                subscribed.add(id);
                send({ type: 'snapshot', task: presentTask(task) });
              } catch (error) {
                const failure = toTtsError(error);
                send({ type: 'error', id: id.slice(0, 100), error: { code: failure.code, message: failure.message } });
              }
            }
          } catch (error) {
            const failure = toTtsError(error);
            send({ type: 'error', error: { code: failure.code, message: failure.message } });
          }
        })();
      });
    },
  });
}
