/**
 * The task backend: where tasks, their segments, voices and events are kept, and where
 * workers claim work. One interface, implemented by `sqlite` (embedded) and, later, `redis`
 * (BullMQ); `backends/testing/backend-contract.ts` is the contract every implementation passes.
 *
 * Semantics:
 * - A task is **durable** once `createTask` resolves: it survives a crash of any process.
 * - Work comes in three kinds: `prepare` a queued task (normalise the reference, split the
 *   text), synthesise one `segment`, and `assemble` the output once every segment is done.
 * - `claim` hands out one unit under a **lease** owned by the worker. A worker renews the
 *   lease while it works; a lease that expires (its worker died) puts the work back: a
 *   `preparing` task is queued again, a running segment is pending again, an `encoding` task
 *   can be claimed again. Finished segments are kept: work resumes at the first missing one.
 * - Segments are handed out by task priority (higher first), then **fairly** between tasks of
 *   equal priority (the task served least recently goes next), so a short task is not stuck
 *   behind a long one; several workers may run segments of one task at once.
 * - `failWork` with a retryable error puts the unit back after a backoff, until `maxAttempts`;
 *   any other error fails the task at once. A failure that says nothing about the work (the
 *   disk is full) may spare the attempt: it is retried however often it happens. A failure of
 *   work whose task already ended (canceled, or failed by another segment) changes nothing.
 * - Expired leases are recovered while the backend is open, not only when work is claimed.
 * - A write that finds the storage full throws `E_STORAGE_FULL` (retryable); nothing is lost:
 *   a unit whose failure could not be recorded comes back when its lease expires.
 * - A task with `notBefore` stays `queued`, its prepare work not claimable, until that time
 *   (durably: a restart does not forget it); workers are woken when it comes due.
 * - `cancelTask` moves a task to `canceled`; the completion of any of its work is then ignored.
 * - Every change of a task's status or progress appends an event with an increasing id;
 *   `listEvents(taskId, afterId)` replays them and `subscribe` delivers new ones.
 * - Result reuse: a task prepared with a `reuseKey` (what decides its audio, worker/reuse-key.ts)
 *   can be found by `findReusable` once completed, by its owner only, until its result expires.
 *   `completeReused` completes a task being prepared with a copy of such a result (`cached`).
 */

import type { OutputFormat } from '../audio/output.js';
import type { EngineCapabilities, Pronunciation } from '../engines/protocol.js';
import { TtsError, type WireError } from '../errors.js';

export const TASK_STATUSES = ['queued', 'preparing', 'synthesizing', 'encoding', 'completed', 'failed', 'canceled'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
export const FINAL_STATUSES: readonly TaskStatus[] = ['completed', 'failed', 'canceled'];
export const isFinal = (status: TaskStatus): boolean => FINAL_STATUSES.includes(status);

export const WORK_KINDS = ['prepare', 'segment', 'assemble'] as const;
export type WorkKind = (typeof WORK_KINDS)[number];

/** What a client asked for, already validated. */
export interface TaskRequest {
  /** Normalised text. */
  text: string;
  format: OutputFormat;
  sampleRate?: number;
  seed?: number;
  priority: number;
  promptText?: string;
  pronunciations: Pronunciation[];
  /** A stored voice. */
  voiceId?: string;
  /** A reference recording uploaded with the task, normalised when prepared. */
  uploadPath?: string;
  /** A reference to download when the task is prepared (checked again then). */
  audioUrl?: string;
  /** With a one-off reference (upload or URL): whose voice it is, as the submitter stated with their consent. */
  speakerName?: string;
  /** An engine asked for by name. */
  engine?: string;
  /** Only an engine that clones the reference's timbre may take the task. */
  requireCloning?: boolean;
  /** Engine-specific switches, passed to the host as given (GLM-TTS: use_cache, use_phoneme, sample_method). */
  engineOptions?: Record<string, string | number | boolean>;
  /** Playback speed of the result and its stream (0.25–4; absent: 1), applied by ffmpeg's atempo. */
  speed?: number;
  /** Where to POST the task's state changes, signed (webhooks); `final`: completed, failed, canceled only. */
  webhook?: WebhookSpec;
  /** false: never reuse an identical completed result (absent: reuse where the engine is deterministic). */
  reuse?: boolean;
  /**
   * Several voices in one task: each part is segmented and synthesised with its own voice (else
   * the task's), in order. With parts, `text` is their texts joined by a blank line (what
   * moderation, quotas and reuse see).
   */
  parts?: TextPart[];
  /** Not prepared before this time (ms since the epoch). */
  notBefore?: number;
  /** A document fetched and read when the task is prepared; its text becomes `parts`. */
  documentUrl?: string;
  /** What the text was read from, when it came from a document (for GET /api/task/:id/text). */
  document?: { kind: DocumentKind; name?: string };
}

export const DOCUMENT_KINDS = ['text', 'markdown', 'html', 'epub', 'pdf'] as const;
export type DocumentKind = (typeof DOCUMENT_KINDS)[number];

/** Parts of one task, at most. */
export const MAX_PARTS = 10_000;
/** The longest silence a part may ask for after it (ms). */
export const MAX_PART_PAUSE_MS = 60_000;
/** The longest chapter title (characters, normalised). */
export const MAX_CHAPTER_CHARS = 200;

/** One part of a task with several voices, chapters or pauses (POST /api/synthesis `parts`, or a document's). */
export interface TextPart {
  text: string;
  /** A stored voice for this part; absent: the task's voice (or the engine's default). */
  voiceId?: string;
  /** Transcript of this part's voice, when it differs from the stored one. */
  promptText?: string;
  /** Silence after this part (ms); absent: the service's pause between segments. */
  pauseMs?: number;
  /** This part starts a chapter with this title. */
  chapter?: string;
}

/** A chapter of a result: from a part's `chapter` or a document's heading. */
export interface ResultChapter {
  title: string;
  startMs: number;
  endMs: number;
}

/** Where one segment's audio lies in the result (the timeline a result's subtitles are made from). */
export interface TimelineEntry {
  /** The segment's text. */
  text: string;
  /** The part it belongs to (0 without parts). */
  part: number;
  startMs: number;
  endMs: number;
}

/** A reference ready for the engine: normalised WAV, its hash and transcript. */
export interface PreparedReference {
  audioPath: string;
  sha256: string;
  promptText: string;
}

export interface TaskResult {
  path: string;
  format: OutputFormat;
  durationMs: number;
  bytes: number;
  sampleRate: number;
  /** Chapters with their times (from parts' `chapter` or a document's headings). */
  chapters?: ResultChapter[];
  /** A JSON file of TimelineEntry[], stored beside the result with its retention (subtitles are made from it). */
  timelinePath?: string;
}

export interface TaskRecord {
  id: string;
  status: TaskStatus;
  /** The API key that made the task (its id); absent for a task made without a key. */
  owner?: string;
  request: TaskRequest;
  segmentsTotal: number;
  segmentsDone: number;
  /** Attempts of the task's work that failed and were tried again, plus one. */
  attempts: number;
  error?: { code: string; message: string };
  result?: TaskResult;
  /** True once the result's retention ended and its file was deleted. */
  expired: boolean;
  /** True when the result is a copy of an identical earlier request's, made without running the engine. */
  cached?: boolean;
  reference?: PreparedReference;
  /** With parts: the references of the parts' stored voices, by voice id (each prepared once). */
  references?: Record<string, PreparedReference>;
  /** With parts: the part each segment belongs to, by segment index (its voice, the pause after it, its chapter). */
  segmentParts?: number[];
  /** The engine the task was routed to when it was prepared. */
  engine?: string;
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  expiresAt?: number;
  updatedAt: number;
}

export interface Lease {
  owner: string;
  /** Distinguishes this claim from any later claim of the same work. */
  token: string;
  expiresAt: number;
}

export type WorkUnit =
  | { kind: 'prepare'; task: TaskRecord; lease: Lease }
  | { kind: 'segment'; task: TaskRecord; segment: { index: number; text: string; attempt: number }; lease: Lease }
  /** `segmentTexts[i]` is what `segmentPaths[i]` says (a result's timeline is made from them). */
  | { kind: 'assemble'; task: TaskRecord; segmentPaths: string[]; segmentTexts: string[]; lease: Lease };

/** A finished segment's audio (a 16-bit WAV in the blob store). */
export interface SegmentAudio {
  audioPath: string;
  durationMs: number;
}

export interface TaskEvent {
  id: number;
  taskId: string;
  type: 'status' | 'progress';
  status: TaskStatus;
  segmentsDone: number;
  segmentsTotal: number;
  error?: { code: string; message: string };
  at: number;
}

export interface VoiceRecord {
  id: string;
  name: string;
  /** The API key that made the voice (its id); absent for a voice made without a key. */
  owner?: string;
  /** Who said the recording may be cloned, and whose voice it is (absent where consent is not asked). */
  consent?: VoiceConsent;
  promptText: string;
  /** The normalised reference. */
  audioPath: string;
  sha256: string;
  sampleRate: number;
  durationMs: number;
  /** The recording as uploaded, kept to normalise again for another sample rate. */
  originalPath: string;
  createdAt: number;
}

/** What the maker of a voice stated about it. */
export interface VoiceConsent {
  /** Whose voice the recording is, in the maker's words. */
  speakerName: string;
  /** When consent was given (ms). */
  at: number;
}

/**
 * Within a priority, tasks are prepared in the order of their **fair rank**: how many
 * unfinished tasks their owner already had when each was submitted, up to this cap. One owner's
 * thousand queued tasks rank 0, 1, 2, ... 64, 64, ...; another owner's single task ranks 0 and
 * goes ahead of all but the first: owners take turns. (Segments: see each backend's claim.)
 */
export const FAIR_RANK_CAP = 64;

/** Idempotency keys are scoped by owner: a line break cannot occur in a header value, so the two never collide. */
export function scopedIdempotencyKey(options: CreateTaskOptions): string | undefined {
  if (options.idempotencyKey === undefined) return undefined;
  return options.owner === undefined ? options.idempotencyKey : `${options.owner}\n${options.idempotencyKey}`;
}

/** A guess of how long until one of a key's tasks finishes: the client is told to retry then. */
const OPEN_TASKS_RETRY_AFTER_S = 10;

export function openTasksQuotaError(open: number): TtsError {
  return new TtsError('E_QUOTA_TASKS', `This key has ${open} unfinished tasks, as many as it may have at once; submit more when some have finished.`, {
    retryAfterS: OPEN_TASKS_RETRY_AFTER_S,
  });
}

export interface CreateTaskOptions {
  /** Scoped by owner: the same key from two owners names two tasks. */
  idempotencyKey?: string;
  /** The key making the task (absent: made without a key). */
  owner?: string;
  /** Refuse with E_QUOTA_TASKS when the owner already has this many unfinished tasks (0 or absent: no limit). */
  maxOpenTasks?: number;
  /** Hash of the request that came with the key: the same key with another body is refused. */
  requestHash?: string;
}

export interface ClaimOptions {
  /**
   * Claim `prepare` work only while fewer tasks than this are synthesizing: preparing stays a
   * little ahead of the engines instead of racing through the whole queue.
   */
  maxSynthesizing?: number;
  /** Claim `segment` work only of tasks routed to this engine. */
  engine?: string;
}

export interface FailOptions {
  /** The failure is not the work's fault (storage full): retry after a backoff without using up an attempt. */
  spareAttempt?: boolean;
}

/** What preparing a task produced. */
export interface PreparedTask {
  segments: string[];
  reference?: PreparedReference;
  /** With parts: references of the parts' voices, by voice id. */
  references?: Record<string, PreparedReference>;
  /** With parts: the part of each segment (as many as `segments`; never a segment across parts). */
  segmentParts?: number[];
  /** The engine the task is routed to; its segments go only to that engine's hosts. */
  engine?: string;
  /** What decides the task's audio (absent: its result is never reused); recorded with the task, looked up once it is completed. */
  reuseKey?: string;
}

/** Work waiting and in progress, read at metrics scrape time (the queued-segments figure drives autoscaling). */
export interface WorkCounts {
  /** Every status, zeros included (as `countByStatus`). */
  tasksByStatus: Record<TaskStatus, number>;
  /** Queued tasks not yet due: held by `notBefore`, or waiting out a prepare retry's backoff (counted in `queued` too). */
  tasksWaiting: number;
  /**
   * Segments of `synthesizing` tasks not yet done, by the engine the task was routed to ('' if
   * it was prepared without one) and the task's priority; only pairs with a segment queued or
   * running appear. `queued`: pending, whether claimable now or waiting out a retry backoff
   * (both still need an engine). `running`: claimed under a lease (until recovered, a lapsed lease still counts).
   * Segments of tasks not yet prepared (no count yet) and of ended tasks are not counted.
   */
  segments: Array<{ engine: string; priority: number; queued: number; running: number }>;
}

export interface ListTasksOptions {
  status?: TaskStatus;
  /** Only this owner's tasks ('' : tasks made without a key); absent: every task. */
  owner?: string;
  limit: number;
  /** Opaque: the `nextCursor` of the previous page. */
  cursor?: string;
}

/** What a worker process says about one of its engines. */
export interface EngineReport {
  capabilities: EngineCapabilities;
  hosts: number;
  hostsUp: number;
  busy: number;
}

export interface TaskBackend {
  createTask(request: TaskRequest, options?: CreateTaskOptions): Promise<{ task: TaskRecord; created: boolean }>;
  getTask(id: string): Promise<TaskRecord | undefined>;
  /** Newest first. */
  listTasks(options: ListTasksOptions): Promise<{ tasks: TaskRecord[]; nextCursor?: string }>;
  /**
   * Where a `queued` task stands: `position` counts the queued tasks that are prepared before it
   * (0: next). For a task due now, those due now that go first (priority, fair rank, then
   * submission order in SQLite, the moment each came due in Redis); for one waiting for its
   * `notBefore`, those queued now that will go first once it is due. Undefined when the task is
   * not queued (or unknown). Counts from an index, not a scan of every task.
   */
  queuePosition(taskId: string): Promise<{ position: number } | undefined>;
  /** Cancels a task that is not final; returns it as it is now, or undefined if unknown. */
  cancelTask(id: string): Promise<TaskRecord | undefined>;

  claim(owner: string, kinds: readonly WorkKind[], leaseMs: number, options?: ClaimOptions): Promise<WorkUnit | undefined>;
  /** False when the lease was lost (expired and claimed again, or the task was canceled). */
  renewLease(unit: WorkUnit, leaseMs: number): Promise<boolean>;
  completePrepare(unit: WorkUnit & { kind: 'prepare' }, prepared: PreparedTask): Promise<void>;
  completeSegment(unit: WorkUnit & { kind: 'segment' }, result: { audioPath: string; durationMs: number }): Promise<void>;
  completeAssemble(unit: WorkUnit & { kind: 'assemble' }, result: TaskResult, retentionMs: number): Promise<void>;
  /**
   * The completed task of `owner` ('' : tasks made without a key) prepared with `reuseKey`
   * whose result is kept at `now` (not expired); the one kept longest when there are several.
   */
  findReusable(owner: string, reuseKey: string, now: number): Promise<TaskRecord | undefined>;
  /**
   * Completes a task being prepared with a copy of another's result (`result.path` is the
   * task's own file), made without the engine: `cached`, progress full, kept `retentionMs`;
   * its `reuseKey` is recorded as at a normal completion. False when the lease was lost.
   */
  completeReused(unit: WorkUnit & { kind: 'prepare' }, prepared: PreparedTask, result: TaskResult, retentionMs: number): Promise<boolean>;
  /** Returns what became of the work: back in the queue after a backoff, or the task failed. */
  failWork(unit: WorkUnit, error: Required<WireError>, maxAttempts: number, options?: FailOptions): Promise<'retrying' | 'failed' | 'ignored'>;
  /**
   * Finished segments whose audio is gone (a scratch file deleted) are made pending again, and
   * the task goes back to `synthesizing` to run them; the assemble unit's lease ends. False when
   * the lease was lost or none of those segments was finished.
   */
  reopenSegments(unit: WorkUnit & { kind: 'assemble' }, indexes: readonly number[]): Promise<boolean>;

  /**
   * The task's finished segments by index (`segmentsTotal` entries; undefined where a segment is
   * not finished, or the task is unknown or not yet prepared: then an empty list). Read by streams
   * of a task's audio; a path may already be gone once the task is assembled (its scratch is removed).
   */
  segmentAudio(taskId: string): Promise<Array<SegmentAudio | undefined>>;

  listEvents(taskId: string, afterId: number): Promise<TaskEvent[]>;
  /** Calls `listener` for every new event of any task; returns the unsubscribe function. */
  subscribe(listener: (event: TaskEvent) => void): () => void;
  /** Calls `listener` when new work of a kind may be claimable (a wake-up; claim to find out). */
  onWork(listener: (kind: WorkKind) => void): () => void;

  /** Refused with E_QUOTA_VOICES when the voice's owner already has `maxVoices` voices (0 or absent: no limit). */
  createVoice(voice: VoiceRecord, options?: { maxVoices?: number }): Promise<void>;
  getVoice(id: string): Promise<VoiceRecord | undefined>;
  /** Oldest first; only `owner`'s when given ('' : voices made without a key). */
  listVoices(owner?: string): Promise<VoiceRecord[]>;
  deleteVoice(id: string): Promise<boolean>;

  /**
   * Tasks routed to an engine that is no longer running (the service restarted with other
   * engines) go back to the queue, to be routed again; their finished segments, in another
   * engine's voice and rate, are dropped. The prepared reference is kept. Returns how many.
   */
  rerouteTasks(runningEngines: readonly string[]): Promise<number>;
  /** Marks results whose retention ended as expired and returns those tasks (their files are the caller's to delete). */
  expireResults(now: number): Promise<TaskRecord[]>;
  /**
   * A worker process reports its engines (a heartbeat, every few seconds): API nodes that run
   * no engine route tasks and answer /api/engines by these reports. A report lasts `ttlMs`.
   */
  reportEngines(owner: string, engines: readonly EngineReport[], ttlMs: number): Promise<void>;
  /**
   * Every engine reported, in the workers' order of preference, with hosts summed over the workers whose
   * report is current; an engine whose workers are all gone (scaled to zero) stays listed with
   * no host for a week, so tasks for it are still accepted and wait for a worker.
   */
  engineReports(): Promise<EngineReport[]>;
  /** Counts by status, for /readyz and metrics. */
  countByStatus(): Promise<Record<TaskStatus, number>>;
  /** Tasks by status and unfinished segments by engine and priority, for metrics (see WorkCounts). */
  workCounts(): Promise<WorkCounts>;
  /** API keys and their daily usage, shared by every node. */
  readonly keys: KeyStore;
  /** Who created, used, downloaded and deleted which task, voice and key (see AuditLog). */
  readonly audit: AuditLog;
  /** The webhook outbox: deliveries recorded with the status events that call for them (see WebhookStore). */
  readonly webhooks: WebhookStore;
  close(): Promise<void>;
}

// ---- access: API keys, usage, audit ------------------------------------------------------------

export const KEY_ROLES = ['admin', 'user'] as const;
export type KeyRole = (typeof KEY_ROLES)[number];

/** Limits of one key; absent: the service's default for that limit (0 in a default: unlimited). */
export interface KeyQuotas {
  /** Requests per second. */
  requestsPerSecond?: number;
  /** Characters of text accepted per UTC day. */
  charsPerDay?: number;
  /** Tasks not yet completed, failed or canceled. */
  openTasks?: number;
  /** Stored voices. */
  voices?: number;
}

/** An API key as stored: never the key itself, only its SHA-256. */
export interface ApiKeyRecord {
  /** The lookup part of the key (`ttsq_<id>_<secret>`), also the owner of what the key makes. */
  id: string;
  name: string;
  role: KeyRole;
  /** Hex SHA-256 of the whole key. */
  hash: string;
  quotas: KeyQuotas;
  /** Where this key's tasks that name no `webhook_url` send their webhooks (events `final`). */
  webhookUrl?: string;
  createdAt: number;
  lastUsedAt?: number;
  revokedAt?: number;
}

export interface KeyStore {
  /** Refused with E_KEY_NAME_TAKEN when a key that is not revoked has the same name. */
  create(key: ApiKeyRecord): Promise<void>;
  get(id: string): Promise<ApiKeyRecord | undefined>;
  /** Every key, revoked ones included, oldest first. */
  list(): Promise<ApiKeyRecord[]>;
  /** Marks a key revoked (once); returns it as it is now, or undefined if unknown. */
  revoke(id: string, at: number): Promise<ApiKeyRecord | undefined>;
  touch(id: string, at: number): Promise<void>;
  /** Whether any key is not revoked. */
  hasActiveKeys(): Promise<boolean>;
  /**
   * Adds `chars` to the owner's count for `day` (YYYY-MM-DD) unless that would pass `limit`
   * (0: no limit); returns whether it was added. Negative `chars` gives back a reservation.
   */
  addUsage(owner: string, day: string, chars: number, limit: number): Promise<boolean>;
}

export const AUDIT_ACTIONS = ['task.create', 'task.cancel', 'task.download', 'voice.create', 'voice.use', 'voice.delete', 'key.create', 'key.revoke'] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** One entry of the append-only audit log: who did what to which task, voice or key. */
export interface AuditEntry {
  /** Increasing; the cursor of a listing. */
  id: string;
  at: number;
  action: AuditAction;
  /** The key that acted; null when the request was anonymous (no keys configured, loopback, or AUTH=off). */
  keyId: string | null;
  /** The client's address (behind TRUST_PROXY: the forwarded one). */
  address: string;
  /** The task, voice or key acted on. */
  subject: string;
  /** A little context (a task's voice, a key's name), never text or secrets. */
  detail?: Record<string, string | number | boolean>;
}

export interface AuditQuery {
  keyId?: string;
  action?: AuditAction;
  subject?: string;
  /** Entries at or after this time (ms). */
  since?: number;
  /** Entries before this time (ms). */
  until?: number;
  limit: number;
  /** Opaque: the `nextCursor` of the previous page. */
  cursor?: string;
}

/**
 * The audit log: append-only (only `prune` removes entries, by age), newest first. An entry is
 * durable once `append` resolves; a full store refuses it with E_STORAGE_FULL, an unreachable
 * one with E_BACKEND_UNAVAILABLE, like any other write.
 */
export interface AuditLog {
  append(entry: Omit<AuditEntry, 'id'>): Promise<void>;
  /**
   * Newest first (in the order appended), the entries that match every filter given. A page may
   * hold fewer than `limit` entries, even none, and still have a `nextCursor` (an implementation
   * may bound the entries one call reads); only a page without `nextCursor` is the last. A
   * malformed cursor is E_INVALID_ARGUMENT.
   */
  list(query: AuditQuery): Promise<{ entries: AuditEntry[]; nextCursor?: string }>;
  /** Deletes entries older than `before`; returns how many. */
  prune(before: number): Promise<number>;
}

// ---- webhooks: the outbox ----------------------------------------------------------------------

/** `final`: a task's completed, failed and canceled; `all`: every change of its status. */
export const WEBHOOK_EVENT_SETS = ['final', 'all'] as const;
export type WebhookEvents = (typeof WEBHOOK_EVENT_SETS)[number];

export interface WebhookSpec {
  url: string;
  events: WebhookEvents;
}

/** Whether a status event of a task with this webhook calls for a delivery (the Redis scripts hold the same rule in Lua). */
export function webhookWants(events: WebhookEvents, status: TaskStatus): boolean {
  return events === 'all' || isFinal(status);
}

export const WEBHOOK_DELIVERY_STATUSES = ['pending', 'delivered', 'failed'] as const;
export type WebhookDeliveryStatus = (typeof WEBHOOK_DELIVERY_STATUSES)[number];

/** One try to deliver: when, how long it took, and what came of it (an HTTP status, or an error before one). */
export interface WebhookAttempt {
  at: number;
  durationMs: number;
  statusCode?: number;
  error?: { code: string; message: string };
}

export interface WebhookDelivery {
  /** Also the `webhook-id` header: the same for every try, so a receiver can drop a repeat. */
  id: string;
  taskId: string;
  /** The task's owner (API key id); absent for a task made without a key. Its secret signs the delivery. */
  owner?: string;
  url: string;
  /** `task.<status>`: the change that called for it. */
  type: string;
  status: WebhookDeliveryStatus;
  /** When the change happened (ms): the payload's `timestamp`. */
  eventAt: number;
  /** Every try so far, oldest first. */
  attempts: WebhookAttempt[];
  /** When a pending delivery is tried next (while claimed: when its claim lapses). */
  nextAttemptAt?: number;
  deliveredAt?: number;
}

/** A delivery claimed by one dispatcher until `leaseUntil`. */
export interface ClaimedDelivery extends WebhookDelivery {
  token: string;
  leaseUntil: number;
}

/** What a try led to: delivered, tried again at a time, or given up. */
export type WebhookOutcome = { status: 'delivered' } | { status: 'pending'; nextAttemptAt: number } | { status: 'failed' };

/**
 * The webhook outbox. A delivery is recorded in the same transaction (SQLite) or script (Redis)
 * that appends the task's status event, when the task has a webhook that wants that status
 * (`webhookWants`): once the change is durable, so is its delivery, and a crash right after it
 * cannot lose it. Dispatchers on any number of nodes claim due deliveries under a lease (the
 * delivery is not due again before the lease ends), POST them and record each try.
 */
export interface WebhookStore {
  /** Up to `limit` pending deliveries due at `now` (oldest due first), each claimed until `leaseUntil`. */
  claimDue(now: number, leaseUntil: number, limit: number): Promise<ClaimedDelivery[]>;
  /** Records a try of a claimed delivery and what it led to; false (nothing recorded) when the claim was lost. */
  recordAttempt(claim: ClaimedDelivery, attempt: WebhookAttempt, outcome: WebhookOutcome): Promise<boolean>;
  /** A task's deliveries, oldest first. */
  listForTask(taskId: string): Promise<WebhookDelivery[]>;
  /** The service's master secret: the one stored, or `candidate` stored now if none is (every node and restart agrees). */
  masterSecret(candidate: string): Promise<string>;
  /** Deletes deliveries that ended (delivered or failed) before `before`; returns how many. */
  prune(before: number): Promise<number>;
}
