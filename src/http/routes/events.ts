/**
 * Following tasks live: Server-Sent Events per task (resumable with Last-Event-ID, ends at a
 * final state) and a WebSocket that pushes the events of the tasks a client subscribes to.
 */

import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import { ErrorBody, IdParams } from '../schemas.js';
import { presentEvent, presentTask } from '../presenters.js';
import type { AppDependencies } from '../app.js';
import { isFinal, type TaskEvent } from '../../backends/backend.js';
import { TtsError, toTtsError } from '../../errors.js';

const HEARTBEAT_MS = 15_000;
const MAX_WS_SUBSCRIPTIONS = 1_000;

function lastEventId(header: unknown, query: unknown): number {
  const raw = typeof header === 'string' ? header : typeof query === 'string' ? query : '0';
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0) throw new TtsError('E_INVALID_ARGUMENT', `Expected Last-Event-ID to be an event id, got ${JSON.stringify(raw.slice(0, 40))}.`);
  return value;
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
      const task = await deps.tasks.get(id);

      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
      let sent = after;
      let ended = false;
      const queue: TaskEvent[] = [];
      let replaying = true;
      const write = (event: TaskEvent): void => {
        if (ended || event.id <= sent) return;
        sent = event.id;
        raw.write(`id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(presentEvent(event))}\n\n`);
        if (event.type === 'status' && isFinal(event.status)) finish();
      };
      const unsubscribe = deps.backend.subscribe((event) => {
        if (event.taskId !== id) return;
        if (replaying) queue.push(event);
        else write(event);
      });
      const heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), HEARTBEAT_MS);
      const finish = (): void => {
        if (ended) return;
        ended = true;
        openStreams.delete(finish);
        unsubscribe();
        clearInterval(heartbeat);
        raw.end();
      };
      openStreams.add(finish);
      request.raw.on('close', finish);
      // Subscribed first, then replayed: no event falls between the two.
      for (const event of await deps.backend.listEvents(id, after)) write(event);
      replaying = false;
      for (const event of queue.splice(0)) write(event);
      // A task that was already final has nothing more to say (its final event was replayed, or the client had it).
      if (isFinal(task.status)) finish();
    },
  );

  app.get('/api/ws', { websocket: true, schema: { summary: 'WebSocket: send {"type":"subscribe","ids":[...]}, receive snapshots and events', hide: false } }, (socket: WebSocket) => {
    const subscribed = new Set<string>();
    const send = (message: unknown): void => {
      if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message));
    };
    const unsubscribe = deps.backend.subscribe((event) => {
      if (subscribed.has(event.taskId)) send({ type: 'event', event: presentEvent(event) });
    });
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
              const task = await deps.tasks.get(id);
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
  });
}
