/** Liveness, readiness, metrics, and what the running engines can do. */

import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { EnginesBody, ErrorBody } from '../schemas.js';
import type { AppDependencies } from '../app.js';
import { TtsError } from '../../errors.js';
import { checkMetricsToken } from '../../access/metrics-token.js';

export function healthRoutes(app: FastifyInstance, deps: AppDependencies): void {
  app.get('/healthz', { schema: { summary: 'The process is alive', response: { 200: Type.Object({ status: Type.Literal('ok') }) } } }, async () => ({ status: 'ok' as const }));

  app.get('/readyz', { schema: { summary: 'Every engine has a host up and the backend answers', response: { 200: Type.Object({ status: Type.Literal('ready') }), 503: ErrorBody } } }, async () => {
    if (!deps.isReady()) throw new TtsError('E_NOT_READY', 'The engines are starting (or the service is shutting down).');
    // An engine whose hosts all died is being restarted: its tasks wait, so the service is not ready.
    const down = (deps.enginesGateReadiness === false ? [] : deps.engines()).filter((engine) => engine.hostsUp === 0).map((engine) => engine.capabilities.engine);
    if (down.length > 0)
      throw new TtsError('E_NOT_READY', `No host of engine ${down.map((name) => `"${name}"`).join(', ')} is up; it is being restarted, and its tasks wait in the queue (GET /api/engines).`);
    await deps.tasks.checkBackend();
    return { status: 'ready' as const };
  });

  const { metrics } = deps;
  if (metrics !== undefined)
    app.get(
      '/metrics',
      { schema: { summary: 'Prometheus metrics (text exposition format); README "Metrics" lists them; `Authorization: Bearer <METRICS_TOKEN>` when one is set' } },
      async (request, reply) => {
        checkMetricsToken(request.headers.authorization, deps.metricsToken);
        return reply.header('content-type', metrics.contentType).send(await metrics.render());
      },
    );

  app.get(
    '/api/engines',
    { schema: { summary: 'The configured engines, in the order tasks are routed to them, what each can do, and how many of its hosts are up', response: { 200: EnginesBody, 503: ErrorBody } } },
    async () => {
      const engines = deps.engines();
      if (engines.length === 0) throw new TtsError('E_NOT_READY', 'The engines are starting.');
      return {
        engines: engines.map(({ capabilities, hosts, hostsUp, busy }) => ({
          engine: capabilities.engine,
          version: capabilities.version,
          sample_rates: capabilities.sampleRates,
          cloning: capabilities.cloning,
          voice_following: capabilities.voiceFollowing,
          phoneme_control: capabilities.phonemeControl,
          requires_voice: capabilities.requiresVoice,
          options: capabilities.options,
          deterministic: capabilities.deterministic ?? null,
          languages: capabilities.languages,
          max_segment_chars: capabilities.maxSegmentChars,
          hosts,
          hosts_up: hostsUp,
          busy,
        })),
      };
    },
  );
}
