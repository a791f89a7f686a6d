/** API keys, for admins: create (the key is shown once), list, read, revoke. */

import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { CreatedKeyBody, ErrorBody, IdParams, KeyBody, NewKeyBody } from '../schemas.js';
import { presentKey } from '../presenters.js';
import type { AppDependencies } from '../app.js';
import type { KeyRole } from '../../backends/backend.js';
import { actorOf, requireAdmin } from '../access.js';

export function keyRoutes(app: FastifyInstance, deps: AppDependencies): void {
  app.addSchema(KeyBody);
  // Checked on arrival, before the body is read or validated: a user key learns nothing about these routes' input.
  const admin = { onRequest: requireAdmin };
  app
    .withTypeProvider<TypeBoxTypeProvider>()
    .post(
      '/api/keys',
      { ...admin, schema: { summary: 'Create an API key (admin); the answer holds the key, shown this once', body: NewKeyBody, response: { 201: CreatedKeyBody, '4xx': ErrorBody } } },
      async (request, reply) => {
        const { name, quotas = {}, webhook_url: webhookUrl } = request.body;
        const role = request.body.role as KeyRole | undefined;
        const { record, key } = await deps.keys.create({
          name,
          role,
          quotas: { requestsPerSecond: quotas.requests_per_second, charsPerDay: quotas.chars_per_day, openTasks: quotas.open_tasks, voices: quotas.voices },
          webhookUrl,
        });
        deps.authenticator.forget();
        await deps.auditTrail.record(actorOf(request), 'key.create', record.id, { name: record.name, role: record.role });
        return reply
          .code(201)
          .header('location', `/api/keys/${record.id}`)
          .send({ key, api_key: presentKey(record), webhook_secret: deps.webhookSecrets.secretFor(record.id) });
      },
    );

  app.get(
    '/api/keys',
    { ...admin, schema: { summary: 'Every API key, revoked ones included (admin)', response: { 200: Type.Object({ keys: Type.Array(Type.Ref('ApiKey')) }), '4xx': ErrorBody } } },
    async () => ({
      keys: (await deps.keys.list()).map(presentKey),
    }),
  );

  app.get('/api/keys/:id', { ...admin, schema: { summary: 'One API key, by id or name (admin)', params: IdParams, response: { 200: Type.Ref('ApiKey'), '4xx': ErrorBody } } }, async (request) =>
    presentKey(await deps.keys.find((request.params as { id: string }).id)),
  );

  app.delete(
    '/api/keys/:id',
    {
      ...admin,
      schema: {
        summary: 'Revoke an API key, by id or name (admin); it stops working at once on this node, within a second on others',
        params: IdParams,
        response: { 200: Type.Ref('ApiKey'), '4xx': ErrorBody },
      },
    },
    async (request) => {
      const revoked = await deps.keys.revoke((request.params as { id: string }).id);
      deps.authenticator.forget(revoked.id);
      await deps.auditTrail.record(actorOf(request), 'key.revoke', revoked.id, { name: revoked.name });
      return presentKey(revoked);
    },
  );
}
