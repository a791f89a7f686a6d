/** GET /api/task/:id/stream: a task's audio as its segments finish (service/task-audio-stream.ts). */

import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ErrorBody, IdParams, StreamQuery } from '../schemas.js';
import type { AppDependencies } from '../app.js';
import type { OutputFormat } from '../../audio/output.js';
import { actorOf } from '../access.js';
import { TtsError } from '../../errors.js';
import type { TaskAudioStreamer, OpenedAudioStream } from '../../service/task-audio-stream.js';

/** Opens a task's audio stream for a reply (see `streamOpener`). */
export type StreamOpener = (reply: FastifyReply, open: (signal: AbortSignal) => ReturnType<TaskAudioStreamer['open']>) => Promise<OpenedAudioStream>;

/**
 * Made when routes are registered: opens streams for replies, each aborted when its client goes
 * away and destroyed when the server closes (which would otherwise wait for it to end).
 */
export function streamOpener(app: FastifyInstance): StreamOpener {
  // Every stream, from the request on: one still waiting for its first segment is stopped too.
  const streams = new Set<{ controller: AbortController; body?: Readable }>();
  app.addHook('preClose', async () => {
    // A stream still waiting is answered as any request that comes while the service closes.
    const closing = new TtsError('E_NOT_READY', 'The service is shutting down; open the stream again in a moment (to another instance, if there is one).');
    for (const stream of streams) {
      stream.controller.abort(closing);
      stream.body?.destroy();
    }
  });
  return async (reply, open) => {
    const stream: { controller: AbortController; body?: Readable } = { controller: new AbortController() };
    streams.add(stream);
    reply.raw.once('close', () => {
      stream.controller.abort();
      streams.delete(stream);
    });
    try {
      const opened = await open(stream.controller.signal);
      stream.body = opened.body;
      return opened;
    } catch (error) {
      streams.delete(stream);
      throw error;
    }
  };
}

/** Whom a stream counts against: the key, or the client's address where there is no key. */
export function streamCaller(request: FastifyRequest): string {
  return request.principal.keyId ?? `address:${request.ip}`;
}

/** Headers of a stream's answer: the format's type, no caching, and the rate of raw samples. */
export function streamHeaders(reply: FastifyReply, opened: OpenedAudioStream, format: OutputFormat): FastifyReply {
  reply.header('content-type', opened.contentType).header('cache-control', 'no-store').header('x-accel-buffering', 'no');
  if (format === 'pcm') reply.header('x-sample-rate', String(opened.sampleRate)).header('x-channels', String(opened.channels)).header('x-sample-format', 's16le');
  return reply;
}

export function streamRoutes(app: FastifyInstance, deps: AppDependencies): void {
  const openStream = streamOpener(app);
  app.get(
    '/api/task/:id/stream',
    {
      schema: {
        summary: 'The audio of a task as its segments finish (chunked), from the first segment to the last; waits while the task is queued',
        description:
          'Any state: a queued task is waited for (no bytes until its first segment), a completed one is sent whole. Several clients may stream one task, each from the start. wav comes with a streaming header (sizes 0xFFFFFFFF); pcm is raw s16le, its rate in `x-sample-rate`. A task that fails or is canceled midway ends the stream early (GET /api/task/:id says why); one that already had, answers with its error.',
        params: IdParams,
        querystring: StreamQuery,
        response: { 200: { description: 'The audio, as it is made', type: 'string', format: 'binary' }, '4xx': ErrorBody },
      },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      const format = (request.query as { format?: OutputFormat }).format ?? 'mp3';
      const task = await deps.tasks.get(id, request.principal);
      const opened = await openStream(reply, (signal) => deps.audioStreamer.open(task, { format, caller: streamCaller(request), signal }));
      await deps.auditTrail.record(actorOf(request), 'task.download', id, { format, stream: true });
      return streamHeaders(reply, opened, format).send(opened.body);
    },
  );
}
