/** Reading, listing, downloading and canceling tasks. */

import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { LRUCache } from 'lru-cache';
import { ErrorBody, IdParams, ListQuery, SubtitlesQuery, TaskListBody, TaskTextBody } from '../schemas.js';
import { presentTaskText } from '../present-text.js';
import { presentTask } from '../presenters.js';
import type { AppDependencies } from '../app.js';
import { OUTPUT_FORMATS } from '../../audio/output.js';
import type { TaskRecord, TaskStatus } from '../../backends/backend.js';
import { TtsError } from '../../errors.js';
import { sendDownload } from '../send-file.js';
import { actorOf } from '../access.js';
import { SUBTITLE_FORMATS, type SubtitleFormat } from '../../text/subtitles.js';
import { taskSubtitles } from '../../service/task-subtitles.js';

const TASK_JSON_CACHE_SIZE = 10_000;
/** Subtitles kept made (a book's are a few hundred kB): bounded by size. */
const SUBTITLES_CACHE_CHARS = 16_000_000;

export function taskRoutes(app: FastifyInstance, deps: AppDependencies): void {
  // The backend hands out the same record until the task changes: its JSON is made once, and
  // the tasks read most recently keep theirs. (Keyed by id, not a WeakMap: thousands of
  // short-lived weak entries make garbage collection slow.)
  const taskJson = new LRUCache<string, { task: TaskRecord; body: string }>({ max: TASK_JSON_CACHE_SIZE });
  app.get(
    '/api/task/:id',
    { schema: { summary: 'A task: status, progress, times, error, result, its webhook and deliveries', params: IdParams, response: { 200: Type.Ref('Task'), '4xx': ErrorBody } } },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      const task = await deps.tasks.get(id, request.principal);
      // Deliveries and a queued task's place change without the task: such tasks are presented afresh each time.
      if (task.request.webhook !== undefined || task.status === 'queued') {
        const deliveries = task.request.webhook === undefined ? undefined : await deps.tasks.webhookDeliveries(task);
        return presentTask(task, deliveries, task.status === 'queued' ? await deps.tasks.queuePosition(task) : null);
      }
      let entry = taskJson.get(id);
      if (entry?.task !== task) {
        entry = { task, body: JSON.stringify(presentTask(task)) };
        taskJson.set(id, entry);
      }
      return reply.type('application/json; charset=utf-8').send(entry.body);
    },
  );

  app.get(
    '/api/task/:id/text',
    { schema: { summary: 'The text a task reads: its parts with their chapters and pauses (a document as it was read)', params: IdParams, response: { 200: TaskTextBody, '4xx': ErrorBody } } },
    async (request) => {
      const { id } = request.params as { id: string };
      return await presentTaskText(await deps.tasks.get(id, request.principal), deps.blobs);
    },
  );

  app.get('/api/tasks', { schema: { summary: 'Tasks, newest first', querystring: ListQuery, response: { 200: TaskListBody, '4xx': ErrorBody } } }, async (request) => {
    const query = request.query as { status?: TaskStatus; limit?: number; cursor?: string };
    const page = await deps.tasks.list({ status: query.status, limit: query.limit ?? 20, cursor: query.cursor }, request.principal);
    return { tasks: page.tasks.map((task) => presentTask(task)), next_cursor: page.nextCursor ?? null };
  });

  app.delete('/api/task/:id', { schema: { summary: 'Cancel a task (stops its running segment)', params: IdParams, response: { 200: Type.Ref('Task'), '4xx': ErrorBody } } }, async (request) => {
    const { id } = request.params as { id: string };
    return presentTask(await deps.tasks.cancel(id, actorOf(request)));
  });

  app.get(
    '/api/task/:id/audio',
    {
      schema: {
        summary: 'The audio of a completed task (Range and ETag supported)',
        params: IdParams,
        response: { 200: { description: 'The audio', type: 'string', format: 'binary' }, 206: { description: 'Part of the audio', type: 'string', format: 'binary' }, '4xx': ErrorBody },
      },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      const task = await deps.tasks.get(id, request.principal);
      if (task.status !== 'completed' || task.result === undefined) {
        throw new TtsError('E_TASK_NOT_READY', `The task is ${task.status}; its audio is there once it is completed (GET /api/task/${id}).`);
      }
      if (task.expired) throw new TtsError('E_RESULT_EXPIRED', 'The audio was deleted after the retention period; submit the task again.');
      const { contentType, extension } = OUTPUT_FORMATS[task.result.format];
      // Range requests of one player would fill the log: a download is recorded when it starts at the first byte.
      if (!/^bytes=(?!0-)/u.test(request.headers.range ?? '')) await deps.auditTrail.record(actorOf(request), 'task.download', id, { format: task.result.format });
      return await sendDownload(request, reply, await deps.blobs.openForDownload(task.result.path), {
        contentType,
        fileName: `${id}.${extension}`,
        missing: () => new TtsError('E_RESULT_EXPIRED', 'The audio is no longer stored; submit the task again.'),
      });
    },
  );

  const subtitles = new LRUCache<string, string>({ maxSize: SUBTITLES_CACHE_CHARS, sizeCalculation: (body) => Math.max(1, body.length) });
  app.get(
    '/api/task/:id/subtitles',
    {
      schema: {
        summary: 'Subtitles of a completed task: one cue per sentence, timed from the real segment durations and pauses (?format=vtt|srt, default vtt)',
        params: IdParams,
        querystring: SubtitlesQuery,
        response: { 200: { description: 'WebVTT or SRT text', type: 'string' }, '4xx': ErrorBody },
      },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      const format: SubtitleFormat = (request.query as { format?: SubtitleFormat }).format ?? 'vtt';
      const task = await deps.tasks.get(id, request.principal);
      const body = await taskSubtitles(task, deps.blobs, format, subtitles);
      await deps.auditTrail.record(actorOf(request), 'task.download', id, { format, subtitles: true });
      const { contentType, extension } = SUBTITLE_FORMATS[format];
      return reply.type(contentType).header('content-disposition', `inline; filename="${id}.${extension}"`).send(body);
    },
  );
}
