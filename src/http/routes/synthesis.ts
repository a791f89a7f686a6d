/** POST /api/synthesis: accept a task, answer 202 once it is durably stored. */

import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { AcceptedBody, ErrorBody, SynthesisBody, SynthesisHeaders } from '../schemas.js';
import { readMultipart } from '../multipart.js';
import { readTextValues } from '../text-values.js';
import { taskLinks } from '../presenters.js';
import type { AppDependencies } from '../app.js';
import { actorOf } from '../access.js';

export function synthesisRoutes(app: FastifyInstance, deps: AppDependencies): void {
  // A reference (and a document) uploaded with a multipart request, until the task service takes them over.
  const uploads = new WeakMap<FastifyRequest, string>();
  const documents = new WeakMap<FastifyRequest, { path: string; name?: string }>();
  app.withTypeProvider<TypeBoxTypeProvider>().post(
    '/api/synthesis',
    {
      schema: {
        summary: 'Submit text (and optionally a reference voice) for synthesis',
        consumes: ['application/json', 'multipart/form-data'],
        body: SynthesisBody,
        headers: SynthesisHeaders,
        response: { 200: AcceptedBody, 202: AcceptedBody, '4xx': ErrorBody },
      },
      // Multipart fields become the body, read by the schema's types, so the one schema
      // validates both forms.
      preValidation: async (request) => {
        if (!request.isMultipart()) return;
        const { fields, uploadPath, document } = await readMultipart(request, deps.blobs, {
          audioMaxBytes: deps.limits.maxUploadBytes,
          documentMaxBytes: deps.limits.maxDocumentBytes ?? deps.limits.maxUploadBytes,
        });
        if (uploadPath !== undefined) uploads.set(request, uploadPath);
        if (document !== undefined) documents.set(request, document);
        request.body = readTextValues(fields, SynthesisBody) as typeof request.body;
      },
      // A request refused before the handler ran leaves its upload here (removed before the answer goes out).
      onSend: async (request) => {
        const uploadPath = uploads.get(request);
        uploads.delete(request);
        if (uploadPath !== undefined) await deps.blobs.remove(uploadPath);
        const document = documents.get(request);
        documents.delete(request);
        if (document !== undefined) await deps.blobs.remove(document.path);
      },
    },
    async (request, reply) => {
      const uploadPath = uploads.get(request);
      uploads.delete(request);
      const document = documents.get(request);
      documents.delete(request);
      const { task, created } = await deps.tasks.submit({ actor: actorOf(request), fields: request.body, uploadPath, document, idempotencyKey: request.headers['idempotency-key'] });
      return reply
        .code(created ? 202 : 200)
        .header('location', `/api/task/${task.id}`)
        .send({ id: task.id, status: task.status, links: taskLinks(task.id) });
    },
  );
}
