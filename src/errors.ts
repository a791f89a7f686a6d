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
  E_TEXT_TOO_LONG: { status: 413, retryable: false, summary: 'The text is longer than the configured character limit.' },
  E_PRONUNCIATION_INVALID: { status: 400, retryable: false, summary: 'A forced reading is malformed: it needs a short `text` and pinyin syllables with tone numbers, e.g. `chong2`.' },
  E_FORMAT_UNSUPPORTED: { status: 400, retryable: false, summary: 'The requested output format is not one of wav, mp3, opus, flac, pcm.' },
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
  E_ENGINE_CLOSED: { status: 503, retryable: true, summary: 'The engine pool is shutting down and takes no new work.' },
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

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TtsError';
    this.code = code;
    this.status = ERROR_CATALOGUE[code].status;
    this.retryable = options.retryable ?? ERROR_CATALOGUE[code].retryable;
  }

  toWire(): WireError {
    return { code: this.code, message: this.message, retryable: this.retryable };
  }

  /** Rebuilds a typed error from its wire form; unknown codes become E_ENGINE_FAILED with the code kept in the message. */
  static fromWire(wire: WireError): TtsError {
    if (isErrorCode(wire.code)) {
      return new TtsError(wire.code, wire.message, { retryable: wire.retryable });
    }
    return new TtsError('E_ENGINE_FAILED', `${wire.code}: ${wire.message}`, { retryable: wire.retryable ?? false });
  }
}

/** Any thrown value as a TtsError; foreign errors become E_INTERNAL with the original as cause. */
export function toTtsError(error: unknown): TtsError {
  if (error instanceof TtsError) return error;
  if (error instanceof Error && error.name === 'AbortError') {
    return new TtsError('E_CANCELED', 'The work was canceled.', { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new TtsError('E_INTERNAL', message, { cause: error });
}
