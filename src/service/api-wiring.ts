/**
 * What an API process is made of, wired from the configuration: the task and voice services
 * with their limits, the access layer (keys, authentication, rate limits, audit trail), the
 * content policy and the webhook signing secrets. service.ts builds the app from it; tests that build an app build it here too.
 */

import type { Redis } from 'ioredis';
import ipaddr from 'ipaddr.js';
import { AuditTrail } from '../access/audit-trail.js';
import { Authenticator } from '../access/authenticator.js';
import { KeyService } from '../access/key-service.js';
import { createModeration, type Moderation } from '../access/moderation.js';
import type { TaskBackend } from '../backends/backend.js';
import type { ServiceConfig } from '../config/config.js';
import type { EngineCapabilities } from '../engines/protocol.js';
import { TtsError } from '../errors.js';
import type { AppDependencies } from '../http/app.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { Logger } from './logger.js';
import { TaskService } from './task-service.js';
import { TaskAudioStreamer } from './task-audio-stream.js';
import { VoiceService } from './voice-service.js';
import { loadWebhookSecrets } from '../webhooks/secrets.js';

/** Whether HOST is a loopback address (or `localhost`): then only this machine can call. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/u, '$1').toLowerCase();
  if (bare === 'localhost' || bare === 'localhost.') return true;
  return ipaddr.isValid(bare) && ipaddr.process(bare).range() === 'loopback';
}

/**
 * The safe default: a service reachable from other machines serves only API keys. Without any
 * key it refuses to start (AUTH=on or auto), unless the operator said AUTH=off, which is logged
 * as a warning at every start.
 */
export async function checkExposure(config: ServiceConfig, backend: TaskBackend, logger: Logger): Promise<void> {
  if (config.auth === 'off') {
    logger.warn({ host: config.host }, 'AUTH=off: anyone who reaches this service may use it without a key, and sees every task and voice');
    return;
  }
  if (isLoopbackHost(config.host) || (await backend.keys.hasActiveKeys())) return;
  throw new TtsError(
    'E_AUTH_NOT_CONFIGURED',
    `HOST=${config.host} lets other machines reach the service, and no API key exists. Create one first (DATA_DIR and BACKEND as the service's): \`tts-queue keys create --name admin --role admin\`; or set AUTH=off to serve anyone without a key.`,
  );
}

export interface ApiWiring {
  deps: Pick<AppDependencies, 'tasks' | 'audioStreamer' | 'openai' | 'voices' | 'keys' | 'authenticator' | 'auditTrail' | 'access' | 'corsOrigins' | 'trustProxy' | 'metricsToken' | 'webhookSecrets'>;
  close(): Promise<void>;
}

export async function wireApi(
  config: ServiceConfig,
  parts: { backend: TaskBackend; blobs: BlobStore; logger: Logger; engines: () => EngineCapabilities[]; rateLimitRedis?: Redis },
): Promise<ApiWiring> {
  const { backend, blobs, logger, engines } = parts;
  const moderation: Moderation = await createModeration(config.moderation, logger);
  const auditTrail = new AuditTrail(backend.audit, logger);
  const consentRequired = config.voiceConsent === 'required';
  const limits = {
    maxTextChars: config.maxTextChars,
    audioUrlAllowPrivate: config.audioUrlAllowPrivate,
    webhookAllowPrivate: config.webhooks.allowPrivate,
    consentRequired,
    documents: { maxBytes: config.maxDocumentBytes, timeoutMs: config.documentTimeoutMs, maxPdfPages: config.maxDocumentPages },
  };
  const tasks = new TaskService({ backend, blobs, limits, engines, usage: backend.keys, defaultQuotas: config.defaultQuotas, moderate: (text) => moderation.check(text), audit: auditTrail });
  // Stored voices are normalised for the preferred engine that clones (others get a copy at their rate when used).
  const voices = new VoiceService({
    backend,
    blobs,
    engine: () => engines().find((c) => c.cloning) ?? engines()[0],
    consentRequired,
    defaultQuotas: config.defaultQuotas,
    audit: auditTrail,
  });
  const loopbackOnly = isLoopbackHost(config.host);
  const webhookSecrets = await loadWebhookSecrets(config.webhooks.secret, backend.webhooks);
  const authenticator = new Authenticator({ keys: backend.keys, mode: config.auth, loopbackOnly, logger });
  return {
    deps: {
      tasks,
      audioStreamer: new TaskAudioStreamer({ backend, blobs, pauseMs: config.pauseMs, logger, maxStreams: config.maxAudioStreams, maxStreamsPerCaller: config.maxAudioStreamsPerCaller }),
      openai: { voices: config.openaiVoices },
      voices,
      keys: new KeyService(backend.keys, Date.now, config.webhooks.allowPrivate),
      webhookSecrets,
      authenticator,
      auditTrail,
      access: {
        authenticator,
        defaultQuotas: config.defaultQuotas,
        limitAnonymous: !loopbackOnly,
        rateLimitRedis: parts.rateLimitRedis === undefined ? undefined : { client: parts.rateLimitRedis, prefix: config.redis.prefix },
      },
      corsOrigins: config.corsOrigins,
      trustProxy: config.trustProxy,
      metricsToken: config.metricsToken,
    },
    close: () => moderation.close(),
  };
}
