/** The caller's webhook signing secret (any key reads its own; the deliveries are on each task). */

import type { FastifyInstance } from 'fastify';
import { ErrorBody, WebhookSecretBody } from '../schemas.js';
import type { AppDependencies } from '../app.js';
import { ownerOf } from '../../access/principal.js';

export function webhookRoutes(app: FastifyInstance, deps: AppDependencies): void {
  app.get(
    '/api/webhooks/secret',
    { schema: { summary: "The secret that signs your tasks' webhooks (Standard Webhooks, whsec_…)", response: { 200: WebhookSecretBody, '4xx': ErrorBody } } },
    async (request, reply) => {
      const owner = ownerOf(request.principal);
      // A secret is not for caches or shared proxies.
      reply.header('cache-control', 'no-store');
      return { secret: deps.webhookSecrets.secretFor(owner), owner: owner ?? null };
    },
  );
}
