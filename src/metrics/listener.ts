/**
 * The small HTTP listener of a process that serves no API (the `worker` role): GET /metrics,
 * /healthz (the process answers) and /readyz (it can take work), for Prometheus and for
 * orchestrators' probes. Errors have the API's shape and codes.
 */

import Fastify, { type FastifyInstance } from 'fastify';
import { registerErrorHandling } from '../http/error-handler.js';
import { dropIdleConnectionsWhileClosing } from '../http/close-idle.js';
import { TtsError } from '../errors.js';
import { checkMetricsToken } from '../access/metrics-token.js';
import type { ServiceMetrics } from './metrics.js';

export interface MetricsListenerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  metrics: Pick<ServiceMetrics, 'contentType' | 'render'>;
  /** False (or a thrown TtsError, whose message is answered) while the process cannot take work: starting, draining, no engine host up. */
  isReady: () => boolean | Promise<boolean>;
  /** When set, /metrics wants `Authorization: Bearer <token>`. */
  metricsToken?: string;
}

export interface MetricsListener {
  url: string;
  close(): Promise<void>;
}

/** The listener's routes, not yet listening (the service listens on HOST:METRICS_PORT). */
export function createMetricsApp(options: Pick<MetricsListenerOptions, 'metrics' | 'isReady' | 'metricsToken'>): FastifyInstance {
  const app = Fastify({ logger: false, return503OnClosing: true });
  registerErrorHandling(app);
  dropIdleConnectionsWhileClosing(app);
  app.get('/healthz', async () => ({ status: 'ok' as const }));
  app.get('/readyz', async () => {
    if (!(await options.isReady())) throw new TtsError('E_NOT_READY', 'This worker is starting, shutting down, or has no engine host up.');
    return { status: 'ready' as const };
  });
  app.get('/metrics', async (request, reply) => {
    checkMetricsToken(request.headers.authorization, options.metricsToken);
    return reply.header('content-type', options.metrics.contentType).send(await options.metrics.render());
  });
  return app;
}

export async function startMetricsListener(options: MetricsListenerOptions): Promise<MetricsListener> {
  const app = createMetricsApp(options);
  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  return {
    url: `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`,
    close: () => app.close(),
  };
}
