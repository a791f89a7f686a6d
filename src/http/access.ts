/**
 * Who may call the API, and how often: every request is authenticated first (an API key, or
 * anonymous where the service needs none: src/access/authenticator.ts), then rate-limited per
 * key (per address for anonymous requests under AUTH=off) with @fastify/rate-limit, whose
 * counts are shared through Redis in Redis mode so that the limit holds across API nodes. Health probes,
 * /metrics (which has its own token), the API's documentation and the web page are open.
 */

import type { FastifyInstance, FastifyRequest } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import type { Redis } from 'ioredis';
import type { Authenticator } from '../access/authenticator.js';
import { ANONYMOUS, isAdmin, type Actor, type Principal } from '../access/principal.js';
import type { KeyQuotas } from '../backends/backend.js';
import { TtsError } from '../errors.js';
import { SharedRateCounts, rateLimitStore } from './shared-rate-counts.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the authentication hook before any route runs. */
    principal: Principal;
  }
}

export interface AccessSettings {
  authenticator: Authenticator;
  defaultQuotas: Required<KeyQuotas>;
  /** Rate-limit anonymous requests by address (AUTH=off on a public address); on loopback they are the operator's own. */
  limitAnonymous: boolean;
  /** Redis mode: where the rate limit counts, shared by every API node. */
  rateLimitRedis?: { client: Redis; prefix: string };
}

/**
 * Routes open to anyone: probes, metrics (own token), the API's description and the web page
 * (`/` and its built assets; the page's own API calls send a key). Judged by the route the
 * request was matched to, not by its URL, which a client shapes as it likes.
 */
const OPEN_ROUTE = /^\/(?:|healthz|readyz|metrics|openapi\.json|docs(?:\/.*)?|assets\/\*)$/u;
const isOpen = (request: FastifyRequest): boolean => request.routeOptions.url !== undefined && OPEN_ROUTE.test(request.routeOptions.url);

/** How many times a header occurs in Node's raw list (name, value, name, value…). */
function countHeader(rawHeaders: string[], name: string): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.length === name.length && rawHeaders[i]!.toLowerCase() === name) count++;
  return count;
}

export function actorOf(request: FastifyRequest): Actor {
  return { principal: request.principal, address: request.ip };
}

/** A route's guard: only admins (and anonymous requests where keys are not needed) pass. */
export async function requireAdmin(request: FastifyRequest): Promise<void> {
  if (!isAdmin(request.principal)) throw new TtsError('E_FORBIDDEN', 'This route is for admin keys only.');
}

export async function registerAccess(app: FastifyInstance, settings: AccessSettings): Promise<void> {
  app.decorateRequest('principal', null as unknown as Principal);
  app.addHook('onRequest', async (request) => {
    if (isOpen(request)) {
      request.principal = ANONYMOUS;
      return;
    }
    // Node keeps the first of several Authorization headers and drops the others: a proxy may read another one.
    if (countHeader(request.raw.rawHeaders, 'authorization') > 1) throw new TtsError('E_UNAUTHORIZED', 'Send one key, in one Authorization or X-API-Key header.');
    request.principal = await settings.authenticator.authenticate(request.headers);
  });

  // Redis mode: counts shared by every API node (shared-rate-counts.ts).
  const shared = settings.rateLimitRedis === undefined ? undefined : new SharedRateCounts(settings.rateLimitRedis.client, `${settings.rateLimitRedis.prefix}:rate-limit:`);
  if (shared !== undefined) app.addHook('onClose', async () => shared.close());
  const limitOf = (request: FastifyRequest): number =>
    request.principal.keyId === null
      ? settings.limitAnonymous
        ? settings.defaultQuotas.requestsPerSecond
        : 0
      : (request.principal.quotas.requestsPerSecond ?? settings.defaultQuotas.requestsPerSecond);
  await app.register(rateLimit, {
    global: true,
    hook: 'onRequest',
    timeWindow: 1_000,
    max: (request) => limitOf(request),
    allowList: (request) => isOpen(request) || limitOf(request) === 0,
    keyGenerator: (request) => request.principal.keyId ?? `ip:${request.ip}`,
    ...(shared === undefined ? {} : { store: rateLimitStore(shared) }),
    errorResponseBuilder: (_request, context) =>
      new TtsError('E_RATE_LIMITED', `More than ${context.max} requests a second; slow down and retry after ${Math.ceil(context.ttl / 1000)} s.`, {
        retryAfterS: Math.ceil(context.ttl / 1000),
      }),
  });
}
