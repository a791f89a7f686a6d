/**
 * The service's configuration: every setting, its environment variable, its default and its
 * check, in one place. `loadConfig(process.env)` is called once, where the service starts.
 */

import { availableParallelism } from 'node:os';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { TtsError } from '../errors.js';
import { ENGINE_NAMES, type EngineName } from '../engines/registry.js';
import { AUTH_MODES, type AuthMode } from '../access/authenticator.js';
import type { KeyQuotas } from '../backends/backend.js';
import { parseOpenAIVoices } from '../service/openai-speech.js';

export const BACKEND_NAMES = ['sqlite', 'redis'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];
export const BLOB_STORE_NAMES = ['local', 's3'] as const;
export type BlobStoreName = (typeof BLOB_STORE_NAMES)[number];

/** Every environment variable the service reads (the deployment files are checked against it). */
export const ENVIRONMENT_VARIABLES = [
  'HOST',
  'PORT',
  'DATA_DIR',
  'BACKEND',
  'REDIS_URL',
  'REDIS_PREFIX',
  'BLOB_STORE',
  'BLOB_DIR',
  'S3_BUCKET',
  'S3_PREFIX',
  'S3_ENDPOINT',
  'S3_REGION',
  'S3_FORCE_PATH_STYLE',
  'METRICS_PORT',
  'ENGINE',
  'ENGINE_HOSTS',
  'MAX_TEXT_CHARS',
  'MAX_UPLOAD_BYTES',
  'MAX_DOCUMENT_BYTES',
  'MAX_DOCUMENT_PAGES',
  'DOCUMENT_TIMEOUT_MS',
  'RESULT_TTL_SECONDS',
  'LEASE_MS',
  'MAX_ATTEMPTS',
  'PAUSE_MS',
  'MAX_AUDIO_STREAMS',
  'MAX_AUDIO_STREAMS_PER_CALLER',
  'PREPARE_CONCURRENCY',
  'ASSEMBLE_CONCURRENCY',
  'AUDIO_URL_ALLOW_PRIVATE',
  'AUDIO_URL_TIMEOUT_MS',
  'AUTH',
  'METRICS_TOKEN',
  'RATE_LIMIT_RPS',
  'QUOTA_CHARS_PER_DAY',
  'QUOTA_OPEN_TASKS',
  'QUOTA_VOICES',
  'VOICE_CONSENT',
  'CORS_ORIGINS',
  'TRUST_PROXY',
  'LOG_LEVEL',
  'SQLITE_SYNCHRONOUS',
  'SHUTDOWN_GRACE_SECONDS',
  'MODERATION_BLOCKLIST',
  'MODERATION_URL',
  'MODERATION_TIMEOUT_MS',
  'MODERATION_FAIL',
  'MODERATION_ALLOW_PRIVATE',
  'AUDIT_RETENTION_DAYS',
  'WEBHOOK_ALLOW_PRIVATE',
  'WEBHOOK_TIMEOUT_MS',
  'WEBHOOK_RETRY_DELAYS',
  'WEBHOOK_SECRET',
  'OPENAI_VOICES',
] as const;

export interface ServiceConfig {
  host: string;
  port: number;
  dataDir: string;
  backend: BackendName;
  /** BACKEND=redis: the server and the prefix of every key (two deployments can share one Redis). */
  redis: { url: string; prefix: string };
  /** Where files live: a local folder (or a shared volume mounted on every node) or an S3-compatible store. */
  blobStore: BlobStoreName;
  /** BLOB_STORE=local: the folder (default DATA_DIR/blobs). BLOB_STORE=s3: the local cache of the files in use. */
  blobDir: string;
  s3: { bucket: string; prefix: string; endpoint?: string; region: string; forcePathStyle: boolean };
  /** `tts-queue worker`: the port of its health and metrics listener (on HOST). */
  metricsPort: number;
  /** Engines to run, in order of preference, each with its number of hosts. */
  engines: Array<{ name: EngineName; hosts: number }>;
  /** Longest text accepted, in characters after normalisation. */
  maxTextChars: number;
  /** Largest request body (JSON or multipart upload), in bytes. */
  maxUploadBytes: number;
  /** How long a finished task's audio is kept. */
  resultTtlMs: number;
  /** How long a worker's claim on work lasts without renewal. */
  leaseMs: number;
  /** Attempts of a segment before its task fails (retryable errors only). */
  maxAttempts: number;
  /** Silence between segments in the output. */
  pauseMs: number;
  /** Audio streams (GET /api/task/:id/stream, /v1/audio/speech) open at once per API process, and per caller. */
  maxAudioStreams: number;
  maxAudioStreamsPerCaller: number;
  /** Tasks prepared (reference normalised, text split) ahead of the engine. */
  prepareConcurrency: number;
  /** Outputs assembled (joined, encoded) at once. */
  assembleConcurrency: number;
  /** Let audio_url reach loopback and private addresses (tests, trusted networks only). */
  audioUrlAllowPrivate: boolean;
  /** Longest wait for an audio_url download. */
  audioUrlTimeoutMs: number;
  /** Largest document (upload or document_url). */
  maxDocumentBytes: number;
  /** Most pages of a PDF read; one that claims more is refused. */
  maxDocumentPages: number;
  /** Longest time reading one document (its worker thread is ended after it). */
  documentTimeoutMs: number;
  /** Who must send an API key (src/access/authenticator.ts). */
  auth: AuthMode;
  /** When set, /metrics wants `Authorization: Bearer <token>`. */
  metricsToken?: string;
  /** Limits of a key that sets none of its own (0: no limit); requestsPerSecond also applies per address to anonymous requests under AUTH=off. */
  defaultQuotas: Required<KeyQuotas>;
  /** Whether making a voice from a recording needs `consent` and `speaker_name`. */
  voiceConsent: 'required' | 'off';
  /** Origins allowed to call the API from a browser (CORS); none by default. */
  corsOrigins: string[];
  /** Fastify's trustProxy: false, true, a hop count, or addresses/CIDRs of the proxies. */
  trustProxy: boolean | number | string[];
  logLevel: string;
  /** On SIGTERM, how long work in flight may finish before it is handed back (a GLM-TTS segment can take minutes). */
  shutdownGraceMs: number;
  /** SQLite `synchronous`: NORMAL survives process crashes; FULL also survives power loss. */
  sqliteSynchronous: 'NORMAL' | 'FULL';
  /** The content policy run on a text before its task is accepted (src/access/moderation.ts); off when neither check is set. */
  moderation: ModerationConfig;
  /** How long audit log entries are kept, and webhook deliveries after they ended; 0: forever. */
  auditRetentionMs: number;
  webhooks: WebhookConfig;
  /** POST /v1/audio/speech: OpenAI voice names mapped to stored voices; an unmapped name gets the engine's own default voice. */
  openaiVoices: Record<string, string>;
}

export interface WebhookConfig {
  /** Let webhook_url reach loopback and private addresses (tests, trusted networks only). */
  allowPrivate: boolean;
  /** Longest wait for a receiver's answer, per try. */
  timeoutMs: number;
  /** The waits before each try after the first: a delivery gives up after the last. */
  retryDelaysMs: number[];
  /** The master secret each owner's signing secret is derived from; absent: made once and kept in the backend. */
  secret?: string;
}

/** Standard Webhooks' own schedule: 8 tries over about a day. */
export const DEFAULT_WEBHOOK_RETRY_DELAYS = '5s,5m,30m,2h,5h,10h,10h';
const MIN_WEBHOOK_SECRET_CHARS = 24;
const MAX_WEBHOOK_RETRIES = 20;
const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

export const MODERATION_FAIL_MODES = ['closed', 'open'] as const;
export type ModerationFailMode = (typeof MODERATION_FAIL_MODES)[number];

export interface ModerationConfig {
  /** A file of words, phrases and `/regex/flags` rules, one a line; read once at start. */
  blocklistPath?: string;
  /** An external check: POST `{"text"}`, answered `{"allowed"}` or `{"flagged"}`. */
  url?: string;
  /** Longest wait for the external check. */
  timeoutMs: number;
  /** When the external check cannot answer: `closed` refuses the text (503 E_MODERATION_UNAVAILABLE), `open` accepts it with a warning. */
  fail: ModerationFailMode;
  /** Let the external check be on loopback or a private address (a sidecar); otherwise such a URL stops start-up. */
  allowPrivate: boolean;
}

type Env = Record<string, string | undefined>;

function integer(env: Env, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new TtsError('E_INVALID_ARGUMENT', `Expected ${name} to be an integer from ${min} to ${max}, got "${raw}".`);
  }
  return value;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) throw new TtsError('E_INVALID_ARGUMENT', `Expected ${name} to be one of ${allowed.join(', ')}, got "${raw}".`);
  return raw as T;
}

function flag(env: Env, name: string): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '' || raw === '0' || raw === 'false') return false;
  if (raw === '1' || raw === 'true') return true;
  throw new TtsError('E_INVALID_ARGUMENT', `Expected ${name} to be 1/true or 0/false, got "${raw}".`);
}

/**
 * ENGINE: one engine or several in order of preference, each optionally with its host count:
 * `glm-tts:4,espeak` runs four GLM-TTS hosts and ENGINE_HOSTS espeak hosts.
 */
function engines(env: Env): ServiceConfig['engines'] {
  const defaultHosts = integer(env, 'ENGINE_HOSTS', availableParallelism(), 1, 64);
  const list = (env.ENGINE || 'espeak').split(',').map((item) => item.trim());
  const parsed = list.map((item) => {
    const [name = '', hosts, extra] = item.split(':');
    if (!(ENGINE_NAMES as readonly string[]).includes(name) || extra !== undefined) {
      throw new TtsError('E_INVALID_ARGUMENT', `Expected ENGINE to list engines among ${ENGINE_NAMES.join(', ')}, each optionally with a host count (e.g. glm-tts:2,espeak), got "${item}".`);
    }
    return { name: name as EngineName, hosts: hosts === undefined ? defaultHosts : integer({ [`ENGINE (${name})`]: hosts }, `ENGINE (${name})`, defaultHosts, 1, 64) };
  });
  const names = parsed.map((e) => e.name);
  if (new Set(names).size !== names.length) throw new TtsError('E_INVALID_ARGUMENT', `Expected each engine once in ENGINE, got "${env.ENGINE}".`);
  return parsed;
}

/** A URL setting: parsed, of one of `protocols`, with a host; a password in it is not repeated in the message. */
function urlSetting(env: Env, name: string, protocols: readonly string[], example: string): string | undefined {
  const raw = env[name] || undefined;
  if (raw === undefined) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (url === undefined || !protocols.includes(url.protocol) || url.hostname === '') {
    const schemes = protocols.map((p) => `${p}//`).join(' or ');
    throw new TtsError('E_INVALID_ARGUMENT', `Expected ${name} to be a ${schemes} URL with a host, such as ${example}, got "${raw.replace(/\/\/[^@/]*@/u, '//…@')}".`);
  }
  return raw;
}

/** CORS_ORIGINS: a comma-separated list of origins such as https://app.example.com. */
function corsOrigins(env: Env): string[] {
  const list = (env.CORS_ORIGINS ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  for (const origin of list) {
    let url: URL | undefined;
    try {
      url = new URL(origin);
    } catch {
      url = undefined;
    }
    if (url === undefined || !['http:', 'https:'].includes(url.protocol) || url.origin !== origin) {
      throw new TtsError('E_INVALID_ARGUMENT', `Expected CORS_ORIGINS to list origins such as https://app.example.com (scheme, host, optional port, no path), got "${origin}".`);
    }
  }
  return list;
}

/** TRUST_PROXY: 0/false, 1/true (trust every proxy), a hop count such as `hops:2`, or addresses and CIDRs of the proxies. */
function trustProxy(env: Env): ServiceConfig['trustProxy'] {
  const raw = (env.TRUST_PROXY ?? '').trim();
  if (raw === '' || raw === '0' || raw === 'false') return false;
  if (raw === '1' || raw === 'true') return true;
  const hops = /^hops:(\d{1,2})$/u.exec(raw);
  if (hops !== null) return Number(hops[1]);
  const list = raw.split(',').map((item) => item.trim());
  for (const item of list) {
    const [address = '', bits, extra] = item.split('/');
    const valid = extra === undefined && isIP(address) !== 0 && (bits === undefined || (/^\d{1,3}$/u.test(bits) && Number(bits) <= (isIP(address) === 4 ? 32 : 128)));
    if (!valid) throw new TtsError('E_INVALID_ARGUMENT', `Expected TRUST_PROXY to be 0, 1, hops:N, or addresses/CIDRs of your proxies (e.g. 10.0.0.0/8,127.0.0.1), got "${item}".`);
  }
  return list;
}

/** WEBHOOK_RETRY_DELAYS: durations such as `5s,5m,30m,2h` (units ms, s, m, h), one per retry. */
function retryDelays(env: Env): number[] {
  const raw = env.WEBHOOK_RETRY_DELAYS || DEFAULT_WEBHOOK_RETRY_DELAYS;
  const items = raw.split(',').map((item) => item.trim());
  const delays = items.map((item) => {
    const match = /^(\d{1,9})(ms|s|m|h)$/u.exec(item);
    const ms = match === null ? Number.NaN : Number(match[1]) * DURATION_UNITS_MS[match[2]!]!;
    if (!(ms > 0 && ms <= 7 * 86_400_000)) {
      throw new TtsError('E_INVALID_ARGUMENT', `Expected WEBHOOK_RETRY_DELAYS to list waits such as ${DEFAULT_WEBHOOK_RETRY_DELAYS} (each from 1ms to 7 days, units ms, s, m, h), got "${item}".`);
    }
    return ms;
  });
  if (delays.length > MAX_WEBHOOK_RETRIES) throw new TtsError('E_INVALID_ARGUMENT', `Expected WEBHOOK_RETRY_DELAYS to list at most ${MAX_WEBHOOK_RETRIES} waits, got ${delays.length}.`);
  return delays;
}

function webhookSecret(env: Env): string | undefined {
  const secret = env.WEBHOOK_SECRET || undefined;
  // The value is never repeated: only its length is wrong.
  if (secret !== undefined && secret.length < MIN_WEBHOOK_SECRET_CHARS) {
    throw new TtsError('E_INVALID_ARGUMENT', `Expected WEBHOOK_SECRET to be at least ${MIN_WEBHOOK_SECRET_CHARS} characters (e.g. \`openssl rand -base64 32\`), got ${secret.length}.`);
  }
  return secret;
}

function redisPrefix(env: Env): string {
  const prefix = env.REDIS_PREFIX || 'ttsq';
  // BullMQ builds keys as prefix:queue:...; a colon or a brace in the prefix would change their shape.
  if (!/^[A-Za-z0-9_.-]{1,64}$/u.test(prefix)) throw new TtsError('E_INVALID_ARGUMENT', `Expected REDIS_PREFIX to be 1 to 64 letters, digits, '_', '.' or '-', got "${prefix}".`);
  return prefix;
}

export function loadConfig(env: Env = process.env): ServiceConfig {
  const dataDir = resolve(env.DATA_DIR || './data');
  const blobStore = oneOf(env, 'BLOB_STORE', BLOB_STORE_NAMES, 'local');
  const bucket = env.S3_BUCKET || '';
  if (blobStore === 's3' && bucket === '') throw new TtsError('E_INVALID_ARGUMENT', 'BLOB_STORE=s3 needs S3_BUCKET, the bucket to keep files in.');
  return {
    host: env.HOST || '127.0.0.1',
    port: integer(env, 'PORT', 3000, 0, 65_535),
    dataDir,
    backend: oneOf(env, 'BACKEND', BACKEND_NAMES, 'sqlite'),
    redis: { url: urlSetting(env, 'REDIS_URL', ['redis:', 'rediss:'], 'redis://127.0.0.1:6379') ?? 'redis://127.0.0.1:6379', prefix: redisPrefix(env) },
    blobStore,
    blobDir: resolve(env.BLOB_DIR || `${dataDir}/blobs`),
    s3: {
      bucket,
      prefix: env.S3_PREFIX || '',
      endpoint: urlSetting(env, 'S3_ENDPOINT', ['http:', 'https:'], 'http://minio:9000'),
      region: env.S3_REGION || 'us-east-1',
      forcePathStyle: flag(env, 'S3_FORCE_PATH_STYLE'),
    },
    metricsPort: integer(env, 'METRICS_PORT', 9464, 0, 65_535),
    // The embedded engine runs on the CPU: one host per core unless told.
    engines: engines(env),
    maxTextChars: integer(env, 'MAX_TEXT_CHARS', 100_000, 1),
    maxUploadBytes: integer(env, 'MAX_UPLOAD_BYTES', 10 * 1024 * 1024, 1024),
    resultTtlMs: integer(env, 'RESULT_TTL_SECONDS', 86_400, 1) * 1000,
    leaseMs: integer(env, 'LEASE_MS', 30_000, 100),
    maxAttempts: integer(env, 'MAX_ATTEMPTS', 3, 1, 20),
    pauseMs: integer(env, 'PAUSE_MS', 200, 0, 5_000),
    maxAudioStreams: integer(env, 'MAX_AUDIO_STREAMS', 200, 1, 100_000),
    maxAudioStreamsPerCaller: integer(env, 'MAX_AUDIO_STREAMS_PER_CALLER', 20, 1, 100_000),
    prepareConcurrency: integer(env, 'PREPARE_CONCURRENCY', 2, 1, 64),
    assembleConcurrency: integer(env, 'ASSEMBLE_CONCURRENCY', 1, 1, 64),
    audioUrlAllowPrivate: flag(env, 'AUDIO_URL_ALLOW_PRIVATE'),
    audioUrlTimeoutMs: integer(env, 'AUDIO_URL_TIMEOUT_MS', 15_000, 100),
    maxDocumentBytes: integer(env, 'MAX_DOCUMENT_BYTES', 20 * 1024 * 1024, 1024),
    maxDocumentPages: integer(env, 'MAX_DOCUMENT_PAGES', 2_000, 1, 1_000_000),
    documentTimeoutMs: integer(env, 'DOCUMENT_TIMEOUT_MS', 30_000, 100),
    auth: oneOf(env, 'AUTH', AUTH_MODES, 'auto'),
    metricsToken: env.METRICS_TOKEN || undefined,
    defaultQuotas: {
      requestsPerSecond: integer(env, 'RATE_LIMIT_RPS', 50, 0, 1_000_000),
      charsPerDay: integer(env, 'QUOTA_CHARS_PER_DAY', 0, 0),
      openTasks: integer(env, 'QUOTA_OPEN_TASKS', 1_000, 0),
      voices: integer(env, 'QUOTA_VOICES', 100, 0),
    },
    voiceConsent: oneOf(env, 'VOICE_CONSENT', ['required', 'off'] as const, 'required'),
    corsOrigins: corsOrigins(env),
    trustProxy: trustProxy(env),
    logLevel: env.LOG_LEVEL || 'info',
    shutdownGraceMs: integer(env, 'SHUTDOWN_GRACE_SECONDS', 10, 0, 3_600) * 1000,
    sqliteSynchronous: oneOf(env, 'SQLITE_SYNCHRONOUS', ['NORMAL', 'FULL'] as const, 'NORMAL'),
    moderation: {
      blocklistPath: env.MODERATION_BLOCKLIST ? resolve(env.MODERATION_BLOCKLIST) : undefined,
      url: urlSetting(env, 'MODERATION_URL', ['http:', 'https:'], 'http://127.0.0.1:8080/check'),
      timeoutMs: integer(env, 'MODERATION_TIMEOUT_MS', 3_000, 1, 60_000),
      fail: oneOf(env, 'MODERATION_FAIL', MODERATION_FAIL_MODES, 'closed'),
      allowPrivate: flag(env, 'MODERATION_ALLOW_PRIVATE'),
    },
    auditRetentionMs: integer(env, 'AUDIT_RETENTION_DAYS', 90, 0, 36_500) * 86_400_000,
    webhooks: {
      allowPrivate: flag(env, 'WEBHOOK_ALLOW_PRIVATE'),
      timeoutMs: integer(env, 'WEBHOOK_TIMEOUT_MS', 10_000, 100, 120_000),
      retryDelaysMs: retryDelays(env),
      secret: webhookSecret(env),
    },
    openaiVoices: parseOpenAIVoices(env.OPENAI_VOICES),
  };
}
