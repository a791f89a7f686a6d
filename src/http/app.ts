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
import { dropIdleConnectionsWhileClosing } from './close-idle.js';
import { AJV_OPTIONS, schemaAnnotations } from './schema-validation.js';
import { readTextValues } from './text-values.js';
import { TtsError } from '../errors.js';
import { ErrorBody, TaskBody, VoiceBody } from './schemas.js';
import { auditRoutes } from './routes/audit.js';
import { eventRoutes } from './routes/events.js';
import { healthRoutes } from './routes/health.js';
import { synthesisRoutes } from './routes/synthesis.js';
import { taskRoutes } from './routes/tasks.js';
import { streamRoutes } from './routes/stream.js';
import { openaiRoutes } from './routes/openai.js';
import { voiceRoutes } from './routes/voices.js';
import { keyRoutes } from './routes/keys.js';
import { pageRoutes } from './routes/page.js';
import { webhookRoutes } from './routes/webhooks.js';
import helmet from '@fastify/helmet';
import cors from '@fastify/cors';
import { registerAccess, type AccessSettings } from './access.js';
import type { Authenticator } from '../access/authenticator.js';
import type { AuditTrail } from '../access/audit-trail.js';
import type { KeyService } from '../access/key-service.js';
import type { AuditLog } from '../backends/backend.js';
import type { EngineCapabilities } from '../engines/protocol.js';
import type { Logger } from '../service/logger.js';
import type { TaskService } from '../service/task-service.js';
import type { TaskAudioStreamer } from '../service/task-audio-stream.js';
import type { VoiceService } from '../service/voice-service.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { ServiceMetrics } from '../metrics/metrics.js';
import type { WebhookSecrets } from '../webhooks/secrets.js';

export interface AppDependencies {
  tasks: TaskService;
  /** Tasks' audio as their segments finish (GET /api/task/:id/stream, POST /v1/audio/speech). */
  audioStreamer: TaskAudioStreamer;
  /** The OpenAI-compatible routes' settings: OpenAI voice names mapped to stored voices (OPENAI_VOICES). */
  openai: { voices: Record<string, string> };
  voices: VoiceService;
  keys: KeyService;
  authenticator: Authenticator;
  /** Records who did what (src/access/audit-trail.ts). */
  auditTrail: AuditTrail;
  access: AccessSettings;
  /** Origins allowed to call from a browser (CORS); empty: none. */
  corsOrigins: string[];
  /** Fastify's trustProxy (TRUST_PROXY). */
  trustProxy: boolean | number | string[];
  /** When set, /metrics wants it as a bearer token. */
  metricsToken?: string;
  blobs: BlobStore;
  logger: Logger;
  /** The configured engines, in order of preference, with their hosts, how many are up and how many busy. */
  engines: () => Array<{ capabilities: EngineCapabilities; hosts: number; hostsUp: number; busy: number }>;
  /** /readyz says 503 while an engine has no host up (true where the engines run in this process). */
  enginesGateReadiness?: boolean;
  isReady: () => boolean;
  /** maxDocumentBytes: a `document` file's cap (default maxUploadBytes). */
  limits: { maxUploadBytes: number; maxTextChars: number; maxDocumentBytes?: number };
  /** Served at GET /metrics when given. */
  metrics?: Pick<ServiceMetrics, 'contentType' | 'render'>;
  /** The audit log, read at GET /api/audit. */
  audit: AuditLog;
  /** The built web page served at / (default: dist/web). */
  webRoot?: string;
  /** The secrets that sign each owner's webhooks (GET /api/webhooks/secret, and shown when a key is made). */
  webhookSecrets: WebhookSecrets;
}

/** TRUST_PROXY=hops:N: the nearest N proxies are trusted (Fastify takes a function for that). */
const trustHops =
  (hops: number) =>
  (_address: string, hop: number): boolean =>
    hop < hops;

export async function createApp(deps: AppDependencies): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // JSON bodies: the text limit in 4-byte characters, plus room for the other fields.
    bodyLimit: Math.max(deps.limits.maxTextChars * 4 + 64 * 1024, 1024 * 1024),
    logController: new LogController({ disableRequestLogging: !deps.logger.isLevelEnabled('debug') }),
    routerOptions: { maxParamLength: 200 },
    // Behind a proxy the client's address (for rate limits and the audit log) is the forwarded one.
    trustProxy: typeof deps.trustProxy === 'number' ? trustHops(deps.trustProxy) : deps.trustProxy,
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
  // Before every other onRequest hook: the plugin's own marks upgrade requests, so that one
  // refused by a hook (no key, shutting down, rate limit) still has its socket closed once
  // answered; refused before the mark, the socket stayed open and held shutdown.
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  // The id each log line of a request carries, given back so that a client can name a request to an operator.
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  dropIdleConnectionsWhileClosing(app);
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

  // Headers for an API that also serves its documentation and a page: helmet's defaults, except
  // upgrade-insecure-requests, which would send a page served over plain http on a private
  // network (or localhost) to an https that is not there (TLS ends at the proxy, if any), and
  // media-src, where the page plays audio fetched with a key or recorded (blob: URLs, MediaSource).
  await app.register(helmet, { global: true, contentSecurityPolicy: { directives: { upgradeInsecureRequests: null, mediaSrc: ["'self'", 'blob:'] } } });
  if (deps.corsOrigins.length > 0) {
    await app.register(cors, {
      origin: deps.corsOrigins,
      methods: ['GET', 'POST', 'DELETE'],
      allowedHeaders: ['Authorization', 'X-API-Key', 'Content-Type', 'Idempotency-Key', 'Last-Event-ID', 'Range', 'If-None-Match'],
      exposedHeaders: ['Location', 'Retry-After', 'ETag', 'Content-Range', 'Content-Disposition', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset'],
      maxAge: 600,
    });
  }
  await registerAccess(app, deps.access);

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'tts-queue',
        version: '0.1.0',
        description:
          'Asynchronous speech synthesis: submit text, follow progress, fetch the audio. Errors are {"error": {"code", "message"}}. Send an API key as `Authorization: Bearer <key>` or `X-API-Key` (not needed on loopback before any key exists, or with AUTH=off).',
      },
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } } },
      security: [{ apiKey: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });
  await app.register(multipart, {
    // One reference and one document; each file is capped again by its own limit as it is read (multipart.ts).
    limits: { fileSize: Math.max(deps.limits.maxUploadBytes, deps.limits.maxDocumentBytes ?? 0), files: 2, fields: 24, fieldSize: deps.limits.maxTextChars * 4 + 1024, parts: 30 },
  });

  synthesisRoutes(app, deps);
  taskRoutes(app, deps);
  streamRoutes(app, deps);
  eventRoutes(app, deps);
  voiceRoutes(app, deps);
  keyRoutes(app, deps);
  healthRoutes(app, deps);
  auditRoutes(app, deps);
  await pageRoutes(app, deps.webRoot);
  webhookRoutes(app, deps);
  openaiRoutes(app, deps);
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
