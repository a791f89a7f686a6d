/** POST /api/synthesis: accept a task, answer 202 once it is durably stored. */

import type { FastifyInstance } from 'fastify';
import { AcceptedBody, ErrorBody, SynthesisBody } from '../schemas.js';
import { readMultipart } from '../multipart.js';
import { taskLinks } from '../presenters.js';
import type { AppDependencies } from '../app.js';
import { TtsError } from '../../errors.js';

const MAX_IDEMPOTENCY_KEY = 200;

export function synthesisRoutes(app: FastifyInstance, deps: AppDependencies): void {
  app.post(
    '/api/synthesis',
    {
      // The body is checked by the task service for both JSON and multipart, with messages
      // that name the field; this schema documents it. (Fastify's validator would also coerce
      // types, turning `"text": 42` into "42".)
      validatorCompiler: () => () => true,
      schema: {
        summary: 'Submit text (and optionally a reference voice) for synthesis',
        body: SynthesisBody,
        headers: { type: 'object', properties: { 'idempotency-key': { type: 'string', description: 'The same key and body give the same task.' } } },
        response: { 200: AcceptedBody, 202: AcceptedBody, '4xx': ErrorBody },
      },
    },
    async (request, reply) => {
      const key = request.headers['idempotency-key'];
      if (key !== undefined && (typeof key !== 'string' || key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY)) {
        throw new TtsError('E_INVALID_ARGUMENT', `Expected the Idempotency-Key header to be 1 to ${MAX_IDEMPOTENCY_KEY} characters.`);
      }
      let fields: Record<string, unknown>;
      let uploadPath: string | undefined;
      const multipart = request.isMultipart();
      if (multipart) {
        ({ fields, uploadPath } = await readMultipart(request, deps.blobs));
      } else {
        if (typeof request.body !== 'object' || request.body === null || Array.isArray(request.body)) {
          throw new TtsError('E_INVALID_ARGUMENT', 'Expected a JSON object with at least `text`.');
        }
        fields = request.body as Record<string, unknown>;
      }
      const { task, created } = await deps.tasks.submit({ fields, uploadPath, multipart, idempotencyKey: key });
      return reply.code(created ? 202 : 200).header('location', `/api/task/${task.id}`).send({ id: task.id, status: task.status, links: taskLinks(task.id) });
    },
  );
}
