/**
 * The one error catalogue. Every refusal or failure the project reports carries a stable code
 * from this table; the HTTP status and whether a retry can help are decided here, once.
 * Across a process boundary an error travels as `{code, message, retryable}` and is rebuilt
 * with `TtsError.fromWire`.
 */

interface CatalogueEntry {
  /** HTTP status the API answers with. */
  status: number;
  /** Whether the same work may succeed if tried again (engine crash, timeout, ...). */
  retryable: boolean;
  /** One line for the docs: when this code is used. */
  summary: string;
}

export const ERROR_CATALOGUE = {
  E_INVALID_ARGUMENT: { status: 400, retryable: false, summary: 'An option or field has the wrong type or value.' },
  E_TEXT_EMPTY: { status: 400, retryable: false, summary: 'The text is empty, or holds nothing that can be spoken (only punctuation or symbols).' },
  E_TEXT_CONFLICT: { status: 400, retryable: false, summary: 'A request gave more than one of `text`, `parts`, a `document` file and `document_url`; give exactly one.' },
  E_PART_EMPTY: { status: 400, retryable: false, summary: 'A part of `parts` has no text that can be spoken; the message names the part.' },
  E_PART_INVALID: {
    status: 400,
    retryable: false,
    summary: 'A part of `parts` is malformed: `pause_ms` outside 0 to 60000, a `chapter` title empty or over 200 characters, a `prompt_text` over 1,000 characters; the message names the part.',
  },
  E_TOO_MANY_PARTS: { status: 413, retryable: false, summary: '`parts` has more than 10,000 parts; split the work into several tasks.' },
  E_TEXT_TOO_LONG: { status: 413, retryable: false, summary: 'The text is longer than the configured character limit.' },
  E_PRONUNCIATION_INVALID: {
    status: 400,
    retryable: false,
    summary: 'A forced reading is malformed: it needs a short `text` and pinyin syllables with tone numbers, e.g. `chong2`, and its text must occur in the text to read.',
  },
  E_NOT_BEFORE_INVALID: {
    status: 400,
    retryable: false,
    summary: '`not_before` is not an ISO 8601 date-time with a time zone, lies in the past (more than 60 s ago), or lies more than 30 days ahead.',
  },
  E_FORMAT_UNSUPPORTED: {
    status: 400,
    retryable: false,
    summary: 'The requested output or stream format is not one of wav, mp3, opus, flac, pcm, aac, m4b (a stream: not m4b; subtitles: vtt or srt).',
  },
  E_INSTRUCTIONS_UNSUPPORTED: {
    status: 400,
    retryable: false,
    summary: 'POST /v1/audio/speech: `instructions` (a speaking style) was given, and no engine here follows style instructions; leave it out or empty.',
  },
  E_MODEL_NOT_FOUND: { status: 404, retryable: false, summary: 'POST /v1/audio/speech: `model` is neither an engine nor one of tts-1, tts-1-hd, gpt-4o-mini-tts; GET /v1/models lists them.' },
  E_FILE_NOT_FOUND: { status: 404, retryable: false, summary: 'A file named on the command line does not exist or cannot be read.' },
  E_AUDIO_UNREADABLE: { status: 415, retryable: false, summary: 'The reference is not an audio file that can be decoded (random bytes, a text file, a broken header).' },
  E_AUDIO_UNSUPPORTED_FORMAT: { status: 415, retryable: false, summary: 'The reference is media, but not in an accepted container (wav, mp3, m4a/aac, ogg/opus, webm, flac).' },
  E_AUDIO_NO_AUDIO_STREAM: { status: 415, retryable: false, summary: 'The reference file has no audio stream (for example a video without sound).' },
  E_AUDIO_TRUNCATED: { status: 422, retryable: false, summary: 'The reference decodes to much less audio than its header announces: the file is cut short.' },
  E_AUDIO_TOO_SHORT: { status: 422, retryable: false, summary: 'The reference holds less than the minimum of speech once silence is trimmed (2 s by default).' },
  E_AUDIO_TOO_LONG: { status: 422, retryable: false, summary: 'The reference holds more than the maximum of speech (30 s by default), or the file is far longer than that.' },
  E_AUDIO_SILENT: { status: 422, retryable: false, summary: 'The reference is silent or nearly so.' },
  E_FFMPEG_FAILED: { status: 500, retryable: false, summary: 'ffmpeg or ffprobe failed on audio the service produced itself.' },
  E_FFMPEG_MISSING: { status: 500, retryable: false, summary: 'The ffmpeg or ffprobe binary cannot be run; check FFMPEG_PATH / FFPROBE_PATH.' },
  E_ENGINE_UNKNOWN: { status: 400, retryable: false, summary: 'No engine host of that name exists.' },
  E_ENGINE_START_FAILED: { status: 503, retryable: true, summary: 'An engine host did not start or did not announce `ready` in time.' },
  E_ENGINE_CRASHED: { status: 503, retryable: true, summary: 'An engine host exited while it held a segment; the segment can run again on a restarted host.' },
  E_ENGINE_TIMEOUT: { status: 503, retryable: true, summary: 'An engine host did not answer within the time allowed for the segment; it was killed and restarted.' },
  E_ENGINE_OOM: { status: 503, retryable: true, summary: 'The engine ran out of (GPU) memory on this segment.' },
  E_ENGINE_PROTOCOL: { status: 503, retryable: true, summary: 'An engine host broke the engine-host protocol (unparseable or unexpected message); it was restarted.' },
  E_ENGINE_REJECTED: { status: 422, retryable: false, summary: 'The engine refused this input (for example a request it has no capability for).' },
  E_ENGINE_FAILED: { status: 500, retryable: false, summary: 'The engine failed on this segment for a reason a retry will not fix.' },
  E_ENGINE_CAPABILITY: {
    status: 422,
    retryable: false,
    summary:
      'No configured engine (one that started; its hosts may be restarting) can do what the task asks (the engine named, cloning, the sample rate, forced readings, an engine option, or it needs a reference voice); GET /api/engines lists what each can do.',
  },
  E_ENGINE_CLOSED: { status: 503, retryable: true, summary: 'The engine pool is shutting down and takes no new work.' },
  E_MALFORMED_JSON: { status: 400, retryable: false, summary: 'The request body is not valid JSON.' },
  E_MALFORMED_MULTIPART: { status: 400, retryable: false, summary: 'The multipart/form-data body is malformed (no boundary, no closing delimiter, cut short inside a part).' },
  E_MALFORMED_HTTP: {
    status: 400,
    retryable: false,
    summary: 'The request is not valid HTTP (a bad Content-Length, both Content-Length and Transfer-Encoding, an unknown method, a byte not allowed in the path); the connection is closed.',
  },
  E_HEADERS_TOO_LARGE: { status: 431, retryable: false, summary: 'The request headers are larger than the server takes (16 KiB in all by default); the connection is closed.' },
  E_REQUEST_TIMEOUT: { status: 408, retryable: true, summary: 'The request did not arrive in time (headers or body sent too slowly); the connection is closed.' },
  E_BODY_TOO_LARGE: { status: 413, retryable: false, summary: 'The request body or upload is larger than the configured cap (10 MB by default).' },
  E_UNSUPPORTED_MEDIA_TYPE: { status: 415, retryable: false, summary: 'The request has a content type the route does not take (use application/json or multipart/form-data).' },
  E_URI_TOO_LONG: { status: 414, retryable: false, summary: 'A path parameter is longer than any id (200 characters).' },
  E_ROUTE_NOT_FOUND: { status: 404, retryable: false, summary: 'No route has this method and path.' },
  E_PAGE_NOT_BUILT: { status: 503, retryable: false, summary: 'The web page at / was not built (only the TypeScript was compiled); run `npm run build`, which also builds web/ into dist/web.' },
  E_NOT_FOUND: { status: 404, retryable: false, summary: 'No task with this id (or the id is malformed).' },
  E_VOICE_NOT_FOUND: { status: 404, retryable: false, summary: 'No voice with this id (or the id is malformed).' },
  E_VOICE_CONFLICT: { status: 409, retryable: false, summary: 'A request gave both `voice_id` and a reference (`audio` or `audio_url`); give one.' },
  E_IDEMPOTENCY_CONFLICT: { status: 409, retryable: false, summary: 'This Idempotency-Key was used before with a different request body.' },
  E_UNAUTHORIZED: {
    status: 401,
    retryable: false,
    summary: 'The request has no API key (`Authorization: Bearer <key>` or `X-API-Key`), or the key is malformed, unknown or revoked; this service requires one.',
  },
  E_FORBIDDEN: { status: 403, retryable: false, summary: 'The route is for admin keys only (key management, the audit log).' },
  E_KEY_NOT_FOUND: { status: 404, retryable: false, summary: 'No API key has this id or name.' },
  E_KEY_NAME_TAKEN: { status: 409, retryable: false, summary: 'A key that is not revoked already has this name; choose another or revoke it first.' },
  E_TOO_MANY_STREAMS: {
    status: 429,
    retryable: true,
    summary: 'The caller (or the service) has as many audio streams open as it may at once (MAX_AUDIO_STREAMS_PER_CALLER, MAX_AUDIO_STREAMS); close one, or retry after `Retry-After` seconds.',
  },
  E_RATE_LIMITED: { status: 429, retryable: true, summary: "The key (or, without keys, the client's address) sent more requests per second than its limit; retry after `Retry-After` seconds." },
  E_QUOTA_CHARS: { status: 429, retryable: true, summary: "The task's text would take the key past its characters per day (UTC); `Retry-After` says when the day ends." },
  E_QUOTA_TASKS: { status: 429, retryable: true, summary: 'The key has as many unfinished tasks as it may have at once; retry when one has finished (`Retry-After` is a guess).' },
  E_QUOTA_VOICES: { status: 429, retryable: false, summary: 'The key has as many stored voices as it may have; delete one first.' },
  E_CONSENT_REQUIRED: {
    status: 400,
    retryable: false,
    summary: 'Cloning a voice needs `consent: true` and `speaker_name` (whose voice it is) with the recording: on POST /api/voices and on a task with an uploaded `audio` or `audio_url`.',
  },
  E_AUTH_NOT_CONFIGURED: {
    status: 500,
    retryable: false,
    summary: 'At start-up: the service is bound to an address other than loopback and no API key exists. Create one (`tts-queue keys create --name NAME --role admin`) or set AUTH=off.',
  },
  E_TASK_NOT_READY: { status: 409, retryable: false, summary: 'The task has no audio yet (or failed or was canceled); its status says which.' },
  E_TASK_FINISHED: { status: 409, retryable: false, summary: 'The task already reached a final state and cannot be canceled.' },
  E_RESULT_EXPIRED: { status: 410, retryable: false, summary: 'The audio was deleted after the retention period.' },
  E_SUBTITLES_UNAVAILABLE: { status: 404, retryable: false, summary: 'The result was made before the service kept timelines, so it has no subtitles; submit the task again (with `reuse: false`).' },
  E_RANGE_NOT_SATISFIABLE: { status: 416, retryable: false, summary: 'The Range header asks for bytes outside the file.' },
  E_PRECONDITION_FAILED: { status: 412, retryable: false, summary: "A download's If-Match or If-Unmodified-Since does not match the file." },
  E_SAMPLE_RATE_UNSUPPORTED: { status: 400, retryable: false, summary: 'No configured engine writes the requested sample rate; GET /api/engines lists the rates.' },
  E_URL_FORBIDDEN: {
    status: 400,
    retryable: false,
    summary: '`audio_url` (or `document_url`) is not an http(s) URL to a public address (loopback, private, link-local and metadata addresses are refused, also after redirects).',
  },
  E_WEBHOOK_URL_FORBIDDEN: {
    status: 400,
    retryable: false,
    summary:
      '`webhook_url` (of a task or a key) is not an http(s) URL to a public address, or carries credentials: loopback, private, link-local, metadata and mapped addresses and `localhost` are refused. Also recorded on a delivery whose host name resolved to, or whose connection reached, such an address.',
  },
  E_WEBHOOK_DELIVERY_FAILED: {
    status: 502,
    retryable: true,
    summary:
      'Recorded on a webhook delivery, never an answer to a request: the receiver could not be reached, did not answer in WEBHOOK_TIMEOUT_MS, closed the connection, or answered other than 2xx (redirects are not followed). It is tried again on the WEBHOOK_RETRY_DELAYS schedule.',
  },
  E_URL_FETCH_FAILED: { status: 422, retryable: false, summary: '`audio_url` or `document_url` could not be downloaded (error status, time-out, or larger than the upload or document cap).' },
  E_DOCUMENT_UNSUPPORTED: {
    status: 415,
    retryable: false,
    summary: 'The document is not a kind read here (plain text, Markdown, HTML, EPUB, PDF), or `document_kind` names another; a zip that is not an EPUB, a binary file.',
  },
  E_DOCUMENT_UNREADABLE: {
    status: 422,
    retryable: false,
    summary: 'The document is malformed for its kind (a broken PDF, an EPUB without container.xml, package or spine, binary data named as text, HTML nested more than 512 levels deep).',
  },
  E_DOCUMENT_TOO_LARGE: {
    status: 413,
    retryable: false,
    summary:
      'The document is over MAX_DOCUMENT_BYTES, an EPUB unpacks to too much or compresses more than 100 to 1 (a zip bomb) or has too many entries, a PDF claims more than MAX_DOCUMENT_PAGES pages, or reading it needs more memory than allowed.',
  },
  E_DOCUMENT_TOO_LONG: { status: 413, retryable: false, summary: "The document's text is longer than MAX_TEXT_CHARS (or has more than 10,000 sections): it is refused, never cut; split it." },
  E_DOCUMENT_TIMEOUT: { status: 422, retryable: false, summary: 'The document was not read within DOCUMENT_TIMEOUT_MS (its reader was stopped).' },
  E_RESOURCES_EXHAUSTED: { status: 503, retryable: true, summary: 'The service ran out of file descriptors, processes or memory for a moment (EMFILE, ENFILE, EAGAIN, ENOMEM); try again shortly.' },
  E_DATA_DIR_LOCKED: { status: 409, retryable: false, summary: 'DATA_DIR is in use by another running tts-queue service; stop it or choose another DATA_DIR.' },
  E_STORAGE_FULL: {
    status: 507,
    retryable: true,
    summary: "The service's storage (DATA_DIR) is full: new work is refused until space is freed (retry after the `Retry-After` seconds); work already accepted waits and resumes by itself.",
  },
  E_STORAGE_UNAVAILABLE: {
    status: 503,
    retryable: true,
    summary:
      'The object store (BLOB_STORE=s3) cannot be used: it is unreachable, refuses the credentials, or the bucket does not exist; the message says which. Work already accepted waits and resumes once it answers.',
  },
  E_STORED_FILE_MISSING: {
    status: 500,
    retryable: false,
    summary: 'A file the service stored itself (an upload, a reference, a voice, a segment) is no longer in the blob store (BLOB_DIR or the bucket): removed by hand, or lost.',
  },
  E_DATABASE_CORRUPT: {
    status: 500,
    retryable: false,
    summary:
      'At start-up: `tasks.db` in DATA_DIR is damaged or is not a SQLite database. Move the file away (the service then starts with an empty queue) or restore it from a backup, then start again.',
  },
  E_BACKEND_UNAVAILABLE: { status: 503, retryable: true, summary: 'The task backend (Redis) cannot be reached or written right now; try again shortly.' },
  E_NOT_READY: { status: 503, retryable: true, summary: 'The service is starting or shutting down, or an engine has no host up (its hosts are being restarted).' },
  E_CONTENT_REFUSED: {
    status: 422,
    retryable: false,
    summary: "The text was refused by the service's content policy (its blocklist or its moderation check); the message does not say which term matched.",
  },
  E_MODERATION_UNAVAILABLE: {
    status: 503,
    retryable: true,
    summary:
      'The content check (MODERATION_URL) did not answer in time or answered something unusable, and the service is set to refuse text it cannot check (MODERATION_FAIL=closed); try again shortly.',
  },
  E_SERVER_UNREACHABLE: {
    status: 503,
    retryable: true,
    summary: '`tts-queue say --server`: the service cannot be reached (connection refused, unknown host, time-out, the connection closed); check the URL and that the service runs.',
  },
  E_SERVER_RESPONSE: {
    status: 502,
    retryable: false,
    summary:
      "`tts-queue say --server`: the URL answered, but not as the tts-queue API does (not JSON, not of the API's shape, larger than 1 MiB, no error code, or a code this version does not know, quoted in the message; audio that is not audio or not of the size its task gives).",
  },
  E_CANCELED: { status: 409, retryable: false, summary: 'The work was canceled.' },
  E_INTERNAL: { status: 500, retryable: false, summary: 'An unexpected internal error; the message says what happened.' },
} as const satisfies Record<string, CatalogueEntry>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CATALOGUE, value);
}

/** The form an error takes on the wire (engine protocol, API responses). */
export interface WireError {
  code: string;
  message: string;
  retryable?: boolean;
}

export class TtsError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  /** Seconds after which a retry may succeed (a limit that resets): sent as `Retry-After`. */
  readonly retryAfterS: number | undefined;
  /** The request field at fault, where known (the OpenAI-compatible routes report it as `param`). */
  readonly param: string | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; retryable?: boolean; retryAfterS?: number; param?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TtsError';
    this.code = code;
    this.status = ERROR_CATALOGUE[code].status;
    this.retryable = options.retryable ?? ERROR_CATALOGUE[code].retryable;
    this.retryAfterS = options.retryAfterS;
    this.param = options.param;
  }

  toWire(): WireError {
    return { code: this.code, message: this.message, retryable: this.retryable };
  }

  /** Rebuilds a typed error from its wire form; unknown codes become E_ENGINE_FAILED with the code kept in the message. */
  static fromWire(wire: WireError): TtsError {
    // An engine's message may quote its own files (a traceback, a checkpoint): never shown to clients.
    const message = redactPaths(wire.message);
    if (isErrorCode(wire.code)) {
      return new TtsError(wire.code, message, { retryable: wire.retryable });
    }
    return new TtsError('E_ENGINE_FAILED', `${wire.code}: ${message}`, { retryable: wire.retryable ?? false });
  }
}

/** Errno codes that mean the machine ran out of something for a moment (descriptors, processes, memory): retryable, not a bug. */
const RESOURCE_EXHAUSTION = new Set(['EMFILE', 'ENFILE', 'EAGAIN', 'ENOMEM']);

export function isResourceExhaustion(errno: string | undefined): boolean {
  return errno !== undefined && RESOURCE_EXHAUSTION.has(errno);
}

/** Errno and SQLite codes of a write that found no room. */
const STORAGE_FULL_CODES = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL']);
/** What file systems, SQLite and ffmpeg say when a write finds no room (also after crossing a process boundary as text). */
const STORAGE_FULL_TEXT = /no space left on device|disk quota exceeded|database or disk is full|ENOSPC|EDQUOT/iu;

/** True when `error` (or one of its causes) says a write found the disk full or the quota used up. */
export function isStorageFull(error: unknown): boolean {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth++) {
    if (current instanceof TtsError && current.code === 'E_STORAGE_FULL') return true;
    const code = (current as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && STORAGE_FULL_CODES.has(code)) return true;
    if (STORAGE_FULL_TEXT.test(current.message)) return true;
  }
  return false;
}

/** The typed form of a write that found no room; the message names no path. */
export function storageFullError(cause?: unknown): TtsError {
  return new TtsError('E_STORAGE_FULL', 'The service has no storage space left; try again later.', { cause });
}

/**
 * Absolute file paths and `file:` URLs in a message (ffmpeg's stderr, a file system error, an
 * engine host's traceback), with the top-level folders a server path starts with. API routes
 * such as `/api/task/…` are not file paths and are kept.
 */
const FILE_PATH =
  /(?:file:(?:\/\/)?)?(?:\/(?:tmp|var|home|root|usr|opt|srv|mnt|media|data|work|run|proc|etc|dev|private|Users|nix|app|lib|bin|sbin)(?=[/\s'"`),;:]|$)|[A-Za-z]:\\)(?:[^\s'"`),;:]|:(?!\s|$))*/gu;

/** The message with every server file path replaced by `<file>`: messages reach clients, paths stay in logs (the error's cause). */
export function redactPaths(message: string): string {
  let redacted = message.replace(FILE_PATH, '<file>');
  const cwd = process.cwd();
  if (cwd.length > 1) redacted = redacted.replaceAll(cwd, '<file>');
  return redacted;
}

/** Any thrown value as a TtsError; a full disk becomes E_STORAGE_FULL, other foreign errors E_INTERNAL with the original as cause. */
export function toTtsError(error: unknown): TtsError {
  if (error instanceof TtsError) return error;
  if (isStorageFull(error)) return storageFullError(error);
  if (error instanceof Error && error.name === 'AbortError') {
    return new TtsError('E_CANCELED', 'The work was canceled.', { cause: error });
  }
  // A foreign message (a file system error names its file) is kept in the cause, for the logs.
  const message = error instanceof Error ? error.message : String(error);
  return new TtsError('E_INTERNAL', redactPaths(message), { cause: error });
}
