/**
 * The HTTP API as a Fastify app, built from its dependencies. It never listens: server.ts does,
 * and tests call `app.inject()` or listen on a free port themselves.
 */

import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import multipart from '@fastify/multipart';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import websocket from '@fastify/websocket';
import { answerClientError, registerErrorHandling, sendError } from './error-handler.js';
import { AJV_OPTIONS, schemaAnnotations } from './schema-validation.js';
import { readTextValues } from './text-values.js';
import { TtsError } from '../errors.js';
import { ErrorBody, TaskBody, VoiceBody } from './schemas.js';
import { auditRoutes } from './routes/audit.js';
import { eventRoutes } from './routes/events.js';
import { healthRoutes } from './routes/health.js';
import { synthesisRoutes } from './routes/synthesis.js';
import { taskRoutes } from './routes/tasks.js';
import { voiceRoutes } from './routes/voices.js';
import type { AuditLog } from '../backends/backend.js';
import type { EngineCapabilities } from '../engines/protocol.js';
import type { Logger } from '../service/logger.js';
import type { TaskService } from '../service/task-service.js';
import type { VoiceService } from '../service/voice-service.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { ServiceMetrics } from '../metrics/metrics.js';

export interface AppDependencies {
  tasks: TaskService;
  voices: VoiceService;
  blobs: BlobStore;
  logger: Logger;
  /** The configured engines, in order of preference, with their hosts, how many are up and how many busy. */
  engines: () => Array<{ capabilities: EngineCapabilities; hosts: number; hostsUp: number; busy: number }>;
  /** /readyz says 503 while an engine has no host up (true where the engines run in this process). */
  enginesGateReadiness?: boolean;
  isReady: () => boolean;
  limits: { maxUploadBytes: number; maxTextChars: number };
  /** Served at GET /metrics when given. */
  metrics?: Pick<ServiceMetrics, 'contentType' | 'render'>;
  /** The audit log, read at GET /api/audit. */
  audit: AuditLog;
}

export async function createApp(deps: AppDependencies): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // JSON bodies: the text limit in 4-byte characters, plus room for the other fields.
    bodyLimit: Math.max(deps.limits.maxTextChars * 4 + 64 * 1024, 1024 * 1024),
    logController: new LogController({ disableRequestLogging: !deps.logger.isLevelEnabled('debug') }),
    routerOptions: { maxParamLength: 200 },
    // Fastify's own 503 while closing has its own body: the onRequest hook below answers instead.
    return503OnClosing: false,
    clientErrorHandler: answerClientError,
    ajv: {
      customOptions: { ...AJV_OPTIONS },
      plugins: [schemaAnnotations],
    },
    // Errors Fastify raises before routing (over-long parameters, malformed URLs) use the catalogue too.
    frameworkErrors: (error, _request, reply) => {
      const typed =
        error.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? new TtsError('E_URI_TOO_LONG', 'A path parameter is longer than any id (200 characters).')
          : new TtsError('E_INVALID_ARGUMENT', `The request URL is malformed (${error.code ?? 'bad URL'}).`);
      void sendError(reply, typed);
    },
  });
  registerErrorHandling(app);
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async (_request, reply) => {
    if (closing)
      return sendError(reply.header('connection', 'close'), new TtsError('E_NOT_READY', 'The service is shutting down; send the request again in a moment (to another instance, if there is one).'));
  });
  // Query parameters arrive as text: read them by the types their schema gives, then validate.
  app.addHook('preValidation', async (request) => {
    const schema = request.routeOptions.schema?.querystring as Parameters<typeof readTextValues>[1];
    if (schema !== undefined && typeof request.query === 'object' && request.query !== null) readTextValues(request.query as Record<string, unknown>, schema);
  });
  // JSON and multipart only: a text/plain body is refused as 415, not read as a string.
  app.removeContentTypeParser('text/plain');
  app.addSchema(ErrorBody);
  app.addSchema(TaskBody);
  app.addSchema(VoiceBody);

  await app.register(swagger, {
    openapi: {
      info: { title: 'tts-queue', version: '0.1.0', description: 'Asynchronous speech synthesis: submit text, follow progress, fetch the audio. Errors are {"error": {"code", "message"}}.' },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  await app.register(multipart, {
    limits: { fileSize: deps.limits.maxUploadBytes, files: 1, fields: 20, fieldSize: deps.limits.maxTextChars * 4 + 1024, parts: 25 },
  });
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });

  synthesisRoutes(app, deps);
  taskRoutes(app, deps);
  eventRoutes(app, deps);
  voiceRoutes(app, deps);
  healthRoutes(app, deps);
  // admin only: guarded by the auth hook
  auditRoutes(app, deps);
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
